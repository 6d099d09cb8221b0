/**
 * The /play page's seat across a reload: the `resume` token of the last `joined`, kept in this
 * tab's sessionStorage for this very page (path and query) for ten minutes. Without storage a
 * reload just joins afresh.
 */

const RESUME_KEY = 'arena.resume'; // sessionStorage: a reload of this page gets its seat back
const RESUME_MAX_AGE_MS = 10 * 60 * 1000;

function here() {
  return window.location.pathname + window.location.search;
}

/** The resume token saved by this tab for this very page, if recent. */
export function loadResume() {
  try {
    const saved = JSON.parse(window.sessionStorage.getItem(RESUME_KEY) || 'null');
    if (saved && saved.page === here() && Date.now() - saved.at < RESUME_MAX_AGE_MS) return saved.token;
  } catch {
    // storage disabled or garbage: just join
  }
  return null;
}

/** Save `token` (from `joined`) for a reload of this page; null forgets it. */
export function saveResume(token) {
  try {
    if (token) window.sessionStorage.setItem(RESUME_KEY, JSON.stringify({ token, page: here(), at: Date.now() }));
    else window.sessionStorage.removeItem(RESUME_KEY);
  } catch {
    // storage disabled: a reload joins afresh
  }
}
