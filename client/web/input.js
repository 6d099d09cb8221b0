/**
 * Steering: which direction the player asks for, from the pointer, held keys, or a forced
 * direction (tests, `window.arena.steer`). Pure: the page feeds it events.
 */

const KEY_DIRECTIONS = {
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  KeyW: [0, -1],
  KeyS: [0, 1],
  KeyA: [-1, 0],
  KeyD: [1, 0],
};

/** The direction for a key event's `code` (or `key` for arrows), or null for other keys. */
export function keyDirection(code) {
  return KEY_DIRECTIONS[code] ?? null;
}

/**
 * Direction from the screen centre (our player) to the pointer. Its length grows with the
 * distance, reaching 1 (full speed) at a quarter of the smaller screen side; a few pixels
 * around the centre mean stop.
 */
export function pointerDirection(px, py, width, height, { deadZone = 4 } = {}) {
  const vx = px - width / 2;
  const vy = py - height / 2;
  const distance = Math.hypot(vx, vy);
  if (distance <= deadZone) return [0, 0];
  const full = Math.max(Math.min(width, height) / 4, 1);
  const length = Math.min(distance / full, 1);
  return [(vx / distance) * length, (vy / distance) * length];
}

/** Round to 3 decimals, so sub-pixel pointer jitter is not a "new" direction. */
export function quantize([dx, dy]) {
  const q = (v) => Math.round(v * 1000) / 1000 || 0;
  return [q(dx), q(dy)];
}

export class Steering {
  constructor() {
    this.pointer = null; // [dx, dy] from the pointer, or null before it moved
    this.held = new Set(); // key codes held down
    this.forced = null;
  }

  /** The pointer moved to (px, py) on a screen of width x height. */
  pointerAt(px, py, width, height) {
    this.pointer = pointerDirection(px, py, width, height);
  }

  /** A key went down; returns whether it steers (so the page can preventDefault). */
  keyDown(code) {
    if (!keyDirection(code)) return false;
    this.held.add(code);
    return true;
  }

  keyUp(code) {
    return this.held.delete(code);
  }

  /** Forget held keys (the window lost focus: their keyup will never come). */
  releaseAll() {
    this.held.clear();
  }

  /** Force a direction until `force(null)`; it wins over keys and pointer. */
  force(dx, dy) {
    this.forced = dx === null || dx === undefined ? null : [Number(dx) || 0, Number(dy) || 0];
  }

  /** The direction to send: forced, else held keys (unit length), else the pointer, else stop. */
  direction() {
    if (this.forced) return this.forced;
    if (this.held.size) {
      let dx = 0;
      let dy = 0;
      for (const code of this.held) {
        const [kx, ky] = KEY_DIRECTIONS[code];
        dx += kx;
        dy += ky;
      }
      dx = Math.sign(dx);
      dy = Math.sign(dy);
      const length = Math.hypot(dx, dy);
      // Opposite keys cancel out: stop, rather than fall back to the pointer.
      return length ? [dx / length, dy / length] : [0, 0];
    }
    return this.pointer ?? [0, 0];
  }
}
