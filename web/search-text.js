// Pure helpers of the global search (no DOM): its route and a snippet's runs of text.

/** The route of a search for `q` (`#/search/<q, URI-encoded>`; `#/search` when empty). */
export function searchHash(q) {
  const text = String(q ?? '').trim();
  return text ? `#/search/${encodeURIComponent(text)}` : '#/search';
}

/** The query of a search route's part after `search/` (`''` when absent or malformed). */
export function searchQuery(part) {
  if (!part) return '';
  try {
    return decodeURIComponent(part);
  } catch {
    return '';
  }
}

/** A snippet from the server (`[{text, hit}]`) as runs to show: strings only, neighbours of the
 * same kind joined, empty ones and anything malformed dropped. */
export function snippetRuns(snippet) {
  const out = [];
  for (const s of Array.isArray(snippet) ? snippet : []) {
    if (!s || typeof s.text !== 'string' || s.text === '') continue;
    const hit = s.hit === true;
    const last = out[out.length - 1];
    if (last && last.hit === hit) last.text += s.text;
    else out.push({ text: s.text, hit });
  }
  return out;
}
