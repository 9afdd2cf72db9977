// Unsent replies, kept per user and conversation in localStorage, so a reload, a language switch
// or a forced web update never loses what someone was typing. Logging out forgets them
// (`clearDrafts`, called by api.js).
const PREFIX = 'platica.draft.';

function key(owner, conversation) {
  return `${PREFIX}${owner.tenant_id}.${owner.user_id}.${conversation}`;
}

/** The draft `owner` ({ tenant_id, user_id }) left in `conversation`, or ''. */
export function loadDraft(owner, conversation) {
  try {
    return localStorage.getItem(key(owner, conversation)) ?? '';
  } catch {
    return '';
  }
}

/** Keeps `text` as the draft (an empty text removes it). */
export function saveDraft(owner, conversation, text) {
  try {
    if (text.trim()) localStorage.setItem(key(owner, conversation), text);
    else localStorage.removeItem(key(owner, conversation));
  } catch {
    // storage full or disabled: the draft lasts as long as the page
  }
}

/** Forgets every draft in this browser (at logout). */
export function clearDrafts() {
  try {
    for (const k of Object.keys(localStorage)) if (k.startsWith(PREFIX)) localStorage.removeItem(k);
  } catch {
    // storage disabled
  }
}
