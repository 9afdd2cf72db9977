// The colours a conversation label may take in the admin screen, without DOM: a small palette of
// named colours, each dark enough for white text on a chip of that colour (WCAG contrast of at
// least 4.5:1), and the text colour for any `#rrggbb` (white or near-black, whichever reads
// better), so a label made through the API with another colour still reads (`node --test
// tests/web`).

/** The palette: `name` is the i18n key's last part (`labelsAdmin.colour.<name>`). */
export const PALETTE = [
  { name: 'red', hex: '#b3261e' },
  { name: 'orange', hex: '#a34700' },
  { name: 'amber', hex: '#8a6100' },
  { name: 'green', hex: '#1f6f5c' },
  { name: 'teal', hex: '#00676b' },
  { name: 'blue', hex: '#1d63b8' },
  { name: 'purple', hex: '#6b3fa0' },
  { name: 'pink', hex: '#a3195b' },
  { name: 'grey', hex: '#4a5568' },
];

export const DARK_TEXT = '#111b21';
export const LIGHT_TEXT = '#ffffff';

/** Whether `hex` is a colour the API takes (`#rrggbb`, either case). */
export function isColour(hex) {
  return /^#[0-9a-fA-F]{6}$/.test(String(hex ?? ''));
}

/** The relative luminance of `#rrggbb` (WCAG 2.x). */
export function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The contrast ratio of two `#rrggbb` colours (1 to 21). */
export function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)];
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}

/** The text colour for a chip of background `hex`: the one of white and near-black with more contrast. */
export function textOn(hex) {
  if (!isColour(hex)) return DARK_TEXT;
  return contrast(hex, LIGHT_TEXT) >= contrast(hex, DARK_TEXT) ? LIGHT_TEXT : DARK_TEXT;
}

/** The palette entry of `hex` (case-insensitive), or null for a colour outside it. */
export function paletteEntry(hex) {
  const c = String(hex ?? '').toLowerCase();
  return PALETTE.find((p) => p.hex === c) ?? null;
}
