// The label palette of the admin screen (web/label-colours.js): every colour has a name in both
// languages and its chip's text reads at WCAG AA (`node --test tests/web`).
import { test } from 'node:test';
import assert from 'node:assert/strict';

const { PALETTE, contrast, isColour, luminance, paletteEntry, textOn, LIGHT_TEXT, DARK_TEXT } = await import('../../web/label-colours.js');
const { MESSAGES } = await import('../../web/i18n.js');

test('luminance and contrast follow WCAG 2.x', () => {
  assert.equal(luminance('#000000'), 0);
  assert.equal(luminance('#ffffff'), 1);
  assert.equal(contrast('#000000', '#ffffff'), 21);
  assert.equal(contrast('#777777', '#777777'), 1);
  // The well-known figure: #767676 on white is just above 4.5:1.
  assert.ok(Math.abs(contrast('#767676', '#ffffff') - 4.54) < 0.01);
});

test('every palette colour is distinct, valid, named in English and Spanish, and its chip text reads at 4.5:1', () => {
  assert.ok(PALETTE.length >= 6);
  assert.equal(new Set(PALETTE.map((p) => p.hex)).size, PALETTE.length);
  assert.equal(new Set(PALETTE.map((p) => p.name)).size, PALETTE.length);
  for (const p of PALETTE) {
    assert.ok(isColour(p.hex) && p.hex === p.hex.toLowerCase(), p.hex);
    const ratio = contrast(p.hex, textOn(p.hex));
    assert.ok(ratio >= 4.5, `${p.name} ${p.hex}: ${ratio.toFixed(2)}:1`);
    for (const lang of ['en', 'es']) assert.ok(MESSAGES[lang][`labelsAdmin.colour.${p.name}`], `${lang} name of ${p.name}`);
    assert.notEqual(MESSAGES.en[`labelsAdmin.colour.${p.name}`], MESSAGES.es[`labelsAdmin.colour.${p.name}`]);
  }
});

test('a colour outside the palette gets the text colour that reads better', () => {
  assert.equal(textOn('#ffee00'), DARK_TEXT);
  assert.equal(textOn('#202020'), LIGHT_TEXT);
  assert.equal(textOn('#e4572e'), DARK_TEXT, 'an orange made through the API reads with dark text');
  assert.ok(contrast('#e4572e', textOn('#e4572e')) >= 4.5);
  assert.equal(textOn('nonsense'), DARK_TEXT);
});

test('paletteEntry finds a colour regardless of case', () => {
  assert.equal(paletteEntry('#B3261E').name, 'red');
  assert.equal(paletteEntry('#e4572e'), null);
  assert.equal(paletteEntry(null), null);
  assert.equal(isColour('#12345'), false);
  assert.equal(isColour('#12345g'), false);
});
