// The admin templates screen (`#/admin/templates`): every WhatsApp message template of the tenant
// with its review state, updated live (`table:whatsapp_templates`, admins only) as WhatsApp's
// review webhook arrives; submitting a new one for review (name, language, category, body with
// {{n}} parameters and an example for each); deleting one, after a confirmation.
import { del, get, post } from './api.js';
import { fmtDateTime, t } from './i18n.js';
import { liveClient } from './live.js';
import { clear, confirmDialog, field, fieldError, h, modal, select, showError, toast } from './ui.js';

const CATEGORIES = ['MARKETING', 'UTILITY', 'AUTHENTICATION'];
const WABA_KEY = 'platica.waba';

/** The body's parameters in order of first use: `{{1}}`, `{{2}}`... → [1, 2]. */
export function bodyParams(body) {
  const seen = new Set();
  for (const m of String(body).matchAll(/\{\{\s*(\d+)\s*\}\}/g)) seen.add(Number(m[1]));
  return [...seen].sort((a, b) => a - b);
}

export function mountTemplates(panel) {
  const st = { items: new Map(), destroyed: false };
  const tbody = h('tbody', {});
  const empty = h('p', { class: 'muted', hidden: true }, t('templates.none'));

  function render() {
    const items = [...st.items.values()].sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language));
    empty.hidden = items.length > 0;
    clear(tbody, items.map((x) => h('tr', { dataset: { id: x.template_id, name: x.name } },
      h('td', {}, h('div', { class: 'strong' }, x.name), h('div', { class: 'muted small template-body' }, x.body)),
      h('td', {}, x.language),
      h('td', {}, x.category ? t(`templates.category.${x.category}`) : t('common.none')),
      h('td', {}, h('span', { class: 'pill template-status', dataset: { status: x.status } }, t(`templates.status.${x.status}`)),
        x.status_reason ? h('div', { class: 'muted small' }, x.status_reason) : null,
        h('div', { class: 'muted small' }, fmtDateTime(x.status_changed_at))),
      h('td', { class: 'row-actions' },
        h('button', { class: 'btn btn-small btn-danger', type: 'button', onclick: () => remove(x) }, t('common.delete'))))));
  }

  async function load() {
    try {
      const list = await get('/templates');
      if (st.destroyed) return;
      st.items = new Map(list.map((x) => [x.template_id, x]));
      render();
    } catch (e) {
      showError(e);
    }
  }

  async function remove(x) {
    if (!(await confirmDialog(t('templates.confirmDelete', { name: `${x.name} (${x.language})` }), t('common.delete')))) return;
    try {
      await del(`/templates/${x.template_id}`);
      st.items.delete(x.template_id);
      render();
      toast(t('templates.deleted'));
    } catch (e) {
      showError(e);
    }
  }

  async function submitNew() {
    let channels;
    try {
      channels = await get('/channels');
    } catch (e) {
      return showError(e);
    }
    const m = modal(t('templates.new'), { wide: true });
    if (!channels.length) {
      m.body.append(h('p', {}, t('templates.noChannels')));
      return;
    }
    let savedWaba = '';
    try {
      savedWaba = localStorage.getItem(WABA_KEY) ?? '';
    } catch {
      // storage disabled
    }
    const channel = select(channels.map((c) => ({ value: c.channel_account_id, label: c.display_name })), channels[0].channel_account_id, { name: 'channel_account_id' });
    const waba = h('input', { name: 'waba_id', required: true, inputmode: 'numeric', autocomplete: 'off', value: savedWaba });
    const name = h('input', { name: 'name', required: true, autocomplete: 'off', maxlength: 512, pattern: '[a-z0-9_]+' });
    const language = h('input', { name: 'language', required: true, autocomplete: 'off', value: 'es_MX' });
    const category = select(CATEGORIES.map((c) => ({ value: c, label: t(`templates.category.${c.toLowerCase()}`) })), 'UTILITY', { name: 'category' });
    const body = h('textarea', { name: 'components', rows: 4, required: true, maxlength: 1024 });
    const examples = h('div', { class: 'param-list' });
    function renderExamples() {
      const kept = [...examples.querySelectorAll('input')].map((i) => i.value);
      clear(examples, bodyParams(body.value).map((n, i) => field(t('templates.example', { param: n }),
        h('input', { name: `example.${n}`, required: true, value: kept[i] ?? '' }))));
    }
    body.addEventListener('input', renderExamples);
    const form = h('form', { class: 'stack', novalidate: true },
      field(t('templates.channel'), channel),
      field(t('templates.waba'), waba, t('templates.wabaHint')),
      field(t('templates.name'), name, t('templates.nameHint')),
      field(t('templates.language'), language),
      field(t('templates.categoryLabel'), category),
      field(t('templates.body'), body, t('templates.bodyHint')),
      examples,
      h('div', { class: 'actions' }, h('button', { class: 'btn btn-primary', type: 'submit' }, t('templates.submit'))));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const params = bodyParams(body.value);
      const component = { type: 'BODY', text: body.value.trim() };
      if (params.length) component.example = { body_text: [params.map((n) => form.elements.namedItem(`example.${n}`).value.trim())] };
      try {
        const x = await post('/templates/submit', {
          channel_account_id: Number(channel.value), waba_id: waba.value.trim(), name: name.value.trim(),
          language: language.value.trim(), category: category.value, components: [component],
        });
        try {
          localStorage.setItem(WABA_KEY, waba.value.trim());
        } catch {
          // storage disabled
        }
        st.items.set(x.template_id, x);
        render();
        m.close();
        toast(t('templates.submitted'));
      } catch (err) {
        fieldError(form, err);
      }
    });
    m.body.append(form);
    name.focus();
  }

  clear(panel,
    h('div', { class: 'panel-head' }, h('h2', {}, t('admin.templates')),
      h('button', { class: 'btn btn-primary', type: 'button', onclick: () => submitNew() }, t('templates.new'))),
    h('p', { class: 'muted' }, t('templates.intro')),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table templates-table' },
      h('thead', {}, h('tr', {}, [t('templates.name'), t('templates.language'), t('templates.categoryLabel'), t('templates.state'), ''].map((x) => h('th', { scope: 'col' }, x)))),
      tbody)),
    empty);

  // Review states arrive live; after a gap the whole list is read again.
  const unsub = liveClient().subscribe('table:whatsapp_templates', {
    onSubscribed: ({ resumed }) => {
      if (!resumed) load();
    },
    onEvent: (e) => {
      if (e.op === 'delete') st.items.delete(e.row.template_id);
      else st.items.set(e.row.template_id, { ...(st.items.get(e.row.template_id) ?? {}), ...e.row });
      render();
    },
    onReset: () => load(),
    onError: (e) => showError(e),
  });
  load();

  return {
    destroy() {
      st.destroyed = true;
      unsub();
    },
  };
}
