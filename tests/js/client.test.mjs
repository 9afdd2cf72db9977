// Tests of static/platica-client.js. The first group runs against a real Platica server started
// by crates/platica/tests/it/js_client.rs (`cargo test -p platica --test it js_client::`, or
// `npm run test:js`), which passes its address and tokens in the environment; the second drives
// the client with a fake socket to check what the server cannot be made to do on demand.
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import WebSocket from 'ws';

import { compareLsn, connect } from '../../static/platica-client.js';

const TIMEOUT = 5000;

function env(name) {
  const v = process.env[name];
  assert.ok(v, `${name} is not set: run these tests with \`cargo test -p platica --test it js_client::\``);
  return v;
}

/** Waits until `pred()` is truthy (and returns it); fails after `ms`. */
async function until(what, pred, ms = TIMEOUT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A REST call; returns the status, the JSON body and the `Platica-Lsn` header. */
async function api(method, path, token, body) {
  const r = await fetch(env('PLATICA_URL') + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null, lsn: r.headers.get('platica-lsn') };
}

async function send(token, conversationId, body) {
  const r = await api('POST', `/api/v1/conversations/${conversationId}/messages`, token, { body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r;
}

/** A subscription whose callbacks record everything. */
function recorder(client, topic, options = {}) {
  const rec = { events: [], frames: [], resets: [], errors: [], revoked: [], subscribed: [] };
  rec.stop = client.subscribe(topic, {
    ...options,
    onEvent: (e, f) => {
      rec.events.push(e);
      rec.frames.push(f);
    },
    onReset: (i) => rec.resets.push(i),
    onError: (e) => rec.errors.push(e),
    onRevoked: (i) => rec.revoked.push(i),
    onSubscribed: (i) => rec.subscribed.push(i),
  });
  return rec;
}

/** A `ws` WebSocket class that records what the client sends and can be cut off. */
function controlledSocket() {
  const ctl = { sockets: [], sent: [], offline: false };
  ctl.WebSocket = class extends WebSocket {
    constructor(url) {
      // Offline: the server refuses the handshake (401), as for any failed attempt.
      super(ctl.offline ? url.replace(/token=[^&]*/, 'token=pls_1_offline') : url);
      ctl.sockets.push(this);
    }
    send(data) {
      ctl.sent.push({ socket: ctl.sockets.indexOf(this), message: JSON.parse(data) });
      super.send(data);
    }
  };
  return ctl;
}

describe('against the server', () => {
  const open = [];
  const client = (options) => {
    const c = connect({ url: env('PLATICA_URL'), WebSocket, ...options });
    open.push(c);
    return c;
  };
  const closeAll = () => open.splice(0).forEach((c) => c.close());

  test('an inbox subscription gets the upsert of a REST write, with counts', async (t) => {
    t.after(closeAll);
    const admin = env('PLATICA_ADMIN_TOKEN');
    const statuses = [];
    const c = client({ token: admin, onStatus: (s) => statuses.push(s) });
    const inbox = recorder(c, 'inbox');
    await until('subscribed', () => inbox.subscribed.length);
    assert.deepEqual(statuses, ['connecting', 'open']);
    assert.equal(c.hello.version, 1);

    const page = await api('GET', '/api/v1/inbox?limit=200', admin);
    const conv = page.body.items.at(-1).conversation_id; // the oldest: the upsert moves it up
    const write = await send(admin, conv, 'hola desde el cliente JS');
    const f = await until('the upsert', () =>
      inbox.frames.find((f) => f.event.row?.last_message_preview === 'hola desde el cliente JS'),
    );
    assert.equal(f.type, 'event');
    assert.equal(f.event.kind, 'upsert');
    assert.equal(f.event.row.conversation_id, conv);
    assert.ok(f.seq >= 1 && /^[0-9A-F]+\/[0-9A-F]+$/.test(f.lsn), JSON.stringify(f));
    // Read-your-writes: the REST inbox at min_lsn = the write's Platica-Lsn has it on top, and
    // the counts the event carried are the REST counts.
    const after = await api('GET', `/api/v1/inbox?limit=1&min_lsn=${write.lsn}`, admin);
    assert.equal(after.status, 200);
    assert.equal(after.body.items[0].conversation_id, conv);
    assert.deepEqual(f.event.counts, { total: after.body.total, unread: after.body.unread });
  });

  test('the unsubscribe function stops the events', async (t) => {
    t.after(closeAll);
    const admin = env('PLATICA_ADMIN_TOKEN');
    const c = client({ token: admin });
    const page = await api('GET', '/api/v1/inbox?limit=1', admin);
    const conv = page.body.items[0].conversation_id;
    const table = recorder(c, 'table:messages', { filters: { conversation_id: `eq.${conv}` }, events: ['insert'] });
    const inbox = recorder(c, 'inbox');
    await until('subscribed', () => table.subscribed.length && inbox.subscribed.length);
    await send(admin, conv, 'uno');
    await until('the first insert', () => table.events.length === 1 && table.events[0].row.body === 'uno');
    assert.equal(table.events[0].op, 'insert');

    table.stop();
    table.stop(); // idempotent
    // The server answers in order: once a later subscription is confirmed, the unsubscribe is done.
    const marker = recorder(c, 'system');
    await until('the marker subscription', () => marker.subscribed.length);
    await send(admin, conv, 'dos');
    await until('the inbox upsert of dos', () => inbox.events.some((e) => e.row?.last_message_preview === 'dos'));
    await sleep(200);
    assert.equal(table.events.length, 1, JSON.stringify(table.events));
  });

  test('after the socket is cut it reconnects by itself and resumes with since, in order', async (t) => {
    t.after(closeAll);
    const admin = env('PLATICA_ADMIN_TOKEN');
    const ctl = controlledSocket();
    const statuses = [];
    const c = client({
      token: admin,
      WebSocket: ctl.WebSocket,
      initialDelayMs: 50,
      maxDelayMs: 200,
      onStatus: (s, info) => statuses.push({ s, info }),
    });
    const page = await api('GET', '/api/v1/inbox?limit=1', admin);
    const conv = page.body.items[0].conversation_id;
    const table = recorder(c, 'table:messages', { filters: { conversation_id: `eq.${conv}` } });
    const inbox = recorder(c, 'inbox');
    await until('subscribed', () => table.subscribed.length && inbox.subscribed.length);
    await send(admin, conv, 'antes');
    await until('the first event', () => table.events.length === 1 && inbox.events.length === 1);
    const tableLsn = table.frames[0].lsn;
    const inboxLsn = inbox.frames[0].lsn;

    // The connection dies without a close frame, and the server refuses the next attempts.
    ctl.offline = true;
    ctl.sockets.at(-1).terminate();
    await until('closed', () => statuses.some((x) => x.s === 'closed'));
    const bodies = ['uno', 'dos', 'tres'];
    for (const b of bodies) await send(admin, conv, b);
    const failed = () => statuses.filter((x) => x.s === 'closed').length;
    await until('a refused reconnect', () => failed() >= 2);
    assert.equal(c.status === 'open', false);
    ctl.offline = false;

    await until('the replayed events', () => table.events.length === 4 && inbox.events.length === 4);
    assert.deepEqual(
      table.events.slice(1).map((e) => e.row.body),
      bodies,
    );
    assert.deepEqual(
      inbox.events.slice(1).map((e) => e.row.last_message_preview),
      bodies,
    );
    const lsns = table.frames.map((f) => f.lsn);
    assert.ok(lsns.every((l, i) => i === 0 || compareLsn(l, lsns[i - 1]) > 0), `LSNs increase: ${lsns}`);
    assert.deepEqual(table.resets, []);
    assert.deepEqual(inbox.resets, []);
    assert.equal(c.status, 'open');
    // On the last socket, each subscription was resumed from the LSN of its last event.
    const last = ctl.sockets.length - 1;
    const resubscribed = ctl.sent.filter((x) => x.socket === last && x.message.type === 'subscribe');
    assert.deepEqual(
      resubscribed.map((x) => [x.message.topic, x.message.since]),
      [
        ['table:messages', tableLsn],
        ['inbox', inboxLsn],
      ],
    );
    assert.ok(table.subscribed.at(-1).resumed);
    // ... and it is live again.
    await send(admin, conv, 'después');
    await until('a live event', () => table.events.at(-1)?.row.body === 'después');
    // connecting, open, closed, (connecting, closed)+, connecting, open
    const seen = statuses.map((x) => x.s);
    assert.deepEqual(seen.slice(0, 3), ['connecting', 'open', 'closed']);
    assert.deepEqual(seen.slice(-2), ['connecting', 'open']);
    assert.equal(seen.filter((s) => s === 'open').length, 2);
    assert.ok(statuses.filter((x) => x.s === 'closed').every((x) => x.info.retryInMs <= 200));
  });

  test('a refused subscription calls onError with the server code; the others go on', async (t) => {
    t.after(closeAll);
    const ana = env('PLATICA_ANA_TOKEN');
    const admin = env('PLATICA_ADMIN_TOKEN');
    const errors = [];
    const c = client({ token: ana, onError: (e) => errors.push(e) });
    const good = recorder(c, 'inbox');
    const table = recorder(c, 'table:sessions');
    const filter = recorder(c, 'inbox', { filters: { color: 'red' } });
    const topic = recorder(c, 'chat');
    await until('subscribed', () => good.subscribed.length);
    // Someone else's conversation does not exist for Ana.
    const all = await api('GET', '/api/v1/inbox?limit=200', admin);
    const hidden = all.body.items.find((r) => r.executive_id !== c.hello.user_id).conversation_id;
    const other = recorder(c, `conversation:${hidden}`);
    const refused = [table, filter, topic, other];
    await until('the errors', () => refused.every((r) => r.errors.length));
    assert.equal(table.errors[0].code, 'unknown_table');
    assert.match(table.errors[0].message, /messages/);
    assert.equal(filter.errors[0].code, 'bad_filter');
    assert.equal(topic.errors[0].code, 'bad_topic');
    assert.equal(other.errors[0].code, 'not_found');
    assert.deepEqual(errors, [], 'subscription errors go to the subscription');
    for (const r of refused) assert.equal(r.subscribed.length, 0);

    const mine = (await api('GET', '/api/v1/inbox?limit=1', ana)).body.items[0].conversation_id;
    await send(ana, mine, 'sigo aquí');
    await until('an event on the good subscription', () =>
      good.events.some((e) => e.row?.last_message_preview === 'sigo aquí'),
    );
  });
});

/** A socket the test plays the server of. */
class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.sent = [];
    FakeSocket.all.push(this);
  }
  send(data) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.closed = true;
  }
  frame(f) {
    this.onmessage({ data: JSON.stringify(f) });
  }
  drop(code = 1006, reason = '') {
    this.onclose({ code, reason });
  }
}

describe('with a fake server', () => {
  const setup = () => {
    FakeSocket.all = [];
    const url = 'https://example.test';
    return connect({ url, token: 'pls_1_abc', WebSocket: FakeSocket, initialDelayMs: 1, maxDelayMs: 1 });
  };
  const socket = () => until('a socket', () => FakeSocket.all.at(-1));
  const hello = { type: 'hello', version: 1, lsn: '0/10', user_id: 1 };

  test('builds the socket URL and subscribes after hello', async () => {
    const c = setup();
    const s = await socket();
    assert.equal(s.url, 'wss://example.test/api/v1/ws?token=pls_1_abc');
    const a = recorder(c, 'inbox', { filters: { status: 'open' } });
    assert.deepEqual(s.sent, []);
    s.frame(hello);
    assert.deepEqual(s.sent, [{ type: 'subscribe', id: 's1', topic: 'inbox', filters: { status: 'open' } }]);
    s.frame({ type: 'subscribed', id: 's1', lsn: '0/20' });
    assert.deepEqual(a.subscribed, [{ lsn: '0/20', resumed: false }]);
    c.close();
  });

  test('degraded pauses live updates until a reset of everything; a new hello clears it', async () => {
    FakeSocket.all = [];
    const seen = [];
    const c = connect({
      url: 'https://example.test', token: 'pls_1_abc', WebSocket: FakeSocket, initialDelayMs: 1, maxDelayMs: 1,
      onDegraded: (d) => seen.push(d),
    });
    const s = await socket();
    const a = recorder(c, 'inbox');
    s.frame(hello);
    s.frame({ type: 'subscribed', id: 's1', lsn: '0/20' });
    assert.deepEqual(seen, [], 'a hello while live says nothing');
    const since = '2026-12-02T16:03:11.402Z';
    s.frame({ type: 'degraded', since, reason: 'replication: connection lost' });
    assert.deepEqual(seen, [{ since, reason: 'replication: connection lost' }]);
    assert.deepEqual(c.degraded, { since, reason: 'replication: connection lost' });
    assert.deepEqual(a.resets, [], 'degraded alone refetches nothing');
    // The degraded frame is outside the seq count: the next numbered frame is 1, no gap.
    s.frame({ type: 'reset', id: null, seq: 1, lsn: '0/90', reason: 'live updates are back: refetch' });
    assert.deepEqual(seen.at(-1), null, 'live again');
    assert.equal(c.degraded, null);
    assert.deepEqual(a.resets.map((r) => r.lsn), ['0/90']);
    // A socket opened during an outage: degraded right after hello; a later hello while live clears it.
    s.frame({ type: 'degraded', since, reason: 'again' });
    s.drop();
    const s2 = await until('a new socket', () => FakeSocket.all[1]);
    s2.frame(hello);
    assert.deepEqual(seen.at(-1), null, 'a new connection starts live unless told otherwise');
    s2.frame({ type: 'degraded', since, reason: 'still down' });
    assert.deepEqual(seen.at(-1), { since, reason: 'still down' });
    c.close();
  });

  test('compares LSNs as numbers', () => {
    assert.equal(compareLsn('0/9', '0/10'), -1);
    assert.equal(compareLsn('1/0', '0/FFFFFFFF'), 1);
    assert.equal(compareLsn('16/B374D848', '16/b374d848'), 0);
  });

  test('a gap in seq resets every subscription', async () => {
    const c = setup();
    const s = await socket();
    const a = recorder(c, 'inbox');
    const b = recorder(c, 'system');
    s.frame(hello);
    s.frame({ type: 'subscribed', id: 's1', lsn: '0/20' });
    s.frame({ type: 'subscribed', id: 's2', lsn: '0/20' });
    s.frame({ type: 'event', id: 's1', seq: 1, lsn: '0/30', event: { kind: 'remove', conversation_id: 1 } });
    assert.deepEqual([a.resets, b.resets], [[], []]);
    s.frame({ type: 'event', id: 's2', seq: 3, lsn: '0/50', event: { table: 'system_config', op: 'update' } });
    assert.deepEqual(a.resets.map((r) => r.lsn), ['0/50']);
    assert.deepEqual(b.resets.map((r) => r.lsn), ['0/50']);
    assert.equal(b.events.length, 1, 'the frame that showed the gap is still delivered');
    // The same position is not reset twice (a connection that overflows shows several gaps).
    s.frame({ type: 'reset', id: 's1', seq: 4, lsn: '0/50', reason: 'your access changed: refetch' });
    s.frame({ type: 'event', id: 's1', seq: 6, lsn: '0/50', event: { kind: 'remove', conversation_id: 2 } });
    assert.deepEqual([a.resets.length, b.resets.length], [1, 1]);
    s.frame({ type: 'reset', id: 's1', seq: 7, lsn: '0/60', reason: 'your access changed: refetch' });
    assert.deepEqual(a.resets.map((r) => r.lsn), ['0/50', '0/60']);
    assert.deepEqual(b.resets.map((r) => r.lsn), ['0/50']);
    c.close();
  });

  test('a connection reset resets everything, then resumes from its lsn on the next socket', async () => {
    const c = setup();
    const s = await socket();
    const a = recorder(c, 'inbox');
    const r = recorder(c, 'conversation:7');
    s.frame(hello);
    s.frame({ type: 'subscribed', id: 's1', lsn: '0/20' });
    s.frame({ type: 'subscribed', id: 's2', lsn: '0/20' });
    s.frame({ type: 'revoked', id: 's2', seq: 1, lsn: '0/25', reason: 'gone' });
    assert.deepEqual(r.revoked, [{ lsn: '0/25', reason: 'gone' }]);
    s.frame({ type: 'reset', id: null, seq: 0, lsn: '0/40', reason: 'connection reset: reconnect and resume' });
    assert.deepEqual(a.resets, [{ lsn: '0/40', reason: 'connection reset: reconnect and resume' }]);
    s.drop(1013, 'reset');
    const s2 = await until('a new socket', () => FakeSocket.all[1]);
    s2.frame(hello);
    // The revoked subscription is not resumed; the other resumes from the reset's lsn.
    assert.deepEqual(s2.sent, [{ type: 'subscribe', id: 's1', topic: 'inbox', since: '0/40' }]);
    s2.frame({ type: 'subscribed', id: 's1', lsn: '0/60' });
    assert.deepEqual(a.subscribed.at(-1), { lsn: '0/60', resumed: true });
    c.close();
    assert.equal(c.status, 'closed');
  });
});
