// Administration (admins only): users, teams, API tokens, WhatsApp channels (admin-channels.js),
// message templates (templates.js), conversation labels (admin-labels.js), contact fields
// (admin-fields.js) and system settings, including publishing a new web version (app_version)
// that open tabs reload for. Scheduled jobs are admin-jobs.js, the bot admin-bot.js.
import { del, get, patch, post, put } from './api.js';
import { fmtDateTime, fmtNumber, t } from './i18n.js';
import { dir, loadDirectory, teamList, teamName, userName } from './directory.js';
import { clear, confirmDialog, field, fieldError, h, modal, select, showError, toast } from './ui.js';
import { publishing } from './live.js';
import { mountTemplates } from './templates.js';
import { mountLabelsAdmin } from './admin-labels.js';
import { mountFieldsAdmin } from './admin-fields.js';
import { mountJobsAdmin } from './admin-jobs.js';
import { mountChannelsAdmin } from './admin-channels.js';
import { mountBotAdmin } from './admin-bot.js';

const TABS = ['users', 'teams', 'tokens', 'channels', 'templates', 'labels', 'fields', 'jobs', 'bot', 'settings'];
// Tabs with a module of their own: mounted into the panel, destroyed with the screen.
const MODULES = { channels: mountChannelsAdmin, templates: mountTemplates, labels: mountLabelsAdmin, fields: mountFieldsAdmin, jobs: mountJobsAdmin, bot: mountBotAdmin };
const ROLES = ['admin', 'coordinator', 'executive'];

/** The admin screens (`#/admin/<tab>`); the templates, labels and fields tabs are modules of their
 * own (the templates tab is live), and destroying the screen stops them. */
export function mountAdmin(container, tab) {
  if (!TABS.includes(tab)) tab = 'users';
  const panel = h('div', { class: 'admin-panel', role: 'tabpanel', id: 'admin-panel', 'aria-labelledby': `tab-${tab}` });
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': t('admin.title') },
    TABS.map((x) => h('a', { href: `#/admin/${x}`, role: 'tab', id: `tab-${x}`, 'aria-selected': String(x === tab), 'aria-controls': 'admin-panel', class: 'tab' }, t(`admin.${x}`))));
  clear(container, h('div', { class: 'admin' }, h('h1', {}, t('admin.title')), tabs, panel));
  // On a phone the tabs scroll sideways: the open one is brought into view.
  tabs.querySelector('[aria-selected=true]')?.scrollIntoView?.({ block: 'nearest', inline: 'nearest' });
  document.title = `${t(`admin.${tab}`)} · ${t('app.name')}`;
  if (MODULES[tab]) {
    const screen = MODULES[tab](panel);
    return { destroy: () => screen.destroy() };
  }
  ({ users, teams, tokens, settings })[tab](panel).catch(showError);
  return { destroy() {} };
}

function yesNo(v) {
  return h('span', { class: `pill ${v ? 'pill-yes' : 'pill-no'}` }, v ? t('common.yes') : t('common.no'));
}

function teamChecks(selected) {
  return h('fieldset', { class: 'checks' }, h('legend', {}, t('users.teams')),
    teamList().map((x) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'team_ids', value: String(x.team_id), checked: selected.includes(x.team_id) }), h('span', {}, x.name))));
}

const checkedTeams = (form) => [...form.querySelectorAll('input[name="team_ids"]:checked')].map((i) => Number(i.value));

// --- users ---
async function users(panel) {
  const list = await get('/users');
  const rows = list.map((u) => h('tr', {},
    h('td', {}, h('div', { class: 'strong' }, u.display_name), h('div', { class: 'muted small' }, u.email)),
    h('td', {}, t(`role.${u.role}`)),
    h('td', {}, u.role === 'coordinator' ? u.team_ids.map(teamName).join(', ') || t('common.none') : t('common.none')),
    h('td', {}, yesNo(u.operational)),
    h('td', {}, yesNo(u.active)),
    h('td', { class: 'row-actions' },
      h('button', { class: 'btn btn-small', type: 'button', onclick: () => editUser(u, panel) }, t('common.edit')),
      h('button', { class: 'btn btn-small', type: 'button', onclick: () => resetPassword(u) }, t('users.resetPassword')))));
  clear(panel,
    h('div', { class: 'panel-head' }, h('h2', {}, t('admin.users')), h('button', { class: 'btn btn-primary', type: 'button', onclick: () => newUser(panel) }, t('users.new'))),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, [t('users.name'), t('users.role'), t('users.teams'), t('users.operational'), t('users.active'), ''].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows))));
}

function userForm(u, onSubmit) {
  const isNew = !u;
  const role = select(ROLES.map((r) => ({ value: r, label: t(`role.${r}`) })), u?.role ?? 'executive', { name: 'role' });
  const checks = teamChecks(u?.team_ids ?? []);
  const syncChecks = () => { checks.hidden = role.value !== 'coordinator'; };
  role.addEventListener('change', syncChecks);
  syncChecks();
  const form = h('form', { class: 'stack', novalidate: true },
    isNew ? field(t('users.email'), h('input', { name: 'email', type: 'email', required: true, autocomplete: 'off' })) : null,
    field(t('users.name'), h('input', { name: 'display_name', required: true, value: u?.display_name ?? '' })),
    field(t('users.role'), role),
    checks,
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'operational', checked: u?.operational ?? true }), h('span', {}, t('users.operational'))),
    isNew ? null : h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'active', checked: u.active }), h('span', {}, t('users.active'))),
    isNew ? field(t('users.password'), h('input', { name: 'password', type: 'password', required: true, autocomplete: 'new-password', minlength: 8 })) : null,
    h('div', { class: 'actions' }, h('button', { class: 'btn btn-primary', type: 'submit' }, isNew ? t('common.create') : t('common.save'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = (n) => form.elements.namedItem(n);
    const body = { display_name: v('display_name').value.trim(), role: role.value, operational: v('operational').checked };
    body.team_ids = role.value === 'coordinator' ? checkedTeams(form) : [];
    if (isNew) {
      body.email = v('email').value.trim();
      body.password = v('password').value;
    } else {
      body.active = v('active').checked;
    }
    try {
      await onSubmit(body);
    } catch (err) {
      fieldError(form, err);
    }
  });
  return form;
}

function newUser(panel) {
  const m = modal(t('users.new'));
  m.body.append(userForm(null, async (body) => {
    await post('/users', body);
    m.close();
    toast(t('users.created'));
    await loadDirectory();
    await users(panel);
  }));
  m.body.querySelector('input')?.focus();
}

function editUser(u, panel) {
  const m = modal(u.display_name);
  m.body.append(userForm(u, async (body) => {
    await patch(`/users/${u.user_id}`, body);
    m.close();
    toast(t('common.saved'));
    await loadDirectory();
    await users(panel);
  }));
  m.body.querySelector('input')?.focus();
}

function resetPassword(u) {
  const m = modal(`${t('users.resetPassword')}: ${u.display_name}`);
  const input = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const form = h('form', { class: 'stack', novalidate: true }, field(t('users.newPassword'), input),
    h('div', { class: 'actions' }, h('button', { class: 'btn btn-primary', type: 'submit' }, t('common.save'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await patch(`/users/${u.user_id}`, { password: input.value });
      m.close();
      toast(t('users.passwordReset'));
    } catch (err) {
      fieldError(form, err);
    }
  });
  m.body.append(form);
  input.focus();
}

// --- teams ---
async function teams(panel) {
  const list = await get('/teams');
  const name = h('input', { name: 'name', required: true, 'aria-label': t('teams.name'), placeholder: t('teams.name') });
  const create = h('form', { class: 'inline-form', novalidate: true }, name, h('button', { class: 'btn btn-primary', type: 'submit' }, t('teams.new')));
  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await post('/teams', { name: name.value.trim() });
      toast(t('common.saved'));
      await loadDirectory();
      await teams(panel);
    } catch (err) {
      fieldError(create, err);
    }
  });
  clear(panel,
    h('div', { class: 'panel-head' }, h('h2', {}, t('admin.teams'))),
    create,
    h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, [t('teams.name'), t('teams.prospects'), t('teams.coordinators'), ''].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, list.map((x) => h('tr', {},
        h('td', { class: 'strong' }, x.name),
        h('td', {}, fmtNumber(x.prospect_count)),
        h('td', {}, (x.coordinator_ids ?? []).map(userName).join(', ') || t('common.none')),
        h('td', { class: 'row-actions' },
          h('button', { class: 'btn btn-small', type: 'button', onclick: () => renameTeam(x, panel) }, t('teams.rename')),
          h('button', { class: 'btn btn-small btn-danger', type: 'button', onclick: () => deleteTeam(x, panel) }, t('common.delete')))))))));
}

function renameTeam(x, panel) {
  const m = modal(t('teams.rename'));
  const input = h('input', { name: 'name', value: x.name, required: true });
  const form = h('form', { class: 'stack', novalidate: true }, field(t('teams.name'), input),
    h('div', { class: 'actions' }, h('button', { class: 'btn btn-primary', type: 'submit' }, t('common.save'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await patch(`/teams/${x.team_id}`, { name: input.value.trim() });
      m.close();
      await loadDirectory();
      await teams(panel);
    } catch (err) {
      fieldError(form, err);
    }
  });
  m.body.append(form);
  input.select();
}

async function deleteTeam(x, panel) {
  if (!(await confirmDialog(t('teams.deleteConfirm', { name: x.name }), t('common.delete')))) return;
  try {
    await del(`/teams/${x.team_id}`);
    await loadDirectory();
    await teams(panel);
  } catch (err) {
    showError(err);
  }
}

// --- API tokens ---
async function tokens(panel) {
  const list = await get('/api-tokens');
  const name = h('input', { name: 'name', required: true, placeholder: t('tokens.name'), 'aria-label': t('tokens.name') });
  const user = select([...dir.users.values()].filter((u) => u.active).map((u) => ({ value: u.user_id, label: u.display_name })), dir.me.user_id, { name: 'user_id', 'aria-label': t('tokens.user') });
  const expires = h('input', { name: 'expires_at', type: 'date', 'aria-label': t('tokens.expires') });
  const create = h('form', { class: 'inline-form labelled', novalidate: true },
    field(t('tokens.name'), name), field(t('tokens.user'), user), field(t('tokens.expiresOptional'), expires),
    h('button', { class: 'btn btn-primary', type: 'submit' }, t('tokens.new')));
  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { name: name.value.trim(), user_id: Number(user.value) };
    if (expires.value) body.expires_at = new Date(`${expires.value}T23:59:59`).toISOString();
    try {
      const r = await post('/api-tokens', body);
      const m = modal(t('tokens.new'));
      const secret = h('input', { class: 'secret', readonly: true, value: r.token, 'aria-label': t('tokens.secret') });
      m.body.append(h('p', {}, t('tokens.secret')), secret,
        h('div', { class: 'actions' }, h('button', { class: 'btn btn-primary', type: 'button', onclick: () => m.close() }, t('common.close'))));
      secret.select();
      await tokens(panel);
    } catch (err) {
      fieldError(create, err);
    }
  });
  clear(panel,
    h('div', { class: 'panel-head' }, h('h2', {}, t('admin.tokens'))),
    create,
    h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, [t('tokens.name'), t('tokens.user'), t('tokens.expires'), t('tokens.lastUsed'), ''].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, list.length ? null : h('tr', {}, h('td', { colspan: '5', class: 'muted' }, t('tokens.none'))),
        list.map((k) => h('tr', { class: k.revoked_at ? 'revoked' : '' },
        h('td', { class: 'strong' }, k.name),
        h('td', {}, userName(k.user_id)),
        h('td', {}, k.expires_at ? fmtDateTime(k.expires_at) : t('tokens.never')),
        h('td', {}, k.last_used_at ? fmtDateTime(k.last_used_at) : t('common.none')),
        h('td', { class: 'row-actions' }, k.revoked_at
          ? h('span', { class: 'pill pill-no' }, t('tokens.revoked'))
          : h('button', { class: 'btn btn-small btn-danger', type: 'button', onclick: () => revoke(k, panel) }, t('tokens.revoke')))))))));
}

async function revoke(k, panel) {
  if (!(await confirmDialog(t('tokens.revokeConfirm', { name: k.name }), t('tokens.revoke')))) return;
  try {
    await del(`/api-tokens/${k.token_id}`);
    await tokens(panel);
  } catch (err) {
    showError(err);
  }
}

// --- settings ---
function bump(version) {
  const m = /^(.*?)(\d+)$/.exec(version ?? '');
  return m ? `${m[1]}${Number(m[2]) + 1}` : '1.0.0';
}

async function settings(panel) {
  const list = await get('/system-config');
  const current = list.find((e) => e.key === 'app_version')?.value ?? null;
  const version = h('input', { name: 'value', required: true, value: bump(current?.version), maxlength: 64 });
  const force = h('input', { type: 'checkbox', name: 'force_update' });
  const form = h('form', { class: 'stack publish', novalidate: true },
    h('h2', {}, t('settings.version')),
    h('p', { class: 'muted' }, current ? t('settings.current', { version: current.version }) : t('settings.noVersion')),
    field(t('settings.newVersion'), version),
    h('label', { class: 'check' }, force, h('span', {}, t('settings.force'))),
    h('div', { class: 'actions' }, h('button', { class: 'btn btn-primary', type: 'submit' }, t('settings.publish'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = version.value.trim();
    try {
      publishing(v);
      await put('/system-config/app_version', { value: { version: v, force_update: force.checked } });
      toast(t('settings.published', { version: v }));
      await settings(panel);
    } catch (err) {
      fieldError(form, err);
    }
  });
  clear(panel, h('div', { class: 'card' }, form),
    h('h2', {}, t('settings.all')),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
      h('thead', {}, h('tr', {}, [t('settings.key'), t('settings.value'), t('settings.updated')].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, list.map((c) => h('tr', {},
        h('td', { class: 'strong mono' }, c.key),
        h('td', { class: 'mono' }, JSON.stringify(c.value)),
        h('td', {}, fmtDateTime(c.updated_at), c.updated_by ? ` · ${userName(c.updated_by)}` : '')))))));
}
