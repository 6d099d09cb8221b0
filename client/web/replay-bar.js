/**
 * The controls of a replay (`sdk/replay.js`), added to whatever game page plays it: a "Replay"
 * badge, play/pause, the time, a timeline to scrub, the speed (0.25x to 8x) and whose view to
 * follow (the stream's viewers; "Everyone" is the public view). The page's own controls are
 * hidden (forms, chat, the game's buttons) and its game area made inert: a replay sends nothing.
 * Names come from the server and reach the DOM through `textContent` only.
 */

import { SPEEDS, formatMs } from './sdk/replay.js';

const STYLE = `
body.replaying #setup, body.replaying .controls, body.replaying #chat-form, body.replaying .hud-help,
body.replaying .hud-touch-help, body.replaying #play-again, body.replaying #room-line,
body.replaying #code-row { display: none !important; }
body.replaying #game-root { cursor: default; }
body.replaying main { padding-bottom: 6rem; }
#replay-bar { position: fixed; left: 50%; bottom: 0.75rem; transform: translateX(-50%); z-index: 50;
  display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 0.75rem; max-width: calc(100vw - 1.5rem);
  box-sizing: border-box; padding: 0.5rem 0.75rem; border-radius: 0.6rem; background: rgba(20, 22, 30, 0.92);
  color: #f2f2f5; font: 14px/1.3 system-ui, sans-serif; box-shadow: 0 4px 18px rgba(0, 0, 0, 0.35); }
#replay-bar .replay-badge { background: #c0392b; color: #fff; font-weight: 700; letter-spacing: 0.04em;
  text-transform: uppercase; font-size: 12px; padding: 0.15rem 0.45rem; border-radius: 0.3rem; }
#replay-bar button { min-width: 4.5rem; padding: 0.3rem 0.6rem; }
#replay-bar input[type=range] { flex: 1 1 14rem; min-width: 10rem; }
#replay-bar select { padding: 0.2rem; max-width: 12rem; }
#replay-bar .replay-time { font-variant-numeric: tabular-nums; white-space: nowrap; }
#replay-bar .replay-message { flex-basis: 100%; margin: 0; color: #ffd27a; }
#replay-bar .replay-message[hidden] { display: none; }
#replay-bar a { color: #9cc7ff; }
`;

const STEP_MS = 5000; // what an arrow key skips

/** True when `target` takes keys itself (a form control, an editable element). */
function typing(target) {
  const tag = target?.tagName;
  return Boolean(target?.isContentEditable) || ['INPUT', 'SELECT', 'TEXTAREA', 'BUTTON'].includes(tag);
}

/** `<tag class=className>` with text `text` (never markup). */
function el(doc, tag, className = '', text = '') {
  const node = doc.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** The viewer picker's words for `viewer` ({player, name}). */
export function viewerLabel(viewer) {
  const name = typeof viewer?.name === 'string' && viewer.name ? viewer.name : `player ${viewer?.player}`;
  return `${name} (player ${viewer?.player})`;
}

/** The time line: "0:12 / 1:30". */
export function timeText(position, duration) {
  return `${formatMs(position)} / ${formatMs(duration)}`;
}

/** Add the controls of `replay` (a ReplayConnection) to `doc`'s page; returns the bar. */
export function mountReplayBar(replay, doc = globalThis.document) {
  const style = el(doc, 'style');
  style.textContent = STYLE;
  doc.head.append(style);
  doc.body.classList.add('replaying');
  doc.body.dataset.replay = replay.id;
  // The game's own buttons stay visible (a board, say) but cannot be used.
  const root = doc.getElementById('game-root');
  if (root) root.inert = true;

  const bar = el(doc, 'section');
  bar.id = 'replay-bar';
  bar.setAttribute('aria-label', 'Replay controls');
  const badge = el(doc, 'span', 'replay-badge', 'Replay');
  badge.id = 'replay-badge';
  const play = el(doc, 'button', '', 'Play');
  play.id = 'replay-play';
  play.type = 'button';
  const time = el(doc, 'span', 'replay-time', timeText(0, 0));
  time.id = 'replay-time';
  const timeline = el(doc, 'input');
  Object.assign(timeline, { id: 'replay-timeline', type: 'range', min: '0', max: '0', step: '10', value: '0' });
  timeline.setAttribute('aria-label', 'Timeline');
  const speed = el(doc, 'select');
  speed.id = 'replay-speed';
  speed.setAttribute('aria-label', 'Speed');
  for (const s of SPEEDS) {
    const option = el(doc, 'option', '', `${s}x`);
    option.value = String(s);
    speed.append(option);
  }
  speed.value = String(replay.speed);
  const viewer = el(doc, 'select');
  viewer.id = 'replay-viewer';
  viewer.setAttribute('aria-label', 'Whose view');
  const refresh = el(doc, 'button', 'secondary', 'Catch up');
  refresh.id = 'replay-refresh';
  refresh.type = 'button';
  refresh.title = 'Load what was played since this page loaded';
  refresh.hidden = true;
  const all = el(doc, 'a', '', 'All replays');
  all.href = '/replays';
  all.id = 'replay-all';
  const message = el(doc, 'p', 'replay-message');
  message.id = 'replay-message';
  message.setAttribute('role', 'status');
  message.hidden = true;
  bar.append(badge, play, time, timeline, speed, viewer, refresh, all, message);
  doc.body.append(bar);

  let scrubbing = false;
  let wanted = null; // the position the timeline was dragged to, not yet shown
  play.addEventListener('click', () => replay.toggle());
  // A drag fires many inputs; a seek back feeds the match again from its start, so only the
  // latest position is shown, once per frame.
  const seekSoon = () => {
    const first = wanted === null;
    wanted = Number(timeline.value);
    if (!first) return;
    const run = () => {
      const to = wanted;
      wanted = null;
      replay.seek(to);
    };
    if (doc.defaultView?.requestAnimationFrame) doc.defaultView.requestAnimationFrame(run);
    else run();
  };
  timeline.addEventListener('input', () => {
    scrubbing = true;
    seekSoon();
  });
  timeline.addEventListener('change', () => {
    scrubbing = false;
    seekSoon();
  });
  speed.addEventListener('change', () => replay.setSpeed(Number(speed.value)));
  refresh.addEventListener('click', async () => {
    refresh.disabled = true;
    await replay.refresh();
    refresh.disabled = false;
  });
  // Space plays and pauses, the arrows step 5 s: unless a control has the keys.
  doc.defaultView?.addEventListener('keydown', (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key === ' ') replay.toggle();
    else if (event.key === 'ArrowLeft') replay.seek(replay.now() - STEP_MS);
    else if (event.key === 'ArrowRight') replay.seek(replay.now() + STEP_MS);
    else return;
    event.preventDefault();
  });
  viewer.addEventListener('change', async () => {
    const wanted = Number(viewer.value);
    viewer.disabled = true;
    const ok = await replay.setViewer(wanted);
    viewer.disabled = false;
    if (ok) {
      // The address names the view, so a reload or a shared link shows the same one.
      const url = new URL(doc.location.href);
      url.searchParams.set('viewer', String(replay.viewer));
      doc.defaultView?.history.replaceState(null, '', url.href);
    }
    fillViewers();
  });

  function fillViewers() {
    viewer.replaceChildren();
    const everyone = el(doc, 'option', '', 'Everyone (public view)');
    everyone.value = '0';
    viewer.append(everyone);
    for (const v of replay.viewers) {
      if (!Number.isInteger(v?.player) || v.player === 0) continue;
      const option = el(doc, 'option', '', viewerLabel(v));
      option.value = String(v.player);
      viewer.append(option);
    }
    viewer.value = String(replay.viewer ?? 0);
    // While the match is played only one's own view may be watched (the server says so too).
    viewer.disabled = !replay.finished;
    viewer.title = replay.finished ? '' : 'Other views open once the match is over';
  }

  function say(text) {
    message.textContent = text || '';
    message.hidden = !text;
  }

  function update() {
    const position = replay.now();
    time.textContent = timeText(position, replay.duration);
    timeline.max = String(Math.round(replay.duration));
    if (!scrubbing && wanted === null) timeline.value = String(Math.round(position));
    play.textContent = replay.playing ? 'Pause' : 'Play';
    play.disabled = !replay.connected;
    timeline.disabled = !replay.connected;
    bar.dataset.state = replay.error && !replay.connected ? 'error' : replay.playing ? 'playing' : 'paused';
    if (replay.error) say(replay.error.message);
    else if (replay.connected && !replay.finished) say('This match is still being played: the replay ends where it was when loaded (Catch up loads what was played since).');
    else say(null);
    refresh.hidden = !replay.connected || replay.finished;
  }

  replay.on('loaded', fillViewers);
  replay.on('change', update);
  replay.on('ended', update);
  fillViewers();
  update();
  doc.defaultView?.setInterval(update, 200);
  return bar;
}
