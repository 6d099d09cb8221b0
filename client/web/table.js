/**
 * The table page of a turn-based game (game.html): what every such page shares, on the SDK.
 * It joins as the URL says (`?mode=M` quick play, `&create=private` a new table with the
 * options in the other query arguments, `&code=C` a private table, `?room=ID`), keeps the
 * banner (drops, reconnects), the table's code, the "another table" forms (options from
 * GET /api/modes), refusals, and a turn clock. The game's own module draws the view into
 * #game-root. Everything from the network reaches the DOM through `textContent` only.
 */

import { mountAnnouncements } from './banner.js';
import { DropNotice } from './net/drops.js';
import { fillOptions, optionsFrom } from './options.js';
import { loadResume, saveResume } from './resume.js';
import { Arena, leftText, spectatorsText, watchingFrom } from './sdk/arena.js';

export const $ = (id) => document.getElementById(id);

/** `<tag class=className>` holding `children` (strings become text, never markup). */
export function el(tag, className = '', ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}


/** What a refusal means to a player. */
const REFUSALS = {
  room_not_found: 'No table has that code (or it is gone).',
  room_full: 'That table is full.',
  room_locked: 'That table has already started.',
  spectators_full: 'That table has as many spectators as it takes; try again later.',
  not_your_turn: 'It is not your turn.',
  rate_limited: 'Slow down a little.',
};

/** Seconds left on a turn, shown in an element: restarted by the page when the turn changes. */
export class TurnClock {
  constructor(node, now = () => performance.now()) {
    this.node = node;
    this.now = now; // the page's clock: pass `page.now`, which in a replay follows the recording
    this.deadline = null;
    this.key = undefined;
    setInterval(() => this.draw(), 250);
  }

  /** A new turn (`key` changed): count `seconds` down from now. Same key: keep counting. */
  turn(key, seconds) {
    if (key === this.key) return;
    this.key = key;
    this.deadline = key === null || !seconds ? null : this.now() + seconds * 1000;
    this.draw();
  }

  /** Seconds left, or null without a running turn. */
  get left() {
    return this.deadline === null ? null : Math.max(0, Math.ceil((this.deadline - this.now()) / 1000));
  }

  draw() {
    if (this.node) this.node.textContent = this.left === null ? '' : `${this.left} s`;
  }
}

export class TablePage {
  constructor() {
    this.mode = $('game').dataset.mode;
    this.params = new URLSearchParams(window.location.search);
    this.arena = new Arena({ resume: { load: loadResume, save: saveResume } });
    this.root = $('game-root');
    this.drops = new DropNotice();
    this.states = 0;
    this.gone = null; // the join failed for good: what the page says instead of the game
    this.lastCode = this.params.get('code');
    this.lastRoom = null; // the room we were seated in, to notice being moved to another
    // The clock of the page's timers: the recording's in a replay (paused, sped up with it).
    this.now = () => this.arena.now();
    // Nothing of the game (its buttons least of all) shows before the table's first state.
    this.root.hidden = true;
  }

  /** Run the page: `render(view, page)` after `joined` and every state. */
  start(render) {
    const arena = this.arena;
    arena.onOpen(() => {
      this.drops.opened();
      this.banner(null);
    });
    arena.onClose((info) => {
      if (info.sessionEnded || this.gone) return;
      this.banner(info.replaced ? 'You are playing in another tab or window.' : this.drops.closed(info));
      // The table drawn is the one before the drop: dim it and take its controls away until
      // the server answers again (it may not have the table any more).
      this._stale(true);
    });
    arena.onLoggedOut(() => {
      const next = window.location.pathname + window.location.search;
      window.location.assign(`/login?next=${encodeURIComponent(next)}`);
    });
    arena.on('server_closing', (msg) => this.drops.message(msg));
    // Kicked, or the game closed the room: its reason stays up, above the game.
    arena.onLeft((msg) => {
      const text = leftText(msg);
      if (text) this.banner(text);
    });
    arena.onJoined((msg) => this._joined(msg));
    arena.on('spectators', (msg) => {
      $('spectator-count').textContent = spectatorsText(msg.count);
    });
    arena.onState((view) => {
      if (this.gone) return;
      this.states += 1;
      this.notice(null);
      this._stale(false);
      this.root.hidden = false;
      render(view, this);
    });
    arena.onError((err) => this.notice(REFUSALS[err.code] ?? (err.message || err.code)));
    arena.onJoinFailed((info) => this._gone(info));
    mountAnnouncements(arena);
    this._leaveBeforeGoing();
    this._optionsForm();
    this._exposeTestHook();
    this._join();
  }

  /** Our player id in the room. */
  get me() {
    return this.arena.player;
  }

  /** The line above the game: whose turn, the result...; empty, it takes no room. */
  status(text) {
    const node = $('status');
    node.textContent = text;
    node.hidden = !text;
  }

  /** A refusal or problem, until the next state; null hides it. */
  notice(text) {
    const node = $('notice');
    node.textContent = text || '';
    node.hidden = !text;
  }

  banner(text) {
    const node = $('banner');
    node.textContent = text || '';
    node.hidden = !text;
  }

  /** While the socket is down the table shown may be dead: dimmed, inert, no "Your turn". */
  _stale(stale) {
    const game = $('game');
    if (game.classList.contains('stale') === stale) return;
    game.classList.toggle('stale', stale);
    this.root.inert = stale || this.arena.replaying; // a replay's game is only watched
    if (stale && this.states > 0) this.status('Reconnecting to the table…');
  }

  /** The join failed for good: say so instead of the game, and offer the ways on. */
  _gone(info) {
    const code = this.lastCode ? String(this.lastCode).toUpperCase() : null;
    let title;
    let detail = '';
    if (this.arena.replaying) {
      // The recording could not be had (a wrong or deleted id, a view not ours to watch).
      title = 'This replay cannot be shown.';
      detail = info.message || '';
    } else if (info.code === 'room_not_found' && info.wasSeated) {
      title = 'This table is gone.';
      detail = 'The server restarted or the table was closed; its match cannot go on.';
    } else if (info.code === 'room_not_found') {
      title = code ? `No table with code ${code}.` : 'No such table.';
      detail = 'Check the code with whoever gave it to you, or start a table of your own.';
    } else if (info.code === 'room_closed') {
      title = 'This table is gone.';
      detail = 'The table was closed; its match cannot go on.';
    } else {
      title = REFUSALS[info.code] ?? (info.message || 'This table cannot be joined.');
    }
    this.gone = { code: info.code, title };
    this._stale(false);
    this.root.hidden = true;
    this.notice(null);
    this.banner(null);
    $('room-line').hidden = true;
    this.status(title);
    $('status').className = 'gone-title';
    const mode = encodeURIComponent(this.mode);
    const lobby = el('a', 'button', 'Back to the lobby');
    lobby.href = '/';
    lobby.id = 'gone-lobby';
    const fresh = el('a', 'button secondary', this.arena.replaying ? 'All replays' : 'New private table');
    fresh.href = this.arena.replaying ? '/replays' : `/play?mode=${mode}&create=private`;
    fresh.id = this.arena.replaying ? 'gone-replays' : 'gone-new';
    const quick = el('a', 'button secondary', 'Quick play');
    quick.href = `/play?mode=${mode}`;
    quick.id = 'gone-quick';
    const box = el('div', 'gone', el('p', 'gone-detail', detail), el('p', 'gone-actions', lobby, fresh, quick));
    box.id = 'gone';
    $('status').after(box);
    $('game').dataset.gone = info.code;
  }

  _join() {
    const p = this.params;
    const mode = this.mode;
    if (watchingFrom(p)) this.arena.connect().watch({ room: p.get('room'), code: p.get('code') });
    else if (p.get('code')) this.arena.connect().joinByCode(p.get('code'));
    else if (p.get('create')) {
      this.arena.connect().create({ mode, options: optionsFrom(p), private: p.get('create') !== 'public' });
    } else if (p.get('room')) this.arena.connect().join({ mode, room: p.get('room') });
    else this.arena.connect().join({ mode, options: optionsFrom(p) });
  }

  _joined(msg) {
    // A replay names its match in the address already; seeking back joins the same room again.
    if (this.arena.replaying) return;
    // Seated at another table than the one we were at without asking (a quick-play table gone
    // after a restart is replaced by matchmaking): say so, or the new table passes for the old.
    if (this.lastRoom && msg.room !== this.lastRoom) {
      this.banner('Your table is gone (the server restarted or it closed): this is a new one.');
    }
    this.lastRoom = msg.room;
    // Watching: a badge, and the game's controls hidden (play.css: body.watching).
    document.body.classList.toggle('watching', Boolean(msg.spectator));
    $('watching').hidden = !msg.spectator;
    if (msg.spectator) return; // the address (watch=1) already says what this page shows
    const code = msg.code ?? null;
    if (code) this.lastCode = code;
    $('room-code').textContent = code ?? '';
    $('room-line').hidden = !code;
    // The address now names this table (a reload resumes the seat kept for it; a private
    // table's address is its code, to pass on), not the "create" that made it.
    const url = new URL(window.location.href);
    if (code) url.search = new URLSearchParams({ mode: this.mode, code }).toString();
    else if (this.params.get('create')) url.search = new URLSearchParams({ room: msg.room }).toString();
    if (url.href !== window.location.href) window.history.replaceState(null, '', url.href);
  }

  /** Going elsewhere (lobby, another table) gives the seat up rather than holding it. */
  _leaveBeforeGoing() {
    const leave = () => {
      if (this.arena.inRoom) this.arena.leave();
    };
    for (const id of ['back', 'quick-play']) $(id)?.addEventListener('click', leave);
    for (const id of ['create-form', 'code-form']) $(id)?.addEventListener('submit', leave);
  }

  /** The create form's inputs: one per option of this mode, at its default. */
  async _optionsForm() {
    const box = $('create-options');
    if (!box) return;
    let spec = null;
    try {
      spec = (await this.arena.modes()).find((m) => m.name === this.mode);
    } catch (err) {
      console.warn(String(err));
    }
    fillOptions(box, spec?.options); // labels and hints as the mode declares them
  }

  _exposeTestHook() {
    const page = this;
    window.arena = {
      sdk: page.arena,
      get connected() {
        return page.arena.connected;
      },
      get room() {
        return page.arena.room;
      },
      get player() {
        return page.arena.player;
      },
      get code() {
        return page.arena.code;
      },
      get state() {
        return page.arena.state;
      },
      get states() {
        return page.states;
      },
      get gone() {
        return page.gone;
      },
      get spectating() {
        return page.arena.spectating;
      },
    };
  }
}
