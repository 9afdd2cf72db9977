// Attention: the unread count in the tab title ("(3) Platica"), opt-in desktop notifications
// (the Notification API; permission asked only when the user turns them on, a user gesture in the
// bell's panel) for a new inbound message in a conversation the user owns — not the chat open and
// focused — and for the user's own notifications (mentions, tickets...), and an optional sound (a
// short WebAudio beep, no asset). Preferences are kept per user in localStorage.
import { get } from './api.js';
import { isNewInbound, prefsKey, readPrefs, titled } from './attention-rules.js';
import { dir } from './directory.js';
import { prospectName, t } from './i18n.js';
import { liveClient } from './live.js';
import { h } from './ui.js';

const supported = () => typeof window !== 'undefined' && 'Notification' in window;

/** Starts attention for the signed-in user; returns { controls, notification(text, link), destroy }. */
export function startAttention() {
  const me = dir.me?.user_id;
  const key = prefsKey(me);
  let prefs;
  try {
    prefs = readPrefs(localStorage.getItem(key));
  } catch {
    prefs = readPrefs(null);
  }
  const save = () => {
    try {
      localStorage.setItem(key, JSON.stringify(prefs));
    } catch {
      // storage disabled: the choice lasts this page
    }
  };
  let unread = 0;
  let alive = true;
  const known = new Map();

  // --- the tab title ---
  const applyTitle = () => {
    const want = titled(document.title, unread);
    if (document.title !== want) document.title = want;
  };
  // Screens set their own titles: put the count back in front of each.
  const titleEl = document.querySelector('title');
  const observer = titleEl ? new MutationObserver(applyTitle) : null;
  observer?.observe(titleEl, { childList: true, characterData: true, subtree: true });

  // --- sound ---
  let audio = null;
  function beep() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    audio ??= new Ctx();
    const at = audio.currentTime;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.2, at + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start(at);
    osc.stop(at + 0.3);
  }

  function alert(title, body, tag, link) {
    if (prefs.sound) beep();
    if (!prefs.notify || !supported() || Notification.permission !== 'granted') return;
    try {
      const n = new Notification(title, { body: body ?? '', tag, icon: '/app/favicon.svg' });
      n.onclick = () => {
        window.focus();
        if (link) location.hash = link;
        n.close();
      };
    } catch {
      // Some browsers allow notifications only from a service worker: the title still counts.
    }
  }

  const openId = () => {
    const m = /^#\/c\/(\d+)/.exec(location.hash);
    return m ? Number(m[1]) : null;
  };

  // --- the inbox: unread count and new inbound messages ---
  function onRow(row) {
    const focused = document.visibilityState === 'visible' && document.hasFocus();
    if (isNewInbound(row, { me, known, openId: openId(), focused })) {
      alert(prospectName(row.prospect_name), row.last_message_preview, `conv-${row.conversation_id}`, `#/c/${row.conversation_id}`);
    }
    if (row.last_message_id != null) known.set(row.conversation_id, row.last_message_id);
  }
  async function loadCount() {
    try {
      const page = await get('/inbox?limit=50');
      if (!alive) return;
      unread = page.unread;
      for (const r of page.items) if (r.last_message_id != null) known.set(r.conversation_id, r.last_message_id);
      applyTitle();
    } catch {
      // the inbox shows the error; the title keeps its last count
    }
  }
  const unsub = liveClient()?.subscribe('inbox', {
    onSubscribed: ({ resumed } = {}) => {
      if (!resumed) loadCount();
    },
    onEvent: (e) => {
      if (e.counts) unread = e.counts.unread;
      if (e.kind === 'upsert') onRow(e.row);
      applyTitle();
    },
    onReset: () => loadCount(),
  });
  if (!unsub) loadCount();

  // --- the preferences, in the bell's panel ---
  const note = h('p', { class: 'muted small attention-note', hidden: true });
  const notifyBox = h('input', { type: 'checkbox', name: 'attention-notify', checked: prefs.notify && supported() && Notification.permission === 'granted' });
  const soundBox = h('input', { type: 'checkbox', name: 'attention-sound', checked: prefs.sound });
  notifyBox.addEventListener('change', async () => {
    note.hidden = true;
    if (!notifyBox.checked) {
      prefs.notify = false;
      return save();
    }
    if (!supported()) {
      notifyBox.checked = false;
      note.textContent = t('attention.unsupported');
      note.hidden = false;
      return;
    }
    // Asked here, from the click: browsers refuse permission prompts without a user gesture.
    const answer = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
    prefs.notify = answer === 'granted';
    notifyBox.checked = prefs.notify;
    if (!prefs.notify) {
      note.textContent = t('attention.denied');
      note.hidden = false;
    }
    save();
  });
  soundBox.addEventListener('change', () => {
    prefs.sound = soundBox.checked;
    save();
    if (prefs.sound) beep(); // a sample, and the audio context starts from this gesture
  });
  const controls = h('fieldset', { class: 'attention' }, h('legend', {}, t('attention.title')),
    h('label', { class: 'check' }, notifyBox, h('span', {}, t('attention.notify'))),
    h('label', { class: 'check' }, soundBox, h('span', {}, t('attention.sound'))),
    note);

  return {
    controls,
    /** One of the user's notifications arrived (in their language). */
    notification(text, link) {
      alert(text.title, text.body, undefined, link);
    },
    destroy() {
      alive = false;
      observer?.disconnect();
      unsub?.();
      document.title = titled(document.title, 0);
      audio?.close?.();
    },
  };
}
