import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Arena, ArenaError, spectatorsText, viewOf, watchingFrom } from '../sdk/arena.js';
import { Clock, fakeSockets } from './fakes.mjs';

function setup({ saved = null, fetchImpl } = {}) {
  const clock = new Clock();
  const { sockets, FakeSocket } = fakeSockets();
  const store = { token: saved, saves: [] };
  const arena = new Arena({
    url: 'ws://example/ws',
    fetchImpl,
    resume: {
      load: () => store.token,
      save: (token) => {
        store.token = token;
        store.saves.push(token);
      },
    },
    connection: {
      WebSocketImpl: FakeSocket,
      now: clock.now,
      setTimer: clock.set,
      clearTimer: clock.clear,
      random: () => 0.5,
    },
  });
  const seen = { states: [], joined: [], errors: [], left: [] };
  arena.onState((view, msg) => seen.states.push([view, msg.type]));
  arena.onJoined((msg) => seen.joined.push(msg));
  arena.onError((err) => seen.errors.push(err));
  arena.onLeft((msg) => seen.left.push(msg));
  return { clock, sockets, arena, store, seen };
}

const DICE_VIEW = { status: 'waiting', rules: { dice: 1 }, players: [{ id: 1, name: 'ann' }], me: 1 };

function joined(extra = {}) {
  return { type: 'joined', room: 'r1', mode: 'dice', player: 1, tick_rate: 0, world: {}, state: DICE_VIEW, resume: 'tok1', ...extra };
}

test('create sends the options and private flag; joined gives the code, the player and the view', () => {
  const { sockets, arena, seen, store } = setup();
  arena.connect().create({ mode: 'dice', options: { dice: 1 }, private: true });
  const ws = sockets[0];
  ws.open();
  assert.deepEqual(ws.sentOf('create'), [{ type: 'create', mode: 'dice', options: { dice: 1 }, private: true }]);
  ws.receive(joined({ code: 'K7QX' }));
  assert.equal(arena.code, 'K7QX');
  assert.equal(arena.player, 1);
  assert.equal(arena.room, 'r1');
  assert.equal(seen.joined.length, 1);
  assert.deepEqual(seen.states, [[DICE_VIEW, 'joined']]);
  assert.equal(store.token, 'tok1');
});

test('quick play sends join by mode with options, and states give whole views', () => {
  const { sockets, arena, seen } = setup();
  arena.connect().join({ mode: 'dice', options: { dice: 2 } });
  const ws = sockets[0];
  ws.open();
  assert.deepEqual(ws.sentOf('join'), [{ type: 'join', mode: 'dice', options: { dice: 2 } }]);
  ws.receive(joined());
  ws.receive({ type: 'state', tick: 3, ts: 99, status: 'playing', turn: 2 });
  assert.deepEqual(seen.states[1], [{ status: 'playing', turn: 2 }, 'state']);
  assert.deepEqual(arena.state, { status: 'playing', turn: 2 });
  // a resync after falling behind carries the whole view in `full`
  ws.receive({ type: 'state', tick: 9, ts: 100, full: { status: 'finished' } });
  assert.deepEqual(arena.state, { status: 'finished' });
});

test('send builds {type, ...body}; the body cannot change the type', () => {
  const { sockets, arena } = setup();
  arena.connect().join({ mode: 'dice' });
  sockets[0].open();
  assert.equal(arena.send('bid', { count: 2, face: 5 }), true);
  assert.equal(arena.send('challenge'), true);
  assert.equal(arena.send('ready', { type: 'join', mode: 'x' }), true);
  const sent = sockets[0].sent.filter((m) => m.type !== 'ping' && m.type !== 'join');
  assert.deepEqual(sent, [{ type: 'bid', count: 2, face: 5 }, { type: 'challenge' }, { type: 'ready', mode: 'x' }]);
});

test('per-type callbacks get the game messages of that type only', () => {
  const { sockets, arena } = setup();
  const reveals = [];
  const over = [];
  const unsubscribe = arena.on('reveal', (msg) => reveals.push(msg));
  arena.on('game_over', (msg) => over.push(msg.winner));
  arena.connect().join({ mode: 'dice' });
  const ws = sockets[0];
  ws.open();
  ws.receive(joined());
  ws.receive({ type: 'reveal', count: 3, loser: 2 });
  ws.receive({ type: 'game_over', winner: 1, placements: [] });
  unsubscribe();
  ws.receive({ type: 'reveal', count: 1, loser: 1 });
  assert.deepEqual(reveals, [{ type: 'reveal', count: 3, loser: 2 }]);
  assert.deepEqual(over, [1]);
});

test('a refused move in the room reaches onError; the connection stays', () => {
  const { sockets, arena, seen } = setup();
  arena.connect().join({ mode: 'dice' });
  const ws = sockets[0];
  ws.open();
  ws.receive(joined());
  ws.receive({ type: 'error', code: 'not_your_turn', message: 'wait' });
  assert.deepEqual(seen.errors, [{ code: 'not_your_turn', message: 'wait' }]);
  assert.equal(arena.connected, true);
});

test('a wrong code fails the join for good: onError, and no retry after a reconnect', () => {
  const { clock, sockets, arena, seen } = setup();
  arena.connect().joinByCode('zz-99');
  let ws = sockets[0];
  ws.open();
  assert.deepEqual(ws.sentOf('join'), [{ type: 'join', code: 'zz-99' }]);
  ws.receive({ type: 'error', code: 'room_not_found', message: 'no room has that code' });
  assert.deepEqual(seen.errors, [{ code: 'room_not_found', message: 'no room has that code' }]);
  ws.drop(1006);
  clock.advance(1000);
  ws = sockets[1];
  ws.open();
  assert.deepEqual(ws.sentOf('join'), []);
});

test('bad options end the join too, with the protocol code', () => {
  const { sockets, arena, seen } = setup();
  arena.connect().create({ mode: 'dice', options: { dice: 99 } });
  sockets[0].open();
  sockets[0].receive({ type: 'error', code: 'out_of_range', message: 'options: dice must be 1..6' });
  assert.deepEqual(seen.errors, [{ code: 'out_of_range', message: 'options: dice must be 1..6' }]);
});

test('after a drop: the seat by resume, else the private room by its code, never by its id', () => {
  const { clock, sockets, arena, seen } = setup();
  arena.connect().create({ mode: 'dice', private: true });
  sockets[0].open();
  sockets[0].receive(joined({ code: 'K7QX' }));
  sockets[0].drop(1006);
  clock.advance(1000);
  const ws = sockets[1];
  ws.open();
  assert.deepEqual(ws.sentOf('join'), [{ type: 'join', resume: 'tok1' }]);
  assert.deepEqual(ws.sentOf('create'), []);
  ws.receive({ type: 'error', code: 'resume_failed', message: 'expired' });
  assert.deepEqual(ws.sentOf('join')[1], { type: 'join', code: 'K7QX' });
  assert.deepEqual(seen.errors, []);
});

test('a private room gone after a restart: onJoinFailed says it was ours, and the old view is dropped', () => {
  const { clock, sockets, arena, seen, store } = setup();
  const failed = [];
  arena.onJoinFailed((info) => failed.push(info));
  arena.connect().create({ mode: 'dice', private: true });
  sockets[0].open();
  sockets[0].receive(joined({ code: 'K7QX' }));
  sockets[0].drop(1006);
  clock.advance(1000);
  const ws = sockets[1];
  ws.open();
  ws.receive({ type: 'error', code: 'resume_failed', message: 'expired' });
  ws.receive({ type: 'error', code: 'room_not_found', message: 'no room has that code' });
  assert.deepEqual(failed, [{ code: 'room_not_found', message: 'no room has that code', wasSeated: true }]);
  assert.equal(arena.state, null);
  assert.equal(arena.joined, null);
  assert.equal(store.token, null);
  assert.equal(seen.errors.length, 1); // onError too, as before
});

test('a wrong code from the start: onJoinFailed with wasSeated false', () => {
  const { sockets, arena } = setup();
  const failed = [];
  arena.onJoinFailed((info) => failed.push(info));
  arena.connect().joinByCode('zz-99');
  sockets[0].open();
  sockets[0].receive({ type: 'error', code: 'room_not_found', message: 'no room has that code' });
  assert.deepEqual(failed, [{ code: 'room_not_found', message: 'no room has that code', wasSeated: false }]);
});

test('a created public room is joined again by its id, and a locked one falls back to quick play', () => {
  const { clock, sockets, arena } = setup();
  arena.connect().create({ mode: 'dice', options: { dice: 2 } });
  sockets[0].open();
  sockets[0].receive(joined({ resume: undefined }));
  sockets[0].drop(1006);
  clock.advance(1000);
  const ws = sockets[1];
  ws.open();
  assert.deepEqual(ws.sentOf('join'), [{ type: 'join', room: 'r1' }]);
  ws.receive({ type: 'error', code: 'room_locked', message: 'game already started' });
  assert.deepEqual(ws.sentOf('join')[1], { type: 'join', mode: 'dice', options: { dice: 2 } });
  assert.deepEqual(ws.sentOf('create'), []);
});

test('a saved seat is resumed first, and the token is forgotten on leave and on left', () => {
  const { sockets, arena, store } = setup({ saved: 'old' });
  arena.connect().join({ mode: 'dice' });
  const ws = sockets[0];
  ws.open();
  assert.deepEqual(ws.sentOf('join'), [{ type: 'join', resume: 'old' }]);
  ws.receive(joined({ resume: 'tok2' }));
  assert.equal(store.token, 'tok2');
  ws.receive({ type: 'left', room: 'r1', reason: 'room_closed' });
  assert.equal(store.token, null);
  assert.equal(arena.joined, null);
  ws.receive(joined({ resume: 'tok3' }));
  arena.leave();
  assert.equal(store.token, null);
  assert.deepEqual(ws.sentOf('leave'), [{ type: 'leave' }]);
});

test('a redirect is followed with its seat, and the seat there is ours', () => {
  const { sockets, arena, seen, store } = setup({ saved: null });
  arena.connect().join({ mode: 'dice' });
  sockets[0].open();
  sockets[0].receive({ type: 'redirect', url: 'ws://other:9/ws', room: 'r9', seat: 'S', expires_in: 5 });
  const ws = sockets[1];
  assert.equal(ws.url, 'ws://other:9/ws?seat=S');
  ws.open();
  assert.deepEqual(ws.sentOf('join'), [{ type: 'join', seat: 'S' }]);
  ws.receive(joined({ room: 'r9', resume: 'far' }));
  assert.equal(arena.room, 'r9');
  assert.equal(seen.joined.length, 1);
  assert.equal(store.token, 'far');
});

test('the session ending (4003) is reported once and forgets the seat', () => {
  const { sockets, arena, store } = setup();
  const out = [];
  arena.onLoggedOut(() => out.push(true));
  arena.connect().join({ mode: 'dice' });
  sockets[0].open();
  sockets[0].receive(joined());
  sockets[0].drop(4003);
  assert.deepEqual(out, [true]);
  assert.equal(store.token, null);
  assert.equal(sockets.length, 1); // no reconnect
});

function fakeFetch(routes) {
  const calls = [];
  const impl = async (url, init) => {
    calls.push({ url, init });
    const [status, body] = routes[`${init.method} ${url}`] ?? [404, { error: 'not_found' }];
    return { ok: status < 400, status, json: async () => body };
  };
  return { calls, impl };
}

test('guest() posts JSON with the XSRF token it fetched first', async () => {
  const { calls, impl } = fakeFetch({
    'GET /api/xsrf': [200, { xsrf: 'X1' }],
    'POST /api/guest': [200, { user: { id: 3, name: 'Ann', guest: true } }],
  });
  const { arena } = setup({ fetchImpl: impl });
  const user = await arena.guest('Ann');
  assert.deepEqual(user, { id: 3, name: 'Ann', guest: true });
  assert.equal(calls[1].init.headers['X-XSRFToken'], 'X1');
  assert.equal(calls[1].init.body, JSON.stringify({ name: 'Ann' }));
  assert.equal(calls[1].init.credentials, 'same-origin');
});

test('a refused call throws ArenaError with the API code; me() is null without a session', async () => {
  const { impl } = fakeFetch({
    'GET /api/xsrf': [200, { xsrf: 'X1' }],
    'POST /api/register': [409, { error: 'username_taken', message: 'That username is already taken.' }],
    'GET /api/me': [401, { error: 'not_logged_in' }],
    'GET /api/leaderboard?mode=dice': [200, { mode: 'dice', rule: 'rating', leaderboard: [] }],
  });
  const { arena } = setup({ fetchImpl: impl });
  await assert.rejects(arena.register('ann', 'password1'), (err) => {
    assert.ok(err instanceof ArenaError);
    assert.equal(err.status, 409);
    assert.equal(err.code, 'username_taken');
    return true;
  });
  assert.equal(await arena.me(), null);
  assert.equal((await arena.leaderboard('dice')).rule, 'rating');
});

test('viewOf: joined state, full resync, or the fields of the state itself', () => {
  assert.deepEqual(viewOf({ type: 'joined', state: { a: 1 } }), { a: 1 });
  assert.deepEqual(viewOf({ type: 'state', tick: 1, full: { b: 2 } }), { b: 2 });
  assert.deepEqual(viewOf({ type: 'state', tick: 1, ts: 2, c: 3 }), { c: 3 });
});

test('watch joins as a spectator; the spectator count follows; the address says when to watch', () => {
  const { sockets, arena, seen } = setup();
  arena.connect().watch({ room: 'r1' });
  sockets[0].open();
  assert.deepEqual(sockets[0].sentOf('join'), [{ type: 'join', room: 'r1', spectate: true }]);
  sockets[0].receive(joined({ player: 0, spectator: true, resume: undefined, state: { status: 'waiting' } }));
  assert.equal(arena.spectating, true);
  assert.equal(arena.player, 0);
  assert.deepEqual(seen.states.at(-1), [{ status: 'waiting' }, 'joined']);
  assert.equal(arena.send('bid', { count: 1, face: 2 }), false); // spectators send no moves
  assert.deepEqual(sockets[0].sentOf('bid'), []);
  sockets[0].receive({ type: 'spectators', count: 3 });
  assert.equal(arena.spectators, 3);
  assert.equal(spectatorsText(1), '1 spectator');
  assert.equal(spectatorsText(3), '3 spectators');
  assert.equal(watchingFrom(new URLSearchParams('room=r1&watch=1')), true);
  assert.equal(watchingFrom(new URLSearchParams('code=ABCDE&watch=true')), true);
  assert.equal(watchingFrom(new URLSearchParams('room=r1')), false);
  assert.equal(watchingFrom(new URLSearchParams('mode=arena&watch=1')), false);
});
