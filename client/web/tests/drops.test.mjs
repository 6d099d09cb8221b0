import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Connection } from '../net/connection.js';
import { DROP_TEXT, DropNotice, closeCause } from '../net/drops.js';
import { Clock, fakeSockets } from './fakes.mjs';

/** A real Connection on fake sockets, its events fed to a DropNotice as play.js does. */
function setup() {
  const clock = new Clock();
  const { sockets, FakeSocket } = fakeSockets();
  const conn = new Connection({
    url: 'ws://example/ws',
    WebSocketImpl: FakeSocket,
    now: clock.now,
    setTimer: clock.set,
    clearTimer: clock.clear,
    random: () => 0.5,
  });
  const notice = new DropNotice();
  const banners = [];
  conn.on('open', () => notice.opened());
  conn.on('message', (msg) => notice.message(msg));
  conn.on('close', (info) => banners.push(notice.closed(info)));
  conn.join({ mode: 'arena' });
  conn.connect();
  /** Drop the current socket with close `code` and `reason`; the banner it gives. */
  const drop = (code, reason = '') => {
    const socket = sockets.at(-1);
    socket.readyState = 3;
    socket.onclose?.({ code, reason });
    return banners.at(-1);
  };
  /** Let the reconnect timer fire; the new socket fails to open (1006). */
  const failedRetry = () => {
    clock.advance(10000);
    return drop(1006);
  };
  return { clock, sockets, drop, failedRetry, banners };
}

test('the texts say what is known, and only a restart says restart', () => {
  assert.equal(DROP_TEXT.restart, 'The server is restarting — reconnecting…');
  assert.equal(DROP_TEXT.shutdown, 'The server is shutting down — reconnecting…');
  assert.equal(DROP_TEXT.lost, 'Lost connection to the server — reconnecting…');
  assert.equal(closeCause(1012), 'restart');
  assert.equal(closeCause(1001, 'server restarting'), 'restart');
  assert.equal(closeCause(1001, 'server shutting down'), 'shutdown');
  assert.equal(closeCause(1001), 'shutdown');
  for (const code of [1000, 1006, 1011, 1013, 4000, 4002, undefined]) {
    assert.equal(closeCause(code, 'server restarting'), 'lost', String(code));
  }
});

test('an abnormal drop (1006) is a lost connection, not a restart', () => {
  const { sockets, drop } = setup();
  sockets[0].open();
  assert.equal(drop(1006), DROP_TEXT.lost);
});

test('1001 from a stopping server says shutting down, through every failed retry', () => {
  const { sockets, drop, failedRetry } = setup();
  sockets[0].open();
  sockets[0].receive({ type: 'server_closing', message: 'The server is shutting down.' });
  assert.equal(drop(1001, 'server shutting down'), DROP_TEXT.shutdown);
  assert.equal(failedRetry(), DROP_TEXT.shutdown);
  assert.equal(failedRetry(), DROP_TEXT.shutdown);
});

test('1012 says restarting; 1001 says restarting only when its reason says so', () => {
  const first = setup();
  first.sockets[0].open();
  assert.equal(first.drop(1012, ''), DROP_TEXT.restart);
  assert.equal(first.failedRetry(), DROP_TEXT.restart);
  const second = setup();
  second.sockets[0].open();
  assert.equal(second.drop(1001, 'server restarting'), DROP_TEXT.restart);
});

test('server_closing then a drop before the close frame is still a shutdown', () => {
  const { sockets, drop } = setup();
  sockets[0].open();
  sockets[0].receive({ type: 'server_closing', message: 'The server is shutting down.' });
  assert.equal(drop(1006), DROP_TEXT.shutdown);
});

test('after a reconnect the next drop is judged afresh', () => {
  const { clock, sockets, drop } = setup();
  sockets[0].open();
  assert.equal(drop(1012), DROP_TEXT.restart);
  clock.advance(10000);
  sockets[1].open();
  assert.equal(drop(1006), DROP_TEXT.lost);
});

test('a page that never connected shows nothing at first, then that it cannot reach the server', () => {
  const { clock, drop } = setup();
  assert.equal(drop(1006), null);
  clock.advance(10000);
  assert.equal(drop(1006), DROP_TEXT.unreachable);
});
