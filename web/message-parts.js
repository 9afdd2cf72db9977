// What a message carries beyond its text, read from its `content` (the API's structure by
// WhatsApp type), with no DOM: message-view.js renders it; `node --test tests/web` checks it.

/** A location as { lat, lon, name, address, url } (an OpenStreetMap link), or null. */
export function locationOf(m) {
  const c = m?.wa_type === 'location' ? m.content : null;
  const lat = Number(c?.latitude);
  const lon = Number(c?.longitude);
  if (!c || !Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  return {
    lat, lon, name: c.name ?? null, address: c.address ?? null,
    url: `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`,
  };
}

/** Shared contacts as [{ name, phones: [{ phone, type }] }], or null. */
export function contactsOf(m) {
  const list = m?.wa_type === 'contacts' ? m.content?.contacts : null;
  if (!Array.isArray(list) || !list.length) return null;
  return list.map((c) => ({
    name: c?.name?.formatted_name ?? [c?.name?.first_name, c?.name?.last_name].filter(Boolean).join(' ') ?? '',
    phones: (Array.isArray(c?.phones) ? c.phones : []).filter((p) => p?.phone || p?.wa_id)
      .map((p) => ({ phone: p.phone ?? `+${p.wa_id}`, type: p.type ?? null })),
  }));
}

/** An order as { items: [{ id, quantity, price, currency }], total: { amount, currency } | null, text }, or null. */
export function orderOf(m) {
  const c = m?.wa_type === 'order' ? m.content : null;
  if (!c || !Array.isArray(c.items)) return null;
  return {
    items: c.items.map((i) => ({ id: i.product_retailer_id ?? '?', quantity: i.quantity ?? null, price: i.item_price ?? null, currency: i.currency ?? null })),
    total: c.total && c.total.amount != null ? { amount: c.total.amount, currency: c.total.currency } : null,
    text: c.text ?? null,
  };
}

/** A message's text for a quote: its body without WhatsApp's `[type]` placeholder, shortened. */
export function snippet(m, max = 120) {
  const body = String(m?.body ?? '').replace(/^\[[a-z_]+\]\s*/, '');
  const text = body || (m?.media?.filename ?? '');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
