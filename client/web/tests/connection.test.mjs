import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Connection, backoffDelay, socketUrl } from '../net/connection.js';
import { Clock, fakeSockets } from './fakes.mjs';

function setup(options = {}) {
  const clock = new Clock();
  const { sockets, FakeSocket } = fakeSockets();
  const conn = new Connection({
    url: 'ws://example/ws',
    WebSocketImpl: FakeSocket,
    now: clock.now,
    setTimer: clock.set,
    clearTimer: clock.clear,
    random: () => 0.5,
    ...options,
  });
  const events = [];
  for (const type of ['open', 'close', 'message', 'rtt', 'joined', 'left']) {
    conn.on(type, (...args) => events.push([type, ...args]));
  }
  return { clock, sockets, conn, events };
}

const JOINED = (room, mode = 'arena') => ({
  type: 'joined',
  room,
  mode,
  player: 1,
  tick_rate: 20,
  world: {},
  state: { tick: 0, players: [], pellets: [], leaderboard: [] },
});

test('socketUrl is same-origin ws or wss', () => {
  assert.equal(socketUrl({ protocol: 'http:', host: 'localhost:8888' }), 'ws://localhost:8888/ws');
  assert.equal(socketUrl({ protocol: 'https:', host: 'arena.example' }), 'wss://arena.example/ws');
});

test('backoff doubles up to the cap, with jitter', () => {
  const mid = { random: () => 0.5 };
  assert.equal(backoffDelay(0, mid), 500);
  assert.equal(backoffDelay(1, mid), 1000);
  assert.equal(backoffDelay(3, mid), 4000);
  assert.equal(backoffDelay(10, mid), 8000);
  assert.equal(backoffDelay(0, { random: () => 0 }), 400);
  assert.equal(backoffDelay(0, { random: () => 1 }), 600);
});

test('joins on open, pings every second and measures the round trip', () => {
  const { clock, sockets, conn, events } = setup();
  conn.join({ mode: 'arena' });
  conn.connect();
  const ws = sockets[0];
  assert.equal(ws.url, 'ws://example/ws');
  assert.equal(conn.connected, false);
  ws.open();
  assert.equal(conn.connected, true);
  assert.deepEqual(ws.sentOf('join'), [{ type: 'join', mode: 'arena' }]);
  assert.deepEqual(ws.sentOf('ping'), [{ type: 'ping', id: 1 }]);
  clock.advance(40);
  ws.receive({ type: 'pong', id: 1, ts: 123 });
  assert.equal(conn.rtt, 40);
  clock.advance(960);
  assert.equal(ws.sentOf('ping').length, 2);
  clock.advance(20);
  ws.receive({ type: 'pong', id: 2, ts: 124 });
  assert.equal(conn.lastRtt, 20);
  assert.equal(conn.rtt, 35); // smoothed
  ws.receive({ type: 'pong', id: 99, ts: 1 }); // unknown id: ignored
  assert.equal(conn.lastRtt, 20);
  assert.ok(events.some(([type]) => type === 'rtt'));
  ws.receive(JOINED('r1'));
  assert.equal(conn.inRoom, true);
  assert.equal(conn.room, 'r1');
  assert.ok(events.some(([type, msg]) => type === 'joined' && msg.room === 'r1'));
});

test('messages are decoded and passed on with their receive time; garbage is dropped', () => {
  const { clock, sockets, conn, events } = setup();
  conn.connect();
  sockets[0].open();
  clock.advance(250);
  sockets[0].receive({ type: 'state', tick: 1, ts: 5 });
  sockets[0].onmessage({ data: 'not json' });
  const messages = events.filter(([type]) => type === 'message');
  assert.deepEqual(messages, [['message', { type: 'state', tick: 1, ts: 5 }, 250]]);
});

test('send only while connected', () => {
  const { sockets, conn } = setup();
  assert.equal(conn.sendInput(1, 0, 1), false);
  conn.connect();
  sockets[0].open();
  assert.equal(conn.sendInput(1, 0, 1), true);
  assert.equal(conn.sendChat('hi'), true);
  assert.deepEqual(sockets[0].sent.slice(-2), [
    { type: 'input', seq: 1, dx: 0, dy: 1 },
    { type: 'chat', text: 'hi' },
  ]);
});

test('after a drop it reconnects with backoff and re-joins the same room', () => {
  const { clock, sockets, conn, events } = setup();
  conn.join({ mode: 'arena' });
  conn.connect();
  sockets[0].open();
  sockets[0].receive(JOINED('r1'));
  sockets[0].drop();
  assert.equal(conn.connected, false);
  const close = events.find(([type]) => type === 'close');
  assert.equal(close[1].retryInMs, 500);
  assert.equal(close[1].wasConnected, true);
  clock.advance(499);
  assert.equal(sockets.length, 1);
  clock.advance(1);
  assert.equal(sockets.length, 2);
  // The server is still down: the next wait doubles.
  sockets[1].drop();
  clock.advance(999);
  assert.equal(sockets.length, 2);
  clock.advance(1);
  assert.equal(sockets.length, 3);
  sockets[2].open();
  assert.deepEqual(sockets[2].sentOf('join'), [{ type: 'join', room: 'r1' }]);
  sockets[2].receive(JOINED('r1'));
  assert.equal(conn.attempts, 0);
});

test('room_not_found on re-join falls back to the same mode', () => {
  const { clock, sockets, conn } = setup();
  conn.join({ mode: 'arena' });
  conn.connect();
  sockets[0].open();
  sockets[0].receive(JOINED('r1', 'arena'));
  sockets[0].drop();
  clock.advance(500);
  sockets[1].open();
  sockets[1].receive({ type: 'error', code: 'room_not_found', message: 'no room r1' });
  assert.deepEqual(sockets[1].sentOf('join'), [
    { type: 'join', room: 'r1' },
    { type: 'join', mode: 'arena' },
  ]);
  sockets[1].receive(JOINED('r2', 'arena'));
  assert.equal(conn.room, 'r2');
});

test('joining a room by id falls back to the given mode, else arena, when it does not exist', () => {
  const { sockets, conn } = setup();
  conn.join({ room: 'gone' });
  conn.connect();
  sockets[0].open();
  sockets[0].receive({ type: 'error', code: 'room_not_found', message: 'no room' });
  assert.deepEqual(sockets[0].sentOf('join'), [
    { type: 'join', room: 'gone' },
    { type: 'join', mode: 'arena' },
  ]);
  // Other errors do not trigger a join.
  sockets[0].receive({ type: 'error', code: 'bad_field', message: 'x' });
  assert.equal(sockets[0].sentOf('join').length, 2);
});

test('a closed room (left room_closed) is replaced by matchmaking', () => {
  const { sockets, conn, events } = setup();
  conn.join({ mode: 'arena' });
  conn.connect();
  sockets[0].open();
  sockets[0].receive(JOINED('r1'));
  sockets[0].receive({ type: 'left', room: 'r1', reason: 'room_closed' });
  assert.equal(conn.inRoom, false);
  assert.deepEqual(sockets[0].sentOf('join').at(-1), { type: 'join', mode: 'arena' });
  assert.ok(events.some(([type, msg]) => type === 'left' && msg.reason === 'room_closed'));
});

test('a spectator watches by room or code, watches again after a drop, never matchmakes', () => {
  const { clock, sockets, conn } = setup();
  const failed = [];
  conn.on('joinfailed', (info) => failed.push(info));
  conn.join({ room: 'r1', spectate: true });
  conn.connect();
  sockets[0].open();
  assert.deepEqual(sockets[0].sentOf('join'), [{ type: 'join', room: 'r1', spectate: true }]);
  sockets[0].receive({ ...JOINED('r1'), player: 0, spectator: true });
  sockets[0].drop();
  clock.advance(500);
  sockets[1].open();
  assert.deepEqual(sockets[1].sentOf('join'), [{ type: 'join', room: 'r1', spectate: true }]);
  // A full list of spectators is final: no fallback to playing in the mode.
  sockets[1].receive({ type: 'error', code: 'spectators_full', message: 'full' });
  assert.equal(sockets[1].sentOf('join').length, 1);
  assert.deepEqual(failed.map((f) => f.code), ['spectators_full']);
  // By code; the watched room closing ends the watch.
  conn.join({ code: 'abcde', spectate: true });
  assert.deepEqual(sockets[1].sentOf('join').at(-1), { type: 'join', code: 'abcde', spectate: true });
  sockets[1].receive({ ...JOINED('r2'), player: 0, spectator: true });
  sockets[1].receive({ type: 'left', room: 'r2', reason: 'room_closed' });
  assert.equal(sockets[1].sentOf('join').length, 2);
  assert.deepEqual(failed.map((f) => f.code), ['spectators_full', 'room_closed']);
});

test('a silent socket is dropped and replaced', () => {
  const { clock, sockets, conn } = setup({ silenceMs: 5000 });
  conn.connect();
  sockets[0].open();
  clock.advance(4999);
  assert.equal(conn.connected, true);
  clock.advance(1001); // noticed at the next ping, at most a second late
  assert.equal(conn.connected, false);
  assert.equal(sockets[0].readyState, 3);
  clock.advance(500);
  assert.equal(sockets.length, 2);
});

test('close() stops for good', () => {
  const { clock, sockets, conn, events } = setup();
  conn.connect();
  sockets[0].open();
  conn.close();
  assert.equal(conn.connected, false);
  clock.advance(60_000);
  assert.equal(sockets.length, 1);
  assert.equal(events.filter(([type]) => type === 'close').at(-1)[1].retryInMs, null);
});

test('after a drop the held seat is resumed with the token from joined', () => {
  const { clock, sockets, conn } = setup();
  conn.join({ mode: 'arena' });
  conn.connect();
  sockets[0].open();
  sockets[0].receive({ ...JOINED('r1'), resume: 'tok1' });
  assert.equal(conn.resume, 'tok1');
  sockets[0].drop();
  clock.advance(500);
  sockets[1].open();
  assert.deepEqual(sockets[1].sentOf('join'), [{ type: 'join', resume: 'tok1' }]);
  sockets[1].receive({ ...JOINED('r1'), resume: 'tok1' });
  assert.equal(conn.room, 'r1');
});

test('resume_failed falls back to the room, then room_not_found to the mode', () => {
  const { clock, sockets, conn } = setup();
  conn.join({ mode: 'arena' });
  conn.connect();
  sockets[0].open();
  sockets[0].receive({ ...JOINED('r1'), resume: 'tok1' });
  sockets[0].drop();
  clock.advance(500);
  const ws = sockets[1];
  ws.open();
  ws.receive({ type: 'error', code: 'resume_failed', message: 'expired' });
  ws.receive({ type: 'error', code: 'room_not_found', message: 'gone' });
  assert.deepEqual(ws.sentOf('join'), [
    { type: 'join', resume: 'tok1' },
    { type: 'join', room: 'r1' },
    { type: 'join', mode: 'arena' },
  ]);
  assert.equal(conn.resume, null);
});

test('a resume token given to join() is tried first', () => {
  const { sockets, conn } = setup();
  conn.join({ room: 'r9', resume: 'saved' });
  conn.connect();
  sockets[0].open();
  sockets[0].receive({ type: 'error', code: 'resume_failed', message: 'expired' });
  assert.deepEqual(sockets[0].sentOf('join'), [
    { type: 'join', resume: 'saved' },
    { type: 'join', room: 'r9' },
  ]);
});

test('left forgets the resume token; leave() too', () => {
  const { sockets, conn } = setup();
  conn.join({ mode: 'arena' });
  conn.connect();
  sockets[0].open();
  sockets[0].receive({ ...JOINED('r1'), resume: 'tok1' });
  sockets[0].receive({ type: 'left', room: 'r1', reason: 'server_closing' });
  assert.equal(conn.resume, null);
  sockets[0].receive({ ...JOINED('r2'), resume: 'tok2' });
  conn.leave();
  assert.equal(conn.resume, null);
  assert.deepEqual(sockets[0].sent.at(-1), { type: 'leave' });
});

test('closed with 4001 (another tab took over): no reconnect', () => {
  const { clock, sockets, conn, events } = setup();
  conn.join({ mode: 'arena' });
  conn.connect();
  sockets[0].open();
  sockets[0].drop(4001);
  assert.equal(conn.replaced, true);
  const close = events.filter(([type]) => type === 'close').at(-1)[1];
  assert.equal(close.replaced, true);
  assert.equal(close.retryInMs, null);
  clock.advance(60_000);
  assert.equal(sockets.length, 1);
});
