// End-to-end tests of the web app in a real browser (Debian's chromium, driven by playwright-core),
// against a real server and database. Started by crates/platica/tests/web_e2e.rs, which spawns
// the app on the demo data and answers this script's requests for things only the server side
// can do (raw SQL, signed WhatsApp webhooks) over stdin/stdout:
//   this script writes   @@step {"action": ..., ...}\n   and reads one JSON line back.
//
// Environment: PLATICA_URL (the app), PLATICA_E2E_EXPECT (a JSON file of what each login may see,
// computed with SQL by the Rust side), PLATICA_SCREENSHOTS (a directory), CHROMIUM (the browser).
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const BASE = process.env.PLATICA_URL.replace(/\/$/, '');
const EXPECT = JSON.parse(readFileSync(process.env.PLATICA_E2E_EXPECT, 'utf8'));
const SHOTS = process.env.PLATICA_SCREENSHOTS;
mkdirSync(SHOTS, { recursive: true });

// --- talking to the Rust side ---
const replies = [];
const waiting = [];
createInterface({ input: process.stdin }).on('line', (line) => {
  const w = waiting.shift();
  if (w) w(line);
  else replies.push(line);
});
async function step(action, args = {}) {
  process.stdout.write(`@@step ${JSON.stringify({ action, ...args })}\n`);
  const line = replies.length ? replies.shift() : await new Promise((r) => waiting.push(r));
  const answer = JSON.parse(line);
  if (answer.error) throw new Error(`step ${action} failed on the server side: ${answer.error}`);
  return answer;
}

const log = (...a) => console.error('[e2e]', ...a);
let failures = 0;
async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures++;
    log(`FAIL ${name}\n${e.stack ?? e}`);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});

async function newPage({ locale = 'en-US', viewport = { width: 1366, height: 820 } } = {}) {
  const context = await browser.newContext({ locale, viewport, timezoneId: 'America/Mexico_City' });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  return page;
}

async function shot(page, name) {
  await page.waitForTimeout(150); // let transitions settle
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

async function login(page, who) {
  await page.goto(`${BASE}/`);
  await page.fill('input[name=tenant]', EXPECT.tenant);
  await page.fill('input[name=email]', who.email);
  await page.fill('input[name=password]', who.password);
  await page.click('form.login-form button[type=submit]');
  await page.waitForSelector('.list-foot[data-state=end], .list-foot[data-state=more], .list-foot[data-state=empty]');
}

const rowIds = (page) => page.$$eval('li.row', (els) => els.map((e) => Number(e.dataset.id)));
const countsText = (page) => page.textContent('.counts');

/** Scrolls the inbox until its last page is loaded; returns every row id in order. */
async function scrollToEnd(page) {
  for (let i = 0; i < 200; i++) {
    const state = await page.getAttribute('.list-foot', 'data-state');
    if (state === 'end' || state === 'empty') return rowIds(page);
    await page.$eval('.scroller', (s) => { s.scrollTop = s.scrollHeight; });
    await page.waitForTimeout(60);
  }
  throw new Error('the inbox never reached its end');
}

/** The token the app stored at login, for API checks. */
const tokenOf = (page) => page.evaluate(() => localStorage.getItem('platica.token'));
async function api(page, path) {
  const token = await tokenOf(page);
  const r = await fetch(`${BASE}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, `GET ${path}`);
  return r.json();
}

const fmt = (n) => new Intl.NumberFormat('en-US').format(n);
const U = EXPECT.users;

// --- the tests ---
let admin; // the admin's page, reused
let ana; // executive Ana (prospects in both teams)

await test('login: a wrong password is explained; the admin signs in and sees the whole tenant', async () => {
  admin = await newPage();
  await admin.goto(`${BASE}/`);
  await admin.waitForSelector('form.login-form');
  await shot(admin, '01-login');
  await admin.fill('input[name=tenant]', EXPECT.tenant);
  await admin.fill('input[name=email]', U.admin.email);
  await admin.fill('input[name=password]', 'not-the-password');
  await admin.click('form.login-form button[type=submit]');
  await admin.waitForSelector('.field-error');
  assert.match(await admin.textContent('.field-error'), /wrong e-mail or password/);
  await login(admin, U.admin);
  const exp = U.admin.conversations;
  await admin.waitForFunction((n) => document.querySelector('.counts')?.textContent.startsWith(n), fmt(exp.length));
  assert.match(await countsText(admin), new RegExp(`^${fmt(exp.length)} conversations`));
  const ids = await rowIds(admin);
  assert.equal(ids.length, 50, 'the first keyset page');
  assert.deepEqual(ids, exp.slice(0, 50), 'the newest 50 conversations, in order');
  await shot(admin, '02-inbox-admin');
});

await test('visibility: an executive sees exactly the prospects assigned to her, in both teams', async () => {
  ana = await newPage();
  await login(ana, U.ana);
  const ids = await scrollToEnd(ana);
  assert.deepEqual(ids, U.ana.conversations, 'every conversation of hers, newest first, nothing else');
  assert.match(await countsText(ana), new RegExp(`^${fmt(U.ana.conversations.length)} conversations`));
  assert.equal(await ana.locator('select[name=team_id]').count(), 0, 'executives get no team filter');
  await ana.$eval('.scroller', (s) => { s.scrollTop = 0; });
  await shot(ana, '03-inbox-executive');
});

let mariana; // coordinator of BOOM
await test('visibility: a coordinator sees exactly her team\'s conversations (infinite scroll to the end)', async () => {
  mariana = await newPage();
  await login(mariana, U.mariana);
  const ids = await scrollToEnd(mariana);
  assert.equal(ids.length, U.mariana.conversations.length);
  assert.deepEqual(ids, U.mariana.conversations);
  await mariana.$eval('.scroller', (s) => { s.scrollTop = 0; });
});

await test('filters and search: team, unread and name search match the API', async () => {
  await admin.selectOption('select[name=team_id]', String(EXPECT.ven));
  await admin.check('input[name=unread]');
  const api1 = await api(admin, `/inbox?team_id=${EXPECT.ven}&unread=true&limit=50`);
  await admin.waitForFunction((n) => document.querySelector('.counts')?.textContent.startsWith(n), fmt(api1.total));
  await admin.waitForSelector('.list-foot:not([data-state=loading]):not([data-state=idle])');
  assert.deepEqual(await rowIds(admin), api1.items.map((r) => r.conversation_id));
  assert.ok((await admin.$$('li.row .badge')).length === api1.items.length, 'every unread row has a badge');
  await admin.uncheck('input[name=unread]');
  await admin.selectOption('select[name=team_id]', '');
  const name = EXPECT.search.name;
  await admin.fill('input[name=q]', name);
  const api2 = await api(admin, `/inbox?q=${encodeURIComponent(name)}&limit=50`);
  await admin.waitForFunction((n) => document.querySelector('.counts')?.textContent.startsWith(n), fmt(api2.total));
  await admin.waitForSelector('.list-foot:not([data-state=loading]):not([data-state=idle])');
  assert.deepEqual(await rowIds(admin), api2.items.map((r) => r.conversation_id));
  await admin.fill('input[name=q]', '');
  await admin.waitForFunction((n) => document.querySelector('.counts')?.textContent.startsWith(n), fmt(U.admin.conversations.length));
});

await test('keyboard: arrow keys move through the inbox and Enter opens a conversation', async () => {
  await admin.focus('ul.rows');
  const focused = () => admin.evaluate(() => Number(document.activeElement?.dataset?.id));
  const ids = await rowIds(admin);
  assert.equal(await focused(), ids[0], 'focusing the list focuses its first row');
  await admin.keyboard.press('ArrowDown');
  await admin.keyboard.press('ArrowDown');
  assert.equal(await focused(), ids[2]);
  await admin.keyboard.press('ArrowUp');
  assert.equal(await focused(), ids[1], 'the second row has the focus');
  await admin.keyboard.press('Enter');
  await admin.waitForURL(new RegExp(`#/c/${ids[1]}$`));
  await admin.waitForSelector('.msg');
  await admin.goto(`${BASE}/#/inbox`);
});

await test('live: a raw SQL reassignment reaches the new coordinator and executive and leaves the old coordinator, without reload', async () => {
  const r = EXPECT.reassign;
  const vero = await newPage();
  await login(vero, U.veronica); // coordinates VEN only
  const ricardo = await newPage();
  await login(ricardo, U.ricardo);
  for (const p of [mariana, vero, ricardo]) await p.evaluate(() => { window.__stillHere = true; });
  assert.ok((await rowIds(mariana)).includes(r.conversation_id), 'the old coordinator shows it before');
  assert.ok(!(await rowIds(vero)).includes(r.conversation_id));
  assert.ok(!(await rowIds(ricardo)).includes(r.conversation_id));
  const before = { vero: await countsText(vero), mariana: await countsText(mariana) };
  await step('reassign_sql', { prospect_id: r.prospect_id, team_id: EXPECT.ven, executive_id: U.ricardo.user_id });
  await mariana.waitForSelector(`#row-${r.conversation_id}`, { state: 'detached', timeout: 5000 });
  await vero.waitForSelector(`#row-${r.conversation_id}`, { timeout: 5000 });
  await ricardo.waitForSelector(`#row-${r.conversation_id}`, { timeout: 5000 });
  assert.notEqual(await countsText(vero), before.vero, 'the receiving coordinator\'s count changed');
  assert.notEqual(await countsText(mariana), before.mariana, 'the old coordinator\'s count changed');
  for (const p of [mariana, vero, ricardo]) assert.equal(await p.evaluate(() => window.__stillHere), true, 'no reload');
  await vero.context().close();
  await ricardo.context().close();
});

await test('live: an inbound WhatsApp message moves its row to the top; a reply shows with its delivery status', async () => {
  const m = EXPECT.inbound;
  await ana.evaluate(() => { window.__stillHere = true; });
  const ids = await rowIds(ana);
  assert.notEqual(ids[0], m.conversation_id, 'not at the top before');
  const text = `Hola, ¿sigue disponible la promoción? ${Date.now()}`;
  const got = await step('inbound', { phone: m.phone, text });
  assert.equal(got.conversation_id, m.conversation_id);
  await ana.waitForFunction((id) => document.querySelector('li.row')?.dataset.id === String(id), m.conversation_id, { timeout: 5000 });
  const top = ana.locator('li.row').first();
  assert.match(await top.locator('.row-preview').textContent(), /sigue disponible/);
  assert.ok(Number(await top.locator('.badge [aria-hidden]').textContent()) >= 1, 'an unread badge');
  assert.equal(await ana.evaluate(() => window.__stillHere), true, 'no reload');

  // Open it: the conversation is marked read (the badge goes), the message is there.
  await top.click();
  await ana.waitForSelector(`#msg-${got.message_id}`);
  await ana.waitForSelector(`#row-${m.conversation_id} .badge`, { state: 'detached' });
  // Reply with Enter; Shift+Enter makes a new line.
  await ana.click('textarea[name=body]');
  await ana.keyboard.type('Claro que sí,');
  await ana.keyboard.press('Shift+Enter');
  await ana.keyboard.type('te envío los detalles.');
  await ana.keyboard.press('Enter');
  const mine = ana.locator('li.msg.out').last();
  await ana.waitForFunction(() => /te envío los detalles/.test(document.querySelector('li.msg.out:last-of-type .msg-body')?.textContent ?? ''));
  assert.equal(await mine.locator('.msg-body').textContent(), 'Claro que sí,\nte envío los detalles.');
  assert.equal(await mine.getAttribute('data-status'), 'queued');
  assert.equal(await mine.locator('.tick').getAttribute('aria-label'), 'Queued');
  const messageId = Number((await mine.getAttribute('id')).replace('msg-', ''));
  // The row moved to the top with the reply as its preview.
  await ana.waitForFunction(() => /te envío los detalles/.test(document.querySelector('li.row .row-preview')?.textContent ?? ''));
  // Delivery receipts arrive live: the ticks change.
  await step('message_status', { message_id: messageId, status: 'delivered' });
  await ana.waitForSelector(`#msg-${messageId}[data-status=delivered] .tick[aria-label=Delivered]`);
  await step('message_status', { message_id: messageId, status: 'read' });
  await ana.waitForSelector(`#msg-${messageId}[data-status=read] .tick-read`);
  await shot(ana, '04-conversation');
});

await test('the bot toggle pauses and resumes the auto-reply bot of the open conversation', async () => {
  const url = `${BASE}/api/v1/conversations/${EXPECT.inbound.conversation_id}/bot`;
  const headers = { authorization: `Bearer ${await tokenOf(ana)}` };
  const state = async () => (await fetch(url, { headers })).json();
  const btn = ana.locator('.bot-btn');
  await btn.waitFor({ state: 'visible' });
  const before = await state();
  assert.equal(await btn.getAttribute('aria-pressed'), String(before.paused));
  await btn.click();
  await ana.waitForFunction((want) => document.querySelector('.bot-btn')?.getAttribute('aria-pressed') === want, String(!before.paused));
  const after = await state();
  assert.equal(after.paused, !before.paused);
  assert.equal(after.reason, 'manual');
  assert.equal(await ana.locator('.bot-state').isVisible(), true);
  await btn.click();
  await ana.waitForFunction((want) => document.querySelector('.bot-btn')?.getAttribute('aria-pressed') === want, String(before.paused));
  assert.equal((await state()).paused, before.paused);
});

await test('bulk reassign: every prospect matching a filter (1,000+) moves from the UI', async () => {
  const b = await step('count_team', { team_id: EXPECT.boom });
  assert.ok(b.count >= 1000, `1,000+ prospects to move (${b.count})`);
  assert.equal(b.conversations, b.count, 'one conversation per prospect');
  await admin.goto(`${BASE}/#/inbox`);
  await admin.selectOption('select[name=status]', '');
  await admin.uncheck('input[name=unread]');
  await admin.selectOption('select[name=team_id]', String(EXPECT.boom));
  await admin.waitForFunction((n) => document.querySelector('.counts')?.textContent.startsWith(n), fmt(b.count));
  await admin.click('.list-head button:has-text("Select")');
  await admin.click('li.row:nth-child(1)');
  await admin.click('li.row:nth-child(2)');
  assert.equal(await admin.textContent('.sel-count'), '2 selected');
  await admin.click(`.selbar button:has-text("Select all ${fmt(b.count)} matching")`);
  assert.match(await admin.textContent('.sel-count'), new RegExp(`All ${fmt(b.count)} matching`));
  await admin.click('.selbar button:has-text("Reassign")');
  await admin.selectOption('dialog select[name=team_id]', String(EXPECT.ven));
  await admin.selectOption('dialog select[name=executive_id]', String(U.ricardo.user_id));
  await admin.click('dialog button:has-text("Continue")');
  await admin.waitForSelector(`dialog :text("Move ${fmt(b.count)} prospects?")`);
  await shot(admin, '05-bulk-reassign');
  await admin.click('dialog button:has-text("Move them")');
  await admin.waitForSelector('dialog .bulk-result', { timeout: 30000 });
  assert.equal(await admin.textContent('dialog .bulk-result'), `Moved ${fmt(b.count)} of ${fmt(b.count)} prospects (0 were already there).`);
  await shot(admin, '05b-bulk-result');
  await admin.click('dialog button:has-text("Close")');
  const left = await step('count_team', { team_id: EXPECT.boom });
  assert.equal(left.count, 0, 'no prospect is left in BOOM');
  await admin.waitForFunction(() => document.querySelector('.counts')?.textContent.startsWith('0 conversations'), null, { timeout: 10000 });
  await admin.selectOption('select[name=team_id]', '');
});

await test('admin: users, teams, tokens and settings', async () => {
  await admin.goto(`${BASE}/#/admin/users`);
  await admin.waitForSelector('table.table tbody tr');
  assert.equal(await admin.locator('table.table tbody tr').count(), EXPECT.user_count);
  // Create a user with a bad password: the API's message is shown on the field.
  await admin.click('button:has-text("New user")');
  await admin.fill('dialog input[name=email]', 'nuevo.ejecutivo@demo.platica.test');
  await admin.fill('dialog input[name=display_name]', 'Nuevo Ejecutivo');
  await admin.fill('dialog input[name=password]', 'short');
  await admin.click('dialog button[type=submit]');
  await admin.waitForSelector('dialog .field-error');
  assert.equal(await admin.getAttribute('dialog input[name=password]', 'aria-invalid'), 'true');
  await admin.fill('dialog input[name=password]', 'una-contraseña-larga');
  await admin.click('dialog button[type=submit]');
  await admin.waitForSelector('dialog', { state: 'detached' });
  await admin.waitForFunction((n) => document.querySelectorAll('table.table tbody tr').length === n, EXPECT.user_count + 1);
  await shot(admin, '06-admin-users');
  const created = await api(admin, '/users');
  const nuevo = created.find((u) => u.email === 'nuevo.ejecutivo@demo.platica.test');
  assert.equal(nuevo.role, 'executive');
  assert.equal(nuevo.operational, true);
  // Not operational any more (no new assignments), then a new password.
  const row = admin.locator('table.table tbody tr', { hasText: 'nuevo.ejecutivo@demo.platica.test' });
  await row.locator('button:has-text("Edit")').click();
  await admin.uncheck('dialog input[name=operational]');
  await admin.click('dialog button[type=submit]');
  await admin.waitForSelector('dialog', { state: 'detached' });
  assert.equal((await api(admin, `/users/${nuevo.user_id}`)).operational, false);
  await row.locator('button:has-text("Reset password")').click();
  await admin.fill('dialog input[name=password]', 'otra-contraseña-nueva');
  await admin.click('dialog button[type=submit]');
  await admin.waitForSelector('dialog', { state: 'detached' });
  const relogin = await fetch(`${BASE}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tenant: EXPECT.tenant, email: 'nuevo.ejecutivo@demo.platica.test', password: 'otra-contraseña-nueva' }),
  });
  assert.equal(relogin.status, 200, 'the new password works');
  await admin.click('a.tab:has-text("Teams")');
  await admin.waitForSelector('.admin-panel h2:text-is("Teams")');
  await admin.waitForSelector('table.table td:text-is("BOOM")');
  await admin.fill('input[name=name]', 'NORTE');
  await admin.click('button:has-text("New team")');
  await admin.waitForSelector('table.table :text("NORTE")');
  // A duplicate name: the API's conflict message is shown.
  await admin.fill('input[name=name]', 'NORTE');
  await admin.click('button:has-text("New team")');
  await admin.waitForSelector('form.inline-form .field-error');
  await admin.click('a.tab:has-text("API tokens")');
  await admin.waitForSelector('.admin-panel h2:text-is("API tokens")');
  await admin.fill('input[name=name]', 'CRM sync');
  await admin.click('button:has-text("New token")');
  await admin.waitForSelector('dialog input.secret');
  assert.match(await admin.inputValue('dialog input.secret'), /^plt_/);
  await admin.click('dialog button:has-text("Close")');
  await admin.waitForSelector('table.table :text("CRM sync")');
});

await test('publish a new web version: a banner offers reload, force update reloads open tabs', async () => {
  await ana.goto(`${BASE}/#/inbox`);
  await ana.waitForSelector('li.row');
  await ana.evaluate(() => { window.__stillHere = true; });
  await admin.goto(`${BASE}/#/admin/settings`);
  await admin.waitForSelector('form.publish');
  await admin.fill('form.publish input[name=value]', '2.0.0');
  await admin.click('form.publish button[type=submit]');
  await ana.waitForSelector('.banner-version', { state: 'visible', timeout: 5000 });
  assert.equal(await ana.evaluate(() => window.__stillHere), true, 'no reload without force');
  await admin.waitForSelector('form.publish :text("Current version: 2.0.0")');
  await shot(admin, '07-admin-settings');
  const reloaded = ana.waitForEvent('load', { timeout: 10000 });
  await admin.fill('form.publish input[name=value]', '2.0.1');
  await admin.check('form.publish input[name=force_update]');
  await admin.click('form.publish button[type=submit]');
  await reloaded;
  assert.equal(await ana.evaluate(() => window.__stillHere), undefined, 'the tab reloaded');
  await ana.waitForSelector('li.row');
  assert.equal(await ana.locator('.banner-version').isVisible(), false, 'the reloaded tab runs the current version');
});

await test('Spanish: every key is translated and the rendered UI shows no English text', async () => {
  const es = await newPage({ locale: 'es-MX' });
  await es.goto(`${BASE}/`);
  const { en, esTable, keys } = await es.evaluate(async () => {
    const m = await import('/app/i18n.js');
    return { en: m.MESSAGES.en, esTable: m.MESSAGES.es, keys: m.KEYS };
  });
  const missing = keys.filter((k) => !(k in esTable));
  assert.deepEqual(missing, [], 'keys without a Spanish message');
  assert.deepEqual(Object.keys(esTable).filter((k) => !(k in en)), [], 'Spanish keys unknown in English');
  const same = keys.filter((k) => esTable[k] === en[k]);
  assert.deepEqual(same.sort(), ['app.name', 'common.no', 'common.none', 'inbox.bot', 'prospect.historyRow'].sort(),
    'messages left in English (only names and symbols may be the same)');
  // Every key the code names exists (a missing one would show as its raw key).
  const webDir = new URL('../../web/', import.meta.url);
  const used = readdirSync(webDir).filter((f) => f.endsWith('.js'))
    .flatMap((f) => [...readFileSync(new URL(f, webDir), 'utf8').matchAll(/\bt\('([a-zA-Z.]+)'/g)].map((m) => m[1]));
  assert.ok(used.length > 100);
  assert.deepEqual([...new Set(used)].filter((k) => !keys.includes(k)), [], 'keys used in web/ but not defined');
  assert.equal(await es.textContent('form.login-form h1'), 'Iniciar sesión');
  await login(es, U.jorge);
  const english = Object.entries(en).filter(([k, v]) => esTable[k] !== v).map(([, v]) => v);
  const scan = async (where) => {
    const found = await es.evaluate((patterns) => {
      const res = patterns.map((p) => new RegExp(`^${p.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{\w+\\?\}/g, '.+')}$`));
      const texts = [];
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      while (walker.nextNode()) texts.push(walker.currentNode.textContent.trim());
      for (const el of document.querySelectorAll('[placeholder],[aria-label],[title]')) {
        for (const a of ['placeholder', 'aria-label', 'title']) if (el.getAttribute(a)) texts.push(el.getAttribute(a).trim());
      }
      const rawKey = /^(app|login|nav|role|conn|version|inbox|conv|prospect|stage|reassign|bulk|common|admin|users|teams|tokens|settings)\.[a-zA-Z.]+$/;
      return texts.filter((t) => t && (rawKey.test(t) || res.some((r) => r.test(t))));
    }, english.map((v) => v.replace(/\{(\w+)\}/g, '{$1}')));
    assert.deepEqual(found, [], `English text in the Spanish ${where}`);
  };
  assert.match(await es.textContent('.counts'), /conversaciones/);
  await shot(es, '08-inbox-spanish');
  await scan('inbox');
  await es.click('li.row:nth-child(1)');
  await es.waitForSelector('.msg');
  await es.waitForSelector('.info .facts');
  await scan('conversation');
  // The admin's screens too.
  await es.click('.topbar button.logout');
  await login(es, U.admin);
  await scan('inbox (admin)');
  await es.click('.list-head button');
  await es.click('li.row:nth-child(1)');
  await es.click('.selbar .btn-primary');
  await es.waitForSelector('dialog');
  await scan('bulk reassign dialog');
  await es.keyboard.press('Escape');
  for (const tab of ['users', 'teams', 'tokens', 'settings']) {
    await es.goto(`${BASE}/#/admin/${tab}`);
    await es.waitForSelector('.admin-panel h2');
    await scan(`admin ${tab}`);
  }
  // Switching the language is stored.
  await es.selectOption('.topbar select.lang', 'en');
  await es.waitForSelector('h1:text("Administration")');
  assert.equal(await es.evaluate(() => localStorage.getItem('platica.lang')), 'en');
  await es.context().close();
});

await test('a lost connection is shown, recovers by itself, and what happened meanwhile arrives', async () => {
  const page = await newPage();
  // Every WebSocket of the page goes through this proxy, which the test can cut.
  let down = false;
  const open = new Set();
  await page.routeWebSocket(/\/api\/v1\/ws/, (ws) => {
    if (down) {
      ws.close({ code: 4001, reason: 'network down (test)' });
      return;
    }
    ws.connectToServer();
    open.add(ws);
  });
  await login(page, U.jorge);
  await page.waitForSelector('.conn-dot[data-status=open]');
  await page.evaluate(() => { window.__stillHere = true; });
  down = true;
  for (const ws of open) await ws.close({ code: 4001, reason: 'network down (test)' });
  open.clear();
  await page.waitForSelector('.banner-conn', { state: 'visible', timeout: 5000 });
  assert.equal(await page.textContent('.banner-conn'), 'Connection lost. Reconnecting…');
  // A message arrives while this tab is offline.
  const text = `Mensaje durante la desconexión ${Date.now()}`;
  const got = await step('inbound', { phone: EXPECT.inbound.phone, text });
  await page.waitForTimeout(300);
  down = false;
  await page.waitForSelector('.banner-conn', { state: 'hidden', timeout: 20000 });
  await page.waitForSelector('.conn-dot[data-status=open]');
  // The resumed subscription replays what was missed: the row is on top with the new message.
  await page.waitForFunction(([id, body]) => {
    const top = document.querySelector('li.row');
    return top?.dataset.id === String(id) && top.querySelector('.row-preview')?.textContent === body;
  }, [got.conversation_id, text], { timeout: 5000 });
  assert.equal(await page.evaluate(() => window.__stillHere), true, 'recovered without a reload');
  await page.context().close();
});

await test('without a WebSocket at all the inbox still loads over REST, and says it is offline', async () => {
  const page = await newPage();
  await page.routeWebSocket(/\/api\/v1\/ws/, (ws) => ws.close({ code: 4001, reason: 'blocked (test)' }));
  await login(page, U.ana);
  assert.ok((await rowIds(page)).length > 0);
  await page.waitForSelector('.banner-conn', { state: 'visible' });
  await page.context().close();
});

await test('call monitor: today\'s calls update live when a call\'s status changes by raw SQL; the bell counts', async () => {
  const page = await newPage();
  await login(page, U.ana);
  assert.ok(await page.locator('.bell-wrap').isVisible(), 'the notifications bell is in the top bar');
  const unread = await api(page, '/notifications');
  await page.waitForFunction((n) => document.querySelector('.bell-wrap')?.dataset.unread === String(n), unread.unread);
  await page.click('a[data-nav=calls]');
  await page.waitForSelector('.calls[data-state=ready]');
  const n = async (s) => Number((await page.textContent(`.call-count[data-status=${s}] .n`)).replace(/\D/g, ''));
  const before = { total: await n('total'), ringing: await n('ringing'), completed: await n('completed') };
  const { call_id: callId } = await step('call_sql', { executive_id: U.ana.user_id, status: 'ringing' });
  await page.waitForSelector(`.active-call[data-id="${callId}"][data-status=ringing]`);
  assert.equal(await n('ringing'), before.ringing + 1);
  assert.equal(await n('total'), before.total + 1);
  await shot(page, '11-call-monitor');
  await step('call_status_sql', { call_id: callId, status: 'completed', outcome: 'interested' });
  await page.waitForSelector(`.active-call[data-id="${callId}"]`, { state: 'detached' });
  await page.waitForFunction((c) => document.querySelector('.call-count[data-status=completed] .n')?.textContent === String(c), before.completed + 1);
  assert.equal(await n('ringing'), before.ringing);
  assert.match(await page.textContent('.call-outcomes'), /interested/);
  // Her agenda follows too: a call scheduled by SQL appears without reload.
  const { scheduled_call_id: sched } = await step('schedule_sql', { executive_id: U.ana.user_id, note: 'Llamar a las 5' });
  await page.waitForSelector(`.agenda-item[data-id="${sched}"]`);
  assert.match(await page.textContent(`.agenda-item[data-id="${sched}"]`), /Llamar a las 5/);
  // Ricardo, another executive, does not see Ana's call.
  const luis = await newPage();
  await login(luis, U.ricardo);
  await luis.click('a[data-nav=calls]');
  await luis.waitForSelector('.calls[data-state=ready]');
  assert.equal(await luis.locator(`.active-call[data-id="${callId}"]`).count(), 0);
  const theirs = await api(luis, '/calls?today=true');
  assert.ok(!theirs.items.some((c) => c.call_id === callId), 'another executive never gets the call');
  await luis.context().close();
  await page.context().close();
});

await test('phone width: the inbox and a conversation are usable at 390 px', async () => {
  const phone = await newPage({ viewport: { width: 390, height: 844 } });
  await login(phone, U.ana);
  await shot(phone, '09-inbox-phone');
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no horizontal scrolling (${width} px)`);
  await phone.click('li.row:nth-child(1)');
  await phone.waitForSelector('.msg');
  assert.equal(await phone.locator('.list-pane').isVisible(), false, 'one pane at a time');
  assert.equal(await phone.locator('textarea[name=body]').isVisible(), true);
  await shot(phone, '10-conversation-phone');
  await phone.click('.back-btn');
  await phone.waitForSelector('.list-pane', { state: 'visible' });
  await phone.context().close();
});

await test('logout ends the session', async () => {
  const token = await tokenOf(ana);
  await ana.click('.topbar button:has-text("Log out")');
  await ana.waitForSelector('form.login-form');
  const r = await fetch(`${BASE}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 401);
});

await browser.close();
log(failures ? `${failures} test(s) failed` : 'all web e2e tests passed');
process.stdout.write(`@@done ${failures}\n`);
process.exit(failures ? 1 : 0);
