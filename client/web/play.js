/**
 * The arena game's page (/play?mode=arena): join through the SDK (`sdk/arena.js`: reconnects,
 * resume and redirects), steer, and draw the room at animation-frame rate, with our own player
 * predicted and everyone else interpolated (the HUD and banner: `hud.js`, the chat: `chat.js`,
 * the seat kept for a reload: `resume.js`). Everything that comes from the network reaches the
 * DOM through `textContent` only.
 */

import { mountAnnouncements } from './banner.js';
import { ChatBox } from './chat.js';
import { Hud } from './hud.js';
import { optionsFrom } from './options.js';
import { DropNotice } from './net/drops.js';
import { ClockSync, Interpolator } from './net/interpolation.js';
import { Predictor } from './net/prediction.js';
import { ClientWorld, isGlobalChat } from './net/protocol.js';
import { Steering, keyDirection, quantize } from './input.js';
import { CanvasRenderer, zoomFor } from './render/canvas.js';
import { loadResume, saveResume } from './resume.js';
import { Arena, leftText, spectatorsText, watchingFrom } from './sdk/arena.js';

const INPUT_INTERVAL_MS = 100; // 10 Hz
// Phones and small windows: the HUD and chat fold away (tap to open) so the world shows.
const SMALL_SCREEN = '(max-width: 640px), (max-height: 500px)';
const TOUCH = '(pointer: coarse)';
const INPUT_HEARTBEAT_MS = 500; // resend an unchanged direction at least this often
const MAX_SEQ = 2 ** 31 - 1;

const $ = (id) => document.getElementById(id);

class PlayPage {
  constructor() {
    const { mode = '', room = '' } = document.body.dataset;
    this.wanted = { mode: mode || null, room: room || null };
    const params = new URLSearchParams(window.location.search);
    this.code = params.get('code'); // a private room's, as a friend read it out
    this.create = params.get('create'); // 'private' or 'public': a room of our own
    // `watch=1` (the lobby's "Watch"): a spectator, with no controls and the public view.
    this.watch = watchingFrom(params);
    this.world = new ClientWorld();
    this.farewell = null; // what the canvas says once a game kicked us or closed the room
    this.clock = new ClockSync();
    this.interp = new Interpolator();
    this.predictor = new Predictor();
    this.steering = new Steering();
    this.arena = new Arena({ resume: { load: loadResume, save: saveResume } });
    // In a replay (the address names one) the recording is played back through the same
    // callbacks: nothing is sent, and our player is drawn interpolated like the others.
    this.replaying = this.arena.replaying;
    this.connection = this.arena.connection; // the HUD reads its ping, the chat sends through it
    this.renderer = new CanvasRenderer($('game'));

    this.states = 0;
    this.frames = 0;
    this.seq = 0;
    this.lastSent = null; // {dx, dy, at}
    this.needSeed = false;
    this.drops = new DropNotice(); // what the banner says after a drop
    this.camera = { x: this.world.width / 2, y: this.world.height / 2, zoom: 1 };
    this.lastMe = null; // last drawn position of our player (kept while dead)
    this.fps = 0;
    this._fpsFrames = 0;
    this._fpsSince = performance.now();
    this._lastFrameAt = null;
    this.death = null; // {by, mass, seconds, respawned} while the death screen is up
    this.joinFailed = null; // {code, message}: the reason no room could be joined

    this.hud = new Hud({
      ping: $('hud-ping'),
      fps: $('hud-fps'),
      players: $('hud-players'),
      mass: $('hud-mass'),
      rank: $('hud-rank'),
      room: $('room-id'),
      leaderboard: $('room-leaderboard'),
      banner: $('banner'),
    });
    this.chat = new ChatBox({ log: $('chat-log'), form: $('chat-form'), input: $('chat-input') });
  }

  start() {
    const params = new URLSearchParams(window.location.search);
    this._exposeTestHook();
    this._listenNetwork();
    this._listenInput();
    this.chat.listen(this.connection);
    this._listenBack();
    this._listenPanels();
    if (this.watch) this.arena.connect().watch({ room: params.get('room') || this.wanted.room, code: this.code });
    else if (this.code) this.arena.connect().joinByCode(this.code);
    else if (this.create) {
      // A table of our own, with the options the lobby's form put in the address.
      this.arena.connect().create({ mode: this.wanted.mode || 'arena', options: optionsFrom(params), private: this.create !== 'public' });
    }
    else this.arena.connect().join(this.wanted);
    setInterval(() => this._sendInput(false), INPUT_INTERVAL_MS);
    setInterval(() => this._updateHud(), 250);
    this._updateHud();
    const frame = () => {
      this._frame();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }

  // -- network -------------------------------------------------------------------------------

  _listenNetwork() {
    const arena = this.arena;
    arena.onOpen(() => {
      this.drops.opened();
      this.hud.showBanner(null);
    });
    arena.onClose((info) => {
      this._leaveRoom();
      if (info.sessionEnded) return; // onLoggedOut
      if (info.replaced) {
        this.hud.showBanner('You are playing in another tab or window — reload this page to play here.');
      } else {
        // Restarting, shutting down or just lost: only what the close frame says.
        const text = this.drops.closed(info);
        if (text) this.hud.showBanner(text);
      }
    });
    // Logged out (maybe in another tab or on another server): this session is over.
    arena.onLoggedOut(() => {
      this.hud.showBanner('You were logged out.');
      this._toLogin();
    });
    arena.onJoined((msg) => this._showCode(msg));
    arena.on('joined', (msg, receivedAt) => this._onJoined(msg, receivedAt));
    arena.on('state', (msg, receivedAt) => this._onState(msg, receivedAt));
    arena.on('chat', (msg) => this.chat.append(msg.name, msg.text, isGlobalChat(msg)));
    arena.on('spectators', (msg) => {
      $('spectator-count').textContent = spectatorsText(msg.count);
    });
    mountAnnouncements(arena); // operators' announcements: a banner, as on every game page
    arena.on('left', (msg) => {
      this._leaveRoom();
      const text = leftText(msg); // kicked, or the room closed: the game's reason
      if (text) {
        this.hud.showBanner(text);
        this.farewell = 'Out of the room — back to the lobby to play again';
      }
    });
    arena.on('server_closing', (msg) => this.drops.message(msg));
    arena.onError((err) => {
      console.warn(`server: ${err.code}: ${err.message}`);
      if (!arena.inRoom) this._showJoinFailed(err);
    });
  }

  /** A private room shows its code, and the address becomes the code's. Called before the
   * SDK saves the seat's resume token, which is kept per address: a reload resumes. */
  _showCode(msg) {
    if (this.replaying) return; // the address names the replay, not the room; no code to give
    const code = msg.code ?? null;
    $('room-code').textContent = code ?? '–';
    $('code-row').hidden = !code;
    // Watching: a badge, and no controls (no steering is sent, the chat is read-only).
    document.body.classList.toggle('watching', Boolean(msg.spectator));
    $('watching').hidden = !msg.spectator;
    if (msg.spectator) return; // the address (watch=1) already says what this page shows
    if (code && new URLSearchParams(window.location.search).get('code') !== code) {
      window.history.replaceState(null, '', `/play?mode=${encodeURIComponent(msg.mode)}&code=${encodeURIComponent(code)}`);
    }
  }

  /** No room could be joined: say why, plainly, and offer the ways on (quick play, lobby). */
  _showJoinFailed(err) {
    this.joinFailed = { code: err.code, message: err.message };
    const mode = this.wanted.mode || 'arena';
    let text;
    if (err.code === 'room_not_found' && this.code) {
      text = `No room has the code “${this.code}”: it may be mistyped, or the room has closed.`;
    } else if (err.code === 'room_not_found') {
      text = 'That room is gone: it closed, or it never existed.';
    } else if (err.code === 'room_full') {
      text = 'That room is full.';
    } else {
      text = err.message ? `The server said: ${err.message}` : `The server refused (${err.code}).`;
    }
    $('join-failed-text').textContent = text;
    $('join-failed-quick').href = `/play?mode=${encodeURIComponent(mode)}`;
    $('join-failed').hidden = false;
    this.farewell = 'Not in a room';
  }

  _onJoined(msg, receivedAt) {
    this.farewell = null;
    this.joinFailed = null;
    $('join-failed').hidden = true;
    const world = this.world;
    world.apply(msg);
    this.interp.clear();
    this.interp.setTickInterval(world.tickInterval);
    this.predictor.setWorld({ width: world.width, height: world.height, speedFactor: world.speedFactor });
    this.predictor.clear();
    const me = world.meView;
    if (me) {
      this.predictor.reset({ x: me.x, y: me.y, mass: me.mass, at: receivedAt });
      this.camera.x = me.x;
      this.camera.y = me.y;
      // A resumed seat remembers the last input the server processed: stay above it.
      if (Number.isInteger(me.seq)) this.seq = Math.min(Math.max(this.seq, me.seq), MAX_SEQ);
    }
    // `joined` carries no ts: others are seeded from the first state's clock.
    this.needSeed = true;
    this.lastSent = null;
    this.hud.leaderboardChanged();
    this._updateHud();
    this._sendInput(true);
  }

  _onState(msg, receivedAt) {
    const world = this.world;
    if (!world.joined) return;
    this.states += 1;
    // Every state carries the server's `ts`; should one not, place it by the clock estimate.
    const ts = Number.isFinite(msg.ts) ? msg.ts : this.clock.serverNow(receivedAt) ?? receivedAt;
    if (Number.isFinite(msg.ts)) this.clock.observe(ts, receivedAt);
    if (this.needSeed) {
      for (const p of world.players.values()) {
        if (p.id !== world.me || this.replaying) this.interp.reset(p.id, ts - world.tickInterval, p.x, p.y, p.mass);
      }
      this.needSeed = false;
    }
    const wasAlive = Boolean(world.meView?.alive);
    const changes = world.apply(msg);
    for (const [victim, eater, mass, ticks] of changes.eaten) {
      if (victim === world.me) this._showDeath(eater, mass, ticks);
    }
    for (const id of changes.moved) {
      const p = world.players.get(id);
      if (id === world.me && !this.replaying) {
        this.predictor.reconcile({ seq: p.seq, x: p.x, y: p.y, mass: p.mass }, receivedAt, this.connection.rtt ?? 0);
      } else {
        this.interp.push(id, ts, p.x, p.y, p.mass);
      }
    }
    // Spawned, respawned, or everyone at once after a `full` resync (which lists the dead too).
    for (const id of changes.spawned) {
      const p = world.players.get(id);
      if (!p.alive) continue;
      if (id === world.me && this.replaying) {
        this.interp.reset(id, ts, p.x, p.y, p.mass);
        this._respawned();
      } else if (id === world.me && changes.full && wasAlive) {
        this.predictor.reconcile({ seq: p.seq, x: p.x, y: p.y, mass: p.mass }, receivedAt, this.connection.rtt ?? 0);
      } else if (id === world.me) {
        // Respawned: the server dropped our direction; start over from the new spot (standing
        // still while the death screen is up, until Play again).
        this.predictor.reset({ x: p.x, y: p.y, mass: p.mass, at: receivedAt });
        this._respawned();
        this.lastSent = null;
        this._sendInput(true);
      } else {
        this.interp.reset(id, ts, p.x, p.y, p.mass);
      }
      this.hud.leaderboardChanged();
    }
    for (const id of changes.gone) this.interp.remove(id);
    if (changes.leaderboard) this.hud.leaderboardChanged();
  }

  /** The death screen: who ate us, our score (the mass we died at: a life only grows) and how
   * long we lived, from the game's `eaten` row. Play again waits for the respawn. */
  _showDeath(eater, mass, ticks) {
    // A replay shows the moment on the canvas ("You were eaten"), no dialog over the game.
    if (this.replaying) return;
    const world = this.world;
    const seconds = Number.isFinite(ticks) ? (ticks * world.tickInterval) / 1000 : null;
    this.death = { by: world.name(eater), mass: mass ?? null, seconds, respawned: false };
    $('death-by').textContent = world.name(eater) ?? 'someone who left';
    $('death-score').textContent = Number.isFinite(mass) ? String(mass) : '–';
    $('death-time').textContent = seconds === null ? '–' : formatSeconds(seconds);
    const again = $('play-again');
    again.disabled = true;
    again.textContent = 'Respawning…';
    $('death').hidden = false;
  }

  _respawned() {
    if (!this.death) return;
    this.death.respawned = true;
    const again = $('play-again');
    again.disabled = false;
    again.textContent = 'Play again';
    again.focus({ preventScroll: true });
  }

  _playAgain() {
    if (!this.death?.respawned) return;
    this.death = null;
    $('death').hidden = true;
    this.lastSent = null;
    this._sendInput(true);
  }

  /** Out of the room (for good, or until the connection is back). */
  _leaveRoom() {
    this.death = null;
    $('death').hidden = true;
    this.world.reset();
    this.interp.clear();
    this.predictor.clear();
    this.lastMe = null;
    this.hud.leaderboardChanged();
    this._updateHud();
  }

  _toLogin() {
    const next = window.location.pathname + window.location.search;
    window.location.assign(`/login?next=${encodeURIComponent(next)}`);
  }

  // -- input ---------------------------------------------------------------------------------

  _listenInput() {
    const canvas = this.renderer.canvas;
    const onPointer = (event) => {
      const rect = canvas.getBoundingClientRect();
      this.steering.pointerAt(event.clientX - rect.left, event.clientY - rect.top, rect.width, rect.height);
    };
    // Only over the canvas: pointing at the HUD (say, clicking into the chat) keeps the heading.
    canvas.addEventListener('pointermove', onPointer);
    canvas.addEventListener('pointerdown', (event) => {
      onPointer(event);
      if (document.activeElement === this.chat.input) this.chat.input.blur();
    });
    window.addEventListener('keydown', (event) => {
      if (isTyping(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
      const code = keyDirection(event.code) ? event.code : event.key;
      if (this.steering.keyDown(code)) {
        event.preventDefault();
        if (!event.repeat) this._sendInput(false);
      } else if (event.key === 'Enter' && this.death?.respawned) {
        event.preventDefault();
        this._playAgain();
      } else if (event.key === 'Enter' && this.chat.input) {
        event.preventDefault();
        this.chat.input.focus();
      }
    });
    window.addEventListener('keyup', (event) => {
      const code = keyDirection(event.code) ? event.code : event.key;
      if (this.steering.keyUp(code)) this._sendInput(false);
    });
    window.addEventListener('blur', () => this.steering.releaseAll());
  }

  /** Send the current direction when it changed, or as a heartbeat, or when forced. */
  _sendInput(force) {
    const world = this.world;
    const me = world.meView;
    if (!this.connection.inRoom || !me || !me.alive) return;
    // Behind the death screen we stand still: the new life starts with Play again.
    const [dx, dy] = this.death ? [0, 0] : quantize(this.steering.direction());
    const at = this.arena.now();
    const last = this.lastSent;
    const changed = !last || last.dx !== dx || last.dy !== dy;
    if (!force && !changed && at - last.at < INPUT_HEARTBEAT_MS) return;
    // Throttle changes to 10 Hz too (the interval catches up with the latest direction).
    if (!force && changed && last && at - last.at < INPUT_INTERVAL_MS * 0.9) return;
    const seq = this.seq >= MAX_SEQ ? MAX_SEQ : this.seq + 1;
    if (this.connection.sendInput(seq, dx, dy)) {
      this.seq = seq;
      this.predictor.addInput(seq, dx, dy, at);
      this.lastSent = { dx, dy, at };
    }
  }

  // -- leaving -------------------------------------------------------------------------------

  _listenBack() {
    // Leaving on purpose gives the seat up at once (and saves the best mass) instead of
    // holding it for a resume that will not come.
    $('back')?.addEventListener('click', () => this.arena.leave());
    $('play-again').addEventListener('click', () => this._playAgain());
  }

  /** Small screens fold the HUD and chat; a tap on a panel opens or folds it. Touch screens
   * say how to steer and chat by touch. */
  _listenPanels() {
    const small = window.matchMedia(SMALL_SCREEN);
    const fit = () => document.body.classList.toggle('small', small.matches);
    fit();
    small.addEventListener('change', fit);
    for (const panel of document.querySelectorAll('.hud-stats, .hud-leaderboard')) {
      panel.addEventListener('click', () => panel.classList.toggle('open'));
    }
    const chat = document.querySelector('.hud-chat');
    const toggle = $('chat-toggle');
    toggle.addEventListener('click', () => {
      const open = chat.classList.toggle('open');
      toggle.setAttribute('aria-expanded', String(open));
      toggle.textContent = open ? 'Close chat' : 'Chat';
      if (open) this.chat.input.focus();
    });
    if (window.matchMedia(TOUCH).matches) this.chat.input.placeholder = 'Tap here to chat';
  }

  // -- drawing -------------------------------------------------------------------------------

  _frame() {
    const t = this.arena.now(); // a replay's own clock in a replay
    const world = this.world;
    const players = [];
    let status = null;
    const me = this._me(t);
    if (world.joined) {
      for (const p of this._others(t)) players.push(p);
      if (!me && this.arena.spectating) this._watchLeader(players);
      if (me) {
        if (me.alive) {
          players.push({ id: world.me, name: world.name(world.me), x: me.x, y: me.y, mass: me.mass, me: true });
        } else if (!this.death) {
          status = 'You were eaten — respawning…';
        }
        this._follow(me, t);
      } else if (this.replaying) {
        // The public view follows whoever leads.
        const lead = players.reduce((best, p) => (!best || p.mass > best.mass ? p : best), null);
        if (lead) this._follow(lead, t);
      }
    } else {
      status = this.farewell ?? (this.replaying ? replayStatus(this.arena.replay)
        : this.connection.connected ? 'Joining…' : this.drops.everConnected ? 'Reconnecting…' : 'Connecting…');
    }
    this.renderer.draw({
      world,
      camera: this.camera,
      pellets: world.joined ? world.pellets : null,
      players,
      status,
    });
    this.frames += 1;
    this._fpsFrames += 1;
    const real = performance.now(); // frames per second of the page, replay or not
    if (real - this._fpsSince >= 1000) {
      this.fps = Math.round((this._fpsFrames * 1000) / (real - this._fpsSince));
      this._fpsFrames = 0;
      this._fpsSince = real;
    }
  }

  /** A spectator's camera: on the biggest player, zoomed as that player would see. */
  _watchLeader(players) {
    let top = null;
    for (const p of players) if (!top || p.mass > top.mass) top = p;
    if (!top) return;
    this.camera.x = top.x;
    this.camera.y = top.y;
    this.camera.zoom = zoomFor(top.mass);
  }

  _follow(me, t) {
    // A replay's clock jumps back on a seek: no negative step.
    const dt = this._lastFrameAt === null ? 0 : Math.max(0, Math.min(t - this._lastFrameAt, 250));
    this._lastFrameAt = t;
    this.camera.x = me.x;
    this.camera.y = me.y;
    const target = zoomFor(me.mass);
    this.camera.zoom += (target - this.camera.zoom) * (1 - Math.exp(-dt / 400));
  }

  /** Our player at its predicted, smoothed position; the last one seen while dead. */
  _me(t) {
    const view = this.world.meView;
    if (!view) return null;
    if (view.alive && this.replaying) {
      this.lastMe = this._sampled(view, t);
    } else if (view.alive) {
      const pos = this.predictor.display(t) ?? view;
      this.lastMe = { x: pos.x, y: pos.y };
    }
    const pos = this.lastMe ?? view;
    return { x: pos.x, y: pos.y, mass: view.mass, alive: view.alive };
  }

  /** Player `p` interpolated ~100 ms in the past at local time `t` (where it is without). */
  _sampled(p, t) {
    const serverNow = this.clock.serverNow(t);
    const s = serverNow === null ? null : this.interp.sample(p.id, this.interp.renderTime(serverNow));
    return s ? { x: s.x, y: s.y } : { x: p.x, y: p.y };
  }

  /** Everyone else alive, interpolated ~100 ms in the past. */
  _others(t) {
    const world = this.world;
    const serverNow = this.clock.serverNow(t);
    const renderAt = serverNow === null ? null : this.interp.renderTime(serverNow);
    const out = [];
    for (const p of world.players.values()) {
      if (!p.alive || p.id === world.me) continue;
      const s = renderAt === null ? null : this.interp.sample(p.id, renderAt);
      const pos = s ?? p;
      out.push({ id: p.id, name: p.name, x: pos.x, y: pos.y, mass: pos.mass });
    }
    return out;
  }

  // -- HUD -----------------------------------------------------------------------------------

  _updateHud() {
    this.hud.update(this.world, this.connection, this.fps);
  }

  // -- test hook -----------------------------------------------------------------------------

  _exposeTestHook() {
    const page = this;
    window.arena = {
      get connected() {
        return page.connection.connected;
      },
      get room() {
        return page.world.room;
      },
      get player() {
        return page.world.me;
      },
      get world() {
        return page.world;
      },
      get states() {
        return page.states;
      },
      get spectating() {
        return page.arena.spectating;
      },
      get spectators() {
        return page.arena.spectators;
      },
      get frames() {
        return page.frames;
      },
      get replaying() {
        return page.replaying;
      },
      me() {
        return page._me(page.arena.now());
      },
      others() {
        return page._others(page.arena.now()).map(({ id, name, x, y, mass }) => ({ id, name, x, y, mass }));
      },
      get death() {
        return page.death;
      },
      /** The world units the view spans: {width, height}. */
      view() {
        const scale = page.renderer.scaleFor(page.camera.zoom);
        return { width: page.renderer.width / scale, height: page.renderer.height / scale };
      },
      steer(dx, dy) {
        page.steering.force(dx ?? null, dy);
        page._sendInput(false);
      },
    };
  }
}

/** What the canvas says in a replay while no room is shown: loading, refused, or over. */
function replayStatus(replay) {
  if (replay.error && !replay.connected) return replay.error.message;
  if (!replay.connected) return 'Loading the replay…';
  if (replay.ended) return 'The end of the replay: drag the timeline back to watch again';
  return 'Not in the room at this point of the match';
}

function formatSeconds(seconds) {
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

function isTyping(target) {
  if (!target || !(target instanceof Element)) return false;
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}

new PlayPage().start();
