// The admin labels screen (`#/admin/labels`, a tab of admin.js): the tenant's conversation labels
// (`/labels`), created, renamed, recoloured from a small named palette (label-colours.js: white
// or dark text that reads on each) with a preview chip, and deleted after a confirmation that says
// the label leaves its conversations. After each change the shared cache (labels.js) is read
// again, so the inbox's filter and the conversation's toggles show it without a reload.
import { del, patch, post } from './api.js';
import { t } from './i18n.js';
import { loadLabels } from './labels.js';
import { PALETTE, paletteEntry, textOn } from './label-colours.js';
import { clear, confirmDialog, field, fieldError, h, modal, showError, toast } from './ui.js';

/** A label as a solid chip: its colour behind, text that reads on it. */
export function solidChip(name, colour) {
  const chip = h('span', { class: 'label-solid', dataset: { colour } }, name);
  chip.style.setProperty('--label', colour);
  chip.style.setProperty('--label-text', textOn(colour));
  return chip;
}

/** The colour's name in the reader's language (a colour outside the palette shows its code). */
function colourName(hex) {
  const p = paletteEntry(hex);
  return p ? t(`labelsAdmin.colour.${p.name}`) : hex;
}

let formSeq = 0;
/**
 * The name and colour controls with a live preview chip; `current` is the label being edited.
 * Returns { controls, name, colour() }.
 */
function labelControls(current) {
  const seq = ++formSeq;
  const name = h('input', { name: 'name', required: true, maxlength: 40, autocomplete: 'off', value: current?.name ?? '' });
  const choices = PALETTE.map((p) => ({ hex: p.hex, label: t(`labelsAdmin.colour.${p.name}`) }));
  // A colour set through the API outside the palette stays choosable while editing.
  if (current && !paletteEntry(current.colour)) choices.push({ hex: current.colour, label: t('labelsAdmin.currentColour', { hex: current.colour }) });
  const chosen = current?.colour ?? PALETTE[0].hex;
  const swatches = h('fieldset', { class: 'swatches' }, h('legend', { class: 'field-label' }, t('labelsAdmin.colour')),
    choices.map((c) => {
      const dot = h('span', { class: 'swatch-dot', 'aria-hidden': 'true' });
      dot.style.setProperty('--label', c.hex);
      return h('label', { class: 'swatch' },
        h('input', { type: 'radio', name: 'colour', value: c.hex, checked: c.hex === chosen, id: `lc-${seq}-${c.hex.slice(1)}` }), dot, h('span', {}, c.label));
    }));
  const preview = h('span', { class: 'label-preview', 'aria-live': 'polite' });
  const colour = () => swatches.querySelector('input[name=colour]:checked')?.value ?? chosen;
  const renderPreview = () => clear(preview, solidChip(name.value.trim() || t('labelsAdmin.previewName'), colour()));
  name.addEventListener('input', renderPreview);
  swatches.addEventListener('change', renderPreview);
  renderPreview();
  const controls = [field(t('labelsAdmin.name'), name), swatches,
    h('div', { class: 'field' }, h('span', { class: 'field-label' }, t('labelsAdmin.preview')), preview)];
  return { controls, name, colour };
}

export function mountLabelsAdmin(panel) {
  const st = { list: [], destroyed: false };
  const tbody = h('tbody', {});
  const empty = h('p', { class: 'muted', hidden: true }, t('labelsAdmin.none'));
  const tableWrap = h('div', { class: 'table-wrap', hidden: true }, h('table', { class: 'table labels-table cards-on-phone' },
    h('thead', {}, h('tr', {}, [t('labelsAdmin.name'), t('labelsAdmin.colour'), ''].map((x) => h('th', { scope: 'col' }, x)))),
    tbody));

  function render() {
    empty.hidden = st.list.length > 0;
    tableWrap.hidden = st.list.length === 0;
    clear(tbody, st.list.map((l) => h('tr', { dataset: { id: String(l.label_id), name: l.name } },
      h('td', { 'data-th': t('labelsAdmin.name') }, solidChip(l.name, l.colour)),
      h('td', { 'data-th': t('labelsAdmin.colour') }, colourName(l.colour)),
      h('td', { class: 'row-actions' },
        h('button', { class: 'btn btn-small label-edit', type: 'button', 'aria-label': `${t('common.edit')}: ${l.name}`, onclick: () => edit(l) }, t('common.edit')),
        h('button', { class: 'btn btn-small btn-danger label-delete', type: 'button', 'aria-label': `${t('common.delete')}: ${l.name}`, onclick: () => remove(l) }, t('common.delete'))))));
  }

  // The list as the server has it, and the shared cache with it.
  async function load() {
    try {
      const list = await loadLabels(true);
      if (st.destroyed) return;
      st.list = list;
      render();
      screen.dataset.state = 'ready';
    } catch (e) {
      showError(e);
    }
  }

  const create = labelControls(null);
  const createForm = h('form', { class: 'stack label-create', novalidate: true },
    h('h3', {}, t('labelsAdmin.new')), create.controls,
    h('div', { class: 'actions' }, h('button', { class: 'btn btn-primary', type: 'submit' }, t('labelsAdmin.create'))));
  createForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await post('/labels', { name: create.name.value.trim(), colour: create.colour() });
      create.name.value = '';
      create.name.dispatchEvent(new Event('input'));
      for (const el of createForm.querySelectorAll('.field-error')) el.remove();
      toast(t('labelsAdmin.created'));
      await load();
    } catch (err) {
      fieldError(createForm, err);
    }
  });

  function edit(l) {
    const m = modal(t('labelsAdmin.edit'));
    const c = labelControls(l);
    const form = h('form', { class: 'stack label-edit-form', novalidate: true }, c.controls,
      h('div', { class: 'actions' },
        h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.cancel')),
        h('button', { class: 'btn btn-primary', type: 'submit' }, t('common.save'))));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = {};
      if (c.name.value.trim() !== l.name) body.name = c.name.value.trim();
      if (c.colour() !== l.colour) body.colour = c.colour();
      if (!Object.keys(body).length) return m.close();
      try {
        await patch(`/labels/${l.label_id}`, body);
        m.close();
        toast(t('common.saved'));
        await load();
      } catch (err) {
        fieldError(form, err);
      }
    });
    m.body.append(form);
    c.name.select();
  }

  async function remove(l) {
    if (!(await confirmDialog(t('labelsAdmin.confirmDelete', { name: l.name }), t('common.delete')))) return;
    try {
      await del(`/labels/${l.label_id}`);
      toast(t('labelsAdmin.deleted'));
      await load();
    } catch (e) {
      showError(e);
      await load();
    }
  }

  // `data-state=ready` once the list is in.
  clear(panel, h('div', { class: 'labels-admin', dataset: { state: 'loading' } },
    h('div', { class: 'panel-head' }, h('h2', {}, t('admin.labels'))),
    h('p', { class: 'muted' }, t('labelsAdmin.intro')),
    h('div', { class: 'card' }, createForm),
    tableWrap,
    empty));
  const screen = panel.firstElementChild;
  load();
  return { destroy() { st.destroyed = true; } };
}
