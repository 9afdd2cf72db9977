// The composer's text helpers, with no DOM (composer.js uses them; `node --test tests/web`
// checks them): the `@` or `/` token being typed, matching people and canned replies.

/**
 * The token being typed at `caret` that starts with `trigger` (`@` or `/`) at the start of the
 * text or after white space, as { start, query } (query without the trigger), or null.
 */
export function tokenAt(text, caret, trigger) {
  const before = text.slice(0, caret);
  const at = before.lastIndexOf(trigger);
  if (at < 0) return null;
  if (at > 0 && !/\s/.test(before[at - 1])) return null;
  const query = before.slice(at + 1);
  // A mention may hold spaces ("@Coord BOOM"), a shortcut may not; neither spans lines.
  if (/\n/.test(query) || query.length > 40) return null;
  if (trigger === '/' && /\s/.test(query)) return null;
  return { start: at, query };
}

/** The people whose name starts (or a word of it starts) with `query`, case and accents aside. */
export function matchPeople(people, query) {
  const q = fold(query);
  return people.filter((p) => {
    const name = fold(p.display_name);
    return name.startsWith(q) || name.split(/\s+/).some((w) => w.startsWith(q));
  });
}

/** The ids of `picked` people whose `@Name` is still in `text`. */
export function mentionsIn(text, picked) {
  return [...new Set(picked.filter((p) => text.includes(`@${p.display_name}`)).map((p) => p.user_id))];
}

/** Lower case without accents, for matching what people type. */
export function fold(s) {
  return String(s ?? '').normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/**
 * The canned replies for `/query`: shortcuts that start with it first, then those whose shortcut
 * or text contains it; a personal one hides the organisation's of the same shortcut.
 */
export function matchCanned(list, query) {
  const q = fold(query);
  const mine = new Set(list.filter((c) => c.scope === 'personal').map((c) => c.shortcut));
  const usable = list.filter((c) => c.scope === 'personal' || !mine.has(c.shortcut));
  const starts = usable.filter((c) => c.shortcut.startsWith(q));
  const contains = usable.filter((c) => !c.shortcut.startsWith(q) && (c.shortcut.includes(q) || fold(c.body).includes(q)));
  return [...starts, ...contains];
}

// What WhatsApp sends (`platica_whatsapp::media::SENDABLE`) and its size limit by kind.
const SENDABLE = {
  'image/jpeg': 'image', 'image/png': 'image', 'image/webp': 'sticker',
  'audio/aac': 'audio', 'audio/amr': 'audio', 'audio/mpeg': 'audio', 'audio/mp4': 'audio', 'audio/ogg': 'audio',
  'video/mp4': 'video', 'video/3gpp': 'video',
  'text/plain': 'document', 'application/pdf': 'document', 'application/msword': 'document',
  'application/vnd.ms-excel': 'document', 'application/vnd.ms-powerpoint': 'document',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'document',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'document',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'document',
};
const MB = 1024 * 1024;
const LIMITS = { image: 5 * MB, audio: 16 * MB, video: 16 * MB, sticker: 500 * 1024, document: 100 * MB };

/** The types the file picker offers. */
export const ACCEPT = Object.keys(SENDABLE).join(',');

/** The kind WhatsApp sends a file of `type` as, or null. */
export function kindOf(type) {
  return SENDABLE[String(type ?? '').split(';')[0].trim().toLowerCase()] ?? null;
}

/**
 * Why WhatsApp would refuse `file` ({ type, size }): { problem: 'type' } or { problem: 'size',
 * limit } (bytes); null when it is fine.
 */
export function attachmentProblem(file) {
  const kind = kindOf(file.type);
  if (!kind) return { problem: 'type' };
  if (file.size > LIMITS[kind]) return { problem: 'size', limit: LIMITS[kind] };
  return null;
}

/** A size for people: 512 B, 1.5 KB, 4.2 MB. */
export function fmtSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < MB) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / MB).toFixed(bytes < 10 * MB ? 1 : 0)} MB`;
}
