// Attention's rules, without DOM or network: the tab title with the unread count, which inbox
// change is a new inbound message worth a desktop notification, and the per-user preferences'
// storage key (`node --test tests/web`).

/** The title with the unread count in front: `(3) Platica`; `99+` past 99; none at zero. */
export function titled(title, unread) {
  const clean = String(title).replace(/^\(\d+\+?\) /, '');
  if (!unread || unread < 0) return clean;
  return `(${unread > 99 ? '99+' : unread}) ${clean}`;
}

/** Where a user's attention preferences are kept (localStorage). */
export function prefsKey(userId) {
  return `platica.attention.${userId}`;
}

/** Preferences as stored, or the defaults (everything off: notifications are opt-in). */
export function readPrefs(raw) {
  try {
    const p = JSON.parse(raw ?? 'null');
    return { notify: p?.notify === true, sound: p?.sound === true };
  } catch {
    return { notify: false, sound: false };
  }
}

/**
 * Whether an inbox row change is a new inbound message to tell the user about: the prospect
 * wrote (a last message id not seen before for this conversation, or one from the last minute
 * when the conversation was not known), in a conversation the user owns, and not the chat open
 * and focused in this tab.
 */
export function isNewInbound(row, { me, known, openId, focused, now = Date.now() }) {
  if (!row || row.last_message_direction !== 'in' || row.last_message_id == null) return false;
  if (row.executive_id !== me) return false;
  const before = known.get(row.conversation_id);
  if (before === row.last_message_id) return false;
  if (before === undefined && now - Date.parse(row.last_message_at) > 60_000) return false;
  return !(focused && openId === row.conversation_id);
}
