/**
 * What a `redirect` says and the URLs around it: matchmaking put us in a room on another
 * process, whose `ws://` URL opens with the seat token it reserved (`?seat=`). How the
 * connection follows one, and falls back when the seat cannot be had, is in `connection.js`.
 */

/** Redirects followed in one join attempt before giving up (a loop between processes). */
export const MAX_REDIRECTS = 3;

/** How long a redirect's seat is held when it does not say (`expires_in`), ms. */
export const DEFAULT_SEAT_MS = 5000;

/** `url` with the seat token of a `redirect` appended as `seat=` (URL-encoded). */
export function withSeat(url, token) {
  return `${url}${url.includes('?') ? '&' : '?'}seat=${encodeURIComponent(token)}`;
}

/** The host name of a ws(s) URL (no port: cookies are per host, not per port), or null. */
export function hostOf(url) {
  const match = /^[a-z][a-z0-9+.-]*:\/\/(\[[^\]]*\]|[^/:?#]*)/i.exec(String(url));
  return match ? match[1].toLowerCase() : null;
}

/**
 * The redirect `msg` as `{url, seat, room, expiresMs}`, or null when it cannot be followed
 * (no ws(s) URL or no seat token).
 */
export function readRedirect(msg) {
  const url = typeof msg.url === 'string' && /^wss?:\/\//i.test(msg.url) ? msg.url : null;
  if (!url || typeof msg.seat !== 'string' || !msg.seat) return null;
  const expiresMs = Number(msg.expires_in) > 0 ? Number(msg.expires_in) * 1000 : DEFAULT_SEAT_MS;
  return { url, seat: msg.seat, room: msg.room ?? null, expiresMs };
}
