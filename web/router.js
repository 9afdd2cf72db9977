// Hash routes: `#/inbox`, `#/c/<id>[/m/<message id>]`, `#/search/<q>`, `#/calls`, `#/tickets[/<id>]`, `#/campaigns[/<id>]`,
// `#/admin/<tab>`. The shell (main.js) registers the one handler; screens only navigate.
let handler = () => {};

/** Registers what runs on every route change. */
export function onRoute(fn) {
  handler = fn;
  window.addEventListener('hashchange', () => handler());
}

/** Goes to `hash`; going to the current hash runs the route again. */
export function navigate(hash) {
  if (location.hash === hash) handler();
  else location.hash = hash;
}

/** The current route's parts (`#/tickets/12` -> `['tickets', '12']`). */
export function currentRoute() {
  return location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
}
