/**
 * The game's WebSocket: JSON text frames, a ping every second for the round-trip time, and
 * reconnecting with backoff after a drop, then getting back in: the held seat (`resume` token),
 * else the same room, else the same mode. Matchmaking may answer `redirect` (the room is on
 * another process): the socket moves to the redirect's URL with its seat token, and from then
 * on that URL is where pings, inputs and reconnects go (what a redirect says, and its seat
 * URLs: `redirects.js`). The WebSocket class, clock and timers are injectable so it runs under
 * Node.
 */

import { CloseCode } from './closes.js';
import { decode, messages } from './protocol.js';
import { MAX_REDIRECTS, hostOf, readRedirect, withSeat } from './redirects.js';
import { Handlers } from './handlers.js';

/** `ws(s)://host/ws` for the page's location (same origin; the browser sends the cookie). */
export function socketUrl(location) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

/** Backoff before reconnect attempt `attempt` (0-based): doubling, capped, +-20% jitter. */
export function backoffDelay(attempt, { minMs = 500, maxMs = 8000, random = Math.random } = {}) {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 20));
  return Math.round(base * (0.8 + 0.4 * random()));
}

const OPEN = 1;

/** Answers to a spectator's join that no retry would change (watching never falls back to
 * matchmaking: a spectator asked for that room). */
const SPECTATE_REFUSALS = new Set(['room_not_found', 'spectators_full', 'room_closed', 'bad_field', 'not_a_player']);

/** Answers to a join by room id after which matchmaking in the same mode is tried instead. */
const ROOM_REFUSALS = new Set(['room_not_found', 'room_full', 'room_locked', 'join_refused']);

/** Answers to a join by code, a create or a join by mode that no retry would change. */
const JOIN_REFUSALS = new Set([
  'room_not_found', 'room_full', 'room_locked', 'join_refused', 'unknown_mode', 'bad_field',
  'out_of_range',
]);

export class Connection {
  constructor({
    url,
    WebSocketImpl = globalThis.WebSocket,
    pingIntervalMs = 1000,
    silenceMs = 5000,
    minBackoffMs = 500,
    maxBackoffMs = 8000,
    now = () => globalThis.performance.now(),
    setTimer = (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimer = (id) => globalThis.clearTimeout(id),
    random = Math.random,
    maxRedirects = MAX_REDIRECTS,
    unavailableRetryMs = 3000,
    awayAttempts = 3,
  } = {}) {
    this.homeUrl = url; // where this page's server is; seat_invalid and dead hosts lead back here
    this.url = url; // the server we talk to now: homeUrl, or where a redirect sent us
    this.WebSocketImpl = WebSocketImpl;
    this.pingIntervalMs = pingIntervalMs;
    this.silenceMs = silenceMs;
    this.minBackoffMs = minBackoffMs;
    this.maxBackoffMs = maxBackoffMs;
    this.now = now;
    this.setTimer = setTimer;
    this.clearTimer = clearTimer;
    this.random = random;
    this.maxRedirects = maxRedirects;
    this.unavailableRetryMs = unavailableRetryMs;
    this.awayAttempts = awayAttempts; // failed reconnects to a redirected server before going home

    this.socket = null;
    this.connected = false;
    this.rtt = null; // smoothed round-trip time, ms
    this.lastRtt = null;
    this.attempts = 0; // failed connects since the last successful join
    this.target = null; // what join() asked for: {mode, room, code, options, create}
    this.room = null; // the room we are (or were, before a drop) in
    this.mode = null;
    this.code = null; // the private room's code: how it is joined again (not by its id)
    this.options = null; // matchmaking options for a join by mode
    this.fields = null; // the game's join fields (a team, a character), for every join
    this.create = null; // {private} while a room of ours is still to be created
    this.resume = null; // token from the last `joined`: gets the seat back after a drop
    this.inRoom = false;
    this.spectate = false; // watching the room (join with `spectate`), not playing in it
    this.replaced = false; // closed with 4001: another tab plays now; no reconnect
    this.sessionEnded = false; // closed with 4003: logged out (maybe elsewhere); no reconnect
    this.redirects = 0; // redirects followed in the current join attempt
    this.redirected = 0; // redirects followed in all
    this._joining = null; // 'seat' | 'resume' | 'room' | 'mode' while a join is unanswered
    this._redirect = null; // {url, seat, room, from, fromSeat} while a redirect's seat is claimed
    this._authSeat = null; // the seat token that opens sockets at `url` (a host without our cookie)
    this._seatTimer = null;
    this._joinTimer = null;
    this._awayFailures = 0;
    this._handlers = new Handlers();
    this._pingId = 0;
    this._pings = new Map();
    this._pingTimer = null;
    this._retryTimer = null;
    this._lastHeard = 0;
    this._stopped = true;
  }

  /**
   * Subscribe to 'open', 'close', 'message', 'rtt', 'joined', 'left', 'redirect' (following
   * one: {url, room, redirects}), 'fallback' (back to the server that redirected us, or home:
   * {reason, url}) and 'joinfailed' ({code, message}: too many redirects, or a refusal no retry
   * changes: a wrong code, bad options, an unknown mode); returns unsubscribe.
   */
  on(type, fn) {
    return this._handlers.on(type, fn);
  }

  /** Open the socket (and keep it open until `close`). */
  connect() {
    this._stopped = false;
    this.replaced = false;
    this.sessionEnded = false;
    this._open();
  }

  /**
   * Join room `room` (falling back to matchmaking in `mode`, default arena, if that room does
   * not exist or is full or locked), or the private room with `code` (no fallback: a refusal
   * ends in 'joinfailed'), or with `create` ({private}) a new room of `mode`, or else matchmake
   * in `mode` with `options`; `resume`, a token from an earlier `joined`, is tried first. Now if
   * connected, and again after every reconnect (a created room is then joined again by its id,
   * or by its code when it is private).
   */
  join({ mode = null, room = null, resume = null, code = null, options = null, create = null, fields = null, spectate = false } = {}) {
    this.spectate = Boolean(spectate) && Boolean(room || code); // watch, not play (no seat)
    this.target = {
      mode: mode || null,
      room: room || null,
      code: code || null,
      options: options || null,
      create: create ? { private: Boolean(create.private) } : null,
    };
    this.fields = fields || null; // the game's join fields: sent with every join but a resume
    this.room = room || null;
    this.mode = mode || null;
    this.code = code || null;
    this.options = options || null;
    this.create = this.target.create;
    this.resume = resume || null;
    this.redirects = 0;
    if (this.connected && !this.inRoom && !this._redirect) this._sendJoin();
  }

  /** Send a game message `{"type": type, ...body}`; false when not connected. */
  sendGame(type, body = {}) {
    return this.send(messages.game(type, body));
  }

  /** Send a message object (or a prebuilt JSON string); false when not connected. */
  send(msg) {
    if (!this.connected || !this.socket) return false;
    try {
      this.socket.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
      return true;
    } catch {
      return false;
    }
  }

  sendInput(seq, dx, dy) {
    return this.send(messages.input(seq, dx, dy));
  }

  /** Chat to the room, or with `scope` 'global' to every player of every process. */
  sendChat(text, { scope = 'room' } = {}) {
    return this.send(messages.chat(text, scope));
  }

  sendGlobalChat(text) {
    return this.sendChat(text, { scope: 'global' });
  }

  /** Leave the room and do not re-join it. */
  leave() {
    this.spectate = false;
    this.target = null;
    this.room = null;
    this.code = null;
    this.create = null;
    this.resume = null;
    return this.send(messages.leave());
  }

  /** Close for good: no reconnect. */
  close() {
    this._stopped = true;
    this.clearTimer(this._retryTimer);
    this._retryTimer = null;
    this._forgetRedirect();
    this._drop(CloseCode.NORMAL, 'closed by client', false);
  }

  // -- socket lifecycle ------------------------------------------------------------------------

  /** The URL to open now: the redirect's with its seat, else the current server's. */
  openUrl() {
    if (this._redirect) return withSeat(this._redirect.url, this._redirect.seat);
    if (this._authSeat) return withSeat(this.url, this._authSeat);
    return this.url;
  }

  _open() {
    this.clearTimer(this._retryTimer);
    this._retryTimer = null;
    let socket;
    try {
      socket = new this.WebSocketImpl(this.openUrl());
    } catch {
      if (this._redirect) this._fallBack('cannot open socket');
      else this._scheduleReconnect(CloseCode.ABNORMAL, 'cannot open socket');
      return;
    }
    this.socket = socket;
    socket.onopen = () => this._onOpen(socket);
    socket.onmessage = (event) => this._onMessage(socket, event);
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      const code = event.code ?? CloseCode.ABNORMAL;
      if (code === CloseCode.REPLACED) {
        // This account opened a newer game connection (another tab or window): reconnecting
        // would take it back, and that one would do the same.
        this.replaced = true;
        this._stopped = true;
      } else if (code === CloseCode.SESSION_ENDED) {
        // Logged out (here or on another process): every reconnect would be refused.
        this.sessionEnded = true;
        this._stopped = true;
      } else if (this._redirect) {
        // The redirect's server did not seat us: matchmake again where we came from.
        this._fallBack(`closed with ${code}`);
        return;
      }
      if (this._stopped) this._forgetRedirect();
      this._drop(code, event.reason ?? '', !this._stopped);
    };
    socket.onerror = () => {}; // a close event always follows
  }

  _onOpen(socket) {
    if (socket !== this.socket) return;
    this.connected = true;
    this.inRoom = false;
    this._awayFailures = 0;
    this._lastHeard = this.now();
    this._emit('open');
    this._ping();
    this._pingTimer = this._every(this.pingIntervalMs, () => this._tick());
    if (this.target || this._redirect) this._sendJoin();
  }

  _onMessage(socket, event) {
    if (socket !== this.socket) return;
    const receivedAt = this.now();
    this._lastHeard = receivedAt;
    if (typeof event.data !== 'string') return;
    const msg = decode(event.data);
    if (!msg) return;
    switch (msg.type) {
      case 'pong':
        this._onPong(msg, receivedAt);
        break;
      case 'joined':
        if (this._redirect) {
          // Seated on the redirect's server: it is ours now. Its host has none of our cookies
          // unless it is the page's host, so its seat token opens sockets there after a drop.
          const { url, seat } = this._redirect;
          this._authSeat = hostOf(url) === hostOf(this.homeUrl) ? null : seat;
          this._forgetRedirect();
        }
        this.redirects = 0;
        this.room = msg.room ?? null;
        this.mode = msg.mode ?? this.mode;
        // A private room is joined again by its code, never its id (a spectator's `joined`
        // carries no code: it keeps the one it watched by).
        this.code = msg.code ?? (this.spectate ? this.code : null);
        this.create = null; // created: after a drop, join it again rather than make another
        this.resume = msg.resume ?? null;
        this.inRoom = true;
        this._joining = null;
        this.attempts = 0;
        break;
      case 'left':
        // Out of the room for good: the seat cannot be resumed any more.
        this.inRoom = false;
        this.resume = null;
        if (msg.reason === 'room_closed' && this.target) {
          if (this.spectate) {
            // The room watched closed: there is nothing else to watch.
            this._giveUp({ code: 'room_closed', message: 'the room was closed' });
          } else if (this.code) {
            // A private table failed: its players are not sent to strangers' tables.
            this._giveUp({ code: 'room_closed', message: 'the private room was closed' });
          } else {
            // The room failed: matchmake into another room of the same mode.
            this.room = null;
            this._sendJoin();
          }
        }
        break;
      case 'redirect':
        this._emit('message', msg, receivedAt);
        this._onRedirect(msg);
        return;
      case 'error':
        if (this._joining === 'seat' && (msg.code === 'seat_invalid' || msg.code === 'unavailable')) {
          // The seat expired or was never ours: matchmake again where we came from.
          this._emit('message', msg, receivedAt);
          this._fallBack(msg.code);
          return;
        }
        if (this._joining === 'spectate' && SPECTATE_REFUSALS.has(msg.code)) {
          this._emit('message', msg, receivedAt);
          this._giveUp({ code: msg.code, message: msg.message ?? '' });
          return;
        }
        if (msg.code === 'unavailable' && this._joining) {
          // Matchmaking across processes is down for a moment: ask again in a few seconds.
          this._retryJoinLater();
        } else if (msg.code === 'resume_failed' && this._joining === 'resume') {
          // The held seat expired: the same room, else the same mode.
          this.resume = null;
          this._sendJoin();
        } else if (ROOM_REFUSALS.has(msg.code) && this._joining === 'room') {
          // The room we wanted (or were in before a drop) is gone, full or started without
          // us: same mode instead.
          this.room = null;
          this._sendJoin();
        } else if (JOIN_REFUSALS.has(msg.code) && ['code', 'create', 'mode'].includes(this._joining)) {
          // A wrong code, bad options, an unknown mode: asking again gets the same answer.
          this._emit('message', msg, receivedAt);
          this._giveUp({ code: msg.code, message: msg.message ?? '' });
          return;
        }
        break;
      default:
        break;
    }
    this._emit('message', msg, receivedAt);
    if (msg.type === 'joined') this._emit('joined', msg);
    if (msg.type === 'left') this._emit('left', msg);
  }

  _sendJoin() {
    if (this._redirect) {
      this._joining = 'seat';
      this.send(messages.join({ seat: this._redirect.seat, fields: this.fields }));
    } else if (this.resume) {
      this._joining = 'resume';
      this.send(messages.join({ resume: this.resume }));
    } else if (this.spectate && (this.code || this.room)) {
      this._joining = 'spectate';
      this.send(messages.join({ code: this.code, room: this.room, spectate: true }));
    } else if (this.code) {
      this._joining = 'code';
      this.send(messages.join({ code: this.code, fields: this.fields }));
    } else if (this.room) {
      this._joining = 'room';
      this.send(messages.join({ room: this.room, fields: this.fields }));
    } else if (this.create) {
      this._joining = 'create';
      const mode = this.mode || this.target?.mode || 'arena';
      this.send(messages.create({ mode, options: this.options, private: this.create.private, fields: this.fields }));
    } else {
      this._joining = 'mode';
      const mode = this.mode || this.target?.mode || 'arena';
      this.send(messages.join({ mode, options: this.options, fields: this.fields }));
    }
  }

  /** The join cannot succeed as asked: stop asking (also after reconnects) and say why. */
  _giveUp({ code, message }) {
    this._joining = null;
    this.target = null;
    this.room = null;
    this.code = null;
    this.create = null;
    this.resume = null;
    this._emit('joinfailed', { code, message, redirects: this.redirects });
  }

  _tick() {
    if (!this.connected) return;
    if (this.now() - this._lastHeard > this.silenceMs) {
      // Half-open socket: nothing heard for too long, even pongs. Drop it and reconnect.
      if (this._redirect) this._fallBack('silent');
      else this._drop(CloseCode.SILENT, 'silent', true);
      return;
    }
    this._ping();
  }

  _ping() {
    const id = ++this._pingId;
    this._pings.set(id, this.now());
    // Pongs that never came back must not pile up.
    for (const old of this._pings.keys()) {
      if (old < id - 10) this._pings.delete(old);
      else break;
    }
    this.send(messages.ping(id));
  }

  _onPong(msg, receivedAt) {
    const sentAt = this._pings.get(msg.id);
    if (sentAt === undefined) return;
    this._pings.delete(msg.id);
    const sample = Math.max(0, receivedAt - sentAt);
    this.lastRtt = sample;
    this.rtt = this.rtt === null ? sample : this.rtt + (sample - this.rtt) * 0.25;
    this._emit('rtt', this.rtt, sample);
  }

  // -- redirects -------------------------------------------------------------------------------

  _onRedirect(msg) {
    if (this.inRoom || this._stopped) return; // not the answer to a join of ours
    if (this.redirects >= this.maxRedirects) {
      this._joining = null;
      this._emit('joinfailed', {
        code: 'too_many_redirects',
        message: `gave up joining after ${this.redirects} redirects`,
        redirects: this.redirects,
      });
      return;
    }
    this.redirects += 1;
    this.redirected += 1;
    const target = readRedirect(msg);
    if (!target) {
      // A redirect we cannot follow: matchmake here again (bounded by the count above).
      this.room = null;
      this.resume = null;
      this._sendJoin();
      return;
    }
    const { url, seat, room, expiresMs } = target;
    // A fallback goes back to the server that matchmade, even past a redirect sent in answer
    // to a seat (which the protocol does not do).
    const from = this._redirect
      ? { url: this._redirect.from, seat: this._redirect.fromSeat }
      : { url: this.url, seat: this._authSeat };
    this._forgetRedirect();
    this._redirect = { url, seat, room, from: from.url, fromSeat: from.seat };
    // The seat is in another room of another process: nothing here can be resumed or re-joined.
    this.room = null;
    this.resume = null;
    this._emit('redirect', { url, room, redirects: this.redirects });
    this._teardown(CloseCode.NORMAL, 'redirected');
    this.url = url;
    this._authSeat = null;
    // The seat is only held for `expires_in`: a socket that cannot open by then is given up.
    this._seatTimer = this.setTimer(() => {
      this._seatTimer = null;
      if (this._redirect && !this.connected) this._fallBack('timeout');
    }, expiresMs);
    this._open();
  }

  /** The redirect's seat could not be had: join by mode again on the server that sent it. */
  _fallBack(reason) {
    const redirect = this._redirect;
    if (!redirect) return;
    this._forgetRedirect();
    this._teardown(CloseCode.NORMAL, 'seat refused');
    this.url = redirect.from;
    this._authSeat = redirect.fromSeat;
    this.room = null;
    this.resume = null;
    this._emit('fallback', { reason, url: this.url });
    if (!this._stopped) this._open();
  }

  _forgetRedirect() {
    this._redirect = null;
    this.clearTimer(this._seatTimer);
    this._seatTimer = null;
  }

  _retryJoinLater() {
    this._joining = null;
    this.clearTimer(this._joinTimer);
    const ms = this.unavailableRetryMs;
    const delay = backoffDelay(0, { minMs: ms, maxMs: ms, random: this.random });
    this._joinTimer = this.setTimer(() => {
      this._joinTimer = null;
      if (this.connected && !this.inRoom && !this._joining && this.target) this._sendJoin();
    }, delay);
  }

  // -- closing ---------------------------------------------------------------------------------

  /** Forget the current socket: handlers detached (its late events do nothing), closed. */
  _teardown(code, reason) {
    const socket = this.socket;
    const wasConnected = this.connected;
    this.socket = null;
    this.connected = false;
    this.inRoom = false;
    this._joining = null;
    this._pings.clear();
    this.clearTimer(this._pingTimer);
    this._pingTimer = null;
    this.clearTimer(this._joinTimer);
    this._joinTimer = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      if (socket.readyState === OPEN || socket.readyState === 0) {
        try {
          // A browser may send only 1000 and 4000-4999 (the application range).
          const sent = code >= 4000 || code === CloseCode.NORMAL ? code : CloseCode.NORMAL;
          socket.close(sent, String(reason).slice(0, 100));
        } catch {
          // already closing
        }
      }
    }
    return wasConnected;
  }

  _drop(code, reason, reconnect) {
    const wasConnected = this._teardown(code, reason);
    if (reconnect && !this._stopped) {
      this._scheduleReconnect(code, reason, wasConnected);
    } else {
      this._emit('close', {
        code,
        reason,
        wasConnected,
        retryInMs: null,
        replaced: this.replaced,
        sessionEnded: this.sessionEnded,
      });
    }
  }

  _scheduleReconnect(code, reason, wasConnected = false) {
    if (!wasConnected && this.url !== this.homeUrl && ++this._awayFailures >= this.awayAttempts) {
      // The server a redirect sent us to stays unreachable: matchmake at home instead (its
      // seat and resume token mean nothing anywhere else).
      this._awayFailures = 0;
      this.url = this.homeUrl;
      this._authSeat = null;
      this.room = null;
      this.resume = null;
      this._emit('fallback', { reason: 'unreachable', url: this.url });
    }
    const delay = backoffDelay(this.attempts, {
      minMs: this.minBackoffMs,
      maxMs: this.maxBackoffMs,
      random: this.random,
    });
    this.attempts += 1;
    this._emit('close', {
      code,
      reason,
      wasConnected,
      retryInMs: delay,
      attempts: this.attempts,
      replaced: false,
      sessionEnded: false,
    });
    this._retryTimer = this.setTimer(() => {
      this._retryTimer = null;
      if (this._stopped) return;
      this.redirects = 0; // a new join attempt
      this._open();
    }, delay);
  }

  _every(ms, fn) {
    // A chain of timeouts, so fake timers in tests only need setTimer/clearTimer.
    const state = { id: null };
    const loop = () => {
      state.id = this.setTimer(loop, ms);
      this._pingTimer = state.id;
      fn();
    };
    state.id = this.setTimer(loop, ms);
    return state.id;
  }

  _emit(type, ...args) {
    this._handlers.emit(type, ...args);
  }
}
