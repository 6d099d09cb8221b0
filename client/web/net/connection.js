/**
 * The game's WebSocket: JSON text frames, a ping every second for the round-trip time, and
 * reconnecting with backoff after a drop, then getting back in: the held seat (`resume` token),
 * else the same room, else the same mode. The WebSocket class, clock and timers are injectable
 * so it runs under Node.
 */

import { decode, messages } from './protocol.js';

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

/** Close code: this account opened a newer game connection (another tab); do not fight it. */
export const CLOSE_REPLACED = 4001;

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
  } = {}) {
    this.url = url;
    this.WebSocketImpl = WebSocketImpl;
    this.pingIntervalMs = pingIntervalMs;
    this.silenceMs = silenceMs;
    this.minBackoffMs = minBackoffMs;
    this.maxBackoffMs = maxBackoffMs;
    this.now = now;
    this.setTimer = setTimer;
    this.clearTimer = clearTimer;
    this.random = random;

    this.socket = null;
    this.connected = false;
    this.rtt = null; // smoothed round-trip time, ms
    this.lastRtt = null;
    this.attempts = 0; // failed connects since the last successful join
    this.target = null; // what join() asked for: {mode} or {room}
    this.room = null; // the room we are (or were, before a drop) in
    this.mode = null;
    this.resume = null; // token from the last `joined`: gets the seat back after a drop
    this.inRoom = false;
    this.replaced = false; // closed with 4001: another tab plays now; no reconnect
    this._joining = null; // 'resume' | 'room' | 'mode' while a join is unanswered
    this._handlers = new Map();
    this._pingId = 0;
    this._pings = new Map();
    this._pingTimer = null;
    this._retryTimer = null;
    this._lastHeard = 0;
    this._stopped = true;
  }

  /** Subscribe to 'open', 'close', 'message', 'rtt', 'joined', 'left'; returns unsubscribe. */
  on(type, fn) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(fn);
    return () => this._handlers.get(type).delete(fn);
  }

  /** Open the socket (and keep it open until `close`). */
  connect() {
    this._stopped = false;
    this.replaced = false;
    this._open();
  }

  /**
   * Join room `room` (falling back to matchmaking in `mode`, default arena, if that room does
   * not exist) or, without `room`, matchmake in `mode`; `resume`, a token from an earlier
   * `joined`, is tried first. Now if connected, and again after every reconnect.
   */
  join({ mode = null, room = null, resume = null } = {}) {
    this.target = { mode: mode || null, room: room || null };
    this.room = room || null;
    this.mode = mode || null;
    this.resume = resume || null;
    if (this.connected && !this.inRoom) this._sendJoin();
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

  sendChat(text) {
    return this.send(messages.chat(text));
  }

  /** Leave the room and do not re-join it. */
  leave() {
    this.target = null;
    this.room = null;
    this.resume = null;
    return this.send(messages.leave());
  }

  /** Close for good: no reconnect. */
  close() {
    this._stopped = true;
    this.clearTimer(this._retryTimer);
    this._retryTimer = null;
    this._drop(1000, 'closed by client', false);
  }

  // -- socket lifecycle ------------------------------------------------------------------------

  _open() {
    this.clearTimer(this._retryTimer);
    this._retryTimer = null;
    let socket;
    try {
      socket = new this.WebSocketImpl(this.url);
    } catch {
      this._scheduleReconnect(1006, 'cannot open socket');
      return;
    }
    this.socket = socket;
    socket.onopen = () => this._onOpen(socket);
    socket.onmessage = (event) => this._onMessage(socket, event);
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      const code = event.code ?? 1006;
      if (code === CLOSE_REPLACED) {
        // Another tab or window of this account took over: reconnecting would take it back,
        // and that one would do the same.
        this.replaced = true;
        this._stopped = true;
      }
      this._drop(code, event.reason ?? '', !this.replaced);
    };
    socket.onerror = () => {}; // a close event always follows
  }

  _onOpen(socket) {
    if (socket !== this.socket) return;
    this.connected = true;
    this.inRoom = false;
    this._lastHeard = this.now();
    this._emit('open');
    this._ping();
    this._pingTimer = this._every(this.pingIntervalMs, () => this._tick());
    if (this.target) this._sendJoin();
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
        this.room = msg.room ?? null;
        this.mode = msg.mode ?? this.mode;
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
          // The room failed: matchmake into another room of the same mode.
          this.room = null;
          this._sendJoin();
        }
        break;
      case 'error':
        if (msg.code === 'resume_failed' && this._joining === 'resume') {
          // The held seat expired: the same room, else the same mode.
          this.resume = null;
          this._sendJoin();
        } else if ((msg.code === 'room_not_found' || msg.code === 'room_full') && this._joining === 'room') {
          // The room we wanted (or were in before a drop) is gone or full: same mode instead.
          this.room = null;
          this._sendJoin();
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
    if (this.resume) {
      this._joining = 'resume';
      this.send(messages.join({ resume: this.resume }));
    } else if (this.room) {
      this._joining = 'room';
      this.send(messages.join({ room: this.room }));
    } else {
      this._joining = 'mode';
      this.send(messages.join({ mode: this.mode || this.target?.mode || 'arena' }));
    }
  }

  _tick() {
    if (!this.connected) return;
    if (this.now() - this._lastHeard > this.silenceMs) {
      // Half-open socket: nothing heard for too long, even pongs. Drop it and reconnect.
      this._drop(4000, 'silent', true);
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

  _drop(code, reason, reconnect) {
    const socket = this.socket;
    const wasConnected = this.connected;
    this.socket = null;
    this.connected = false;
    this.inRoom = false;
    this._joining = null;
    this._pings.clear();
    this.clearTimer(this._pingTimer);
    this._pingTimer = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      if (socket.readyState === OPEN || socket.readyState === 0) {
        try {
          socket.close(code >= 4000 || code === 1000 ? code : 1000, String(reason).slice(0, 100));
        } catch {
          // already closing
        }
      }
    }
    if (reconnect && !this._stopped) {
      this._scheduleReconnect(code, reason, wasConnected);
    } else {
      this._emit('close', { code, reason, wasConnected, retryInMs: null, replaced: this.replaced });
    }
  }

  _scheduleReconnect(code, reason, wasConnected = false) {
    const delay = backoffDelay(this.attempts, {
      minMs: this.minBackoffMs,
      maxMs: this.maxBackoffMs,
      random: this.random,
    });
    this.attempts += 1;
    this._emit('close', { code, reason, wasConnected, retryInMs: delay, attempts: this.attempts, replaced: false });
    this._retryTimer = this.setTimer(() => {
      this._retryTimer = null;
      if (!this._stopped) this._open();
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
    const handlers = this._handlers.get(type);
    if (!handlers) return;
    for (const fn of [...handlers]) {
      try {
        fn(...args);
      } catch (err) {
        globalThis.console?.error(err);
      }
    }
  }
}
