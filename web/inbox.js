// The inbox: the visible conversations, loaded in keyset pages over REST and kept current by the
// `inbox` subscription of the realtime connection; filters, search, selection for bulk
// reassignment, keyboard navigation; the open conversation shows in the right pane.
import { compareLsn } from '/static/platica-client.js';
import { FILTERS_PREFIX, get, query, request } from './api.js';
import { fmtDateTime, fmtNumber, fmtRelative, messagePreview, prospectName, t } from './i18n.js';
import { liveClient } from './live.js';
import { can } from './capabilities.js';
import { dir, executives, myTeams, teamName, userName } from './directory.js';
import { navigate } from './router.js';
import { clear, h, hue, initials, select, showError } from './ui.js';
import { mountConversation } from './conversation.js';
import { openBulkReassign } from './bulk.js';
import { createInboxList } from './inbox-list.js';
import { PRIORITIES, allLabels, labelChip, loadLabels, priorityBadge } from './labels.js';

const PAGE = 50;
/** Where this user's inbox filters are kept for the tab's session: per user, so whoever signs in
 * next in the same tab starts from their own (logging out clears them all, see api.js). */
function filtersKey() {
  return `${FILTERS_PREFIX}${dir.me?.tenant_id ?? ''}.${dir.me?.user_id ?? ''}`;
}

function savedFilters() {
  try {
    const f = JSON.parse(sessionStorage.getItem(filtersKey()) ?? '{}');
    return { team_id: f.team_id ?? '', executive_id: f.executive_id ?? '', status: f.status ?? '', unread: Boolean(f.unread), q: f.q ?? '',
      view: f.view ?? 'all', sort: f.sort ?? 'latest', label_id: f.label_id ?? '', priority: f.priority ?? '' };
  } catch {
    return { team_id: '', executive_id: '', status: '', unread: false, q: '', view: 'all', sort: 'latest', label_id: '', priority: '' };
  }
}

export function mountInbox(container) {
  const canBulk = can('bulk_reassign');
  // The rows in order (inbox-list.js); `st` is the rest of the screen's state.
  const model = createInboxList(compareLsn);
  // The views the user's policy offers (platica_domain::policy::inbox_views): whoever sees teams
  // has Unassigned and All; an executive's inbox is Mine, so no tabs.
  const views = can('see_teams') ? ['all', 'unassigned'] : [];
  const st = {
    filters: savedFilters(),
    loading: false,
    loaded: false,
    loadSeq: 0,
    unsub: null,
    selecting: false,
    selected: new Set(), // prospect ids
    allMatching: false,
    openId: null,
    conv: null,
    els: new Map(), // conversation_id -> <li>
    flash: new Set(),
  };

  // --- the DOM ---
  const countsEl = h('p', { class: 'counts', 'aria-live': 'polite' });
  const search = h('input', { type: 'search', name: 'q', value: st.filters.q, placeholder: t('inbox.search'), 'aria-label': t('inbox.search'), maxlength: 100, autocomplete: 'off' });
  const teamOptions = [{ value: '', label: t('inbox.allTeams') }, ...myTeams()
    .map((x) => ({ value: x.team_id, label: x.name }))];
  const teamSel = select(teamOptions, st.filters.team_id, { name: 'team_id', 'aria-label': t('prospect.team') });
  const execSel = select([{ value: '', label: t('inbox.allExecutives') }, ...executives().map((u) => ({ value: u.user_id, label: u.display_name }))],
    st.filters.executive_id, { name: 'executive_id', 'aria-label': t('prospect.executive') });
  const statusSel = select([
    { value: '', label: t('inbox.statusAll') },
    { value: 'open', label: t('inbox.statusOpen') },
    { value: 'snoozed', label: t('inbox.statusSnoozed') },
    { value: 'closed', label: t('inbox.statusClosed') },
  ], st.filters.status, { name: 'status', 'aria-label': t('inbox.status') });
  const sortSel = select(['latest', 'waiting', 'unread_first'].map((v) => ({ value: v, label: t(`triage.sort.${v}`) })),
    st.filters.sort, { name: 'sort', 'aria-label': t('triage.sort') });
  const prioSel = select([{ value: '', label: t('triage.anyPriority') }, ...PRIORITIES.map((v) => ({ value: v, label: t(`triage.priority.${v}`) }))],
    st.filters.priority, { name: 'priority', 'aria-label': t('triage.priority') });
  const labelSel = select([{ value: '', label: t('triage.allLabels') }], st.filters.label_id, { name: 'label_id', 'aria-label': t('triage.label') });
  loadLabels(true).then((list) => {
    for (const l of list) labelSel.append(h('option', { value: String(l.label_id) }, l.name));
    labelSel.value = String(st.filters.label_id ?? '');
    render();
  }).catch(() => {});
  const tabs = views.length ? h('div', { class: 'view-tabs', role: 'tablist', 'aria-label': t('triage.views') },
    ...views.map((v) => h('button', { class: 'view-tab', type: 'button', role: 'tab', dataset: { view: v }, 'aria-selected': String(st.filters.view === v),
      onclick: () => { setFilter('view', v); renderTabs(); } }, t(`triage.view.${v}`)))) : null;
  function renderTabs() {
    for (const b of tabs?.children ?? []) b.setAttribute('aria-selected', String(b.dataset.view === st.filters.view));
  }
  const unreadBox = h('input', { type: 'checkbox', name: 'unread', checked: st.filters.unread });
  const selectBtn = canBulk ? h('button', { class: 'btn btn-small', type: 'button', onclick: () => setSelecting(!st.selecting) }, t('inbox.select')) : null;
  // On a phone the selects fold behind one button saying how many are set, so the list starts
  // near the top; on a desktop they are always shown (the button is hidden by app.css).
  const filterToggle = h('button', { class: 'btn btn-small filter-toggle', type: 'button', 'aria-expanded': 'false',
    'aria-controls': 'inbox-filter-more', onclick: () => {
      const open = filterToggle.getAttribute('aria-expanded') !== 'true';
      filterToggle.setAttribute('aria-expanded', String(open));
      filterMore.classList.toggle('open', open);
    } });
  const filterMore = h('div', { class: 'filter-more', id: 'inbox-filter-more' },
    can('see_teams') ? h('div', { class: 'filter-row' }, teamSel, execSel) : null,
    h('div', { class: 'filter-row' },
      statusSel,
      h('label', { class: 'check' }, unreadBox, h('span', {}, t('inbox.unreadOnly')))),
    h('div', { class: 'filter-row' }, sortSel, labelSel, prioSel));
  function renderFilterToggle() {
    const f = st.filters;
    const n = [f.team_id !== '', f.executive_id !== '', Boolean(f.status), f.unread, f.sort && f.sort !== 'latest',
      f.label_id !== '', Boolean(f.priority)].filter(Boolean).length;
    filterToggle.textContent = n ? t('inbox.filtersSet', { set: n }) : t('inbox.filtersButton');
  }
  renderFilterToggle();
  const filters = h('div', { class: 'filters', role: 'search', 'aria-label': t('inbox.filters') },
    h('div', { class: 'search-row' }, h('div', { class: 'search-wrap' }, search), filterToggle),
    filterMore);
  const selCount = h('span', { class: 'sel-count' });
  const selAll = h('button', { class: 'link-btn', type: 'button', onclick: () => { st.allMatching = true; renderSelbar(); renderRows(); } });
  const selHint = h('span', { class: 'sel-hint' });
  const selReassign = h('button', { class: 'btn btn-primary btn-small', type: 'button', onclick: () => bulk() }, t('inbox.reassignSelected'));
  const selbar = h('div', { class: 'selbar', hidden: true }, selCount, selAll, selHint, h('div', { class: 'spacer' }), selReassign,
    h('button', { class: 'btn btn-small', type: 'button', onclick: () => setSelecting(false) }, t('inbox.cancelSelect')));
  // While selecting, rows keep their place (inbox-list.js `freeze`); what came or moved meanwhile
  // waits behind this pill.
  const newPill = h('button', { class: 'new-pill', type: 'button', hidden: true, onclick: () => showNew() });
  const list = h('ul', { class: 'rows', role: 'listbox', 'aria-label': t('inbox.list'), tabindex: '0' });
  const foot = h('div', { class: 'list-foot' });
  const scroller = h('div', { class: 'scroller' }, list, foot);
  const listPane = h('section', { class: 'list-pane', 'aria-label': t('inbox.title') },
    h('div', { class: 'list-head' }, h('div', {}, h('h1', {}, t('inbox.title')), countsEl), selectBtn),
    tabs, filters, selbar, newPill, scroller);
  const convPane = h('section', { class: 'conv-pane' });
  const split = h('div', { class: 'split' }, listPane, convPane);
  container.append(split);

  // --- filters ---
  let searchTimer = null;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => setFilter('q', search.value.trim()), 250);
  });
  teamSel.addEventListener('change', () => setFilter('team_id', teamSel.value));
  execSel.addEventListener('change', () => setFilter('executive_id', execSel.value));
  statusSel.addEventListener('change', () => setFilter('status', statusSel.value));
  sortSel.addEventListener('change', () => setFilter('sort', sortSel.value));
  prioSel.addEventListener('change', () => setFilter('priority', prioSel.value));
  labelSel.addEventListener('change', () => setFilter('label_id', labelSel.value));
  unreadBox.addEventListener('change', () => setFilter('unread', unreadBox.checked));

  function setFilter(k, v) {
    if (st.filters[k] === v) return;
    st.filters[k] = v;
    renderFilterToggle();
    try {
      sessionStorage.setItem(filtersKey(), JSON.stringify(st.filters));
    } catch {
      // storage disabled
    }
    st.allMatching = false;
    st.selected.clear();
    subscribe();
  }

  function wireFilters() {
    const f = st.filters;
    const out = {};
    if (f.team_id !== '') out.team_id = Number(f.team_id);
    if (f.executive_id !== '') out.executive_id = Number(f.executive_id);
    if (f.status) out.status = f.status;
    if (f.unread) out.unread = true;
    if (f.q) out.q = f.q;
    if (f.view && f.view !== 'all') out.view = f.view;
    if (f.sort && f.sort !== 'latest') out.sort = f.sort;
    if (f.label_id !== '') out.label_id = Number(f.label_id);
    if (f.priority) out.priority = f.priority;
    return out;
  }

  // --- data: subscribe, then load with min_lsn = the subscription's lsn ---
  function subscribe() {
    st.unsub?.();
    st.loaded = false;
    model.setSort(st.filters.sort);
    renderRows();
    const filtersNow = wireFilters();
    let mine = null;
    mine = liveClient().subscribe('inbox', {
      filters: filtersNow,
      onSubscribed: ({ lsn, resumed }) => {
        if (!resumed || !st.loaded) load(lsn);
      },
      onEvent: (event, frame) => {
        if (st.unsub !== mine) return;
        if (!model.buffer(frame)) applyEvent(event);
      },
      onReset: ({ lsn }) => load(lsn),
      onError: (e) => showError(e),
    });
    st.unsub = mine;
    // Without a live connection (yet), show the inbox anyway; the subscription reloads it.
    clearTimeout(st.fallback);
    st.fallback = setTimeout(() => {
      if (st.unsub === mine && !st.loaded && !st.loading) load(undefined);
    }, 2500);
  }

  async function load(minLsn) {
    const seq = ++st.loadSeq;
    model.startLoad();
    st.loading = true;
    renderFoot();
    try {
      const r = await request('GET', `/inbox${query({ ...wireFilters(), limit: PAGE, min_lsn: minLsn })}`);
      if (seq !== st.loadSeq) return;
      for (const id of model.finishLoad(r.data, r.lsn)) st.flash.add(id);
      st.loaded = true;
    } catch (e) {
      if (seq === st.loadSeq) {
        model.failLoad();
        if (e.status === 503) setTimeout(() => load(minLsn), 1000);
        else showError(e);
      }
    } finally {
      if (seq === st.loadSeq) st.loading = false;
    }
    if (seq === st.loadSeq) render();
  }

  async function loadMore() {
    if (st.loading || !model.hasMore || !model.cursor) return;
    st.loading = true;
    renderFoot();
    const seq = st.loadSeq;
    try {
      const page = await get(`/inbox${query({ ...wireFilters(), limit: PAGE, cursor: model.cursor })}`);
      if (seq !== st.loadSeq) return;
      model.appendPage(page);
    } catch (e) {
      showError(e);
    } finally {
      st.loading = false;
    }
    render();
  }

  // Selections are prospect ids: a removed row leaves them valid, except that a row gone while
  // selecting (no longer visible) is no longer selected.
  function applyEvent(event) {
    if (event.kind === 'remove' && model.frozen) {
      const gone = model.rows.get(event.conversation_id);
      if (gone) st.selected.delete(gone.prospect_id);
    }
    const top = model.apply(event);
    if (top != null) st.flash.add(top);
    scheduleRender();
  }

  let frame = 0;
  function scheduleRender() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      render();
    });
  }

  // --- rendering ---
  function render() {
    renderCounts();
    renderRows();
    renderFoot();
    renderSelbar();
    renderPill();
  }

  function renderPill() {
    const n = model.freshCount();
    newPill.hidden = !model.frozen || n === 0;
    newPill.textContent = t('inbox.newPill', { n });
    newPill.setAttribute('aria-label', t('inbox.newPillLabel', { n }));
  }

  /** The pill: what waited comes into place; the order stays frozen while selecting. */
  function showNew() {
    for (const id of model.thaw()) st.flash.add(id);
    if (st.selecting) model.freeze();
    scroller.scrollTop = 0;
    render();
  }

  function renderCounts() {
    countsEl.textContent = st.loaded ? t('inbox.counts', { n: model.counts.total, unread: model.counts.unread }) : '';
  }

  function rowKey(row) {
    return [row.last_message_id, row.unread_count, row.status, row.priority, (row.label_ids ?? []).join(','), allLabels().length, row.team_id, row.executive_id, row.prospect_name,
      row.last_activity_at, st.selecting, model.gone.has(row.conversation_id), st.allMatching || st.selected.has(row.prospect_id), st.openId === row.conversation_id].join('|');
  }

  function rowEl(row) {
    const id = row.conversation_id;
    let li = st.els.get(id);
    const key = rowKey(row);
    if (li && li.dataset.key === key) return li;
    const unread = row.unread_count > 0;
    const who = row.last_message_direction === 'out'
      ? (row.last_message_sender === 'bot' ? `${t('inbox.bot')}: ` : '↪ ')
      : '';
    const gone = model.gone.has(id);
    const checked = !gone && (st.allMatching || st.selected.has(row.prospect_id));
    const box = st.selecting
      ? h('input', {
        type: 'checkbox', class: 'row-check', checked, disabled: st.allMatching || gone, tabindex: '-1',
        'aria-label': t('inbox.selectRow', { name: row.prospect_name }),
        onclick: (e) => { e.stopPropagation(); toggle(row); },
      })
      : null;
    const fresh = h('li', {
      id: `row-${id}`, role: 'option', class: `row${unread ? ' unread' : ''}${row.status === 'closed' ? ' closed' : ''}${gone ? ' gone' : ''}`,
      'aria-disabled': gone ? 'true' : null,
      'aria-selected': st.openId === id ? 'true' : 'false', tabindex: '-1', dataset: { id: String(id), key },
    },
    box,
    h('div', { class: 'avatar', style: `--h:${hue(row.prospect_name)}`, 'aria-hidden': 'true' }, initials(prospectName(row.prospect_name))),
    h('div', { class: 'row-main' },
      h('div', { class: 'row-top' },
        h('span', { class: 'row-name' }, prospectName(row.prospect_name)),
        priorityBadge(row.priority),
        h('time', { class: 'row-time', datetime: row.last_activity_at, title: fmtDateTime(row.last_activity_at) }, fmtRelative(row.last_activity_at))),
      h('div', { class: 'row-bottom' },
        h('span', { class: 'row-preview' }, who, messagePreview(row.last_message_preview)),
        unread ? h('span', { class: 'badge' }, h('span', { 'aria-hidden': 'true' }, fmtNumber(row.unread_count)),
          h('span', { class: 'sr-only' }, t('inbox.unreadBadge', { n: row.unread_count }))) : null),
      (row.label_ids?.length || row.status === 'snoozed')
        ? h('div', { class: 'row-labels' },
          row.status === 'snoozed' ? h('span', { class: 'chip chip-muted snoozed-chip' }, t('inbox.snoozedChip', { time: fmtDateTime(row.snoozed_until) })) : null,
          ...(row.label_ids ?? []).map(labelChip))
        : null,
      can('see_teams')
        ? h('div', { class: 'row-meta' }, h('span', { class: 'chip' }, teamName(row.team_id)), h('span', {}, userName(row.executive_id)),
          row.status === 'closed' ? h('span', { class: 'chip chip-muted' }, t('inbox.closedChip')) : null)
        : row.status === 'closed' ? h('div', { class: 'row-meta' }, h('span', { class: 'chip chip-muted' }, t('inbox.closedChip'))) : null));
    if (li) {
      const hadFocus = document.activeElement === li;
      li.replaceWith(fresh);
      if (hadFocus) fresh.focus();
    }
    st.els.set(id, fresh);
    return fresh;
  }

  function renderRows() {
    const wanted = new Set(model.order);
    for (const [id, el] of st.els) {
      if (!wanted.has(id)) {
        el.remove();
        st.els.delete(id);
      }
    }
    let prev = null;
    for (const id of model.order) {
      const el = rowEl(model.rows.get(id));
      const expectedNext = prev ? prev.nextSibling : list.firstChild;
      if (expectedNext !== el) list.insertBefore(el, expectedNext);
      if (st.flash.has(id)) {
        el.classList.remove('flash');
        void el.offsetWidth;
        el.classList.add('flash');
      }
      prev = el;
    }
    st.flash.clear();
  }

  function renderFoot() {
    foot.dataset.state = st.loading ? 'loading' : !st.loaded ? 'idle' : !model.order.length ? 'empty' : model.hasMore ? 'more' : 'end';
    if (st.loading) clear(foot, h('span', { class: 'muted' }, t('inbox.loading')));
    else if (st.loaded && !model.order.length) clear(foot, h('p', { class: 'empty' }, t('inbox.empty')));
    else if (model.hasMore) clear(foot, h('button', { class: 'btn btn-small', type: 'button', onclick: loadMore }, t('inbox.loadMore')));
    else if (st.loaded) clear(foot, h('span', { class: 'muted' }, t('inbox.end')));
    else clear(foot);
  }

  function renderSelbar() {
    selbar.hidden = !st.selecting;
    if (selectBtn) selectBtn.setAttribute('aria-pressed', String(st.selecting));
    if (!st.selecting) return;
    const n = st.allMatching ? model.counts.total : st.selected.size;
    selCount.textContent = st.allMatching ? t('inbox.allMatchingSelected', { n: model.counts.total }) : t('inbox.selected', { n });
    const filterable = !st.filters.unread && !st.filters.status;
    selAll.hidden = st.allMatching || !filterable || model.counts.total === 0;
    selAll.textContent = t('inbox.selectAllMatching', { n: model.counts.total });
    selHint.hidden = filterable || st.allMatching;
    selHint.textContent = t('inbox.allMatchingHint');
    selReassign.disabled = n === 0;
  }

  function setSelecting(on) {
    st.selecting = on;
    st.selected.clear();
    st.allMatching = false;
    if (on) model.freeze();
    else for (const id of model.thaw()) st.flash.add(id);
    split.classList.toggle('selecting', on);
    render();
  }

  function toggle(row) {
    if (st.allMatching || model.gone.has(row.conversation_id)) return;
    if (st.selected.has(row.prospect_id)) st.selected.delete(row.prospect_id);
    else st.selected.add(row.prospect_id);
    renderRows();
    renderSelbar();
  }

  function bulk() {
    const f = st.filters;
    const selection = st.allMatching
      ? {
        filter: Object.fromEntries(Object.entries({
          q: f.q || undefined,
          team_id: f.team_id !== '' ? Number(f.team_id) : undefined,
          executive_id: f.executive_id !== '' ? Number(f.executive_id) : undefined,
        }).filter(([, v]) => v !== undefined)),
        count: model.counts.total,
      }
      : { prospect_ids: [...st.selected], count: st.selected.size };
    openBulkReassign(selection, () => setSelecting(false));
  }

  // --- interaction: click, keyboard, infinite scroll ---
  list.addEventListener('click', (e) => {
    const li = e.target.closest('li.row');
    if (!li) return;
    const row = model.rows.get(Number(li.dataset.id));
    if (!row) return;
    if (st.selecting) toggle(row);
    else navigate(`#/c/${row.conversation_id}`);
  });

  list.addEventListener('keydown', (e) => {
    const rows = [...list.querySelectorAll('li.row')];
    if (!rows.length) return;
    const current = document.activeElement?.closest?.('li.row');
    let i = current ? rows.indexOf(current) : -1;
    if (e.key === 'ArrowDown') i = Math.min(rows.length - 1, i + 1);
    else if (e.key === 'ArrowUp') i = Math.max(0, i - 1);
    else if (e.key === 'Home') i = 0;
    else if (e.key === 'End') i = rows.length - 1;
    else if ((e.key === 'Enter' || e.key === ' ') && current) {
      e.preventDefault();
      const row = model.rows.get(Number(current.dataset.id));
      if (st.selecting || e.key === ' ') {
        if (st.selecting) toggle(row);
      } else navigate(`#/c/${row.conversation_id}`);
      return;
    } else return;
    e.preventDefault();
    const target = rows[Math.max(0, i)];
    target.focus();
    if (i >= rows.length - 5) loadMore();
  });
  list.addEventListener('focus', (e) => {
    if (e.target !== list) return;
    const first = (st.openId && st.els.get(st.openId)) || list.querySelector('li.row');
    first?.focus();
  });

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((x) => x.isIntersecting)) loadMore();
  }, { root: scroller, rootMargin: '400px' });
  observer.observe(foot);

  // Relative times age: refresh them every half minute.
  const ticker = setInterval(() => {
    for (const el of list.querySelectorAll('time.row-time')) el.textContent = fmtRelative(el.getAttribute('datetime'));
  }, 30000);

  subscribe();
  let opened = false;

  return {
    /** Opens conversation `id` (null: none), showing `message` in it when given. */
    open(id, message = null) {
      if (opened && st.openId === id && (id === null || st.conv)) {
        if (message) st.conv?.reveal(message);
        return;
      }
      opened = true;
      st.conv?.destroy();
      st.conv = null;
      st.openId = id;
      split.classList.toggle('has-conv', id !== null);
      if (id === null) {
        document.title = `${t('inbox.title')} · ${t('app.name')}`;
        clear(convPane, h('div', { class: 'placeholder' }, h('img', { src: '/app/favicon.svg', alt: '', width: 56, height: 56 }), h('p', {}, t('inbox.pick'))));
      } else {
        st.conv = mountConversation(convPane, id, {
          row: model.rows.get(id),
          message,
          back: () => {
            navigate('#/inbox');
            setTimeout(() => st.els.get(id)?.focus(), 0);
          },
        });
      }
      renderRows();
    },
    destroy() {
      clearTimeout(st.fallback);
      st.unsub?.();
      st.conv?.destroy();
      observer.disconnect();
      clearInterval(ticker);
      clearTimeout(searchTimer);
    },
  };
}
