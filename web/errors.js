// What to tell a person about an error of the API, in their language. The server answers
// `{"error": {"code", "message", "field"?, "reason"?, "params"?}}`: `code` and `reason` are stable
// codes, `params` the values they speak of, `message` an English sentence. The text shown is the
// reason's or the code's translation; English readers get the server's own sentence where no
// finer translation exists (it is the most precise), others never see English.
import { MESSAGES, getLang, t } from './i18n.js';

const known = (key) => key in MESSAGES.en;

/** The label of a request field (`email`, `media.caption`, ...), or the field itself. */
export function fieldLabel(field) {
  if (!field) return '';
  return known(`field.${field}`) ? t(`field.${field}`) : field;
}

/** The sentence for an API error (or a network failure). */
export function apiErrorText(e) {
  if (e?.code === 'network') return t('common.networkError');
  const code = e?.code ?? 'internal';
  const vars = { ...(e?.params ?? {}), field: fieldLabel(e?.field), code };
  for (const [k, v] of Object.entries(vars)) if (/^\d+$/.test(String(v))) vars[k] = Number(v);
  if (e?.reason && known(`api.${code}.${e.reason}`)) return t(`api.${code}.${e.reason}`, vars);
  if (getLang() === 'en' && e?.message && e.message !== code) return e.message;
  if (e?.field && known(`api.${code}.field`)) return t(`api.${code}.field`, vars);
  if (known(`api.${code}`)) return t(`api.${code}`, vars);
  return t('api.other', vars);
}
