/**
 * Client-side prediction of our own player: inputs move it at once, and every state that
 * acknowledges an input is reconciled by replaying the inputs the server has not processed yet.
 * Pure: time (local ms) and the round-trip time are always passed in.
 */

export const DEFAULT_SPEED_FACTOR = 200;

/** The direction the server will use: non-finite parts are 0 and the length is at most 1. */
export function clampDirection(dx, dy) {
  dx = Number.isFinite(dx) ? dx : 0;
  dy = Number.isFinite(dy) ? dy : 0;
  const length = Math.hypot(dx, dy);
  return length > 1 ? [dx / length, dy / length] : [dx, dy];
}

/** Full speed in units per second: speed_factor / sqrt(mass). */
export function speedFor(mass, speedFactor = DEFAULT_SPEED_FACTOR) {
  return speedFactor / Math.sqrt(Math.max(mass, 1));
}

/**
 * Keeps unacknowledged inputs and predicts where the server will have us.
 *
 * Times are local milliseconds. A state received at `receivedAt` shows the server at about
 * `receivedAt - rtt/2`, and an input sent at `sentAt` reaches it at `sentAt + rtt/2`; shifting
 * everything by rtt/2 puts the state at `receivedAt - rtt` on the send-time axis. From there the
 * acknowledged input's direction holds until the first pending input's send time, each pending
 * input until the next one's, and the last until now.
 */
export class Predictor {
  constructor({
    width = 3000,
    height = 3000,
    speedFactor = DEFAULT_SPEED_FACTOR,
    maxPending = 256,
    smoothingMs = 120,
    snapDistance = 200,
  } = {}) {
    this.width = width;
    this.height = height;
    this.speedFactor = speedFactor;
    this.maxPending = maxPending;
    this.smoothingMs = smoothingMs;
    this.snapDistance = snapDistance;
    this.clear();
  }

  setWorld({ width = this.width, height = this.height, speedFactor = this.speedFactor } = {}) {
    this.width = width;
    this.height = height;
    this.speedFactor = speedFactor;
  }

  /**
   * Start over at a server position (join, respawn): no pending inputs, standing still, and the
   * displayed position jumps there.
   */
  reset({ x, y, mass, at }) {
    this.pending = [];
    this.base = { x, y, mass, start: at };
    this.ackedDir = [0, 0];
    this._error = [0, 0];
    this._displayAt = null;
  }

  /** Forget everything (left the room). */
  clear() {
    this.pending = [];
    this.base = null;
    this.ackedSeq = -1;
    this.ackedDir = [0, 0];
    this._error = [0, 0];
    this._displayAt = null;
  }

  /** Record an input as it is sent. */
  addInput(seq, dx, dy, sentAt) {
    const [cx, cy] = clampDirection(dx, dy);
    this.pending.push({ seq, dx: cx, dy: cy, sentAt });
    if (this.pending.length > this.maxPending) this.pending.splice(0, this.pending.length - this.maxPending);
  }

  /**
   * A state acknowledged input `seq` with us at (x, y) with `mass`. Drops inputs up to `seq`,
   * re-bases the prediction on the server position, and turns the jump of the predicted
   * position into a display error that fades out. A stale ack (lower than one already seen)
   * drops nothing. Returns the predicted position at `receivedAt`.
   */
  reconcile({ seq, x, y, mass }, receivedAt, rtt = 0) {
    const before = this.base ? this.positionAt(receivedAt) : null;
    if (seq >= this.ackedSeq) {
      let dropped = 0;
      while (dropped < this.pending.length && this.pending[dropped].seq <= seq) dropped++;
      if (dropped) {
        const last = this.pending[dropped - 1];
        this.ackedDir = [last.dx, last.dy];
        this.pending.splice(0, dropped);
      }
      this.ackedSeq = seq;
    }
    this.base = { x, y, mass, start: receivedAt - Math.max(rtt, 0) };
    const after = this.positionAt(receivedAt);
    if (before) this._correct(before.x - after.x, before.y - after.y);
    return after;
  }

  /** The predicted position at local time `now`, or null before the first reset/ack. */
  positionAt(now) {
    const base = this.base;
    if (!base) return null;
    const speed = speedFor(base.mass, this.speedFactor);
    let x = base.x;
    let y = base.y;
    let t = base.start;
    let [dx, dy] = this.ackedDir;
    for (const input of this.pending) {
      [x, y] = this._move(x, y, dx, dy, speed, input.sentAt - t);
      t = Math.max(t, input.sentAt);
      dx = input.dx;
      dy = input.dy;
    }
    [x, y] = this._move(x, y, dx, dy, speed, now - t);
    return { x, y };
  }

  /**
   * Where to draw us at `now`: the prediction plus a correction error that decays
   * exponentially, so reconciliation never shows as a snap; errors over `snapDistance`
   * (respawn, teleport) are dropped at once.
   */
  display(now) {
    const target = this.positionAt(now);
    if (!target) return null;
    if (this._displayAt !== null && now > this._displayAt) {
      const keep = Math.exp(-(now - this._displayAt) / this.smoothingMs);
      this._error[0] *= keep;
      this._error[1] *= keep;
      if (Math.hypot(this._error[0], this._error[1]) < 0.01) this._error = [0, 0];
    }
    this._displayAt = now;
    return { x: target.x + this._error[0], y: target.y + this._error[1] };
  }

  /** The current display error (display minus prediction). */
  get error() {
    return { x: this._error[0], y: this._error[1] };
  }

  _correct(ex, ey) {
    const x = this._error[0] + ex;
    const y = this._error[1] + ey;
    this._error = Math.hypot(x, y) > this.snapDistance ? [0, 0] : [x, y];
  }

  _move(x, y, dx, dy, speed, ms) {
    if (ms <= 0 || (dx === 0 && dy === 0)) return [x, y];
    const distance = (speed * ms) / 1000;
    return [
      Math.min(Math.max(x + dx * distance, 0), this.width),
      Math.min(Math.max(y + dy * distance, 0), this.height),
    ];
  }
}
