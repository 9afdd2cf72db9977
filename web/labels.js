// The tenant's conversation labels (GET /labels), fetched once per session and shared by the
// inbox (filter, chips) and the conversation header (toggles); priorities and statuses by name.
import { get } from './api.js';
import { h } from './ui.js';
import { t } from './i18n.js';

export const PRIORITIES = ['none', 'low', 'medium', 'high', 'urgent'];

let loading = null;
let byId = new Map();

/** Loads the labels (once; `again` fetches them anew). */
export async function loadLabels(again = false) {
  if (!loading || again) {
    loading = get('/labels').then((list) => {
      byId = new Map(list.map((l) => [l.label_id, l]));
      return list;
    }).catch((e) => {
      loading = null;
      throw e;
    });
  }
  return loading;
}

export function labelById(id) {
  return byId.get(id) ?? null;
}

export function allLabels() {
  return [...byId.values()];
}

/** A label as a coloured chip. */
export function labelChip(id) {
  const l = labelById(id);
  if (!l) return null;
  const chip = h('span', { class: 'chip label-chip', dataset: { labelId: String(id) } }, h('span', { class: 'label-dot', 'aria-hidden': 'true' }), l.name);
  chip.style.setProperty('--label', l.colour);
  return chip;
}

/** A priority badge (none shows nothing). */
export function priorityBadge(priority) {
  if (!priority || priority === 'none') return null;
  return h('span', { class: `prio prio-${priority}`, title: t('triage.priority') }, t(`triage.priority.${priority}`));
}
