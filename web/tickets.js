// Support tickets. `#/tickets`: the tickets the user sees (her own and those assigned to her;
// admins all), filtered by status and priority, and "New ticket" (subject, body, priority).
// `#/tickets/<id>`: the ticket, its comments and a comment box; admins change its status,
// priority and assignee (an admin). Both follow `table:tickets` and `table:ticket_comments` (the
// server sends each user only the rows of tickets she sees) and refetch over REST on a change.
import { get, patch, post, query } from './api.js';
import { fmtDateTime, fmtNumber, fmtShort, t } from './i18n.js';
import { liveClient, refetcher } from './live.js';
import { can } from './capabilities.js';
import { admins, userName } from './directory.js';
import { navigate } from './router.js';
import { clear, field, fieldError, h, hue, initials, modal, select, showError, toast } from './ui.js';

export const STATUSES = ['open', 'in_progress', 'resolved', 'closed'];
export const PRIORITIES = ['low', 'normal', 'high', 'urgent'];


function statusPill(s) {
  return h('span', { class: `pill t-status t-${s}`, dataset: { status: s } }, t(`tickets.status.${s}`));
}

function priorityPill(p) {
  return h('span', { class: `pill t-prio p-${p}`, dataset: { priority: p } }, t(`tickets.priority.${p}`));
}

/** Mounts the tickets screens in `view` (`id`: one ticket, else the list); returns destroy. */
export function mountTickets(view, id) {
  return id ? mountTicket(view, id) : mountList(view);
}

// --- the list ---
function mountList(view) {
  const filters = { status: '', priority: '' };
  const status = select([{ value: '', label: t('tickets.anyStatus') }, ...STATUSES.map((s) => ({ value: s, label: t(`tickets.status.${s}`) }))],
    '', { name: 'status', 'aria-label': t('tickets.statusLabel'), onchange: (e) => { filters.status = e.target.value; load(); } });
  const priority = select([{ value: '', label: t('tickets.anyPriority') }, ...PRIORITIES.map((p) => ({ value: p, label: t(`tickets.priority.${p}`) }))],
    '', { name: 'priority', 'aria-label': t('tickets.priorityLabel'), onchange: (e) => { filters.priority = e.target.value; load(); } });
  const list = h('div', { class: 'ticket-list-wrap' });
  const root = h('section', { class: 'page tickets', 'aria-labelledby': 'tickets-title' },
    h('div', { class: 'page-head' },
      h('h1', { id: 'tickets-title' }, t('tickets.title')),
      h('button', { class: 'btn btn-primary', type: 'button', onclick: () => newTicket() }, t('tickets.new'))),
    h('div', { class: 'toolbar' }, status, priority),
    list);
  clear(view, root);
  document.title = `${t('tickets.title')} · ${t('app.name')}`;
  let alive = true;
  let seq = 0;

  async function load() {
    const mine = ++seq;
    const rows = await get(`/tickets${query({ status: filters.status, priority: filters.priority, limit: 500 })}`);
    if (!alive || mine !== seq) return;
    render(rows);
  }

  function render(rows) {
    clear(list, rows.length
      ? h('ul', { class: 'ticket-list' }, rows.map((x) => h('li', { class: 'ticket-item', dataset: { id: x.ticket_id, status: x.status } },
        h('a', { class: 'ticket-row', href: `#/tickets/${x.ticket_id}` },
          h('span', { class: 'ticket-subject' }, h('span', { class: 'muted ticket-num' }, `#${x.ticket_id}`), ' ', x.subject),
          h('span', { class: 'ticket-pills' }, statusPill(x.status), priorityPill(x.priority)),
          h('span', { class: 'ticket-meta muted' },
            t('tickets.openedBy', { name: userName(x.opened_by) }), ' · ',
            x.assignee_id ? t('tickets.assignedTo', { name: userName(x.assignee_id) }) : t('tickets.noAssignee'), ' · ',
            t('tickets.commentCount', { n: x.comment_count })),
          h('span', { class: 'ticket-time muted', title: fmtDateTime(x.updated_at) }, fmtShort(x.updated_at))))))
      : h('p', { class: 'empty' }, t('tickets.empty')));
    root.dataset.state = 'ready';
    root.dataset.count = String(rows.length);
  }

  const reload = refetcher(() => load().catch(showError));
  const client = liveClient();
  const subs = client
    ? ['table:tickets', 'table:ticket_comments'].map((topic) => client.subscribe(topic, {
      onSubscribed: reload, onEvent: reload, onReset: reload,
    }))
    : [];
  if (!client) load().catch(showError);

  return {
    destroy() {
      alive = false;
      reload.cancel();
      for (const u of subs) u();
    },
  };
}

function newTicket() {
  const m = modal(t('tickets.new'), { wide: true });
  const subject = h('input', { name: 'subject', required: true, maxlength: 200, autocomplete: 'off' });
  const body = h('textarea', { name: 'body', rows: 6, maxlength: 20000 });
  const priority = select(PRIORITIES.map((p) => ({ value: p, label: t(`tickets.priority.${p}`) })), 'normal', { name: 'priority' });
  const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, t('tickets.open'));
  const form = h('form', { class: 'stack ticket-form', novalidate: true },
    field(t('tickets.subject'), subject),
    field(t('tickets.body'), body, t('tickets.bodyHint')),
    field(t('tickets.priorityLabel'), priority),
    h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.cancel')), submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const created = await post('/tickets', { subject: subject.value, body: body.value, priority: priority.value });
      m.close();
      toast(t('tickets.opened'));
      navigate(`#/tickets/${created.ticket_id}`);
    } catch (err) {
      fieldError(form, err);
    } finally {
      submit.disabled = false;
    }
  });
  m.body.append(form);
  subject.focus();
}

// --- one ticket ---
function mountTicket(view, id) {
  const body = h('div', { class: 'ticket-body' });
  const root = h('section', { class: 'page ticket', dataset: { id } },
    h('nav', { class: 'crumbs' }, h('a', { class: 'back-link', href: '#/tickets' }, `← ${t('tickets.all')}`)), body);
  clear(view, root);
  let alive = true;
  let skeleton = null; // the page's parts, once the ticket has loaded

  let seq = 0; // only the newest read is shown (answers may come back out of order)
  async function load() {
    const mine = ++seq;
    let data;
    try {
      data = await get(`/tickets/${id}`);
    } catch (e) {
      if (!alive || mine !== seq) return;
      if (e.status === 404) {
        skeleton = null;
        clear(body, h('p', { class: 'empty' }, t('tickets.notFound')));
        root.dataset.state = 'missing';
        return;
      }
      throw e;
    }
    if (alive && mine === seq) render(data);
  }

  function change(fieldName, value) {
    return patch(`/tickets/${id}`, { [fieldName]: value }).then(() => {
      toast(t('common.saved'));
      return load();
    }).catch((e) => {
      showError(e);
      return load();
    });
  }

  function render(x) {
    document.title = `#${x.ticket_id} ${x.subject} · ${t('app.name')}`;
    let facts;
    if (can('manage_tickets')) {
      const status = select(STATUSES.map((s) => ({ value: s, label: t(`tickets.status.${s}`) })), x.status,
        { name: 'status', onchange: (e) => change('status', e.target.value) });
      const priority = select(PRIORITIES.map((p) => ({ value: p, label: t(`tickets.priority.${p}`) })), x.priority,
        { name: 'priority', onchange: (e) => change('priority', e.target.value) });
      const assignee = select([{ value: '', label: t('tickets.noAssignee') }, ...admins().map((u) => ({ value: u.user_id, label: u.display_name }))],
        x.assignee_id ?? '', { name: 'assignee_id', onchange: (e) => change('assignee_id', e.target.value ? Number(e.target.value) : null) });
      facts = h('div', { class: 'ticket-controls' },
        field(t('tickets.statusLabel'), status), field(t('tickets.priorityLabel'), priority), field(t('tickets.assignee'), assignee));
    } else {
      facts = h('dl', { class: 'facts ticket-facts' },
        h('dt', {}, t('tickets.statusLabel')), h('dd', {}, statusPill(x.status)),
        h('dt', {}, t('tickets.priorityLabel')), h('dd', {}, priorityPill(x.priority)),
        h('dt', {}, t('tickets.assignee')), h('dd', {}, x.assignee_id ? userName(x.assignee_id) : t('tickets.noAssignee')));
    }
    if (!skeleton) {
      // Built once: live updates refill its parts and never move the comment box (nor its focus).
      skeleton = { head: h('header', { class: 'ticket-head' }), text: h('div'), thread: h('div'), side: h('aside', { class: 'card ticket-side' }) };
      clear(body, skeleton.head,
        h('div', { class: 'ticket-grid' },
          h('div', { class: 'ticket-main' }, skeleton.text, skeleton.thread, commentBox()),
          skeleton.side));
    }
    clear(skeleton.head,
      h('h1', {}, h('span', { class: 'muted ticket-num' }, `#${x.ticket_id}`), ' ', x.subject),
      h('div', { class: 'ticket-pills' }, statusPill(x.status), priorityPill(x.priority)),
      h('p', { class: 'muted small' }, t('tickets.openedByAt', { name: userName(x.opened_by), when: fmtDateTime(x.created_at) })));
    clear(skeleton.text, x.body ? h('div', { class: 'card ticket-text' }, x.body) : null);
    clear(skeleton.thread,
      h('h2', {}, t('tickets.comments'), ' ', h('span', { class: 'muted' }, fmtNumber(x.comments.length))),
      x.comments.length
        ? h('ol', { class: 'comments' }, x.comments.map((c) => h('li', { class: 'comment', id: `comment-${c.comment_id}`, dataset: { id: c.comment_id } },
          h('span', { class: 'avatar avatar-sm', style: `--h:${hue(userName(c.author_id))}`, 'aria-hidden': 'true' }, initials(userName(c.author_id))),
          h('div', { class: 'comment-main' },
            h('div', { class: 'comment-head' }, h('strong', {}, userName(c.author_id)),
              h('span', { class: 'muted small', title: fmtDateTime(c.created_at) }, fmtShort(c.created_at))),
            h('div', { class: 'comment-body' }, c.body)))))
        : h('p', { class: 'muted no-comments' }, t('tickets.noComments')));
    clear(skeleton.side, h('h2', {}, t('tickets.details')), facts);
    root.dataset.state = 'ready';
    root.dataset.status = x.status;
    root.dataset.comments = String(x.comments.length);
  }

  function commentBox() {
    const text = h('textarea', { name: 'body', rows: 3, required: true, placeholder: t('tickets.commentPlaceholder'), 'aria-label': t('tickets.addComment') });
    const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, t('tickets.addComment'));
    const form = h('form', { class: 'comment-form', novalidate: true }, text, h('div', { class: 'actions' }, submit));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      submit.disabled = true;
      try {
        await post(`/tickets/${id}/comments`, { body: text.value });
        text.value = '';
        for (const el of form.querySelectorAll('.field-error')) el.remove();
        await load();
      } catch (err) {
        fieldError(form, err);
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }

  const reload = refetcher(() => load().catch(showError), 80);
  const client = liveClient();
  const filters = { ticket_id: `eq.${id}` };
  const subs = client
    ? ['table:tickets', 'table:ticket_comments'].map((topic) => client.subscribe(topic, {
      filters, onSubscribed: reload, onEvent: reload, onReset: reload,
    }))
    : [];
  if (!client) load().catch(showError);

  return {
    destroy() {
      alive = false;
      reload.cancel();
      for (const u of subs) u();
    },
  };
}
