/**
 * Draws one frame of the arena on a canvas: grid, world border, pellets, players and names.
 * Names are data: they are only ever drawn with `fillText`, never parsed as markup.
 */

const GRID_STEP = 50; // world units between grid lines
const VIEW_SPAN = 1000; // world units across the larger screen side at zoom 1, at most
const MIN_SPAN = 650; // and across the smaller side, at least: a phone sees as far as a desktop

const LIGHTNESS_STEPS = [-12, 0, 12]; // three shades of each hue: twins of hue still differ

/** A stable, well-spread colour for an id (`lightness` is the middle of three shades). */
export function colorFor(id, { saturation = 70, lightness = 55 } = {}) {
  // Knuth's multiplicative hash spreads neighbouring ids (1, 2, 3...) across the wheel.
  const hash = Math.imul(Number(id) | 0, 2654435761) >>> 0;
  const h = hash % 360;
  const l = lightness + LIGHTNESS_STEPS[(hash >>> 20) % LIGHTNESS_STEPS.length];
  return `hsl(${h}, ${saturation}%, ${l}%)`;
}

/** The camera zoom for our mass: 1 at the start mass, zooming out slowly as we grow. */
export function zoomFor(mass, startMass = 10) {
  const zoom = (startMass / Math.max(mass, 1)) ** 0.2;
  return Math.min(1.2, Math.max(0.35, zoom));
}

export class CanvasRenderer {
  constructor(canvas, { devicePixelRatio = () => globalThis.devicePixelRatio || 1 } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.devicePixelRatio = devicePixelRatio;
    this.width = 0;
    this.height = 0;
    this.resize();
  }

  /** Match the backing store to the displayed size (call on window resize). */
  resize() {
    const dpr = this.devicePixelRatio();
    const width = this.canvas.clientWidth || globalThis.innerWidth || 800;
    const height = this.canvas.clientHeight || globalThis.innerHeight || 600;
    if (width !== this.width || height !== this.height || dpr !== this._dpr) {
      this.width = width;
      this.height = height;
      this._dpr = dpr;
      this.canvas.width = Math.round(width * dpr);
      this.canvas.height = Math.round(height * dpr);
    }
  }

  /** World units to CSS pixels at `zoom`. */
  scaleFor(zoom) {
    const { width, height } = this;
    return zoom * Math.min(Math.max(width, height) / VIEW_SPAN, Math.min(width, height) / MIN_SPAN);
  }

  /**
   * Draw a frame. `scene`: {world: {width, height, pelletRadius, radiusFactor},
   * camera: {x, y, zoom}, pellets: Map id -> {x, y}, players: [{id, name, x, y, mass, me}],
   * status: text drawn in the middle, or null}.
   */
  draw(scene) {
    this.resize();
    const { ctx, width, height } = this;
    const { world, camera } = scene;
    const scale = this.scaleFor(camera.zoom);
    ctx.setTransform(this._dpr, 0, 0, this._dpr, 0, 0);

    // Outside the world: darker; inside: the grid.
    ctx.fillStyle = '#07090d';
    ctx.fillRect(0, 0, width, height);
    const toX = (x) => (x - camera.x) * scale + width / 2;
    const toY = (y) => (y - camera.y) * scale + height / 2;
    const left = Math.max(0, toX(0));
    const top = Math.max(0, toY(0));
    const right = Math.min(width, toX(world.width));
    const bottom = Math.min(height, toY(world.height));
    if (right > left && bottom > top) {
      ctx.fillStyle = '#10141d';
      ctx.fillRect(left, top, right - left, bottom - top);
      this._grid(left, top, right, bottom, camera, scale);
      ctx.strokeStyle = '#3a4560';
      ctx.lineWidth = 2;
      ctx.strokeRect(toX(0), toY(0), world.width * scale, world.height * scale);
    }

    // Pellets, culled to the screen.
    const pr = Math.max(2, world.pelletRadius * scale);
    const margin = pr + 2;
    for (const [id, p] of scene.pellets || []) {
      const sx = toX(p.x);
      const sy = toY(p.y);
      if (sx < -margin || sy < -margin || sx > width + margin || sy > height + margin) continue;
      ctx.fillStyle = colorFor(id + 7919, { saturation: 80, lightness: 60 });
      ctx.beginPath();
      ctx.arc(sx, sy, pr, 0, Math.PI * 2);
      ctx.fill();
    }

    // Players, smallest first so bigger ones cover them.
    const players = [...(scene.players || [])].sort((a, b) => a.mass - b.mass);
    for (const p of players) {
      const r = Math.sqrt(Math.max(p.mass, 0)) * world.radiusFactor * scale;
      const sx = toX(p.x);
      const sy = toY(p.y);
      if (sx < -r - 100 || sy < -r - 40 || sx > width + r + 100 || sy > height + r + 40) continue;
      ctx.beginPath();
      ctx.arc(sx, sy, r, 0, Math.PI * 2);
      ctx.fillStyle = colorFor(p.id);
      ctx.fill();
      ctx.lineWidth = p.me ? 4 : 2;
      ctx.strokeStyle = p.me ? '#ffffff' : colorFor(p.id, { lightness: 35 });
      ctx.stroke();
      this._name(p, sx, sy, r);
    }

    if (scene.status) this._status(scene.status);
  }

  _grid(left, top, right, bottom, camera, scale) {
    const { ctx, width, height } = this;
    const step = GRID_STEP * scale;
    if (step < 4) return;
    ctx.beginPath();
    const x0 = camera.x - width / 2 / scale;
    const y0 = camera.y - height / 2 / scale;
    let gx = Math.ceil(Math.max(x0, 0) / GRID_STEP) * GRID_STEP;
    for (let sx = (gx - camera.x) * scale + width / 2; sx <= right; sx += step) {
      ctx.moveTo(Math.round(sx) + 0.5, top);
      ctx.lineTo(Math.round(sx) + 0.5, bottom);
    }
    gx = Math.ceil(Math.max(y0, 0) / GRID_STEP) * GRID_STEP;
    for (let sy = (gx - camera.y) * scale + height / 2; sy <= bottom; sy += step) {
      ctx.moveTo(left, Math.round(sy) + 0.5);
      ctx.lineTo(right, Math.round(sy) + 0.5);
    }
    ctx.strokeStyle = '#1c2331';
    ctx.lineWidth = 1;
    ctx.stroke();
  }

  _name(p, sx, sy, r) {
    const { ctx } = this;
    const size = Math.max(12, Math.min(32, r * 0.4));
    ctx.font = `${p.me ? 'bold ' : ''}${Math.round(size)}px system-ui, sans-serif`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.lineWidth = 3;
    ctx.strokeStyle = 'rgba(0, 0, 0, 0.75)';
    ctx.fillStyle = '#ffffff';
    const text = String(p.name ?? '');
    // Small circles get their name below them, so the text stays readable.
    const y = r >= 30 ? sy : sy + r + size * 0.8;
    const maxWidth = Math.max(r * 1.8, 80);
    ctx.strokeText(text, sx, y, maxWidth);
    ctx.fillText(text, sx, y, maxWidth);
  }

  _status(text) {
    const { ctx, width, height } = this;
    ctx.font = '600 22px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.lineWidth = 4;
    ctx.strokeStyle = 'rgba(0, 0, 0, 0.8)';
    ctx.strokeText(text, width / 2, height / 2 - 60);
    ctx.fillStyle = '#e8ecf3';
    ctx.fillText(text, width / 2, height / 2 - 60);
  }
}
