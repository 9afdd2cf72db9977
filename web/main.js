// The single-page app: start-up, the shell (top bar, banners) and what each route shows. Every
// screen has one contract: `mountX(container, ...)` returns `{ destroy() }` (the inbox also
// `open(id)`); the shell destroys the screen it replaces.
import { clearSession, get, post, session, setUnauthorizedHandler } from './api.js';
import { can } from './capabilities.js';
import { dir, loadDirectory } from './directory.js';
import { LANGUAGES, getLang, onLangChange, setLang, t } from './i18n.js';
import { liveDegraded, onLiveDegraded, onLiveStatus, onNewVersion, startLive, stopLive } from './live.js';
import { currentRoute, navigate, onRoute } from './router.js';
import { clear, h, select, toast } from './ui.js';
import { renderLogin } from './login.js';
import { mountInbox } from './inbox.js';
import { mountAdmin } from './admin.js';
import { mountCalls } from './calls.js';
import { mountBell } from './bell.js';
import { mountTickets } from './tickets.js';
import { mountCampaigns } from './campaigns.js';
import { mountSearch } from './search.js';
import { mountReports } from './reports.js';
import { searchQuery } from './search-text.js';

const root = document.getElementById('app');
const SEARCH_ICON = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#fff" stroke-width="2.2" stroke-linecap="round"><circle cx="10.5" cy="10.5" r="6.5"/><path d="m15.5 15.5 5 5"/></svg>')}`;
const REPORTS_ICON = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#fff" stroke-width="2.2" stroke-linecap="round"><path d="M4 20h16"/><path d="M7 16v-5"/><path d="M12 16V6"/><path d="M17 16v-8"/></svg>')}`;
const LOGOUT_ICON = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#fff" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4"/><path d="m16 17 5-5-5-5"/><path d="M21 12H9"/></svg>')}`;
// The phone layout's breakpoint (app.css): the top bar is narrow below it.
const PHONE = window.matchMedia('(max-width: 760px)');
let shell = null; // { view, conn, version }
let inbox = null; // the mounted inbox (kept while moving between inbox and conversations)
let starting = null; // the start-up in progress, shared by concurrent routes
let page = null; // the screen shown other than the inbox (call monitor, tickets, campaigns, admin)

async function route() {
  root.classList.remove('boot');
  root.removeAttribute('aria-busy');
  const s = session();
  const parts = currentRoute();
  if (!s) {
    inbox = null;
    shell?.unrelabel?.();
    shell = null;
    document.title = t('app.name');
    renderLogin(root, async (user) => {
      dir.me = user;
      await start();
      navigate('#/inbox');
    });
    return;
  }
  if (!shell) await (starting ??= start().finally(() => { starting = null; }));
  if (!session()) return; // logged out meanwhile
  const [first, second] = parts;
  const campaigns = first === 'campaigns' && can('run_campaigns');
  const admin = first === 'admin' && can('administer');
  highlightNav(['calls', 'tickets', 'search', 'reports'].includes(first) || campaigns || admin ? first : 'inbox');
  page?.destroy();
  page = null;
  const id = /^\d+$/.test(second ?? '') ? Number(second) : null;
  if (first === 'calls' || first === 'tickets' || first === 'search' || first === 'reports' || campaigns || admin) {
    inbox?.destroy();
    inbox = null;
    if (first === 'calls') page = mountCalls(shell.view);
    else if (first === 'search') page = mountSearch(shell.view, searchQuery(second));
    else if (first === 'reports') page = mountReports(shell.view);
    else if (first === 'tickets') page = mountTickets(shell.view, id);
    else if (campaigns) page = mountCampaigns(shell.view, id);
    else page = mountAdmin(shell.view, second ?? 'users');
    return;
  }
  if (!inbox) {
    clear(shell.view);
    inbox = mountInbox(shell.view);
  }
  // `#/c/<id>/m/<message id>`: a search result, shown in its conversation.
  if (first === 'c' && id) inbox.open(id, /^\d+$/.test(parts[3] ?? '') && parts[2] === 'm' ? Number(parts[3]) : null);
  else inbox.open(null);
}

function highlightNav(which) {
  for (const a of shell?.nav.querySelectorAll('a') ?? []) {
    if (a.dataset.nav === which) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function start() {
  const s = session();
  dir.me = s.user;
  // The server's word on who this is and what they may do (capabilities), fresh at each start:
  // a session saved by an older version, or a role changed since, is brought up to date.
  const me = await get('/auth/me').catch(() => null);
  if (me) dir.me = me;
  await loadDirectory().catch(() => {});
  startLive();
  buildShell();
}

function buildShell() {
  const me = dir.me;
  const nav = h('nav', { class: 'nav', 'aria-label': t('nav.main') },
    h('a', { href: '#/inbox', dataset: { nav: 'inbox' } }, t('nav.inbox')),
    h('a', { href: '#/calls', dataset: { nav: 'calls' } }, t('nav.calls')),
    h('a', { href: '#/tickets', dataset: { nav: 'tickets' } }, t('nav.tickets')),
    // On a phone, a chart icon (its name stays for screen readers and as a tooltip).
    h('a', { href: '#/reports', class: 'nav-reports', title: t('nav.reports'), dataset: { nav: 'reports' } },
      h('span', { class: 'nav-text' }, t('nav.reports')), h('img', { class: 'nav-icon', src: REPORTS_ICON, alt: '', width: 20, height: 20 })),
    can('run_campaigns') ? h('a', { href: '#/campaigns', dataset: { nav: 'campaigns' } }, t('nav.campaigns')) : null,
    // On a phone, a magnifier (its name stays for screen readers and as a tooltip).
    h('a', { href: '#/search', class: 'nav-search', title: t('nav.search'), dataset: { nav: 'search' } },
      h('span', { class: 'nav-text' }, t('nav.search')), h('img', { class: 'nav-icon', src: SEARCH_ICON, alt: '', width: 20, height: 20 })),
    // On a phone the longest entry is a gear (its name stays for screen readers and as a tooltip),
    // so every entry fits the row instead of hiding past its edge.
    can('administer') ? h('a', { href: '#/admin/users', class: 'nav-admin', title: t('nav.admin'), dataset: { nav: 'admin' } },
      h('span', { class: 'nav-text' }, t('nav.admin')), h('span', { class: 'nav-icon', 'aria-hidden': 'true' }, '⚙')) : null);
  const lang = select(LANGUAGES.map((l) => ({ value: l.code, label: l.name })), getLang(), {
    class: 'lang', 'aria-label': t('nav.language'), onchange: (e) => setLang(e.target.value),
  });
  // A phone's top bar has no room for "Español": there the menu reads EN / ES.
  const relabel = () => [...lang.options].forEach((o, i) => {
    o.textContent = PHONE.matches ? LANGUAGES[i].code.toUpperCase() : LANGUAGES[i].name;
    o.title = LANGUAGES[i].name;
  });
  relabel();
  shell?.unrelabel?.();
  PHONE.addEventListener('change', relabel);
  const conn = h('div', { class: 'banner banner-conn', role: 'status', hidden: true }, t('conn.lost'));
  // The server's change stream is down: what the page shows may be stale until it is back.
  const paused = h('div', { class: 'banner banner-paused', role: 'status', hidden: !liveDegraded() }, t('live.paused'));
  const version = h('div', { class: 'banner banner-version', role: 'status', hidden: true },
    h('span', {}, t('version.available')),
    h('button', { class: 'btn btn-small', type: 'button', onclick: () => location.reload() }, t('version.reload')));
  const dot = h('span', { class: 'conn-dot', title: t('conn.lost'), 'aria-hidden': 'true' });
  const view = h('main', { id: 'view', class: 'view', tabindex: '-1' });
  shell?.bell.destroy();
  const bell = mountBell();
  const topbar = h('header', { class: 'topbar' },
    h('a', { class: 'brand', href: '#/inbox', 'aria-label': t('app.name') }, h('img', { src: '/app/favicon.svg', alt: '', width: 26, height: 26 }), h('span', {}, t('app.name'))),
    nav,
    h('div', { class: 'spacer' }),
    bell.el,
    dot,
    lang,
    h('div', { class: 'me' }, h('span', { class: 'me-name' }, me.display_name), h('span', { class: 'me-role' }, t(`role.${me.role}`))),
    h('button', { class: 'btn btn-ghost logout', type: 'button', onclick: logout, title: t('nav.logout') },
      h('img', { class: 'logout-icon', src: LOGOUT_ICON, alt: '', width: 20, height: 20 }),
      h('span', { class: 'logout-text' }, t('nav.logout'))));
  clear(root, h('div', { class: 'shell' }, topbar, conn, paused, version, view));
  shell = { view, conn, paused, version, nav, dot, bell, unrelabel: () => PHONE.removeEventListener('change', relabel) };
  document.title = t('app.name');
}

let lostTimer = null;
onLiveStatus((status) => {
  if (!shell) return;
  shell.dot.dataset.status = status;
  if (status === 'open') {
    clearTimeout(lostTimer);
    lostTimer = null;
    if (!shell.conn.hidden) {
      shell.conn.hidden = true;
      toast(t('conn.back'));
    }
  } else if (status === 'closed' && !lostTimer && shell.conn.hidden) {
    // A short blip is not worth a banner.
    lostTimer = setTimeout(() => {
      lostTimer = null;
      if (shell) shell.conn.hidden = false;
    }, 1200);
  }
});

onLiveDegraded((value) => {
  if (!shell) return;
  const wasPaused = !shell.paused.hidden;
  shell.paused.hidden = !value;
  if (wasPaused && !value) toast(t('live.back'));
});

onNewVersion(() => {
  if (shell) shell.version.hidden = false;
});

async function logout() {
  try {
    await post('/auth/logout');
  } catch {
    // the session may be gone already
  }
  endSession();
}

function endSession() {
  stopLive();
  clearSession();
  inbox?.destroy();
  inbox = null;
  page?.destroy();
  page = null;
  shell?.bell.destroy();
  shell?.unrelabel?.();
  shell = null;
  navigate('#/login');
}

setUnauthorizedHandler(() => {
  if (!shell) return;
  endSession();
  toast(t('common.sessionExpired'), 'error');
});

onLangChange(() => {
  // Rebuild everything in the new language; the live connection stays.
  inbox?.destroy();
  inbox = null;
  page?.destroy();
  page = null;
  if (shell) buildShell();
  route();
});

document.documentElement.lang = getLang();
onRoute(route);
route();
