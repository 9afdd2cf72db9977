// What the channels screen (admin-channels.js) says about a number, without the DOM: Graph's
// quality rating and messaging limit tier in words, a failed connection test in the reader's
// words (Graph's code picks the sentence), the reader's midnight (the start of "today" for the
// sent/failed counts) and a fresh verify token. Tested in tests/web/channel-words.test.mjs.
import { t } from './i18n.js';

const known = (key) => t(key) !== key;

/** The reader's midnight, as an ISO instant (the start of "today" for the counts). */
export function localMidnight(now = new Date()) {
  const d = new Date(now);
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
}

/** A random verify token (what Meta's console and Platica must both have). */
export function newVerifyToken() {
  const bytes = new Uint8Array(18);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Graph's quality rating in words, with its pill class. */
export function qualityWords(rating) {
  const r = String(rating ?? '').toUpperCase();
  if (!r) return null;
  const key = `channelsAdmin.quality.${r}`;
  const cls = { GREEN: 'pill-yes', YELLOW: 'pill-warn', RED: 'pill-failed' }[r] ?? 'pill-no';
  return { text: known(key) ? t(key) : r, cls };
}

/** Graph's messaging limit tier in words ("1,000 people a day"). */
export function limitWords(tier) {
  if (!tier) return null;
  const m = /^TIER_(\d+)(K)?$/i.exec(tier);
  if (m) return t('channelsAdmin.limitTier', { n: Number(m[1]) * (m[2] ? 1000 : 1) });
  if (/UNLIMITED/i.test(tier)) return t('channelsAdmin.limitUnlimited');
  return tier;
}

/** A failed connection test in the reader's words (Graph's code and message kept beside it). */
export function testFailureText(error) {
  const reason = error?.reason;
  const code = error?.graph_code;
  if (reason === 'graph_refused') {
    if (code != null && known(`channelsAdmin.graph.${code}`)) return t(`channelsAdmin.graph.${code}`, { code: String(code) });
    return t('channelsAdmin.graph.other', { code: String(code ?? '—'), status: String(error?.http_status ?? '—') });
  }
  if (reason && known(`channelsAdmin.fail.${reason}`)) return t(`channelsAdmin.fail.${reason}`);
  return t('channelsAdmin.fail.other');
}


/** A linked-device session's state (as the session supervisor records it) in words. */
export function sessionWords(state) {
  if (!state) return t('channelsAdmin.sessionState.none');
  const key = `channelsAdmin.sessionState.${state}`;
  return known(key) ? t(key) : state;
}
