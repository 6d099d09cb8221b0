import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Arena } from '../sdk/arena.js';
import { ReplayClock, ReplayConnection, SPEEDS, formatMs, replayError, replayTarget } from '../sdk/replay.js';
import { timeText, viewerLabel } from '../replay-bar.js';
import { Clock } from './fakes.mjs';

const VIEW = (status, extra = {}) => ({ status, players: [{ id: 1, name: 'ann' }, { id: 2, name: 'bob' }], ...extra });

/** A dice-like recording as player `viewer` saw it: joined at 0, states at 1 s and 2.5 s, left at 4 s. */
function stream(viewer = 1, extra = {}) {
  return {
    id: 'abc123',
    mode: 'dice',
    version: '1',
    finished: true,
    viewer,
    viewers: [{ player: 1, name: 'ann' }, { player: 2, name: 'bob' }],
    duration_ms: 4000,
    tick_rate: 0,
    events: [
      [0, { type: 'joined', room: 'r1', mode: 'dice', player: viewer, code: 'K7QX', resume: 'secret', state: VIEW('waiting', { me: viewer }) }],
      [1000, { type: 'state', ...VIEW('playing', { me: viewer, turn: 1, seen: viewer }) }],
      [1000, { type: 'match_started' }],
      [2500, { type: 'state', ...VIEW('playing', { me: viewer, turn: 2, seen: viewer }) }],
      [4000, { type: 'left', reason: 'closed' }],
    ],
    ...extra,
  };
}

/** A fetch answering the stream URL from `answer(url)`: `[status, body]`. */
function fakeFetch(answer) {
  const calls = [];
  const fetchImpl = async (url) => {
    calls.push(url);
    const [status, body] = answer(url);
    return { ok: status >= 200 && status < 300, status, json: async () => body };
  };
  return { fetchImpl, calls };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

function setup({ location = { pathname: '/replays/abc123', search: '?viewer=1' }, answer } = {}) {
  const clock = new Clock();
  const { fetchImpl, calls } = fakeFetch(answer ?? ((url) => {
    const viewer = Number(new URL(url, 'http://x').searchParams.get('viewer') ?? 1);
    return [200, stream(viewer)];
  }));
  const store = { saves: [] };
  const arena = new Arena({
    fetchImpl,
    location,
    resume: { load: () => 'live-token', save: (token) => store.saves.push(token) },
    connection: { now: clock.now, setTimer: clock.set, clearTimer: clock.clear, WebSocketImpl: class {
      constructor() {
        throw new Error('a replay opens no socket');
      }
    } },
  });
  const seen = { states: [], joined: [], left: [], failed: [], types: [] };
  arena.onState((view, msg, at) => seen.states.push([view.turn ?? null, msg.type, at]));
  arena.onJoined((msg) => seen.joined.push(msg));
  arena.onLeft((msg) => seen.left.push(msg));
  arena.onJoinFailed((info) => seen.failed.push(info));
  for (const type of ['match_started', 'left']) arena.on(type, () => seen.types.push(type));
  return { clock, arena, seen, calls, store, replay: arena.replay };
}

test('replayTarget reads /replays/<id> and ?replay=<id>, with an optional whole-number viewer', () => {
  assert.deepEqual(replayTarget({ pathname: '/replays/abc123', search: '?viewer=2' }), { id: 'abc123', viewer: 2 });
  assert.deepEqual(replayTarget({ pathname: '/replays/abc123/', search: '' }), { id: 'abc123', viewer: null });
  assert.deepEqual(replayTarget({ pathname: '/play', search: '?mode=dice&replay=f00&viewer=0' }), { id: 'f00', viewer: 0 });
  assert.deepEqual(replayTarget({ pathname: '/replays/x', search: '?viewer=-1' }), { id: 'x', viewer: null });
  assert.deepEqual(replayTarget({ pathname: '/replays/x', search: '?viewer=two' }), { id: 'x', viewer: null });
  assert.equal(replayTarget({ pathname: '/play', search: '?mode=dice' }), null);
  assert.equal(replayTarget({ pathname: '/replays', search: '' }), null);
  assert.equal(replayTarget(undefined), null);
});

test('the clock runs at its speed, pauses, seeks, never leaves the recording and restarts at the end', () => {
  const clock = new Clock();
  const rc = new ReplayClock({ now: clock.now, duration: 10000 });
  assert.equal(rc.position(), 0);
  clock.advance(500);
  assert.equal(rc.position(), 0, 'paused until played');
  rc.play();
  clock.advance(1000);
  assert.equal(rc.position(), 1000);
  rc.setSpeed(4);
  clock.advance(500);
  assert.equal(rc.position(), 3000);
  rc.setSpeed(0.25);
  clock.advance(400);
  assert.equal(rc.position(), 3100);
  assert.equal(rc.delayUntil(3200), 400, 'local ms until a position, at the speed');
  rc.pause();
  assert.equal(rc.delayUntil(3200), Infinity);
  clock.advance(5000);
  assert.equal(rc.position(), 3100);
  rc.setSpeed(100);
  assert.equal(rc.speed, SPEEDS[SPEEDS.length - 1]);
  rc.setSpeed(0);
  assert.equal(rc.speed, SPEEDS[0]);
  rc.setSpeed('fast');
  assert.equal(rc.speed, SPEEDS[0], 'garbage leaves the speed alone');
  rc.seek(-50);
  assert.equal(rc.position(), 0);
  rc.seek(99999);
  assert.equal(rc.position(), 10000);
  assert.ok(rc.ended);
  rc.play();
  assert.equal(rc.position(), 0, 'play at the end plays again');
  rc.setSpeed(8);
  clock.advance(60000);
  assert.equal(rc.position(), 10000, 'never past the end');
});

test('a replay page fetches the stream and feeds it to the SDK at the recorded times, sending nothing', async () => {
  const { clock, arena, seen, calls, store, replay } = setup();
  assert.ok(arena.replaying);
  arena.connect().join({ mode: 'dice' });
  await settle();
  assert.deepEqual(calls, ['/api/replays/abc123/stream?viewer=1']);
  assert.ok(arena.connected);
  assert.equal(replay.duration, 4000);
  assert.ok(replay.playing, 'plays once loaded');
  // The first event, the joined, at once; its resume token stays out of the page.
  assert.equal(seen.joined.length, 1);
  assert.equal(seen.joined[0].resume, undefined);
  assert.equal(arena.player, 1);
  assert.equal(arena.code, 'K7QX');
  assert.deepEqual(seen.states, [[null, 'joined', 0]]);
  clock.advance(999);
  assert.equal(seen.states.length, 1);
  clock.advance(1);
  assert.deepEqual(seen.states.at(-1), [1, 'state', 1000]);
  assert.deepEqual(seen.types, ['match_started']);
  assert.equal(arena.now(), 1000, 'the page is on the recording\'s clock');
  assert.equal(arena.send('bid', { count: 1, face: 2 }), false);
  assert.equal(arena.connection.sendChat('hi'), false);
  assert.equal(arena.leave(), false);
  replay.setSpeed(2);
  clock.advance(750);
  assert.deepEqual(seen.states.at(-1), [2, 'state', 2500]);
  clock.advance(749);
  assert.equal(seen.left.length, 0);
  let ended = 0;
  replay.on('ended', () => ended++);
  clock.advance(1);
  assert.equal(seen.left.length, 1);
  assert.equal(ended, 1);
  assert.equal(replay.playing, false, 'stops at the end');
  assert.equal(arena.joined, null);
  assert.deepEqual(store.saves, [], 'no resume token saved or dropped: a live seat elsewhere keeps its own');
});

test('pausing holds the messages back; seeking forward feeds what lies between at once', async () => {
  const { clock, seen, replay, arena } = setup();
  arena.connect();
  await settle();
  replay.pause();
  clock.advance(5000);
  assert.equal(seen.states.length, 1);
  replay.seek(2600);
  assert.deepEqual(seen.states.map((s) => s[2]), [0, 1000, 2500]);
  assert.equal(seen.joined.length, 1, 'forward: no new joined');
  assert.equal(replay.now(), 2600);
  replay.play();
  clock.advance(1399);
  assert.equal(seen.left.length, 0);
  clock.advance(1);
  assert.equal(seen.left.length, 1);
});

test('seeking back feeds the match again from the start: a second joined, then the state of that moment', async () => {
  const { clock, seen, replay, arena } = setup();
  arena.connect();
  await settle();
  clock.advance(3000);
  assert.equal(arena.state.turn, 2);
  replay.seek(1200);
  assert.equal(seen.joined.length, 2);
  assert.deepEqual(seen.states.slice(-2).map((s) => s.slice(1)), [['joined', 0], ['state', 1000]]);
  assert.equal(arena.state.turn, 1);
  assert.equal(arena.inRoom, true);
  // The page's copies are its own: changing one does not change the next feed.
  seen.joined[1].state.status = 'scribbled';
  replay.seek(0);
  assert.equal(seen.joined[2].state.status, 'waiting');
  clock.advance(1000);
  assert.equal(arena.state.turn, 1);
  // Seeking back from the very end after it ended, then playing, plays on.
  clock.advance(5000);
  assert.equal(replay.playing, false);
  replay.play();
  assert.equal(replay.now(), 0);
  assert.equal(seen.joined.length, 4);
});

test('changing the viewer fetches that view and shows it up to where the replay is', async () => {
  const { clock, seen, replay, arena, calls } = setup();
  arena.connect();
  await settle();
  clock.advance(1500);
  assert.equal(arena.state.seen, 1);
  assert.ok(await replay.setViewer(2));
  assert.equal(calls.at(-1), '/api/replays/abc123/stream?viewer=2');
  assert.equal(replay.viewer, 2);
  assert.equal(arena.player, 2);
  assert.equal(arena.state.seen, 2);
  assert.equal(replay.now(), 1500);
  assert.ok(replay.playing, 'it kept playing');
  clock.advance(1000);
  assert.deepEqual(seen.states.at(-1), [2, 'state', 2500]);
});

test('a viewer seated after the start is shown from its joined, not left on the previous view', async () => {
  const late = (viewer) => {
    const data = stream(viewer);
    if (viewer === 2) data.events = [[300, { type: 'match_started' }], [500, { ...data.events[0][1] }], ...data.events.slice(1)];
    return [200, data];
  };
  const { replay, arena, seen } = setup({ answer: (url) => late(Number(new URL(url, 'http://x').searchParams.get('viewer'))) });
  arena.connect();
  await settle();
  replay.pause();
  assert.ok(await replay.setViewer(2));
  assert.equal(arena.player, 2);
  assert.equal(replay.now(), 0, 'the clock stays where it was');
  assert.deepEqual(seen.types, ['match_started'], 'what came before the joined came first');
  replay.seek(0);
  assert.equal(arena.player, 2);
  assert.equal(seen.joined.length, 3);
});

test('a live match ends where it was loaded; refresh fetches the rest and plays on', async () => {
  let fetches = 0;
  const live = () => {
    fetches += 1;
    const data = stream(1, { finished: false });
    // The first fetch: up to 1 s; the second: all of it so far.
    data.events = fetches === 1 ? data.events.slice(0, 3) : data.events.slice(0, 4);
    data.duration_ms = fetches === 1 ? 1000 : 2500;
    return [200, data];
  };
  const { clock, replay, arena, seen } = setup({ answer: live });
  arena.connect();
  await settle();
  assert.equal(replay.finished, false);
  clock.advance(1000);
  assert.ok(replay.ended);
  assert.equal(replay.playing, false);
  assert.ok(await replay.refresh());
  assert.equal(replay.duration, 2500);
  assert.ok(replay.playing, 'plays on from where it ended');
  assert.equal(replay.now(), 1000);
  clock.advance(1500);
  assert.deepEqual(seen.states.at(-1), [2, 'state', 2500]);
  assert.ok(replay.ended);
});

test('a viewer the server refuses keeps the current view and says why', async () => {
  let refuse = false;
  const { clock, replay, arena, seen } = setup({
    answer: () => (refuse ? [403, { error: 'forbidden', message: 'Only your own view while the match is live.' }] : [200, stream(1)]),
  });
  arena.connect();
  await settle();
  clock.advance(1000);
  refuse = true;
  assert.equal(await replay.setViewer(2), false);
  assert.equal(replay.error.message, 'Only your own view while the match is live.');
  assert.equal(replay.viewer, 1);
  assert.equal(arena.state.seen, 1);
  assert.equal(seen.failed.length, 0, 'the page is not told the replay is gone');
});

test('an unknown replay fails like a join: a clear message, no socket, nothing played', async () => {
  const { arena, seen, replay } = setup({
    location: { pathname: '/replays/nope', search: '' },
    answer: () => [404, { error: 'replay_not_found', message: 'No replay has the id "nope".' }],
  });
  arena.connect();
  await settle();
  assert.equal(arena.connected, false);
  assert.deepEqual(seen.failed, [{ code: 'replay_not_found', message: 'No replay has the id "nope".', wasSeated: false }]);
  assert.equal(replay.error.status, 404);
  replay.play();
  assert.equal(replay.playing, false);
});

test('replayError words a refusal without a message, and a server out of reach', () => {
  assert.match(replayError(404, null, 'x1').message, /No replay has the id “x1”/);
  assert.match(replayError(403, {}, 'x1').message, /not yours to watch/);
  assert.match(replayError(200, { events: [] }, 'x1').message, /nothing to show/);
  assert.deepEqual(replayError(0, null, 'x1'), { status: 0, code: 'unreachable', message: 'The server cannot be reached.' });
  assert.equal(replayError(500, { error: 'boom' }, 'x1').code, 'boom');
});

test('an empty or malformed stream is refused; events that are not messages are skipped', async () => {
  const { arena, seen } = setup({ answer: () => [200, { ...stream(1), events: [] }] });
  arena.connect();
  await settle();
  assert.equal(seen.failed.length, 1);
  const second = setup({
    answer: () => [200, { ...stream(1), events: [[0, { type: 'joined', room: 'r', player: 1, state: {} }], 'junk', [5, null], ['x', { type: 'state' }]] }],
  });
  second.arena.connect();
  await settle();
  assert.equal(second.seen.joined.length, 1);
  assert.equal(second.replay.events.length, 1);
});

test('a live page is untouched: no replay, a real connection', () => {
  const arena = new Arena({ url: 'ws://example/ws', location: { pathname: '/play', search: '?mode=dice', protocol: 'http:', host: 'x' } });
  assert.equal(arena.replaying, false);
  assert.equal(arena.replay, null);
  assert.equal(arena.connection.replaying, undefined);
  const ignored = new Arena({ url: 'ws://example/ws', replay: false, location: { pathname: '/replays/abc', search: '' } });
  assert.equal(ignored.replaying, false);
});

test('a ReplayConnection closes for good and feeds nothing more', async () => {
  const clock = new Clock();
  const { fetchImpl } = fakeFetch(() => [200, stream(1)]);
  const rc = new ReplayConnection({ id: 'abc123', viewer: 1, fetchImpl, now: clock.now, setTimer: clock.set, clearTimer: clock.clear });
  const got = [];
  rc.on('message', (msg) => got.push(msg.type));
  const closes = [];
  rc.on('close', (info) => closes.push(info));
  rc.connect();
  await settle();
  rc.close();
  clock.advance(10000);
  assert.deepEqual(got, ['joined']);
  assert.equal(closes.length, 1);
  assert.equal(closes[0].retryInMs, null);
});

test('the bar\'s words: times and viewers', () => {
  assert.equal(formatMs(0), '0:00');
  assert.equal(formatMs(61999), '1:01');
  assert.equal(formatMs(3723000), '1:02:03');
  assert.equal(timeText(12000, 90000), '0:12 / 1:30');
  assert.equal(viewerLabel({ player: 2, name: 'bob' }), 'bob (player 2)');
  assert.equal(viewerLabel({ player: 3 }), 'player 3 (player 3)');
});
