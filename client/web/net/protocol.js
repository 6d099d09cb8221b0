/**
 * The wire protocol (PROTOCOL.md): decoding server frames, building client messages, and
 * `ClientWorld`, the client's picture of one room rebuilt from `joined` and `state` messages.
 * Pure: no DOM, no sockets, so Node's test runner can import it.
 */

/** Parse one text frame; null when it is not JSON or not an object with a string `type`. */
export function decode(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return null;
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || typeof msg.type !== 'string') {
    return null;
  }
  return msg;
}

/** Client-to-server messages, as JSON strings ready for `WebSocket.send`. */
export const messages = {
  /**
   * `seat` (the token of a `redirect`) wins over `resume`, which wins over `code` (a private
   * room's), then `room`, then `mode` (default arena, with its matchmaking `options`): one is
   * sent.
   */
  join({ mode = null, room = null, resume = null, seat = null, code = null, options = null, fields = null, spectate = false } = {}) {
    let msg;
    if (seat) msg = { type: 'join', seat };
    else if (resume) return JSON.stringify({ type: 'join', resume }); // the seat keeps its fields
    else if (spectate && (code || room)) {
      // Watching: no seat, so no fields (a redirect's token says "spectate" by itself).
      return JSON.stringify(code ? { type: 'join', code, spectate: true } : { type: 'join', room, spectate: true });
    } else if (code) msg = { type: 'join', code };
    else if (room) msg = { type: 'join', room };
    else {
      msg = { type: 'join', mode: mode || 'arena' };
      if (options && Object.keys(options).length) msg.options = options;
    }
    if (fields && Object.keys(fields).length) msg.fields = fields; // the game's join fields
    return JSON.stringify(msg);
  },
  /** A new room of `mode` with `options`; a `private` one is joined only by its code. */
  create({ mode, options = null, private: isPrivate = false, fields = null }) {
    const msg = { type: 'create', mode };
    if (options && Object.keys(options).length) msg.options = options;
    if (isPrivate) msg.private = true;
    if (fields && Object.keys(fields).length) msg.fields = fields;
    return JSON.stringify(msg);
  },
  /** A game's own message: `{"type": type, ...body}` (the body cannot change the type). */
  game(type, body = {}) {
    return JSON.stringify({ ...body, type });
  },
  input(seq, dx, dy) {
    return JSON.stringify({ type: 'input', seq, dx, dy });
  },
  ping(id) {
    return JSON.stringify({ type: 'ping', id });
  },
  /** Room chat; with `scope` 'global', to every player of every process (the lobby's chat). */
  chat(text, scope = 'room') {
    return JSON.stringify(scope === 'global' ? { type: 'chat', text, scope } : { type: 'chat', text });
  },
  leave() {
    return JSON.stringify({ type: 'leave' });
  },
};

/** A chat message's text as the server accepts it: trimmed, 1..200 characters, else null. */
export function chatText(raw) {
  const text = String(raw ?? '').trim();
  return text.length >= 1 && text.length <= 200 ? text : null;
}

/** True for a `chat` sent to every process (`"scope": "global"`), not only our room. */
export function isGlobalChat(msg) {
  return msg?.type === 'chat' && msg.scope === 'global';
}

/** The defaults of the arena rules, used until `joined` tells the real world. */
export const DEFAULT_WORLD = Object.freeze({
  width: 1600,
  height: 1600,
  pelletRadius: 5,
  radiusFactor: 4,
  speedFactor: 260,
});

/**
 * The room we are in, as far as the server told us. Feed it every message with `apply`.
 *
 * players: Map id -> {id, name, x, y, mass, seq, alive}
 * away: Set of the ids of players whose connection dropped (their seats held for a resume)
 * bots: Set of the ids of the players the server's own bots play (the view's `bots`)
 * pellets: Map id -> {x, y}
 * leaderboard: [{id, mass}] biggest first
 */
export class ClientWorld {
  constructor() {
    this.reset();
  }

  /** Forget the room (before joining, after `left`). */
  reset() {
    this.room = null;
    this.mode = null;
    this.me = null;
    this.resume = null; // the token that gets our seat back after a drop
    this.tickRate = 0;
    this.tick = 0;
    this.ts = null;
    this.width = DEFAULT_WORLD.width;
    this.height = DEFAULT_WORLD.height;
    this.pelletRadius = DEFAULT_WORLD.pelletRadius;
    this.radiusFactor = DEFAULT_WORLD.radiusFactor;
    this.speedFactor = DEFAULT_WORLD.speedFactor;
    this.players = new Map();
    this.away = new Set();
    this.bots = new Set();
    this.pellets = new Map();
    this.leaderboard = [];
  }

  /** Players in the room who are away (dropped, their seats held for a resume). */
  get awayCount() {
    let n = 0;
    for (const id of this.away) if (this.players.has(id)) n += 1;
    return n;
  }

  /** Players in the room played by the server's bots. */
  get botCount() {
    let n = 0;
    for (const id of this.bots) if (this.players.has(id)) n += 1;
    return n;
  }

  /** Whether player `id` is one of the server's bots. */
  isBot(id) {
    return this.bots.has(id);
  }

  /** The HUD's player count: the people connected, those away and the bots if any
   * ("10 (5 away)", "1 + 7 bots"). */
  playersText() {
    const away = this.awayCount;
    const bots = this.botCount;
    return playersText(this.players.size - away - bots, away, bots);
  }

  /** True once a `joined` has been applied (and no `left` since). */
  get joined() {
    return this.me !== null;
  }

  /** Milliseconds between two states (50 at 20 Hz). */
  get tickInterval() {
    return this.tickRate > 0 ? 1000 / this.tickRate : 50;
  }

  /** Our own player, or null. */
  get meView() {
    return this.me === null ? null : this.players.get(this.me) ?? null;
  }

  radius(mass) {
    return Math.sqrt(Math.max(mass, 0)) * this.radiusFactor;
  }

  name(id) {
    const player = this.players.get(id);
    return player ? player.name : null;
  }

  alivePlayers() {
    const out = [];
    for (const p of this.players.values()) if (p.alive) out.push(p);
    return out;
  }

  /**
   * Apply a `joined` or `state` (other types are ignored). Returns null for other types, else
   * what changed: {joined, moved, spawned, eaten, gone, pellets, leaderboard}, lists of ids
   * (`eaten` of [victim, eater, mass, ticks]) in the order they were applied.
   */
  apply(msg) {
    if (msg?.type === 'joined') return this.applyJoined(msg);
    if (msg?.type === 'state') return this.applyState(msg);
    return null;
  }

  applyJoined(msg) {
    const world = msg.client || {};
    this.room = msg.room ?? null;
    this.mode = msg.mode ?? null;
    this.me = msg.player ?? null;
    this.resume = msg.resume ?? null;
    this.tickRate = Number(msg.tick_rate) || 0;
    this.width = num(world.width, DEFAULT_WORLD.width);
    this.height = num(world.height, DEFAULT_WORLD.height);
    this.pelletRadius = num(world.pellet_radius, DEFAULT_WORLD.pelletRadius);
    this.radiusFactor = num(world.radius_factor, DEFAULT_WORLD.radiusFactor);
    this.speedFactor = num(world.speed_factor, DEFAULT_WORLD.speedFactor);
    // A room's own world size (the arena's grows with its seats) wins over the mode's.
    const size = msg.state?.size;
    if (Array.isArray(size) && size.length === 2) {
      this.width = num(size[0], this.width);
      this.height = num(size[1], this.height);
    }
    this.ts = null;
    this.tick = 0;
    this.away = new Set(Array.isArray(msg.away) ? msg.away : []);
    const changes = this._load(msg.state || {});
    changes.joined = true;
    return changes;
  }

  /**
   * Apply one `state`: either a `full` state that replaces everything (sent after the
   * connection fell behind), or the changes in the order PROTOCOL.md gives: `spawned`
   * (absolute), then `moved` (position deltas), `mass`, `acks`, then `eaten` (a player spawned
   * onto a bigger one can die in the same tick), `gone`, `pellets`, `leaderboard`. Rows about
   * unknown players are ignored.
   */
  applyState(msg) {
    if (msg.tick !== undefined) this.tick = msg.tick;
    if (msg.ts !== undefined) this.ts = msg.ts;
    // The server says who is away in the state after a seat was held, resumed or let go.
    if (Array.isArray(msg.away)) this.away = new Set(msg.away);
    // The arena says which players are the server's bots in the state after that changed.
    if (Array.isArray(msg.bots)) this.bots = new Set(msg.bots);
    if (msg.full && typeof msg.full === 'object') {
      const changes = this._load(msg.full);
      if (msg.tick !== undefined) this.tick = msg.tick;
      return changes;
    }
    const players = this.players;
    const changes = emptyChanges();

    // `spawned` first: its rows are absolute, and `moved` holds deltas from the last position.
    for (const [id, name, x, y, mass, seq] of msg.spawned || []) {
      const previous = players.get(id);
      const known = Number.isFinite(seq) ? seq : previous ? previous.seq : 0;
      players.set(id, { id, name: String(name), x, y, mass, seq: known, alive: true });
      changes.spawned.push(id);
    }
    // The hot lists are flat: moved is (id, dx, dy) triples, mass and acks (id, value) pairs.
    // `changes.moved` lists every player whose position, mass or acknowledged seq changed.
    const touched = new Set();
    const moved = Array.isArray(msg.moved) ? msg.moved : [];
    for (let i = 0; i + 2 < moved.length; i += 3) {
      const p = players.get(moved[i]);
      if (!p) continue;
      p.x += moved[i + 1];
      p.y += moved[i + 2];
      touched.add(p.id);
    }
    const masses = Array.isArray(msg.mass) ? msg.mass : [];
    for (let i = 0; i + 1 < masses.length; i += 2) {
      const p = players.get(masses[i]);
      if (!p) continue;
      p.mass = masses[i + 1];
      touched.add(p.id);
    }
    const acks = Array.isArray(msg.acks) ? msg.acks : [];
    for (let i = 0; i + 1 < acks.length; i += 2) {
      const p = players.get(acks[i]);
      if (!p) continue;
      p.seq = acks[i + 1];
      touched.add(p.id);
    }
    for (const id of touched) changes.moved.push(id);
    for (const row of msg.eaten || []) {
      const p = players.get(row[0]);
      if (!p) continue;
      p.alive = false;
      // [victim, eater], then the victim's mass at its death and the ticks it lived.
      changes.eaten.push(row.slice(0, 4));
    }
    for (const id of msg.gone || []) {
      if (players.delete(id)) changes.gone.push(id);
    }
    const pellets = Array.isArray(msg.pellets) ? msg.pellets : [];
    for (let i = 0; i + 2 < pellets.length; i += 3) {
      this.pellets.set(pellets[i], { x: pellets[i + 1], y: pellets[i + 2] });
      changes.pellets.push(pellets[i]);
    }
    if (Array.isArray(msg.leaderboard)) {
      this.leaderboard = msg.leaderboard.map(([id, mass]) => ({ id, mass }));
      changes.leaderboard = true;
    }
    return changes;
  }

  /**
   * Replace players, pellets and leaderboard with a whole state (`joined.state`, `state.full`).
   * Reported as: `full`, every player in `spawned`, and those no longer there in `gone`.
   */
  _load(state) {
    const before = this.players;
    if (state.tick !== undefined) this.tick = Number(state.tick) || 0;
    this.players = new Map();
    this.bots = new Set(Array.isArray(state.bots) ? state.bots : []);
    for (const [id, name, x, y, mass, seq, alive] of state.players || []) {
      this.players.set(id, { id, name: String(name), x, y, mass, seq, alive: Boolean(alive) });
    }
    this.pellets = new Map();
    for (const [id, x, y] of state.pellets || []) this.pellets.set(id, { x, y });
    this.leaderboard = (state.leaderboard || []).map(([id, mass]) => ({ id, mass }));
    const changes = emptyChanges();
    changes.full = true;
    changes.spawned = [...this.players.keys()];
    changes.gone = [...before.keys()].filter((id) => !this.players.has(id));
    changes.pellets = [...this.pellets.keys()];
    changes.leaderboard = true;
    return changes;
  }
}

/** A room's head count for people: "3", or "3 (2 away)" with players whose seats are held,
 * and "+ 5 bots" after it while the server's bots fill the room. */
export function playersText(connected, away, bots = 0) {
  const people = away > 0 ? `${connected} (${away} away)` : String(connected);
  return bots > 0 ? `${people} + ${bots} bot${bots === 1 ? '' : 's'}` : people;
}

function emptyChanges() {
  return { joined: false, full: false, moved: [], spawned: [], eaten: [], gone: [], pellets: [], leaderboard: false };
}

function num(value, fallback) {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}
