import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Steering, keyDirection, pointerDirection, quantize } from '../input.js';

function near([ax, ay], [bx, by]) {
  assert.ok(Math.abs(ax - bx) < 1e-9 && Math.abs(ay - by) < 1e-9, `expected ${[bx, by]}, got ${[ax, ay]}`);
}

test('pointer direction: from the centre, full speed at a quarter of the screen', () => {
  near(pointerDirection(400, 300, 800, 600), [0, 0]);
  near(pointerDirection(402, 300, 800, 600), [0, 0]); // dead zone
  near(pointerDirection(475, 300, 800, 600), [0.5, 0]); // 75 of 150 px
  near(pointerDirection(400, 0, 800, 600), [0, -1]);
  near(pointerDirection(400 + 90, 300 + 120, 800, 600), [0.6, 0.8]);
});

test('keys map arrows and WASD', () => {
  assert.deepEqual(keyDirection('ArrowUp'), [0, -1]);
  assert.deepEqual(keyDirection('KeyD'), [1, 0]);
  assert.equal(keyDirection('KeyQ'), null);
});

test('held keys override the pointer; a forced direction overrides both', () => {
  const s = new Steering();
  assert.deepEqual(s.direction(), [0, 0]);
  s.pointerAt(475, 300, 800, 600);
  near(s.direction(), [0.5, 0]);
  assert.equal(s.keyDown('KeyW'), true);
  assert.equal(s.keyDown('KeyX'), false);
  near(s.direction(), [0, -1]);
  s.keyDown('ArrowRight');
  near(s.direction(), [Math.SQRT1_2, -Math.SQRT1_2]);
  s.keyDown('KeyS'); // up + down cancel
  near(s.direction(), [1, 0]);
  s.force(-1, 0);
  near(s.direction(), [-1, 0]);
  s.force(null);
  s.releaseAll();
  near(s.direction(), [0.5, 0]);
  s.keyDown('KeyA');
  s.keyDown('KeyD');
  near(s.direction(), [0, 0]);
  s.keyUp('KeyA');
  near(s.direction(), [1, 0]);
});

test('quantize rounds to 3 decimals', () => {
  assert.deepEqual(quantize([0.12345, -0.98765]), [0.123, -0.988]);
  assert.deepEqual(quantize([-0.0001, 0]), [0, 0]);
});
