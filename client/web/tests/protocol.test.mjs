import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ClientWorld, chatText, decode, messages } from '../net/protocol.js';

const JOINED = {
  type: 'joined',
  room: '3f9c0a1b',
  mode: 'arena',
  player: 3,
  tick_rate: 20,
  client: { width: 3000, height: 2000, pellet_radius: 5, radius_factor: 4 },
  state: {
    tick: 120,
    players: [
      [3, 'ann', 1503, 871, 10, 0, true],
      [1, 'bot-1', 220, 1990, 31, 88, true],
      [2, 'bot-2', 10, 10, 12, 4, false],
    ],
    pellets: [
      [0, 17, 1201],
      [1, 2950, 40],
    ],
    leaderboard: [
      [1, 31],
      [3, 10],
    ],
  },
};

function joinedWorld() {
  const world = new ClientWorld();
  world.apply(structuredClone(JOINED));
  return world;
}

test('decode accepts objects with a string type and nothing else', () => {
  assert.deepEqual(decode('{"type":"pong","id":1,"ts":5}'), { type: 'pong', id: 1, ts: 5 });
  assert.equal(decode('not json'), null);
  assert.equal(decode('[1,2]'), null);
  assert.equal(decode('null'), null);
  assert.equal(decode('{"type":3}'), null);
  assert.equal(decode('{"id":1}'), null);
});

test('client messages follow PROTOCOL.md', () => {
  assert.deepEqual(JSON.parse(messages.join({ mode: 'arena' })), { type: 'join', mode: 'arena' });
  assert.deepEqual(JSON.parse(messages.join({ room: 'ab12', mode: 'arena' })), { type: 'join', room: 'ab12' });
  assert.deepEqual(JSON.parse(messages.join()), { type: 'join', mode: 'arena' });
  assert.deepEqual(JSON.parse(messages.join({ resume: 'tok', room: 'ab12', mode: 'arena' })), { type: 'join', resume: 'tok' });
  // Join fields go with every join but a resume (the held seat keeps its own).
  const fields = { team: 'red' };
  assert.deepEqual(JSON.parse(messages.join({ mode: 'teams', fields })), { type: 'join', mode: 'teams', fields });
  assert.deepEqual(JSON.parse(messages.join({ seat: 'tok', fields })), { type: 'join', seat: 'tok', fields });
  assert.deepEqual(JSON.parse(messages.join({ resume: 'tok', fields })), { type: 'join', resume: 'tok' });
  assert.deepEqual(JSON.parse(messages.create({ mode: 'teams', fields })), { type: 'create', mode: 'teams', fields });
  assert.deepEqual(JSON.parse(messages.input(17, 0.6, -0.8)), { type: 'input', seq: 17, dx: 0.6, dy: -0.8 });
  assert.deepEqual(JSON.parse(messages.ping(42)), { type: 'ping', id: 42 });
  assert.deepEqual(JSON.parse(messages.chat('gg')), { type: 'chat', text: 'gg' });
  assert.deepEqual(JSON.parse(messages.leave()), { type: 'leave' });
});

test('chatText trims and enforces 1..200 characters', () => {
  assert.equal(chatText('  gg  '), 'gg');
  assert.equal(chatText('   '), null);
  assert.equal(chatText('x'.repeat(200)), 'x'.repeat(200));
  assert.equal(chatText('x'.repeat(201)), null);
});

test('a fresh world is empty with the default arena size', () => {
  const world = new ClientWorld();
  assert.equal(world.joined, false);
  assert.equal(world.meView, null);
  assert.equal(world.width, 1600);
  assert.equal(world.players.size, 0);
  assert.equal(world.apply({ type: 'pong', id: 1 }), null);
});

test('joined sets the room, me, the world, players, pellets and leaderboard', () => {
  const world = joinedWorld();
  assert.equal(world.joined, true);
  assert.equal(world.room, '3f9c0a1b');
  assert.equal(world.mode, 'arena');
  assert.equal(world.me, 3);
  assert.equal(world.tickRate, 20);
  assert.equal(world.tickInterval, 50);
  assert.equal(world.tick, 120);
  assert.equal(world.width, 3000);
  assert.equal(world.height, 2000);
  assert.equal(world.pelletRadius, 5);
  assert.equal(world.radiusFactor, 4);
  assert.equal(world.speedFactor, 260); // the default: this joined does not say
  assert.deepEqual(world.meView, { id: 3, name: 'ann', x: 1503, y: 871, mass: 10, seq: 0, alive: true });
  assert.equal(world.players.get(2).alive, false);
  assert.equal(world.name(1), 'bot-1');
  assert.equal(world.name(99), null);
  assert.deepEqual(
    world.alivePlayers().map((p) => p.id),
    [3, 1],
  );
  assert.deepEqual(world.pellets.get(1), { x: 2950, y: 40 });
  assert.equal(world.pellets.size, 2);
  assert.deepEqual(world.leaderboard, [
    { id: 1, mass: 31 },
    { id: 3, mass: 10 },
  ]);
  assert.equal(world.radius(16), 16);
});

test('a second joined starts over', () => {
  const world = joinedWorld();
  world.apply({ type: 'state', tick: 121, ts: 1000, spawned: [[9, 'zed', 1, 2, 10, 0]] });
  world.apply({
    type: 'joined',
    room: 'other',
    mode: 'arena',
    player: 1,
    tick_rate: 30,
    client: { width: 500, height: 400 },
    state: { tick: 5, players: [[1, 'me', 5, 5, 10, 0, true]], pellets: [], leaderboard: [] },
  });
  assert.equal(world.room, 'other');
  assert.equal(world.ts, null);
  assert.deepEqual([...world.players.keys()], [1]);
  assert.equal(world.pellets.size, 0);
  assert.equal(world.width, 500);
  assert.equal(world.radiusFactor, 4); // defaults when absent
});

test('moved updates position, mass and seq of known players and ignores unknown ones', () => {
  const world = joinedWorld();
  const changes = world.apply({
    type: 'state',
    tick: 121,
    ts: 1732480000123,
    moved: [3, 3, -2, 77, 1, 1],
    mass: [3, 11, 77, 10],
    acks: [3, 18, 77, 0],
  });
  assert.deepEqual(changes.moved, [3]);
  assert.equal(world.tick, 121);
  assert.equal(world.ts, 1732480000123);
  assert.deepEqual(world.meView, { id: 3, name: 'ann', x: 1506, y: 869, mass: 11, seq: 18, alive: true });
  assert.equal(world.players.has(77), false);
  assert.equal(changes.leaderboard, false);
});

test('eaten then spawned: dead until the respawn, which keeps the last seq', () => {
  const world = joinedWorld();
  let changes = world.apply({ type: 'state', tick: 121, ts: 1000, moved: [[1, 1500, 870, 41, 90]], eaten: [[3, 1]] });
  assert.deepEqual(changes.eaten, [[3, 1]]);
  assert.equal(world.meView.alive, false);
  assert.deepEqual(
    world.alivePlayers().map((p) => p.id),
    [1],
  );
  world.apply({ type: 'state', tick: 140, ts: 2000 });
  assert.equal(world.meView.alive, false);
  changes = world.apply({ type: 'state', tick: 181, ts: 3000, spawned: [[3, 'ann', 40, 50, 10]] });
  assert.deepEqual(changes.spawned, [3]);
  assert.deepEqual(world.meView, { id: 3, name: 'ann', x: 40, y: 50, mass: 10, seq: 0, alive: true });
});

test('spawned adds new players; spawned onto a bigger one and eaten in the same tick stays dead', () => {
  const world = joinedWorld();
  world.apply({
    type: 'state',
    tick: 121,
    ts: 1000,
    spawned: [
      [4, 'bob', 2000, 1000, 10],
      [5, 'eve', 221, 1990, 10],
    ],
    eaten: [[5, 1]],
  });
  assert.deepEqual(world.players.get(4), { id: 4, name: 'bob', x: 2000, y: 1000, mass: 10, seq: 0, alive: true });
  assert.equal(world.players.get(5).alive, false);
});

test('gone removes players; gone for an unknown id is harmless', () => {
  const world = joinedWorld();
  const changes = world.apply({ type: 'state', tick: 121, ts: 1000, gone: [1, 42] });
  assert.deepEqual(changes.gone, [1]);
  assert.equal(world.players.has(1), false);
  assert.equal(world.name(1), null);
});

test('pellets move to their new spot under the same id', () => {
  const world = joinedWorld();
  const changes = world.apply({ type: 'state', tick: 121, ts: 1000, pellets: [0, 1200, 33] });
  assert.deepEqual(changes.pellets, [0]);
  assert.equal(world.pellets.size, 2);
  assert.deepEqual(world.pellets.get(0), { x: 1200, y: 33 });
});

test('leaderboard is replaced only when present', () => {
  const world = joinedWorld();
  world.apply({ type: 'state', tick: 121, ts: 1000 });
  assert.equal(world.leaderboard.length, 2);
  const changes = world.apply({
    type: 'state',
    tick: 122,
    ts: 1050,
    leaderboard: [
      [3, 50],
      [1, 31],
      [4, 10],
    ],
  });
  assert.equal(changes.leaderboard, true);
  assert.deepEqual(world.leaderboard, [
    { id: 3, mass: 50 },
    { id: 1, mass: 31 },
    { id: 4, mass: 10 },
  ]);
});

test('a sequence of states: everything at once, in the documented order', () => {
  const world = joinedWorld();
  world.apply({
    type: 'state',
    tick: 121,
    ts: 1000,
    spawned: [[4, 'bob', 2000, 1000, 10, 0]],
    moved: [3, 3, -2, 1, 1, -1003, 4, 1, 0],
    acks: [3, 18, 1, 90],
    eaten: [[2, 1]],
    gone: [5],
    pellets: [1, 1200, 33],
    leaderboard: [[1, 31], [3, 10], [4, 10]],
  });
  assert.equal(world.players.get(4).x, 2001); // the delta applies on top of the spawn spot
  world.apply({ type: 'state', tick: 122, ts: 1050, moved: [4, 2, 0], acks: [4, 1], eaten: [[4, 1]] });
  world.apply({ type: 'state', tick: 123, ts: 1100, gone: [4], leaderboard: [[1, 41], [3, 10]] });
  assert.deepEqual([...world.players.keys()].sort(), [1, 2, 3]);
  assert.equal(world.players.get(1).x, 221);
  assert.deepEqual(world.pellets.get(1), { x: 1200, y: 33 });
  assert.deepEqual(world.leaderboard, [
    { id: 1, mass: 41 },
    { id: 3, mass: 10 },
  ]);
  assert.equal(world.tick, 123);
});

test('reset forgets the room', () => {
  const world = joinedWorld();
  world.reset();
  assert.equal(world.joined, false);
  assert.equal(world.room, null);
  assert.equal(world.players.size, 0);
});

test('joined keeps the resume token', () => {
  const world = new ClientWorld();
  world.apply({ ...structuredClone(JOINED), resume: 'kPq0cZ1m' });
  assert.equal(world.resume, 'kPq0cZ1m');
  world.reset();
  assert.equal(world.resume, null);
});

test('a full state replaces players, pellets and leaderboard', () => {
  const world = joinedWorld();
  world.apply({ type: 'state', tick: 121, ts: 1000, spawned: [[9, 'zed', 1, 2, 10, 0]] });
  const changes = world.apply({
    type: 'state',
    tick: 400,
    ts: 14000,
    full: {
      tick: 400,
      players: [
        [3, 'ann', 10, 20, 14, 33, true],
        [4, 'bob', 30, 40, 10, 2, false],
      ],
      pellets: [[0, 5, 6]],
      leaderboard: [[3, 14]],
    },
  });
  assert.equal(changes.full, true);
  assert.equal(world.tick, 400);
  assert.equal(world.ts, 14000);
  assert.deepEqual(changes.spawned, [3, 4]);
  assert.deepEqual(changes.gone.sort(), [1, 2, 9]);
  assert.deepEqual(world.meView, { id: 3, name: 'ann', x: 10, y: 20, mass: 14, seq: 33, alive: true });
  assert.equal(world.players.get(4).alive, false);
  assert.deepEqual([...world.pellets.entries()], [[0, { x: 5, y: 6 }]]);
  assert.deepEqual(world.leaderboard, [{ id: 3, mass: 14 }]);
  // Deltas apply on top of it as usual.
  world.apply({ type: 'state', tick: 401, ts: 14050, moved: [3, 1, 0], acks: [3, 34] });
  assert.equal(world.meView.x, 11);
});

test("a room's own world size in the joined state wins over the mode's", () => {
  const world = new ClientWorld();
  world.apply({
    type: 'joined', room: 'r', mode: 'arena', player: 1, tick_rate: 20,
    client: { width: 1600, height: 1600, speed_factor: 260 },
    state: { tick: 0, players: [[1, 'ann', 10, 10, 10, 0, true]], pellets: [], leaderboard: [], size: [5060, 5060] },
  });
  assert.equal(world.width, 5060);
  assert.equal(world.height, 5060);
  assert.equal(world.speedFactor, 260);
});

test('joined and states say who is away; the head count is of those connected', () => {
  const world = new ClientWorld();
  world.apply({ ...structuredClone(JOINED), away: [1] });
  assert.deepEqual([...world.away], [1]);
  assert.equal(world.awayCount, 1);
  assert.equal(world.playersText(), '2 (1 away)');
  world.apply({ type: 'state', tick: 121, ts: 5 }); // a state without `away`: nothing changes
  assert.equal(world.playersText(), '2 (1 away)');
  world.apply({ type: 'state', tick: 122, ts: 6, away: [1, 2] });
  assert.equal(world.playersText(), '1 (2 away)');
  world.apply({ type: 'state', tick: 123, ts: 7, gone: [2] }); // gone: no longer counted
  assert.equal(world.playersText(), '1 (1 away)');
  world.apply({ type: 'state', tick: 124, ts: 8, away: [] });
  assert.equal(world.playersText(), '2');
  // A resync after skipped states carries `away` beside the full view.
  world.apply({ type: 'state', tick: 130, ts: 9, full: structuredClone(JOINED.state), away: [2] });
  assert.equal(world.playersText(), '2 (1 away)');
  world.apply(structuredClone(JOINED)); // a joined without `away` (an older server): nobody
  assert.equal(world.playersText(), '3');
});

test('the view says which players are the server\'s bots; people are counted apart', () => {
  const world = new ClientWorld();
  const joined = structuredClone(JOINED);
  joined.state.bots = [2];
  world.apply(joined);
  assert.equal(world.isBot(2), true);
  assert.equal(world.isBot(1), false);
  assert.equal(world.playersText(), '2 + 1 bot');
  world.apply({ type: 'state', tick: 121, ts: 5 }); // no `bots`: nothing changes
  assert.equal(world.botCount, 1);
  world.apply({ type: 'state', tick: 122, ts: 6, bots: [2, 3], away: [1] });
  assert.equal(world.playersText(), '0 (1 away) + 2 bots');
  world.apply({ type: 'state', tick: 123, ts: 7, bots: [] }); // the bots made way
  assert.equal(world.playersText(), '2 (1 away)');
});
