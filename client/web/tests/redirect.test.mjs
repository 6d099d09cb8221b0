import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Connection } from '../net/connection.js';
import { isGlobalChat, messages } from '../net/protocol.js';
import { MAX_REDIRECTS, hostOf, withSeat } from '../net/redirects.js';
import { Clock, fakeSockets } from './fakes.mjs';

const HOME = 'ws://127.0.0.2:8888/ws';
const AWAY = 'ws://127.0.0.3:8888/ws';
const THIRD = 'ws://127.0.0.4:8888/ws';
const SEAT = 'eyJyIjoiM2Y5YzBhMWIi+/=';

function setup(options = {}) {
  const clock = new Clock();
  const { sockets, FakeSocket } = fakeSockets();
  const conn = new Connection({
    url: HOME,
    WebSocketImpl: FakeSocket,
    now: clock.now,
    setTimer: clock.set,
    clearTimer: clock.clear,
    random: () => 0.5,
    ...options,
  });
  const events = [];
  for (const type of ['open', 'close', 'joined', 'left', 'redirect', 'fallback', 'joinfailed']) {
    conn.on(type, (...args) => events.push([type, ...args]));
  }
  return { clock, sockets, conn, events };
}

const JOINED = (room, resume = null) => ({
  type: 'joined',
  room,
  mode: 'arena',
  player: 1,
  tick_rate: 20,
  resume,
  world: {},
  state: { tick: 0, players: [], pellets: [], leaderboard: [] },
});

const REDIRECT = (url = AWAY, seat = SEAT, room = 'r9') => ({ type: 'redirect', url, room, seat, expires_in: 5 });

/** Connected to HOME, join by mode sent and answered with a redirect to `url`. */
function redirected(options = {}, url = AWAY) {
  const ctx = setup(options);
  ctx.conn.join({ mode: 'arena' });
  ctx.conn.connect();
  ctx.sockets[0].open();
  ctx.sockets[0].receive(REDIRECT(url));
  return ctx;
}

test('withSeat appends the URL-encoded token; hostOf drops the port', () => {
  assert.equal(withSeat('ws://h:1/ws', 'a+b/c='), 'ws://h:1/ws?seat=a%2Bb%2Fc%3D');
  assert.equal(withSeat('ws://h/ws?x=1', 'tok'), 'ws://h/ws?x=1&seat=tok');
  assert.equal(hostOf('ws://127.0.0.3:8888/ws'), '127.0.0.3');
  assert.equal(hostOf('wss://Arena.Example/ws'), 'arena.example');
  assert.equal(hostOf('wss://[::1]:8888/ws'), '[::1]');
  assert.equal(hostOf('not a url'), null);
});

test('join with a seat, global chat out and in', () => {
  assert.deepEqual(JSON.parse(messages.join({ seat: 'tok', resume: 'r', room: 'x', mode: 'm' })), { type: 'join', seat: 'tok' });
  assert.deepEqual(JSON.parse(messages.chat('hi', 'global')), { type: 'chat', text: 'hi', scope: 'global' });
  assert.deepEqual(JSON.parse(messages.chat('hi', 'room')), { type: 'chat', text: 'hi' });
  assert.equal(isGlobalChat({ type: 'chat', player: 0, name: 'ann', text: 'x', scope: 'global' }), true);
  assert.equal(isGlobalChat({ type: 'chat', player: 3, name: 'ann', text: 'x' }), false);
  const { sockets, conn } = setup();
  conn.connect();
  sockets[0].open();
  assert.equal(conn.sendGlobalChat('anyone?'), true);
  assert.deepEqual(sockets[0].sent.at(-1), { type: 'chat', text: 'anyone?', scope: 'global' });
});

test('redirect: the old socket is closed with 1000, the seat joins on the new one', () => {
  const { sockets, conn, events } = redirected();
  const [home, away] = sockets;
  assert.equal(sockets.length, 2);
  assert.equal(home.closedWith.code, 1000);
  assert.equal(away.url, `${AWAY}?seat=${encodeURIComponent(SEAT)}`);
  assert.equal(conn.connected, false);
  assert.equal(conn.url, AWAY);
  // The abandoned socket's late events do nothing.
  home.drop(1000);
  home.receive(JOINED('ghost'));
  assert.equal(sockets.length, 2);
  assert.equal(conn.room, null);
  assert.ok(!events.some(([type]) => type === 'close'), 'a redirect is not a lost connection');
  away.open();
  assert.deepEqual(away.sentOf('join'), [{ type: 'join', seat: SEAT }]);
  away.receive(JOINED('r9', 'tokA'));
  assert.equal(conn.inRoom, true);
  assert.equal(conn.room, 'r9');
  assert.equal(conn.redirects, 0);
  assert.equal(conn.redirected, 1);
  assert.ok(events.some(([type, info]) => type === 'redirect' && info.url === AWAY && info.room === 'r9'));
  assert.ok(events.some(([type, msg]) => type === 'joined' && msg.room === 'r9'));
  // Everything now goes to the new server.
  assert.equal(conn.sendInput(1, 1, 0), true);
  assert.equal(conn.sendChat('gg'), true);
  assert.deepEqual(away.sent.slice(-2), [
    { type: 'input', seq: 1, dx: 1, dy: 0 },
    { type: 'chat', text: 'gg' },
  ]);
  assert.equal(home.sentOf('input').length, 0);
});

test('pings go to the new server after a redirect', () => {
  const { clock, sockets } = redirected();
  const away = sockets[1];
  away.open();
  away.receive(JOINED('r9'));
  const before = sockets[0].sent.length;
  clock.advance(3000);
  assert.equal(sockets[0].sent.length, before);
  assert.ok(away.sentOf('ping').length >= 3);
});

test('seat_invalid: join by mode again on the original server', () => {
  const { sockets, conn, events } = redirected();
  const away = sockets[1];
  away.open();
  away.receive({ type: 'error', code: 'seat_invalid', message: 'expired' });
  assert.equal(away.closedWith.code, 1000);
  assert.equal(sockets.length, 3);
  const back = sockets[2];
  assert.equal(back.url, HOME);
  assert.equal(conn.url, HOME);
  back.open();
  assert.deepEqual(back.sentOf('join'), [{ type: 'join', mode: 'arena' }]);
  back.receive(JOINED('r1'));
  assert.equal(conn.room, 'r1');
  assert.ok(events.some(([type, info]) => type === 'fallback' && info.reason === 'seat_invalid' && info.url === HOME));
});

test('a redirect socket that cannot open falls back at once', () => {
  const { sockets, conn } = redirected();
  sockets[1].drop(1006); // refused before opening
  assert.equal(sockets.length, 3);
  assert.equal(sockets[2].url, HOME);
  sockets[2].open();
  assert.deepEqual(sockets[2].sentOf('join'), [{ type: 'join', mode: 'arena' }]);
  assert.equal(conn.redirects, 1); // still the same join attempt
});

test('a redirect socket still connecting when the seat expires is given up', () => {
  const { clock, sockets } = redirected();
  clock.advance(4999);
  assert.equal(sockets.length, 2);
  clock.advance(1);
  assert.equal(sockets[1].closedWith.code, 1000);
  assert.equal(sockets.length, 3);
  assert.equal(sockets[2].url, HOME);
});

test('redirects are bounded: the next one is reported, not followed', () => {
  const { sockets, conn, events } = setup();
  conn.join({ mode: 'arena' });
  conn.connect();
  sockets[0].open();
  for (let i = 0; i < MAX_REDIRECTS; i += 1) {
    const ws = sockets.at(-1);
    if (i > 0) ws.open();
    ws.receive(REDIRECT(i % 2 ? AWAY : THIRD, `seat-${i}`));
    sockets.at(-1).open();
    sockets.at(-1).receive({ type: 'error', code: 'seat_invalid', message: 'gone' });
  }
  // Every seat was refused: each time back to the server that redirected, which redirects again.
  assert.equal(conn.redirects, MAX_REDIRECTS);
  const last = sockets.at(-1);
  last.open();
  const count = sockets.length;
  last.receive(REDIRECT(THIRD, 'one-too-many'));
  assert.equal(sockets.length, count, 'the fourth redirect is not followed');
  const failed = events.filter(([type]) => type === 'joinfailed');
  assert.equal(failed.length, 1);
  assert.equal(failed[0][1].code, 'too_many_redirects');
  assert.equal(conn.connected, true); // the socket stays; a new join() starts over
  conn.join({ mode: 'arena' });
  assert.deepEqual(last.sentOf('join').at(-1), { type: 'join', mode: 'arena' });
  assert.equal(conn.redirects, 0);
});

test('matchmaking again on the redirected server may redirect once more (counted anew)', () => {
  const { sockets, conn, events } = redirected();
  sockets[1].open();
  sockets[1].receive(JOINED('r9', 'tokA'));
  // The room fails: the connection matchmakes on the server it is on now, which redirects.
  sockets[1].receive({ type: 'left', room: 'r9', reason: 'room_closed' });
  assert.deepEqual(sockets[1].sentOf('join').at(-1), { type: 'join', mode: 'arena' });
  sockets[1].receive(REDIRECT(THIRD, 'seat-2', 'r7'));
  assert.equal(sockets[1].closedWith.code, 1000);
  assert.equal(sockets[2].url, `${THIRD}?seat=seat-2`);
  sockets[2].open();
  assert.deepEqual(sockets[2].sentOf('join'), [{ type: 'join', seat: 'seat-2' }]);
  // Refused: back to the server that sent this redirect (opened with its own seat), not home.
  sockets[2].receive({ type: 'error', code: 'seat_invalid', message: 'used' });
  assert.equal(sockets[3].url, `${AWAY}?seat=${encodeURIComponent(SEAT)}`);
  assert.ok(events.some(([type, info]) => type === 'fallback' && info.url === AWAY));
  sockets[3].open();
  assert.deepEqual(sockets[3].sentOf('join'), [{ type: 'join', mode: 'arena' }]);
  sockets[3].receive(JOINED('r8'));
  assert.equal(conn.room, 'r8');
  assert.equal(conn.redirected, 2);
});

test('closed with 4003 (logged out): no reconnect, the close says the session ended', () => {
  const { clock, sockets, conn, events } = redirected();
  sockets[1].open();
  sockets[1].receive(JOINED('r9'));
  sockets[1].drop(4003);
  assert.equal(conn.sessionEnded, true);
  const close = events.filter(([type]) => type === 'close').at(-1)[1];
  assert.equal(close.code, 4003);
  assert.equal(close.sessionEnded, true);
  assert.equal(close.retryInMs, null);
  clock.advance(60_000);
  assert.equal(sockets.length, 2);
});

test('4003 while claiming a seat does not fall back either', () => {
  const { clock, sockets, conn } = redirected();
  sockets[1].drop(4003);
  assert.equal(conn.sessionEnded, true);
  clock.advance(60_000);
  assert.equal(sockets.length, 2);
});

test('after a drop it reconnects to the redirected server, with its seat, and resumes', () => {
  const { clock, sockets, conn, events } = redirected();
  sockets[1].open();
  sockets[1].receive(JOINED('r9', 'tokA'));
  sockets[1].drop(1006);
  assert.equal(events.filter(([type]) => type === 'close').at(-1)[1].retryInMs, 500);
  clock.advance(500);
  assert.equal(sockets.length, 3);
  // Another host than the page's: the browser has no cookie there, so the seat opens the socket.
  assert.equal(sockets[2].url, `${AWAY}?seat=${encodeURIComponent(SEAT)}`);
  sockets[2].open();
  assert.deepEqual(sockets[2].sentOf('join'), [{ type: 'join', resume: 'tokA' }]);
  sockets[2].receive(JOINED('r9', 'tokA'));
  assert.equal(conn.room, 'r9');
});

test('a redirect to another port of the page host reconnects with the cookie alone', () => {
  const { clock, sockets } = redirected({}, 'ws://127.0.0.2:8889/ws');
  sockets[1].open();
  sockets[1].receive(JOINED('r9', 'tokA'));
  sockets[1].drop(1006);
  clock.advance(500);
  assert.equal(sockets[2].url, 'ws://127.0.0.2:8889/ws');
});

test('resume_failed on the redirected server: its room, then matchmaking, there', () => {
  const { clock, sockets, conn } = redirected();
  sockets[1].open();
  sockets[1].receive(JOINED('r9', 'tokA'));
  sockets[1].drop(1006);
  clock.advance(500);
  const ws = sockets[2];
  ws.open();
  ws.receive({ type: 'error', code: 'resume_failed', message: 'expired' });
  ws.receive({ type: 'error', code: 'room_not_found', message: 'gone' });
  assert.deepEqual(ws.sentOf('join'), [
    { type: 'join', resume: 'tokA' },
    { type: 'join', room: 'r9' },
    { type: 'join', mode: 'arena' },
  ]);
  assert.equal(conn.url, AWAY);
});

test('a redirected server that stays unreachable is left for home', () => {
  const { clock, sockets, conn, events } = redirected();
  sockets[1].open();
  sockets[1].receive(JOINED('r9', 'tokA'));
  sockets[1].drop(1006);
  clock.advance(500);
  sockets[2].drop(1006); // 1st failed reconnect
  clock.advance(1000);
  sockets[3].drop(1006); // 2nd
  clock.advance(2000);
  assert.equal(sockets[4].url.startsWith(AWAY), true);
  sockets[4].drop(1006); // 3rd: go home
  assert.ok(events.some(([type, info]) => type === 'fallback' && info.reason === 'unreachable'));
  clock.advance(8000);
  const home = sockets.at(-1);
  assert.equal(home.url, HOME);
  home.open();
  assert.deepEqual(home.sentOf('join'), [{ type: 'join', mode: 'arena' }]);
  assert.equal(conn.url, HOME);
});

test('unavailable: matchmaking is asked again a few seconds later', () => {
  const { clock, sockets, conn } = setup({ unavailableRetryMs: 3000 });
  conn.join({ mode: 'arena' });
  conn.connect();
  const ws = sockets[0];
  ws.open();
  ws.receive({ type: 'error', code: 'unavailable', message: 'redis down' });
  clock.advance(2999);
  assert.equal(ws.sentOf('join').length, 1);
  clock.advance(1);
  assert.deepEqual(ws.sentOf('join'), [
    { type: 'join', mode: 'arena' },
    { type: 'join', mode: 'arena' },
  ]);
});

test('unavailable while claiming a seat: back to matchmaking where we came from', () => {
  const { sockets } = redirected();
  sockets[1].open();
  sockets[1].receive({ type: 'error', code: 'unavailable', message: 'redis down' });
  assert.equal(sockets[2].url, HOME);
});

test('a broken redirect (no url) is not followed but counted: matchmake again here', () => {
  const { sockets, conn } = setup();
  conn.join({ mode: 'arena' });
  conn.connect();
  sockets[0].open();
  sockets[0].receive({ type: 'redirect', url: 'http://evil/', seat: 's', room: 'r' });
  assert.equal(sockets.length, 1);
  assert.deepEqual(sockets[0].sentOf('join'), [
    { type: 'join', mode: 'arena' },
    { type: 'join', mode: 'arena' },
  ]);
  assert.equal(conn.redirects, 1);
});

test('close() during a redirect stops everything', () => {
  const { clock, sockets, conn } = redirected();
  conn.close();
  assert.equal(sockets[1].closedWith.code, 1000);
  clock.advance(60_000);
  assert.equal(sockets.length, 2);
});
