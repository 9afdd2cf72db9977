// Translations and localised dates: the language in use, `t(key)`, and dates and numbers with
// `Intl`. The messages live one file per language (`i18n-en.js`, `i18n-es.js`).
import { en } from './i18n-en.js';
import { es } from './i18n-es.js';

export const MESSAGES = { en, es };

/** Every message key (the English table is the reference). */
export const KEYS = Object.keys(MESSAGES.en);
export const LANGUAGES = [
  { code: 'es', name: 'Español' },
  { code: 'en', name: 'English' },
];
const STORAGE_KEY = 'platica.lang';

function initialLang() {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    if (stored && MESSAGES[stored]) return stored;
  } catch {
    // storage disabled
  }
  for (const l of globalThis.navigator?.languages ?? [globalThis.navigator?.language ?? 'en']) {
    const base = String(l).toLowerCase().split('-')[0];
    if (MESSAGES[base]) return base;
  }
  return 'en';
}

let lang = initialLang();
const listeners = new Set();

export function getLang() {
  return lang;
}

/** Switches the language, stores the choice and tells every listener (views re-render). */
export function setLang(next) {
  if (!MESSAGES[next] || next === lang) return;
  lang = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // storage disabled: the choice lasts for this page
  }
  document.documentElement.lang = next;
  for (const fn of listeners) fn(next);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Why a message failed, in the current language: mapped from WhatsApp's code (or Platica's own
 * reason), never WhatsApp's English text. */
export function failureReason(error) {
  if (!error) return t('error.generic');
  const code = error.code;
  const title = error.title ?? '';
  if (/^gave up after/.test(title)) return t('error.gaveUp', { n: error.attempts ?? Number(title.match(/\d+/)?.[0] ?? 0) });
  if (code != null && MESSAGES.en[`error.${code}`]) return t(`error.${code}`);
  if (title === 'interrupted') return t('error.interrupted');
  if (/^not confirmed after/.test(title)) return t('error.unconfirmed');
  return code != null ? `${t('error.generic')} (${t('error.code', { code: String(code) })})` : t('error.generic');
}

/** A prospect's name as shown: the server names a WhatsApp user who shares neither a phone
 * number nor a profile name "WhatsApp user" (platica_store::whatsapp::UNNAMED); that reads in
 * the current language. */
export function prospectName(name) {
  return name === 'WhatsApp user' ? t('prospect.whatsappUser') : (name ?? '');
}

// A stored message body of a kind other than text is a placeholder: `[kind]` and a label
// (platica_whatsapp::payload), e.g. "[image] mi casa", "[order] 3 item(s), 120.00 MXN".
const PLACEHOLDER = /^\[([a-z_]+)\](?: ([\s\S]*))?$/;

/** A message body or inbox preview as shown: the placeholder's kind in the reader's language
 * ("Foto · mi casa"), other text as it is. */
export function messagePreview(text) {
  const m = PLACEHOLDER.exec(text ?? '');
  if (!m || !(`msg.kind.${m[1]}` in MESSAGES.en)) return text ?? '';
  let rest = (m[2] ?? '').trim();
  if (m[1] === 'order') {
    const o = /^(\d+) item\(s\)(?:, (.*))?$/.exec(rest);
    if (o) rest = [t('msg.items', { n: Number(o[1]) }), o[2]].filter(Boolean).join(', ');
  }
  const kind = t(`msg.kind.${m[1]}`);
  return rest ? `${kind} · ${rest}` : kind;
}

/** A call's outcome as shown: a known code ("callback_requested") in the reader's language,
 * anything else (free text from the call provider) as it is. */
export function callOutcome(outcome) {
  const o = String(outcome ?? '');
  return `calls.outcome.${o}` in MESSAGES.en ? t(`calls.outcome.${o}`) : o;
}

/** What a WhatsApp error reported on a channel (not about one message being sent) means, in the
 * current language: an account event is not "not sent". */
export function channelEventReason(event) {
  const code = event?.code;
  if (code != null && MESSAGES.en[`event.${code}`]) return t(`event.${code}`);
  return code != null ? `${t('event.generic')} (${t('error.code', { code: String(code) })})` : t('event.generic');
}

/** The message `key` in the current language, with `{name}` placeholders filled from `vars`. A
 * message that depends on a count is an object of plural forms (`{ one, other }`, and whatever
 * else the language's `Intl.PluralRules` names), chosen by `vars.n`. */
export function t(key, vars = {}) {
  const message = MESSAGES[lang][key] ?? MESSAGES.en[key] ?? key;
  const text = typeof message === 'string' ? message : pluralForm(message, vars.n);
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? formatValue(vars[k]) : `{${k}}`));
}

/** The form of a plural message for the count `n` in the current language (`other` when the
 * language names a form the message does not have). */
export function pluralForm(forms, n) {
  const category = new Intl.PluralRules(lang).select(Number(n ?? 0));
  return forms[category] ?? forms.other;
}

function formatValue(v) {
  return typeof v === 'number' ? new Intl.NumberFormat(lang).format(v) : String(v);
}

export function fmtNumber(n) {
  return new Intl.NumberFormat(lang).format(n);
}

/** "14:05" today, "ayer"/"yesterday", a weekday within a week, else a short date. */
export function fmtShort(iso, now = new Date()) {
  if (!iso) return '';
  const d = new Date(iso);
  const startOfDay = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((startOfDay(now) - startOfDay(d)) / 86400000);
  if (days <= 0) return new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(d);
  if (days === 1) return new Intl.RelativeTimeFormat(lang, { numeric: 'auto' }).format(-1, 'day');
  if (days < 7) return new Intl.DateTimeFormat(lang, { weekday: 'short' }).format(d);
  return new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short' }).format(d);
}

/** "hace 5 min" / "5 min ago" for recent times, else like fmtShort. */
export function fmtRelative(iso, now = new Date()) {
  if (!iso) return '';
  const seconds = Math.round((new Date(iso).getTime() - now.getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(lang, { numeric: 'auto', style: 'short' });
  const abs = Math.abs(seconds);
  if (abs < 45) return rtf.format(0, 'second');
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), 'minute');
  if (abs < 6 * 3600) return rtf.format(Math.round(seconds / 3600), 'hour');
  return fmtShort(iso, now);
}

export function fmtDateTime(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

export function fmtTime(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
}

export function fmtDay(iso) {
  // A heading starts with a capital ("Sábado, 31 de octubre"); the rest stays as the language
  // writes it (no "De Octubre").
  const text = new Intl.DateTimeFormat(lang, { weekday: 'long', day: 'numeric', month: 'long' }).format(new Date(iso));
  return text.charAt(0).toLocaleUpperCase(lang) + text.slice(1);
}
