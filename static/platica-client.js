/**
 * platica-client.js: the client of Platica's realtime WebSocket (protocol version 1, described
 * in docs/realtime.md). An ES module with no dependencies, for browsers, and for Node >= 20 when
 * given a WebSocket implementation (for example the `ws` package).
 *
 * One client holds one WebSocket and any number of subscriptions. When the socket is lost it
 * reconnects by itself (exponential backoff with full jitter) and resumes every subscription from
 * the last LSN it received: the server replays what was missed, in order, or answers `reset`, and
 * then `onReset` asks the application to refetch over REST.
 *
 * @example
 * import { connect } from '/static/platica-client.js';
 *
 * const client = connect({ token, onStatus: (s) => { offlineBanner.hidden = s === 'open'; } });
 * const stop = client.subscribe('inbox', {
 *   filters: { status: 'open' },
 *   onEvent: (e) => (e.kind === 'upsert' ? inbox.put(e.row) : inbox.drop(e.conversation_id)),
 *   onReset: ({ lsn }) => inbox.reload(`/api/v1/inbox?min_lsn=${encodeURIComponent(lsn)}`),
 * });
 * // later: stop(); client.close();
 *
 * @module platica-client
 */

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;

/**
 * @typedef {'connecting' | 'open' | 'closed'} Status
 *
 * @typedef {object} ConnectOptions
 * @property {string} [url] The WebSocket URL (`wss://host/api/v1/ws`), or the server's base URL
 *   (`https://host`, `ws://host`: the path `/api/v1/ws` is added). Defaults, in a browser, to
 *   `/api/v1/ws` on the page's own host.
 * @property {string | (() => string | Promise<string>)} [token] A session or API token, sent as
 *   the `token` query parameter; a function is called before every connection attempt. Without
 *   one, a browser authenticates with the `platica_session` cookie set at login.
 * @property {typeof WebSocket} [WebSocket] The WebSocket class (default: `globalThis.WebSocket`).
 * @property {(status: Status, info: object) => void} [onStatus] Connection state changes, for a UI
 *   that shows a lost connection. `info` has `{ attempt }` when connecting, the hello frame
 *   (`{ lsn, user_id, version }`) when open, and `{ code, reason, retryInMs }` when closed.
 * @property {(degraded: {since: string, reason: string} | null) => void} [onDegraded] The
 *   server's live state is paused (`{ since, reason }`: its change stream is down, events stop)
 *   or live again (`null`, with a `reset` of every subscription).
 * @property {(error: {code: string, message: string}) => void} [onError] Errors not tied to a
 *   subscription: a refused message (`bad_message`), an unsupported protocol version
 *   (`unsupported_version`), a frame that is not JSON (`bad_frame`).
 * @property {number} [initialDelayMs=500] First reconnect delay bound (it doubles per attempt).
 * @property {number} [maxDelayMs=30000] Largest reconnect delay bound.
 * @property {number} [pingEveryMs=25000] How often to ping the server; a socket that answers no
 *   frame for a whole interval is dropped and reconnected. 0 turns pinging off (the server still
 *   pings, but a browser cannot see those pings).
 *
 * @typedef {object} Frame A server frame: `{ type, id?, seq?, lsn?, ... }` (docs/realtime.md).
 *
 * @typedef {object} SubscribeOptions
 * @property {Record<string, string | number | boolean>} [filters] Inbox filters (`team_id`,
 *   `executive_id`, `unread`, `status`, `q`) or, for `table:` topics, column filters
 *   (`{ conversation_id: 'eq.5' }`, `{ status: 'in.(sent,read)' }`).
 * @property {Array<'insert' | 'update' | 'delete'>} [events] `table:` topics only (default all).
 * @property {string} [since] Start from this LSN, e.g. the `Platica-Lsn` header of the REST read
 *   that loaded the initial state: whatever changed after it is replayed (or `onReset` is called).
 * @property {(info: {lsn: string, resumed: boolean}) => void} [onSubscribed] The server accepted
 *   the subscription (again, after each reconnect): events after `info.lsn` will follow (and, when
 *   `resumed`, the missed ones are replayed first). A REST read with `min_lsn=info.lsn` made now
 *   misses nothing.
 * @property {(event: object, frame: Frame) => void} [onEvent] One change: `frame.event`.
 * @property {(info: {lsn: string, reason: string}) => void} [onReset] Events may have been lost:
 *   refetch over REST, with `min_lsn=info.lsn`. The subscription stays live.
 * @property {(info: {lsn: string, reason: string}) => void} [onRevoked] The server ended the
 *   subscription (the conversation is no longer visible). It is not resumed.
 * @property {(error: {code: string, message: string}) => void} [onError] The server refused the
 *   subscription (`bad_topic`, `bad_filter`, `not_found`, ...). It is forgotten.
 */

/**
 * Opens a client. It connects at once and keeps reconnecting until {@link PlaticaClient#close}.
 * @param {ConnectOptions} options
 * @returns {PlaticaClient}
 */
export function connect(options = {}) {
  return new PlaticaClient(options);
}

/** A realtime connection and its subscriptions. Make one with {@link connect}. */
export class PlaticaClient {
  /** @param {ConnectOptions} options */
  constructor(options) {
    this._opts = options;
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this._WebSocket !== 'function') {
      throw new TypeError('platica-client: no WebSocket implementation: pass connect({ WebSocket })');
    }
    /** @type {Map<string, object>} live subscriptions by id, in subscription order */
    this._subs = new Map();
    this._nextId = 1;
    this._ws = null;
    this._ready = false; // the current socket has said hello
    this._seq = 0; // the last `seq` received on the current socket
    this._attempt = 0;
    this._timer = null;
    this._pinger = null;
    this._silent = false; // no frame since the last ping we sent
    this._closed = false;
    /** @type {Status} */
    this.status = 'connecting';
    /** The last hello frame (`{ version, lsn, user_id }`), or null before the first. */
    this.hello = null;
    this._open();
  }

  /**
   * Subscribes to a topic: `inbox`, `conversation:<id>`, `table:<name>` or `system`. Works
   * before the socket is open and across reconnects.
   * @param {string} topic
   * @param {SubscribeOptions} [options]
   * @returns {() => void} Unsubscribes (idempotent).
   */
  subscribe(topic, options = {}) {
    const id = `s${this._nextId++}`;
    const sub = { id, topic, options, lsn: options.since ?? null };
    this._subs.set(id, sub);
    if (this._ready) this._sendSubscribe(sub);
    return () => {
      if (this._subs.get(id) !== sub) return;
      this._subs.delete(id);
      if (this._ready) this._send({ type: 'unsubscribe', id });
    };
  }

  /** Closes the socket for good: no more reconnects or callbacks. */
  close() {
    if (this._closed) return;
    this._closed = true;
    clearTimeout(this._timer);
    this._dropSocket(true);
    this._setStatus('closed', { code: 1000, reason: 'client closed', retryInMs: null });
  }

  // --- the connection ---

  async _open() {
    this._timer = null;
    if (this._closed) return;
    this._setStatus('connecting', { attempt: this._attempt + 1 });
    let ws;
    try {
      const { token: t } = this._opts;
      const token = typeof t === 'function' ? await t() : t;
      if (this._closed) return;
      ws = new this._WebSocket(socketUrl(this._opts.url, token));
    } catch (e) {
      this._lost(1006, `cannot connect: ${e?.message ?? e}`);
      return;
    }
    this._ws = ws;
    this._ready = false;
    this._seq = 0;
    ws.onmessage = (m) => {
      if (this._ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(m.data);
      } catch {
        return this._clientError('bad_frame', 'the server sent a frame that is not JSON');
      }
      this._frame(frame);
    };
    ws.onclose = (e) => {
      if (this._ws === ws) this._lost(e.code, e.reason);
    };
    ws.onerror = () => {}; // a close event follows
  }

  /** Forgets the current socket (its events are ignored from now on) and closes it. */
  _dropSocket(graceful) {
    const ws = this._ws;
    this._ws = null;
    this._ready = false;
    clearInterval(this._pinger);
    if (!ws) return;
    try {
      // Node's `ws` can drop a dead socket at once instead of waiting for a closing handshake.
      if (!graceful && typeof ws.terminate === 'function') ws.terminate();
      else ws.close(1000);
    } catch {
      // already closed
    }
  }

  /** The socket is gone: report it and schedule the next attempt. */
  _lost(code, reason) {
    this._dropSocket(false);
    if (this._closed) return;
    const { initialDelayMs = 500, maxDelayMs = 30000 } = this._opts;
    const bound = Math.min(maxDelayMs, initialDelayMs * 2 ** this._attempt);
    const delay = Math.round(Math.random() * bound); // full jitter
    this._attempt = Math.min(this._attempt + 1, 30);
    this._setStatus('closed', { code, reason, retryInMs: delay });
    this._timer = setTimeout(() => this._open(), delay);
  }

  _setStatus(status, info) {
    this.status = status;
    call(this._opts.onStatus, status, info);
  }

  _send(message) {
    try {
      this._ws?.send(JSON.stringify(message));
    } catch {
      // the socket is closing: the close event resubscribes everything
    }
  }

  _sendSubscribe(sub) {
    const { filters, events } = sub.options;
    const message = { type: 'subscribe', id: sub.id, topic: sub.topic };
    if (filters && Object.keys(filters).length) message.filters = filters;
    if (events) message.events = events;
    if (sub.lsn) message.since = sub.lsn;
    sub.resumed = Boolean(sub.lsn);
    this._send(message);
  }

  _startPinging() {
    const every = this._opts.pingEveryMs ?? 25000;
    if (!every) return;
    this._silent = false;
    this._pinger = setInterval(() => {
      if (this._silent) return this._lost(4000, 'no answer to ping');
      this._silent = true;
      this._send({ type: 'ping' });
    }, every);
  }

  _clientError(code, message) {
    call(this._opts.onError, { code, message });
  }

  // --- frames ---

  _frame(f) {
    this._silent = false;
    if (typeof f !== 'object' || f === null) return;
    // `seq` numbers this connection's subscription frames 1, 2, 3...; a jump means frames were
    // lost, so every subscription must start over. (Frames with seq 0 stand outside the count.)
    if (typeof f.seq === 'number' && f.seq > 0) {
      const expected = this._seq + 1;
      this._seq = f.seq;
      const resetsAll = f.type === 'reset' && f.id == null;
      if (f.seq !== expected && !resetsAll) {
        this._resetAll(f.lsn, `frames were lost (seq ${f.seq}, expected ${expected})`);
      }
    }
    const sub = f.id == null ? undefined : this._subs.get(f.id);
    switch (f.type) {
      case 'hello':
        this.hello = f;
        // A connection opened during an outage is told so right after hello.
        this._setDegraded(null);
        this._ready = true;
        this._attempt = 0;
        if (f.version !== PROTOCOL_VERSION) {
          const message = `the server speaks protocol ${f.version}, this client ${PROTOCOL_VERSION}`;
          this._clientError('unsupported_version', message);
        }
        this._setStatus('open', f);
        this._startPinging();
        for (const s of this._subs.values()) this._sendSubscribe(s);
        break;
      case 'subscribed':
        // A fresh subscription starts at the server's position; a resumed one keeps its own LSN
        // until the replayed events move it.
        if (!sub) break;
        if (!sub.resumed) sub.lsn = f.lsn;
        call(sub.options.onSubscribed, { lsn: f.lsn, resumed: sub.resumed });
        break;
      case 'event':
        if (!sub) break;
        sub.lsn = f.lsn;
        call(sub.options.onEvent, f.event, f);
        break;
      case 'degraded':
        this._setDegraded({ since: f.since, reason: f.reason });
        break;
      case 'reset':
        if (f.id == null || this.degraded) this._setDegraded(null);
        if (f.id == null) this._resetAll(f.lsn, f.reason);
        else if (sub) this._reset(sub, f.lsn, f.reason);
        break;
      case 'revoked':
        if (!sub) break;
        this._subs.delete(f.id);
        call(sub.options.onRevoked, { lsn: f.lsn, reason: f.reason });
        break;
      case 'error':
        if (f.id == null) this._clientError(f.code, f.message);
        else if (sub) {
          this._subs.delete(f.id); // refused: the server holds no such subscription
          call(sub.options.onError, { code: f.code, message: f.message });
        }
        break;
      default: // unsubscribed, pong
    }
  }

  _setDegraded(value) {
    if (!value && !this.degraded) return;
    this.degraded = value;
    call(this._opts.onDegraded, value);
  }

  _reset(sub, lsn, reason) {
    if (lsn && sub.resetAt === lsn) return; // already told to refetch from here
    sub.resetAt = lsn;
    if (lsn) sub.lsn = lsn;
    call(sub.options.onReset, { lsn: sub.lsn, reason });
  }

  _resetAll(lsn, reason) {
    for (const sub of [...this._subs.values()]) this._reset(sub, lsn, reason);
  }
}

/**
 * Compares two LSNs (`16/B374D848`): negative, 0 or positive, like a sort comparator. LSNs must
 * be compared as numbers, never as strings.
 * @param {string} a
 * @param {string} b
 * @returns {number}
 */
export function compareLsn(a, b) {
  const value = (lsn) => {
    const [hi, lo] = lsn.split('/');
    return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
  };
  const d = value(a) - value(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/** Builds the WebSocket URL from `url` and the token. */
function socketUrl(url, token) {
  const page = globalThis.location?.href;
  if (!url && !page) throw new TypeError('platica-client: pass connect({ url }) outside a browser');
  const u = new URL(url ?? '/api/v1/ws', page);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.pathname === '/') u.pathname = '/api/v1/ws';
  if (token) u.searchParams.set('token', token);
  return u.href;
}

/** Calls an application callback; an exception in it is rethrown later, not in the client. */
function call(fn, ...args) {
  if (typeof fn !== 'function') return;
  try {
    fn(...args);
  } catch (e) {
    setTimeout(() => {
      throw e;
    });
  }
}
