// The contact panel's pure parts (no DOM): which control a contact field gets, what a PATCH sends
// for a typed value, and which message explains the server's refusal in the reader's language
// (the server names the field — `email`, `notes`, `name`, `custom.<key>` — and answers in
// English; the panel shows its own text for that field and kind).

/** The `<input type>` of a custom field's kind (`select` gets a `<select>`). */
export function inputType(kind) {
  return { number: 'number', date: 'date' }[kind] ?? 'text';
}

/** The value a PATCH sends for what was typed: `null` clears a blank field. */
export function patchValue(raw) {
  const v = String(raw ?? '').trim();
  return v === '' ? null : v;
}

/** The body of a PATCH that saves one panel field (`name`, `email`, `notes` or a custom key). */
export function patchBody(name, raw, isCustom) {
  if (isCustom) return { custom: { [name]: patchValue(raw) } };
  if (name === 'name') return { name: String(raw ?? '').trim() };
  return { [name]: patchValue(raw) };
}

/**
 * The message key (and its variables) that explains an API error for the panel: by the field
 * the server names and, for a custom field, by its kind. `null` when the error names no field
 * the panel knows (the caller shows the generic error).
 */
export function contactError(err, defs = []) {
  if (!err || err.status !== 422 || !err.field) return null;
  switch (err.field) {
    case 'email':
      return { key: 'contact.err.email', vars: {} };
    case 'notes':
      return { key: 'contact.err.notes', vars: { max: 4000 } };
    case 'name':
      return { key: 'contact.err.name', vars: { max: 200 } };
    default:
      break;
  }
  if (!err.field.startsWith('custom.')) return null;
  const def = defs.find((d) => `custom.${d.key}` === err.field);
  if (!def) return { key: 'contact.err.unknownField', vars: {} };
  if (def.kind === 'select') return { key: 'contact.err.select', vars: { options: def.options.join(', ') } };
  if (def.kind === 'number') return { key: 'contact.err.number', vars: {} };
  if (def.kind === 'date') return { key: 'contact.err.date', vars: {} };
  return { key: 'contact.err.text', vars: { max: 500 } };
}

/**
 * A contact field's key suggested from its label, as the API takes keys: lower-case a-z, digits
 * and `_`, starting with a letter, at most 40 characters (`Fecha de visita` -> `fecha_de_visita`).
 * An empty string when the label has nothing to make one from.
 */
export function fieldKey(label) {
  let k = String(label ?? '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  if (k && !/^[a-z]/.test(k)) k = `f_${k}`;
  return k.slice(0, 40).replace(/_+$/, '');
}

/** A select field's options from a textarea: one per line, trimmed, blank lines dropped. */
export function optionLines(text) {
  return String(text ?? '').split('\n').map((o) => o.trim()).filter(Boolean);
}
