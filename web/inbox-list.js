// The inbox's rows in order, with no DOM: what a keyset page loads, what a live `upsert` or
// `remove` changes, which live frames that arrived while a page was loading still apply, and the
// order frozen while someone selects rows. Pure, so `node --test tests/web` checks it; `inbox.js`
// renders it.

/**
 * Whether `a` comes before `b` in the server's order for `sort`: `latest` (newest first, ties by
 * higher id), `waiting` (longest waiting first: oldest first, ties by lower id) or `unread_first`
 * (rows with unread messages first, each part newest first).
 */
export function before(a, b, sort = 'latest') {
  if (sort === 'unread_first') {
    const ua = a.unread_count > 0;
    const ub = b.unread_count > 0;
    if (ua !== ub) return ua;
  }
  const ta = Date.parse(a.last_activity_at);
  const tb = Date.parse(b.last_activity_at);
  if (sort === 'waiting') {
    if (ta !== tb) return ta < tb;
    return a.conversation_id < b.conversation_id;
  }
  if (ta !== tb) return ta > tb;
  return a.conversation_id > b.conversation_id;
}

/**
 * An empty list. `compareLsn(a, b)` orders two LSNs (`'0/16B3748'`), as the realtime client
 * exports it; it decides which buffered frames are newer than a loaded page.
 */
export function createInboxList(compareLsn, sort = 'latest') {
  const list = {
    sort, // the order rows keep (see `before`); `setSort` changes it with the filters
    rows: new Map(), // conversation_id -> row
    order: [], // conversation ids, newest first
    cursor: null,
    hasMore: false,
    counts: { total: 0, unread: 0 },
    buffered: null, // live frames received while a first page loads, or null
    // While frozen (selecting rows for bulk reassignment) no row moves under the pointer: rows
    // shown keep their place with their content kept current, removed ones stay as `gone`,
    // new ones wait; the events are held and replayed in order by `thaw`.
    frozen: false,
    held: [],
    gone: new Set(), // conversation ids removed while frozen
    fresh: new Set(), // conversation ids that came or moved while frozen: the "N new" pill
    placedAt: new Map(), // conversation id -> last_activity_at when frozen

    /** Forgets every row (new filters); a frozen order stays frozen, with nothing held. */
    clear() {
      list.rows.clear();
      list.order = [];
      list.cursor = null;
      list.hasMore = false;
      list.held = [];
      list.gone.clear();
      list.fresh.clear();
      list.placedAt.clear();
    },

    /** Another order: the rows are forgotten (a new page comes in the new order). */
    setSort(next) {
      list.sort = next || 'latest';
      list.clear();
    },

    /** Stops rows moving: later events change rows in place or wait (see `frozen`). */
    freeze() {
      if (list.frozen) return;
      list.frozen = true;
      list.placedAt = new Map(list.order.map((id) => [id, list.rows.get(id).last_activity_at]));
    },

    /** Applies what was held, in order, and lets rows move again. Returns the ids now on top. */
    thaw() {
      if (!list.frozen) return [];
      list.frozen = false;
      const held = list.held;
      list.held = [];
      list.gone.clear();
      list.fresh.clear();
      list.placedAt.clear();
      const flashed = [];
      for (const event of held) {
        const top = list.apply(event);
        if (top != null) flashed.push(top);
      }
      return flashed;
    },

    /** How many conversations came or moved while frozen. */
    freshCount() {
      return list.fresh.size;
    },

    /** A first page is on its way: live frames are kept until it arrives. */
    startLoad() {
      list.buffered = [];
    },

    /** Keeps `frame` if a page is loading; false when it should be applied at once. */
    buffer(frame) {
      if (!list.buffered) return false;
      list.buffered.push(frame);
      return true;
    },

    /**
     * The first page `body` (`items`, `next_cursor`, `total`, `unread`), read at `readAt` (its
     * `Platica-Lsn`, or null): it replaces the rows, then the frames buffered meanwhile that are
     * newer than it apply. Returns the ids that moved to the top.
     */
    finishLoad(body, readAt) {
      list.rows = new Map(body.items.map((row) => [row.conversation_id, row]));
      list.order = body.items.map((row) => row.conversation_id);
      if (list.frozen) {
        // A new page is the new frozen order: nothing held before it still applies.
        list.held = [];
        list.gone.clear();
        list.fresh.clear();
        list.placedAt = new Map(list.order.map((id) => [id, list.rows.get(id).last_activity_at]));
      }
      list.cursor = body.next_cursor ?? null;
      list.hasMore = Boolean(body.next_cursor);
      list.counts = { total: body.total, unread: body.unread };
      const later = (list.buffered ?? []).filter((f) => !readAt || compareLsn(f.lsn, readAt) > 0);
      list.buffered = null;
      const flashed = [];
      for (const f of later) {
        const top = list.apply(f.event);
        if (top != null) flashed.push(top);
      }
      return flashed;
    },

    /** The first page failed: frames are applied as they come again. */
    failLoad() {
      list.buffered = null;
    },

    /** A further page: rows not already held go at the end. */
    appendPage(page) {
      for (const row of page.items) {
        if (!list.rows.has(row.conversation_id)) {
          list.rows.set(row.conversation_id, row);
          list.order.push(row.conversation_id);
          if (list.frozen) list.placedAt.set(row.conversation_id, row.last_activity_at);
        }
      }
      list.cursor = page.next_cursor ?? null;
      list.hasMore = Boolean(page.next_cursor);
    },

    /**
     * One live event (`upsert` with its row, `remove` with its id, either with the viewer's new
     * `counts`). Returns the id of a row that came to the top from elsewhere, else null.
     */
    apply(event) {
      if (event.counts) list.counts = event.counts;
      if (list.frozen) {
        list.held.push(event);
        if (event.kind === 'upsert') {
          const id = event.row.conversation_id;
          if (list.rows.has(id)) {
            list.rows.set(id, event.row);
            list.gone.delete(id); // back again (moved away and back)
          }
          if (list.placedAt.get(id) !== event.row.last_activity_at) list.fresh.add(id);
          else list.fresh.delete(id);
        } else if (event.kind === 'remove') {
          if (list.rows.has(event.conversation_id)) list.gone.add(event.conversation_id);
          list.fresh.delete(event.conversation_id);
        }
        return null;
      }
      if (event.kind === 'upsert') {
        const row = event.row;
        const id = row.conversation_id;
        list.order = list.order.filter((x) => x !== id);
        // Beyond the loaded pages it will come with a later page.
        const last = list.order.length ? list.rows.get(list.order[list.order.length - 1]) : null;
        if (list.hasMore && last && !before(row, last, list.sort)) {
          list.rows.delete(id);
          return null;
        }
        const wasTop = list.order[0];
        list.rows.set(id, row);
        let i = 0;
        while (i < list.order.length && before(list.rows.get(list.order[i]), row, list.sort)) i++;
        list.order.splice(i, 0, id);
        return i === 0 && wasTop !== id ? id : null;
      }
      if (event.kind === 'remove') {
        list.rows.delete(event.conversation_id);
        list.order = list.order.filter((x) => x !== event.conversation_id);
      }
      return null;
    },
  };
  return list;
}
