// The admin contact fields screen (`#/admin/fields`, a tab of admin.js): the fields every contact
// of the tenant has beyond name, e-mail and notes (`/prospect-fields`), in display order. Admins
// create one (label, a key suggested from it, a kind, a select's options), change its label and a
// select's options (its key and kind stay: values were checked against them), and delete it after
// a confirmation that says every contact's value goes with it. The contact panel
// (prospect-panel.js) reads the definitions each time it opens.
import { del, get, patch, post } from './api.js';
import { t } from './i18n.js';
import { fieldKey, optionLines } from './contact.js';
import { clear, confirmDialog, field, fieldError, h, modal, select, showError, toast } from './ui.js';

const KINDS = ['text', 'number', 'date', 'select'];

export function mountFieldsAdmin(panel) {
  const st = { list: [], destroyed: false };
  const tbody = h('tbody', {});
  const empty = h('p', { class: 'muted', hidden: true }, t('fieldsAdmin.none'));
  const tableWrap = h('div', { class: 'table-wrap', hidden: true }, h('table', { class: 'table fields-table cards-on-phone' },
    h('thead', {}, h('tr', {}, [t('fieldsAdmin.label'), t('fieldsAdmin.key'), t('fieldsAdmin.kind'), t('fieldsAdmin.options'), ''].map((x) => h('th', { scope: 'col' }, x)))),
    tbody));

  function render() {
    empty.hidden = st.list.length > 0;
    tableWrap.hidden = st.list.length === 0;
    clear(tbody, st.list.map((f) => h('tr', { dataset: { id: String(f.field_id), key: f.key } },
      h('td', { class: 'strong', 'data-th': t('fieldsAdmin.label') }, f.label),
      h('td', { class: 'mono', 'data-th': t('fieldsAdmin.key') }, f.key),
      h('td', { 'data-th': t('fieldsAdmin.kind') }, t(`fieldsAdmin.kind.${f.kind}`)),
      h('td', { 'data-th': t('fieldsAdmin.options') }, f.options.length ? f.options.join(', ') : t('common.none')),
      h('td', { class: 'row-actions' },
        h('button', { class: 'btn btn-small field-edit', type: 'button', 'aria-label': `${t('common.edit')}: ${f.label}`, onclick: () => edit(f) }, t('common.edit')),
        h('button', { class: 'btn btn-small btn-danger field-delete', type: 'button', 'aria-label': `${t('common.delete')}: ${f.label}`, onclick: () => remove(f) }, t('common.delete'))))));
  }

  async function load() {
    try {
      const list = await get('/prospect-fields');
      if (st.destroyed) return;
      st.list = list;
      render();
      screen.dataset.state = 'ready';
    } catch (e) {
      showError(e);
    }
  }

  function optionsControl(value, hint) {
    const options = h('textarea', { name: 'options', rows: 4, value: value.join('\n') });
    return { options, wrap: field(t('fieldsAdmin.options'), options, hint) };
  }

  function create() {
    const m = modal(t('fieldsAdmin.new'));
    const label = h('input', { name: 'label', required: true, maxlength: 100, autocomplete: 'off' });
    const key = h('input', { name: 'key', required: true, maxlength: 40, autocomplete: 'off', pattern: '[a-z][a-z0-9_]*', class: 'mono', spellcheck: 'false' });
    const kind = select(KINDS.map((k) => ({ value: k, label: t(`fieldsAdmin.kind.${k}`) })), 'text', { name: 'kind' });
    const opts = optionsControl([], t('fieldsAdmin.optionsHint'));
    // The key follows the label until the admin types one of their own.
    let keyTouched = false;
    label.addEventListener('input', () => { if (!keyTouched) key.value = fieldKey(label.value); });
    key.addEventListener('input', () => { keyTouched = key.value !== ''; });
    const syncKind = () => { opts.wrap.hidden = kind.value !== 'select'; };
    kind.addEventListener('change', syncKind);
    syncKind();
    const form = h('form', { class: 'stack field-create', novalidate: true },
      field(t('fieldsAdmin.label'), label),
      field(t('fieldsAdmin.key'), key, t('fieldsAdmin.keyHint')),
      field(t('fieldsAdmin.kind'), kind),
      opts.wrap,
      h('div', { class: 'actions' },
        h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.cancel')),
        h('button', { class: 'btn btn-primary', type: 'submit' }, t('common.create'))));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = { label: label.value.trim(), key: key.value.trim(), kind: kind.value,
        options: kind.value === 'select' ? optionLines(opts.options.value) : [],
        position: st.list.reduce((max, f) => Math.max(max, f.position + 1), 0) };
      try {
        await post('/prospect-fields', body);
        m.close();
        toast(t('fieldsAdmin.created'));
        await load();
      } catch (err) {
        fieldError(form, err);
      }
    });
    m.body.append(form);
    label.focus();
  }

  function edit(f) {
    const m = modal(t('fieldsAdmin.edit'));
    const label = h('input', { name: 'label', required: true, maxlength: 100, autocomplete: 'off', value: f.label });
    const opts = f.kind === 'select' ? optionsControl(f.options, t('fieldsAdmin.optionsEditHint')) : null;
    const form = h('form', { class: 'stack field-edit-form', novalidate: true },
      h('p', { class: 'muted small' }, t('fieldsAdmin.fixed', { kind: t(`fieldsAdmin.kind.${f.kind}`), key: f.key })),
      field(t('fieldsAdmin.label'), label),
      opts?.wrap,
      h('div', { class: 'actions' },
        h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.cancel')),
        h('button', { class: 'btn btn-primary', type: 'submit' }, t('common.save'))));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = {};
      if (label.value.trim() !== f.label) body.label = label.value.trim();
      if (opts) {
        const next = optionLines(opts.options.value);
        if (next.join('\n') !== f.options.join('\n')) body.options = next;
      }
      if (!Object.keys(body).length) return m.close();
      try {
        await patch(`/prospect-fields/${f.field_id}`, body);
        m.close();
        toast(t('common.saved'));
        await load();
      } catch (err) {
        fieldError(form, err);
      }
    });
    m.body.append(form);
    label.select();
  }

  async function remove(f) {
    if (!(await confirmDialog(t('fieldsAdmin.confirmDelete', { label: f.label }), t('common.delete')))) return;
    try {
      await del(`/prospect-fields/${f.field_id}`);
      toast(t('fieldsAdmin.deleted'));
    } catch (e) {
      showError(e);
    }
    await load();
  }

  // `data-state=ready` once the list is in.
  clear(panel, h('div', { class: 'fields-admin', dataset: { state: 'loading' } },
    h('div', { class: 'panel-head' }, h('h2', {}, t('admin.fields')),
      h('button', { class: 'btn btn-primary field-new', type: 'button', onclick: () => create() }, t('fieldsAdmin.new'))),
    h('p', { class: 'muted' }, t('fieldsAdmin.intro')),
    tableWrap,
    empty));
  const screen = panel.firstElementChild;
  load();
  return { destroy() { st.destroyed = true; } };
}
