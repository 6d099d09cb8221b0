// The Lantern page's logic (arena_lantern/web/lantern.js) under Node's test runner.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { applyState, heading, mine, nameOf, statusLine, steers } from '../arena_lantern/web/lantern.js';

const joined = {
  maze: ['#####', '#...#', '#####'], radius: 4, flare_radius: 8, status: 'playing', round: 1,
  left: 59.9, players: [[1, 1, 1, 0, 2, 0]], gems: [], top: [[1, 0]], roster: { 1: 'ann' },
};

test('a tick merges into the view; a full view (joined, resync) replaces it', () => {
  let view = applyState(null, joined);
  view = applyState(view, { status: 'playing', left: 59.8, players: [[1, 2, 1, 1, 2, 0]], gems: [] });
  assert.deepEqual(view.maze, joined.maze);
  assert.equal(view.left, 59.8);
  assert.deepEqual(mine(view, 1), [1, 2, 1, 1, 2, 0]);
  assert.equal(nameOf(view, 1), 'ann');
  assert.equal(nameOf(view, 7), 'player 7');
  const resync = applyState(view, { ...joined, roster: { 1: 'ann', 2: 'bob' } });
  assert.equal(resync.left, 59.9);
  assert.equal(nameOf(resync, 2), 'bob');
  assert.equal(applyState(view, null), view);
});

test('held keys make a heading of -1, 0 or 1 each way', () => {
  assert.deepEqual(heading(new Set()), [0, 0]);
  assert.deepEqual(heading(new Set(['ArrowLeft', 'KeyW'])), [-1, -1]);
  assert.deepEqual(heading(new Set(['ArrowLeft', 'ArrowRight', 'KeyS'])), [0, 1]);
  assert.deepEqual(heading(new Set(['ArrowRight', 'KeyD', 'KeyQ'])), [1, 0]);
  assert.ok(steers('KeyA') && !steers('Space'));
});

test('the status line says the round, the time, the gems and the flares, or the result', () => {
  const view = applyState(null, joined);
  assert.equal(statusLine(view, 1), 'Round 1: 60 s left · 0 gems · 2 flares (space)');
  const ended = applyState(view, { status: 'break', round: 1, left: 4.2, results: [[1, 3]] });
  assert.equal(statusLine(ended, 1), 'Round 1 over. ann wins with 3. Next round in 5 s.');
  assert.equal(statusLine(null, 1), 'Waiting for the first round…');
  const one = applyState(view, { players: [[1, 1, 1, 1, 1, 1]] });
  assert.equal(statusLine(one, 1), 'Round 1: 60 s left · 1 gem · 1 flare (space)');
});
