// The inbox's rows in order, with no DOM: what a keyset page loads, what a live `upsert` or
// `remove` changes, and which live frames that arrived while a page was loading still apply.
// Pure, so `node --test tests/web` checks it; `inbox.js` renders it.

/** Newest first, ties by id (the server's order): whether `a` comes before `b`. */
export function before(a, b) {
  const ta = Date.parse(a.last_activity_at);
  const tb = Date.parse(b.last_activity_at);
  if (ta !== tb) return ta > tb;
  return a.conversation_id > b.conversation_id;
}

/**
 * An empty list. `compareLsn(a, b)` orders two LSNs (`'0/16B3748'`), as the realtime client
 * exports it; it decides which buffered frames are newer than a loaded page.
 */
export function createInboxList(compareLsn) {
  const list = {
    rows: new Map(), // conversation_id -> row
    order: [], // conversation ids, newest first
    cursor: null,
    hasMore: false,
    counts: { total: 0, unread: 0 },
    buffered: null, // live frames received while a first page loads, or null

    /** Forgets every row (new filters). */
    clear() {
      list.rows.clear();
      list.order = [];
      list.cursor = null;
      list.hasMore = false;
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
      if (event.kind === 'upsert') {
        const row = event.row;
        const id = row.conversation_id;
        list.order = list.order.filter((x) => x !== id);
        // Beyond the loaded pages it will come with a later page.
        const last = list.order.length ? list.rows.get(list.order[list.order.length - 1]) : null;
        if (list.hasMore && last && !before(row, last)) {
          list.rows.delete(id);
          return null;
        }
        const wasTop = list.order[0];
        list.rows.set(id, row);
        let i = 0;
        while (i < list.order.length && before(list.rows.get(list.order[i]), row)) i++;
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
