/**
 * Entity interpolation: other players are drawn a little in the past, between two states the
 * server really sent, and `ClockSync` maps the local clock onto the server's `ts` clock.
 * Pure: time is always passed in.
 */

export const DEFAULT_DELAY_MS = 100;

/** One entity's recent positions keyed by server time (ms), oldest first. */
export class SnapshotBuffer {
  constructor({ tickInterval = 50, maxAgeMs = 1000 } = {}) {
    this.tickInterval = tickInterval;
    this.maxAgeMs = maxAgeMs;
    this.samples = [];
  }

  get length() {
    return this.samples.length;
  }

  get latest() {
    return this.samples.length ? this.samples[this.samples.length - 1] : null;
  }

  /** Start over from one sample: a spawn or a teleport must not be lerped across. */
  reset(ts, x, y, mass) {
    this.samples = [{ ts, x, y, mass }];
  }

  /**
   * Add the entity's position at server time `ts`. Rows are only sent for entities that
   * changed, so a gap longer than 1.5 ticks means it stood still: the previous position is
   * repeated one tick before the new one, so the still period is not smeared into slow motion.
   */
  push(ts, x, y, mass) {
    const last = this.latest;
    if (last) {
      if (ts < last.ts) return;
      if (ts === last.ts) {
        last.x = x;
        last.y = y;
        last.mass = mass;
        return;
      }
      if (ts - last.ts > 1.5 * this.tickInterval) {
        this.samples.push({ ts: ts - this.tickInterval, x: last.x, y: last.y, mass: last.mass });
      }
    }
    this.samples.push({ ts, x, y, mass });
    this._trim(ts);
  }

  /**
   * The position at server time `t`: lerped between the two samples that straddle it, the
   * first sample before it, the last sample after it; null when empty.
   */
  sample(t) {
    const s = this.samples;
    const n = s.length;
    if (n === 0) return null;
    if (t <= s[0].ts) return { x: s[0].x, y: s[0].y, mass: s[0].mass };
    const last = s[n - 1];
    if (t >= last.ts) return { x: last.x, y: last.y, mass: last.mass };
    // Render time is usually near the newest samples: search from the end.
    let i = n - 2;
    while (i > 0 && s[i].ts > t) i--;
    const a = s[i];
    const b = s[i + 1];
    const k = (t - a.ts) / (b.ts - a.ts);
    return { x: a.x + (b.x - a.x) * k, y: a.y + (b.y - a.y) * k, mass: a.mass + (b.mass - a.mass) * k };
  }

  _trim(newest) {
    const s = this.samples;
    let drop = 0;
    // Keep at least two samples, and everything younger than maxAgeMs.
    while (s.length - drop > 2 && s[drop + 1].ts < newest - this.maxAgeMs) drop++;
    if (drop) s.splice(0, drop);
  }
}

/** Snapshot buffers for every entity of a room, sampled `delayMs` behind server time. */
export class Interpolator {
  constructor({ tickInterval = 50, delayMs = DEFAULT_DELAY_MS, maxAgeMs = 1000 } = {}) {
    this.tickInterval = tickInterval;
    this.delayMs = delayMs;
    this.maxAgeMs = maxAgeMs;
    this.buffers = new Map();
  }

  /** The server time to draw others at, for the estimated current server time. */
  renderTime(serverNow) {
    return serverNow - this.delayMs;
  }

  push(id, ts, x, y, mass) {
    let buffer = this.buffers.get(id);
    if (!buffer) {
      buffer = this._make();
      this.buffers.set(id, buffer);
    }
    buffer.push(ts, x, y, mass);
  }

  reset(id, ts, x, y, mass) {
    const buffer = this._make();
    buffer.reset(ts, x, y, mass);
    this.buffers.set(id, buffer);
  }

  has(id) {
    return this.buffers.has(id);
  }

  remove(id) {
    this.buffers.delete(id);
  }

  clear() {
    this.buffers.clear();
  }

  /** The interpolated {x, y, mass} of `id` at server time `t`, or null if never seen. */
  sample(id, t) {
    const buffer = this.buffers.get(id);
    return buffer ? buffer.sample(t) : null;
  }

  setTickInterval(ms) {
    this.tickInterval = ms;
    for (const buffer of this.buffers.values()) buffer.tickInterval = ms;
  }

  _make() {
    return new SnapshotBuffer({ tickInterval: this.tickInterval, maxAgeMs: this.maxAgeMs });
  }
}

/**
 * Estimates the server's clock from the `ts` of received states.
 *
 * Every state gives `receivedAt - ts` = clock offset + one-way delay + jitter. The minimum over
 * a sliding window is the least delayed sample, so jitter only ever adds and is filtered out;
 * the offset used then follows that minimum smoothly (or snaps on a jump, e.g. a clock change).
 */
export class ClockSync {
  constructor({ windowMs = 10000, smoothing = 0.1, snapMs = 1000 } = {}) {
    this.windowMs = windowMs;
    this.smoothing = smoothing;
    this.snapMs = snapMs;
    this.reset();
  }

  reset() {
    this._window = []; // monotone deque: offsets increasing, oldest first
    this.offset = null;
  }

  get ready() {
    return this.offset !== null;
  }

  /** The smallest `receivedAt - ts` seen in the window, or null. */
  get windowMin() {
    return this._window.length ? this._window[0].offset : null;
  }

  /** Record a state's server `ts` received at local time `receivedAt` (same units, ms). */
  observe(ts, receivedAt) {
    if (!Number.isFinite(ts) || !Number.isFinite(receivedAt)) return;
    const offset = receivedAt - ts;
    const w = this._window;
    while (w.length && w[w.length - 1].offset >= offset) w.pop();
    w.push({ at: receivedAt, offset });
    while (w.length > 1 && w[0].at < receivedAt - this.windowMs) w.shift();
    const target = w[0].offset;
    if (this.offset === null || Math.abs(target - this.offset) > this.snapMs) {
      this.offset = target;
    } else {
      this.offset += (target - this.offset) * this.smoothing;
    }
  }

  /** The estimated server time at local time `localNow` (null before the first state). */
  serverNow(localNow) {
    return this.offset === null ? null : localNow - this.offset;
  }

  /** The local time at which the server's clock showed `ts`. */
  toLocal(ts) {
    return this.offset === null ? null : ts + this.offset;
  }
}
