/**
 * Replays for the SDK: a recorded match played back to a game's own page as if it were live.
 *
 * When the page's address names a replay (`/replays/<id>?viewer=P`, or any page with
 * `?replay=<id>&viewer=P`), the Arena SDK talks to a `ReplayConnection` instead of a socket:
 * it fetches `GET /api/replays/<id>/stream?viewer=P` (`[ms, message]` pairs, the first a
 * `joined`: what player P's connection received, or with viewer 0 what a spectator saw) and
 * hands each message to the page at its recorded time on a `ReplayClock` that can play, pause,
 * run at 0.25x to 8x and seek. Seeking back feeds the match again from its start at once (the
 * page gets a second `joined`, as after a reconnect); seeking forward feeds what lies between
 * at once. Nothing is ever sent: every send answers false.
 *
 * Times given to the page (`receivedAt`, `Arena.now()`) are the replay's own: milliseconds
 * since the recording started, so a page's interpolation and turn clocks follow the replay's
 * speed and stop when it pauses. No DOM here (the controls: `../replay-bar.js`), so it runs
 * under Node.
 */

import { Handlers } from '../net/handlers.js';

/** The speeds a replay offers, slowest first. */
export const SPEEDS = [0.25, 0.5, 1, 2, 4, 8];

/** Milliseconds as "m:ss" (or "h:mm:ss"). */
export function formatMs(ms) {
  const total = Math.max(0, Math.floor((Number(ms) || 0) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The replay a page's `location` names, or null: `{id, viewer}` from `/replays/<id>` or from
 * `?replay=<id>`, the viewer from `?viewer=P` (null when absent or not a whole number >= 0:
 * the server then picks, your own seat or the public view).
 */
export function replayTarget(location) {
  if (!location) return null;
  const params = new URLSearchParams(location.search ?? '');
  let id = params.get('replay');
  if (id === null) {
    const match = /^\/replays\/([^/]+)\/?$/.exec(location.pathname ?? '');
    id = match ? decodeURIComponent(match[1]) : null;
  }
  if (id === null) return null;
  const raw = params.get('viewer');
  const viewer = raw !== null && /^\d{1,9}$/.test(raw) ? Number(raw) : null;
  return { id, viewer };
}

/**
 * The replay's position in the recording (ms since it started), driven by a local clock:
 * `now()` in ms. Pausing freezes the position, the speed scales it, `seek` moves it; it never
 * runs past `duration`.
 */
export class ReplayClock {
  constructor({ now = () => globalThis.performance.now(), duration = 0 } = {}) {
    this._now = now;
    this.duration = Math.max(0, duration);
    this.speed = 1;
    this.playing = false;
    this._base = 0; // position at `_since`
    this._since = now();
  }

  /** The position now, ms. */
  position() {
    const run = this.playing ? (this._now() - this._since) * this.speed : 0;
    return Math.min(this.duration, this._base + run);
  }

  /** True once the position reached the end. */
  get ended() {
    return this.position() >= this.duration;
  }

  play() {
    if (this.playing) return;
    if (this.ended) this._set(0); // play again from the start
    this.playing = true;
    this._since = this._now();
  }

  pause() {
    if (!this.playing) return;
    this._set(this.position());
    this.playing = false;
  }

  /** Run at `speed` (clamped to SPEEDS' range) from the current position. */
  setSpeed(speed) {
    const s = Number(speed);
    if (!Number.isFinite(s)) return;
    this._set(this.position());
    this.speed = Math.min(SPEEDS[SPEEDS.length - 1], Math.max(SPEEDS[0], s));
  }

  /** Move to `ms` (clamped to the recording). */
  seek(ms) {
    this._set(Math.min(this.duration, Math.max(0, Number(ms) || 0)));
  }

  /** Local ms until the position reaches `ms` (0 if passed, Infinity while paused). */
  delayUntil(ms) {
    const ahead = ms - this.position();
    if (ahead <= 0) return 0;
    return this.playing ? ahead / this.speed : Infinity;
  }

  _set(position) {
    this._base = position;
    this._since = this._now();
  }
}

/**
 * A recorded match in place of the game's socket: the Connection interface the SDK uses
 * (`on`, `connect`, `join`, `send*`, `leave`, `close`, `connected`, `inRoom`...), fed from
 * the replay stream. Events besides the Connection's ('open', 'message', 'close',
 * 'joinfailed', 'joined', 'left'): 'loaded' (the stream arrived: `fn(stream)`), 'change'
 * (played, paused, seeked, a new speed or viewer) and 'ended' (the end of the recording).
 */
export class ReplayConnection {
  constructor({
    id,
    viewer = null,
    base = '',
    fetchImpl = globalThis.fetch?.bind(globalThis),
    now = () => globalThis.performance.now(),
    setTimer = (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimer = (timer) => globalThis.clearTimeout(timer),
    autoplay = true,
  }) {
    this.id = String(id);
    this.viewer = viewer; // null until the stream says whose view it is
    this.base = base;
    this.fetch = fetchImpl;
    this.setTimer = setTimer;
    this.clearTimer = clearTimer;
    this.autoplay = autoplay;
    this.clock = new ReplayClock({ now });
    this.stream = null; // the last stream fetched (without its events)
    this.events = []; // [[ms, message], ...]
    this.viewers = []; // [{player, name}]
    this.error = null; // {status, code, message} when the stream could not be had
    this.loading = false;
    this.connected = false;
    this.inRoom = false;
    this.replaying = true; // what tells a page it is a replay (a Connection has no such field)
    this.rtt = null;
    this.lastRtt = null;
    this.room = null;
    this.mode = null;
    this.code = null;
    this._next = 0; // index of the next event to feed
    this._seatedAt = 0; // ms of the stream's first `joined`
    this._timer = null;
    this._stopped = true;
    this._handlers = new Handlers();
  }

  // -- the Connection interface --------------------------------------------------------------

  on(type, fn) {
    return this._handlers.on(type, fn);
  }

  /** Fetch the stream and start playing it (once). */
  connect() {
    if (!this._stopped) return;
    this._stopped = false;
    this._load(this.viewer, true).then((ok) => {
      if (!ok || this._stopped) return;
      this.connected = true;
      this._emit('open');
      this.seek(0);
      if (this.autoplay) this.play();
    });
  }

  /** Whatever the page asks to join, a replay plays its recording. */
  join() {}

  sendGame() {
    return false;
  }

  send() {
    return false;
  }

  sendInput() {
    return false;
  }

  sendChat() {
    return false;
  }

  sendGlobalChat() {
    return false;
  }

  leave() {
    return false;
  }

  /** Stop for good. */
  close() {
    if (this._stopped) return;
    this._stopped = true;
    this.clock.pause();
    this._cancel();
    const wasConnected = this.connected;
    this.connected = false;
    this.inRoom = false;
    this._emit('close', { code: 1000, reason: 'closed by client', wasConnected, retryInMs: null, replaced: false, sessionEnded: false });
  }

  // -- controls ------------------------------------------------------------------------------

  /** Ms since the recording started: the time the page's messages were received at. */
  now() {
    return this.clock.position();
  }

  get duration() {
    return this.clock.duration;
  }

  get playing() {
    return this.clock.playing;
  }

  get speed() {
    return this.clock.speed;
  }

  /** True once the replay reached the end of the recording. */
  get ended() {
    return this.connected && this.clock.ended;
  }

  get finished() {
    return Boolean(this.stream?.finished);
  }

  play() {
    if (!this.connected) return;
    if (this.clock.ended) this.seek(0);
    this.clock.play();
    this._schedule();
    this._emit('change');
  }

  pause() {
    this.clock.pause();
    this._cancel();
    this._emit('change');
  }

  /** Play or pause; returns whether it plays now. */
  toggle() {
    if (this.playing) this.pause();
    else this.play();
    return this.playing;
  }

  setSpeed(speed) {
    this.clock.setSpeed(speed);
    this._schedule();
    this._emit('change');
  }

  /**
   * Show the match as it was at `ms`: back from the start (the page gets `joined` again) when
   * that is before what it has seen, then everything up to `ms` at once.
   */
  seek(ms) {
    if (!this.events.length) return;
    this.clock.seek(ms);
    const target = this.clock.position();
    const fed = this._next > 0 ? this.events[this._next - 1][0] : -1;
    if (this._next === 0 || target < fed) {
      this._next = 0;
      this.inRoom = false;
    }
    // Up to the viewer's `joined` at least: a seat taken after the start has nothing to show
    // before it, and the page would go on showing what it had (another viewer's table).
    this._feedUntil(Math.max(target, this._seatedAt));
    this._schedule();
    this._emit('change');
  }

  /** Follow `viewer`'s view instead (0: the public one): fetched, then shown from the start
   * up to where the replay is. Resolves to whether it worked (else `error` says why). */
  async setViewer(viewer) {
    const at = this.clock.position();
    const playing = this.playing;
    this.clock.pause();
    this._cancel();
    const ok = await this._load(viewer);
    if (ok) {
      this._next = 0;
      this.seek(at);
      if (playing) this.play();
    } else if (playing) {
      this.play();
    }
    this._emit('change');
    return ok;
  }

  /** A match still being played: fetch what was recorded since and go on from here. */
  async refresh() {
    const wasEnded = this.ended;
    const ok = await this.setViewer(this.viewer);
    if (ok && wasEnded) this.play();
    return ok;
  }

  // -- internals -----------------------------------------------------------------------------

  /** Fetch the stream of `viewer` (null: the server's choice); false when it cannot be had
   * (`error` says why; the first load says it to the page too, as a join that failed). */
  async _load(viewer, first = false) {
    this.loading = true;
    const query = viewer === null || viewer === undefined ? '' : `?viewer=${encodeURIComponent(viewer)}`;
    const path = `${this.base}/api/replays/${encodeURIComponent(this.id)}/stream${query}`;
    let status = 0;
    let data = null;
    try {
      const response = await this.fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      status = response.status;
      try {
        data = await response.json();
      } catch {
        data = null;
      }
      if (!response.ok) throw new Error('refused');
      if (!data || !Array.isArray(data.events) || !data.events.length) throw new Error('empty');
    } catch {
      this.loading = false;
      this.error = replayError(status, data, this.id);
      if (first) this._emit('joinfailed', { code: this.error.code, message: this.error.message });
      this._emit('change');
      return false;
    }
    this.loading = false;
    this.error = null;
    const { events, ...stream } = data;
    this.stream = stream;
    this.events = events.filter((e) => Array.isArray(e) && Number.isFinite(e[0]) && e[1] && typeof e[1].type === 'string');
    this.viewers = Array.isArray(data.viewers) ? data.viewers : [];
    this.viewer = Number.isInteger(data.viewer) ? data.viewer : viewer;
    this.mode = data.mode ?? null;
    this._seatedAt = this.events.find((e) => e[1].type === 'joined')?.[0] ?? 0;
    const last = this.events.length ? this.events[this.events.length - 1][0] : 0;
    this.clock.duration = Math.max(last, Number(data.duration_ms) || 0);
    this._emit('loaded', stream);
    return true;
  }

  /** Hand the page every event up to position `ms`, each at its recorded time. */
  _feedUntil(ms) {
    const events = this.events;
    while (this._next < events.length && events[this._next][0] <= ms && !this._stopped) {
      const [at, msg] = events[this._next++];
      this._deliver(msg, at);
    }
  }

  _deliver(msg, at) {
    if (msg.type === 'joined') {
      this.inRoom = true;
      this.room = msg.room ?? null;
      this.mode = msg.mode ?? this.mode;
      this.code = msg.code ?? null;
    } else if (msg.type === 'left') {
      this.inRoom = false;
    }
    // A copy each time: a page may keep or change what it is given, and the same event is
    // fed again after a seek back.
    const copy = structuredClone(msg);
    // The resume token of a recorded seat opens nothing: no page may keep it.
    if (copy.type === 'joined') delete copy.resume;
    this._emit('message', copy, at);
    if (copy.type === 'joined') this._emit('joined', copy);
    if (copy.type === 'left') this._emit('left', copy);
  }

  /** One timer, for the next event (or the end) at the current speed. */
  _schedule() {
    this._cancel();
    if (!this.playing || this._stopped) return;
    const next = this._next < this.events.length ? this.events[this._next][0] : this.clock.duration;
    const delay = this.clock.delayUntil(next);
    this._timer = this.setTimer(() => {
      this._timer = null;
      this._pump();
    }, Math.max(0, Math.ceil(delay)));
  }

  _pump() {
    if (this._stopped) return;
    const at = this.clock.position();
    this._feedUntil(at);
    if (this._next >= this.events.length && this.clock.ended) {
      this.clock.pause();
      this._emit('change');
      this._emit('ended');
      return;
    }
    this._schedule();
  }

  _cancel() {
    if (this._timer !== null) this.clearTimer(this._timer);
    this._timer = null;
  }

  _emit(type, ...args) {
    this._handlers.emit(type, ...args);
  }
}

/** What a refused or broken stream means to a viewer: `{status, code, message}`. */
export function replayError(status, data, id) {
  const code = typeof data?.error === 'string' ? data.error : status ? `http_${status}` : 'unreachable';
  let message = typeof data?.message === 'string' && data.message ? data.message : null;
  if (!message) {
    if (status === 404) message = `No replay has the id “${id}”: it may be mistyped, or it was deleted.`;
    else if (status === 403) message = 'That view of this match is not yours to watch while it is being played.';
    else if (status === 400) message = 'That is not a viewer of this match.';
    else if (status === 401) message = 'Log in to watch replays.';
    else if (status >= 200 && status < 300) message = 'This replay has nothing to show.';
    else if (status) message = `The server could not load this replay (HTTP ${status}).`;
    else message = 'The server cannot be reached.';
  }
  return { status, code, message };
}

/**
 * The replay this page's address names, as a ReplayConnection, or null for a live page. With a
 * document, the replay's controls are added to the page (`../replay-bar.js`) unless
 * `controls` is false.
 */
export function replaySource({ location = globalThis.location, base = '', fetchImpl, controls = true, options = {} } = {}) {
  const target = replayTarget(location);
  if (!target) return null;
  const source = new ReplayConnection({ id: target.id, viewer: target.viewer, base, fetchImpl, ...options });
  if (controls && globalThis.document) {
    import('../replay-bar.js').then(
      ({ mountReplayBar }) => mountReplayBar(source),
      (err) => globalThis.console?.error(err),
    );
  }
  return source;
}
