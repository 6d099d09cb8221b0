/**
 * The /play page's heads-up display: ping, frame rate, players, our mass, the room, the room's
 * leaderboard, and the banner that says what the connection is doing. Everything that comes
 * from the network reaches the DOM through `textContent` only.
 */

import { roomName } from './names.js';
import { colorFor } from './render/canvas.js';

/** A dot of the player's circle colour: ties a leaderboard row to a circle on screen. */
function dot(id) {
  const span = document.createElement('span');
  span.className = 'lb-dot';
  span.style.background = colorFor(id);
  return span;
}

function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}

/**
 * Our rank among the players alive, by mass then id as the server ranks its leaderboard:
 * {rank, of}, or null while we are not alive. Every player's mass is in the world already.
 */
export function rankOf(world) {
  const me = world.meView;
  if (!world.joined || !me || !me.alive) return null;
  let rank = 1;
  let of = 0;
  for (const p of world.players.values()) {
    if (!p.alive) continue;
    of += 1;
    if (p.mass > me.mass || (p.mass === me.mass && p.id < me.id)) rank += 1;
  }
  return { rank, of };
}

export class Hud {
  /** The page's elements by role; any of them may be missing. */
  constructor({ ping, fps, players, mass, rank, room, leaderboard, banner }) {
    this.ping = ping;
    this.rank = rank;
    this._rank = null; // our rank when the leaderboard was last drawn
    this.fps = fps;
    this.players = players;
    this.mass = mass;
    this.room = room;
    this.leaderboard = leaderboard;
    this.banner = banner;
    this._leaderboardDirty = true;
  }

  /** The leaderboard (or who is in it) changed: rebuild it at the next `update`. */
  leaderboardChanged() {
    this._leaderboardDirty = true;
  }

  /** Show what `world` and `connection` say now, and the page's frame rate `fps`. */
  update(world, connection, fps) {
    const rtt = connection.connected ? connection.rtt : null;
    setText(this.ping, rtt === null ? '– ms' : `${Math.round(rtt)} ms`);
    setText(this.fps, String(fps));
    setText(this.players, world.joined ? world.playersText() : '0');
    const me = world.meView;
    setText(this.mass, me ? String(me.mass) : '–');
    // The room by its readable name, as the lobby lists it; the id stays in the tooltip.
    setText(this.room, world.room ? roomName(world.room) : '–');
    if (this.room && this.room.title !== (world.room ?? '')) this.room.title = world.room ?? '';
    const rank = rankOf(world);
    setText(this.rank, rank ? `${rank.rank} of ${rank.of}` : '–');
    // Outside the top list our own row follows it, so a changed rank redraws the list.
    if ((rank?.rank ?? null) !== this._rank) {
      this._rank = rank?.rank ?? null;
      this._leaderboardDirty = true;
    }
    if (this._leaderboardDirty) {
      this._leaderboardDirty = false;
      this._renderLeaderboard(world);
    }
  }

  _renderLeaderboard(world) {
    const list = this.leaderboard;
    if (!list) return;
    const items = world.leaderboard.map(({ id, mass }) => {
      const li = document.createElement('li');
      if (id === world.me) li.className = 'me';
      else if (world.isBot?.(id)) li.className = 'bot'; // the server's: greyed a little
      const name = document.createElement('span');
      name.className = 'lb-name';
      name.textContent = world.name(id) ?? `#${id}`;
      const value = document.createElement('span');
      value.className = 'lb-mass';
      value.textContent = String(mass);
      li.append(dot(id), name, ' ', value);
      return li;
    });
    const rank = this._rank;
    if (rank !== null && !world.leaderboard.some(({ id }) => id === world.me)) {
      // Below the top list: our own rank, after a gap.
      const li = document.createElement('li');
      li.className = 'me me-below';
      li.value = rank;
      const name = document.createElement('span');
      name.className = 'lb-name';
      name.textContent = world.name(world.me) ?? 'you';
      const value = document.createElement('span');
      value.className = 'lb-mass';
      value.textContent = String(world.meView?.mass ?? '');
      li.append(dot(world.me), name, ' ', value);
      items.push(li);
    }
    list.replaceChildren(...items);
  }

  /** Show `text` in the banner; null hides it. */
  showBanner(text) {
    const banner = this.banner;
    if (!banner) return;
    if (text) {
      banner.textContent = text;
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
  }
}
