/**
 * The /play page's heads-up display: ping, frame rate, players, our mass, the room, the room's
 * leaderboard, and the banner that says what the connection is doing. Everything that comes
 * from the network reaches the DOM through `textContent` only.
 */

function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}

export class Hud {
  /** The page's elements by role; any of them may be missing. */
  constructor({ ping, fps, players, mass, room, leaderboard, banner }) {
    this.ping = ping;
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
    setText(this.room, world.room ?? '–');
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
      const name = document.createElement('span');
      name.className = 'lb-name';
      name.textContent = world.name(id) ?? `#${id}`;
      const value = document.createElement('span');
      value.className = 'lb-mass';
      value.textContent = String(mass);
      li.append(name, ' ', value);
      return li;
    });
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
