/**
 * The Arena browser SDK: one object for any game on an Arena server. Log in (or play as a
 * guest) over the JSON API, connect, then quick play, create a room with options (private ones
 * are joined by the short code `joined` carries), join by code, send the game's messages and
 * listen to what comes back. Reconnecting after a drop, getting the seat back (`resume`) and
 * following redirects to other processes are built in (`../net/connection.js`).
 *
 *   const arena = new Arena();
 *   arena.onState((view) => draw(view));
 *   arena.on('reveal', (msg) => show(msg.hands));
 *   arena.connect().join({ mode: 'dice', options: { dice: 3 } });
 *   arena.send('bid', { count: 2, face: 5 });
 *
 * A page whose address names a replay (`/replays/<id>`, `?replay=<id>`) gets the recorded
 * match instead of a socket, fed to the same callbacks on a clock with controls (`replay.js`).
 *
 * No DOM: fetch, WebSocket, location and the resume store are injectable, so it runs under Node.
 */

import { Connection, socketUrl } from '../net/connection.js';
import { replaySource } from './replay.js';
import { Handlers } from '../net/handlers.js';

/** A refused HTTP call: `status`, the API's `code` (e.g. `username_taken`) and its message. */
export class ArenaError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ArenaError';
    this.status = status;
    this.code = code;
  }
}

/**
 * What to tell a player about a `left` it did not ask for: the game's words when it kicked the
 * player (`kicked`) or closed the room (`closed`), else null (a `leave`, a shutdown, whose
 * notice comes with `server_closing`, or a failed room, which is joined again).
 */
export function leftText(msg) {
  const why = typeof msg?.message === 'string' && msg.message ? msg.message : null;
  if (msg?.reason === 'kicked') return `You were removed from the room${why ? `: ${why}` : '.'}`;
  if (msg?.reason === 'closed') return `The room was closed${why ? `: ${why}` : '.'}`;
  return null;
}

/**
 * Whether the page's address asks to watch rather than play (`watch=1` next to `room=ID` or
 * `code=C`): spectators get the public view and send nothing (the lobby's "Watch" links).
 */
export function watchingFrom(params) {
  const watch = params?.get?.('watch');
  return (watch === '1' || watch === 'true') && Boolean(params.get('room') || params.get('code'));
}

/** "1 spectator", "3 spectators": the count a watching page shows next to its badge. */
export function spectatorsText(count) {
  const n = Number(count) || 0;
  return `${n} spectator${n === 1 ? '' : 's'}`;
}

/**
 * The view a state message carries: a `joined`'s `state`, a resync's `full`, or the state's
 * own fields without `type`, `tick` and `ts` (a whole view for turn-based games; the changes
 * since the last state for the arena game, which reads `on('state')` instead).
 */
export function viewOf(msg) {
  if (msg.type === 'joined') return msg.state ?? null;
  if (msg.full && typeof msg.full === 'object') return msg.full;
  const { type: _type, tick: _tick, ts: _ts, ...view } = msg;
  return view;
}

export class Arena {
  /**
   * `base`: the server's http(s) origin ('' is this page's); `url` its WebSocket (default:
   * derived from `base` or the page's location); `resume`: where the seat's token is kept
   * across a reload, `{load() -> token|null, save(token|null)}`; `connection`: options for
   * the Connection (timers, WebSocket class...); `replay`: false to ignore a replay in the
   * address, or options for the replay (`controls: false`: no control bar).
   */
  constructor({
    base = '',
    url = null,
    fetchImpl = globalThis.fetch?.bind(globalThis),
    location = globalThis.location,
    resume = null,
    connection = {},
    replay = {},
  } = {}) {
    this.base = base;
    this.fetch = fetchImpl;
    // A replay's source (null when live): the recording stands in for the socket.
    this.replay = replay === false ? null : replaySource({ location, base, fetchImpl, ...replay, options: connection });
    this.resumeStore = this.replay ? null : resume; // a replay holds no seat (and must not drop ours)
    this.connection = this.replay ?? new Connection({ url: url ?? wsUrl(base, location), ...connection });
    this.joined = null; // the last `joined` (room, mode, player, code...), null when out
    this.state = null; // the last view (see viewOf)
    this.everJoined = false; // seated at least once: a join failing now means the room is gone
    this.spectators = 0; // how many watch the room (sent to spectators as it changes)
    this._xsrf = null;
    this._handlers = new Handlers();
    this._listen();
  }

  // -- accounts (HTTP, JSON with the XSRF token) ---------------------------------------------

  /** Register an account and log in as it; resolves to the user. */
  async register(username, password) {
    return (await this._post('/api/register', { username, password })).user;
  }

  async login(username, password) {
    return (await this._post('/api/login', { username, password })).user;
  }

  /** Play as a guest named `name`; resolves to the user. */
  async guest(name) {
    return (await this._post('/api/guest', { name })).user;
  }

  async logout() {
    this.close();
    await this._post('/api/logout', {});
  }

  /** The logged-in user, or null without a session. */
  async me() {
    try {
      return (await this._get('/api/me')).user;
    } catch (err) {
      if (err instanceof ArenaError && err.status === 401) return null;
      throw err;
    }
  }

  /** The modes the server runs (`GET /api/modes`). */
  async modes() {
    return (await this._get('/api/modes')).modes;
  }

  /** Live rooms, filtered by mode and metadata: `rooms({mode: 'dice', status: 'waiting'})`. */
  async rooms(filters = {}) {
    const query = new URLSearchParams(filters).toString();
    return (await this._get(`/api/rooms${query ? `?${query}` : ''}`)).rooms;
  }

  /** A mode's leaderboard: `{mode, rule, leaderboard}`, or with `around: 'me'` your rank. */
  async leaderboard(mode, { around = null } = {}) {
    const query = new URLSearchParams({ mode });
    if (around) query.set('around', around);
    return this._get(`/api/leaderboard?${query}`);
  }

  // -- playing ------------------------------------------------------------------------------

  /** Open the game socket (kept open, reconnecting, until `close`). */
  connect() {
    this.connection.connect();
    return this;
  }

  /** Quick play in `mode` with matchmaking `options`, or join `room` (an id); `fields`: the
   * game's join fields (a team, a character: `GET /api/modes` lists them). */
  join({ mode = null, options = null, room = null, fields = null } = {}) {
    this.connection.join({ mode, options, room, fields, resume: this._loadResume() });
    return this;
  }

  /** Watch room `room` (an id) or the private room with `code` as a spectator: `joined` has
   * `spectator: true` and player 0, then the states' public part (maybe some seconds late, as
   * the server's `--spectate-delay` says); nothing may be sent but `leave`. */
  watch({ room = null, code = null } = {}) {
    this.connection.join({ room, code: code === null ? null : String(code), spectate: true });
    return this;
  }

  /** Whether we watch (joined as a spectator) rather than play. */
  get spectating() {
    return Boolean(this.joined?.spectator);
  }

  /** A new room of `mode` with `options`; `private` ones get a code (in `joined.code`). */
  create({ mode, options = null, private: isPrivate = false, fields = null }) {
    this.connection.join({ mode, options, fields, create: { private: isPrivate }, resume: this._loadResume() });
    return this;
  }

  /** Join the private room whose code a friend read out (any case, spaces and dashes). */
  joinByCode(code, { fields = null } = {}) {
    this.connection.join({ code: String(code), fields, resume: this._loadResume() });
    return this;
  }

  /** Send the game's message `{"type": type, ...body}`; false when not connected, and while
   * watching (a spectator sends no game messages: the page's keys do nothing). */
  send(type, body = {}) {
    if (this.spectating) return false;
    return this.connection.sendGame(type, body);
  }

  /** Leave the room for good (the seat is not held for a resume). */
  leave() {
    this._saveResume(null);
    return this.connection.leave();
  }

  /** Close the socket for good. */
  close() {
    this.connection.close();
  }

  get connected() {
    return this.connection.connected;
  }

  /** True when this page plays a recorded match (`replay` is its controls). */
  get replaying() {
    return this.replay !== null;
  }

  /** The clock `receivedAt` is on, ms: the page's, or in a replay the recording's (which
   * pauses and runs at the replay's speed): what a page's timers and interpolation read. */
  now() {
    return this.replay ? this.replay.now() : globalThis.performance.now();
  }

  get inRoom() {
    return this.connection.inRoom;
  }

  /** Our player id in the room, or null. */
  get player() {
    return this.joined?.player ?? null;
  }

  get room() {
    return this.joined?.room ?? null;
  }

  /** The private room's code, or null. */
  get code() {
    return this.joined?.code ?? null;
  }

  get mode() {
    return this.joined?.mode ?? this.connection.mode;
  }

  // -- callbacks (each returns its unsubscribe) -----------------------------------------------

  /** Every server message of `type` (a game's own, or `joined`, `state`, `chat`, `left`...). */
  on(type, fn) {
    return this._add(`msg:${type}`, fn);
  }

  /** The view after `joined` and after every state: `fn(view, msg, receivedAt)`. */
  onState(fn) {
    return this._add('state', fn);
  }

  /** Seated (also after a resume or a redirect): `fn(joined)`. */
  onJoined(fn) {
    return this._add('joined', fn);
  }

  /** Out of the room for good: `fn(left)` (`reason`: leave, kicked, closed, room_closed,
   * server_closing; with kicked and closed, the game's `message`: see `leftText`). */
  onLeft(fn) {
    return this._add('left', fn);
  }

  /** A refusal while in the room (a game's `not_your_turn`...) or a join that failed for good. */
  onError(fn) {
    return this._add('error', fn);
  }

  /**
   * The join failed for good and nothing more will be tried: a wrong code, a full or started
   * room, or (`wasSeated` true) the room we were in is gone, say after a server restart.
   * `fn({code, message, wasSeated})`; `joined` and `state` are null by then.
   */
  onJoinFailed(fn) {
    return this._add('joinfailed', fn);
  }

  onOpen(fn) {
    return this.connection.on('open', fn);
  }

  /** The socket closed: `fn(info)` with `retryInMs` (null: no retry), `replaced`... */
  onClose(fn) {
    return this.connection.on('close', fn);
  }

  /** The session is over (logged out here or elsewhere, or expired): log in again. */
  onLoggedOut(fn) {
    return this._add('loggedout', fn);
  }

  // -- internals -----------------------------------------------------------------------------

  _listen() {
    const c = this.connection;
    c.on('message', (msg, receivedAt) => {
      if (msg.type === 'joined') {
        this.joined = msg;
        this.everJoined = true;
        this.state = viewOf(msg);
        this._emit('joined', msg); // first: a page may change its URL, where the token is kept
        this._saveResume(msg.resume ?? null);
        this._emit('state', this.state, msg, receivedAt);
      } else if (msg.type === 'spectators') {
        this.spectators = Number(msg.count) || 0;
      } else if (msg.type === 'state') {
        this.state = viewOf(msg);
        this._emit('state', this.state, msg, receivedAt);
      } else if (msg.type === 'left') {
        this.joined = null;
        this._saveResume(null);
        this._emit('left', msg);
      } else if (msg.type === 'error' && c.inRoom) {
        this._emit('error', { code: msg.code, message: msg.message ?? '' });
      }
      this._emit(`msg:${msg.type}`, msg, receivedAt);
    });
    // A redirect's room is on another process: a token saved here means nothing there.
    c.on('redirect', () => this._saveResume(null));
    c.on('joinfailed', (info) => {
      // The old view is no room's any more: nothing may keep drawing it as if it were live.
      this.joined = null;
      this.state = null;
      this._saveResume(null);
      this._emit('error', { code: info.code, message: info.message });
      this._emit('joinfailed', { code: info.code, message: info.message ?? '', wasSeated: this.everJoined });
    });
    c.on('close', (info) => {
      if (info.sessionEnded) {
        this.joined = null;
        this._saveResume(null);
        this._emit('loggedout', info);
      } else if (!info.wasConnected && info.attempts >= 2) {
        this._checkSession();
      }
    });
  }

  async _checkSession() {
    // Connecting keeps failing: maybe the session expired (the upgrade answers 401).
    try {
      if ((await this.me()) === null) this._emit('loggedout', { sessionEnded: true });
    } catch {
      // the server is down: the connection keeps retrying
    }
  }

  _loadResume() {
    try {
      return this.resumeStore?.load() ?? null;
    } catch {
      return null;
    }
  }

  _saveResume(token) {
    try {
      this.resumeStore?.save(token);
    } catch {
      // no storage: a reload joins afresh
    }
  }

  async _get(path) {
    return this._request(path, { method: 'GET' });
  }

  async _post(path, body) {
    if (this._xsrf === null) this._xsrf = (await this._get('/api/xsrf')).xsrf;
    return this._request(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-XSRFToken': this._xsrf },
      body: JSON.stringify(body),
    });
  }

  async _request(path, init) {
    const response = await this.fetch(this.base + path, {
      credentials: 'same-origin',
      ...init,
      headers: { Accept: 'application/json', ...(init.headers || {}) },
    });
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) throw new ArenaError(response.status, data?.error ?? null, data?.message ?? null);
    return data ?? {};
  }

  _add(key, fn) {
    return this._handlers.on(key, fn);
  }

  _emit(key, ...args) {
    this._handlers.emit(key, ...args);
  }
}

/** The WebSocket URL of `base` (an http(s) origin), or of the page's own origin. */
function wsUrl(base, location) {
  if (base) return `${base.replace(/^http/i, 'ws').replace(/\/+$/, '')}/ws`;
  return socketUrl(location);
}
