// The realtime connection of this tab (one WebSocket, through /static/platica-client.js), the
// connection banner, and the web version check (app_version in system_config).
import { connect } from '/static/platica-client.js';

let client = null;
let loadedVersion; // the app_version this page was loaded under (undefined until the first hello)
const statusListeners = new Set();
const versionListeners = new Set();
const degradedListeners = new Set();
let degraded = null;
let status = 'connecting';

export function liveClient() {
  return client;
}

export function liveStatus() {
  return status;
}

/** fn(status) on 'connecting' | 'open' | 'closed'. */
export function onLiveStatus(fn) {
  statusListeners.add(fn);
  return () => statusListeners.delete(fn);
}

/** The server's live updates are paused (`{ since, reason }`) or back (`null`). */
export function liveDegraded() {
  return degraded;
}

/** fn(degraded) when live updates pause (`{ since, reason }`) or come back (`null`). */
export function onLiveDegraded(fn) {
  degradedListeners.add(fn);
  return () => degradedListeners.delete(fn);
}

/** fn({ version, force_update }) when a newer web version than this page's is published. */
export function onNewVersion(fn) {
  versionListeners.add(fn);
  return () => versionListeners.delete(fn);
}

// A version this tab is publishing itself (admin settings): it is not reloaded under the admin's
// own request; it offers the reload like an unforced version instead.
let publishingVersion = null;

/** Marks `version` as being published from this tab (see `versionSeen`). */
export function publishing(version) {
  publishingVersion = version;
}

function versionSeen(value) {
  const version = value?.version ?? null;
  if (loadedVersion === undefined) {
    loadedVersion = version;
    return;
  }
  if (version === loadedVersion || version === null) return;
  if (value.force_update && version !== publishingVersion) {
    location.reload();
    return;
  }
  for (const fn of versionListeners) fn(value);
}

/** Opens the tab's connection (after login). */
export function startLive() {
  if (client) return client;
  // No token: the browser sends the HttpOnly session cookie set at login with the upgrade (from
  // this server's own pages only), so the token never shows in a URL, a log or the history.
  client = connect({
    onStatus: (s, info) => {
      status = s;
      if (s === 'open') versionSeen(info?.app_version ?? null);
      for (const fn of statusListeners) fn(s, info);
    },
    onDegraded: (value) => {
      degraded = value;
      for (const fn of degradedListeners) fn(value);
    },
  });
  client.subscribe('system', {
    onEvent: (e) => {
      if (e.table === 'system_config' && e.row?.key === 'app_version' && e.op !== 'delete') versionSeen(e.row.value);
    },
  });
  return client;
}

/** Closes the connection (logout). */
export function stopLive() {
  client?.close();
  client = null;
  loadedVersion = undefined;
  degraded = null;
}

/**
 * A refetch for live events: `fn` runs `ms` after the last of a burst of calls (one read for a
 * burst). One read is enough: the server sends an event only once its commit is visible to new
 * reads. `.cancel()` stops it.
 */
export function refetcher(fn, ms = 120) {
  let timer = null;
  const run = () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
  run.cancel = () => clearTimeout(timer);
  return run;
}
