import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Predictor, clampDirection, speedFor } from '../net/prediction.js';

// Mass 100 moves at 200 / sqrt(100) = 20 units/s, i.e. 0.02 units per ms: easy numbers.
const MASS = 100;

function near(actual, expected, message) {
  assert.ok(Math.abs(actual.x - expected.x) < 1e-9 && Math.abs(actual.y - expected.y) < 1e-9,
    `${message ?? ''} expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

function predictor(options = {}) {
  const p = new Predictor({ width: 3000, height: 3000, ...options });
  p.reset({ x: 100, y: 100, mass: MASS, at: 0 });
  return p;
}

test('clampDirection clamps the length to 1 like the server, and zeroes non-finite parts', () => {
  assert.deepEqual(clampDirection(3, 4), [0.6, 0.8]);
  assert.deepEqual(clampDirection(0.3, 0.4), [0.3, 0.4]);
  assert.deepEqual(clampDirection(0, 0), [0, 0]);
  assert.deepEqual(clampDirection(NaN, 1), [0, 1]);
});

test('speed is speed_factor / sqrt(mass)', () => {
  assert.equal(speedFor(100), 20);
  assert.equal(speedFor(10), 200 / Math.sqrt(10));
  assert.equal(speedFor(16, 100), 25);
});

test('before any reset there is no prediction', () => {
  const p = new Predictor();
  assert.equal(p.positionAt(1000), null);
  assert.equal(p.display(1000), null);
});

test('after reset it stands still at the server position', () => {
  const p = predictor();
  near(p.positionAt(5000), { x: 100, y: 100 });
});

test('an unacknowledged input moves us at once from its send time', () => {
  const p = predictor();
  p.addInput(1, 1, 0, 1000);
  near(p.positionAt(1000), { x: 100, y: 100 });
  near(p.positionAt(1500), { x: 110, y: 100 });
});

test('no pending inputs: the acked direction continues from the state time (receivedAt - rtt)', () => {
  const p = predictor();
  p.addInput(5, 1, 0, 0);
  const at = p.reconcile({ seq: 5, x: 200, y: 100, mass: MASS }, 1000, 100);
  assert.equal(p.pending.length, 0);
  assert.equal(p.ackedSeq, 5);
  near(at, { x: 202, y: 100 }); // 100 ms at 0.02 units/ms
  near(p.positionAt(1500), { x: 212, y: 100 });
});

test('no pending inputs and a stop acked: stays at the server position', () => {
  const p = predictor();
  p.addInput(1, 0, 0, 0);
  p.reconcile({ seq: 1, x: 150, y: 160, mass: MASS }, 1000, 80);
  near(p.positionAt(9000), { x: 150, y: 160 });
});

test('several pending inputs are replayed, each from its send time to the next one', () => {
  const p = predictor();
  p.addInput(1, 1, 0, 0);
  p.addInput(2, 0, 1, 1000);
  p.addInput(3, -1, 0, 1500);
  p.reconcile({ seq: 1, x: 100, y: 100, mass: MASS }, 1100, 200);
  assert.deepEqual(
    p.pending.map((i) => i.seq),
    [2, 3],
  );
  // 900..1000 with input 1 (+2 x), 1000..1500 with input 2 (+10 y), 1500..2000 with input 3 (-10 x).
  near(p.positionAt(2000), { x: 92, y: 110 });
});

test('pending input directions are clamped to length 1 and partial speeds are kept', () => {
  const p = predictor();
  p.addInput(1, 3, 4, 0);
  near(p.positionAt(1000), { x: 112, y: 116 });
  p.addInput(2, 0.25, 0, 1000);
  near(p.positionAt(2000), { x: 117, y: 116 });
});

test('an input sent before the state time but not yet acked starts at the state time', () => {
  const p = predictor();
  p.addInput(1, 1, 0, 0);
  p.addInput(2, 0, 1, 850); // "should" have arrived, but the ack is only for 1
  p.reconcile({ seq: 1, x: 100, y: 100, mass: MASS }, 1000, 100); // state at 900
  near(p.positionAt(1000), { x: 100, y: 102 });
});

test('the predicted position is clamped to the world, sliding along a wall', () => {
  const p = new Predictor({ width: 3000, height: 2000 });
  p.reset({ x: 2995, y: 10, mass: MASS, at: 0 });
  p.addInput(1, 1, 0, 0);
  near(p.positionAt(1000), { x: 3000, y: 10 });
  p.addInput(2, 3, 4, 1000); // toward the wall and down: slides down
  near(p.positionAt(2000), { x: 3000, y: 26 });
  p.addInput(3, 0, -1, 2000);
  near(p.positionAt(10000), { x: 3000, y: 0 });
  p.addInput(4, 0, 1, 10000);
  near(p.positionAt(1_000_000), { x: 3000, y: 2000 });
});

test('acks past the last input drop them all; a lower (stale) ack drops nothing', () => {
  const p = predictor();
  p.addInput(5, 1, 0, 0);
  p.addInput(6, 0, 1, 100);
  p.addInput(7, -1, 0, 200);
  p.reconcile({ seq: 6, x: 100, y: 100, mass: MASS }, 300, 0);
  assert.deepEqual(
    p.pending.map((i) => i.seq),
    [7],
  );
  assert.deepEqual(p.ackedDir, [0, 1]);
  p.reconcile({ seq: 5, x: 100, y: 100, mass: MASS }, 400, 0);
  assert.equal(p.ackedSeq, 6);
  assert.deepEqual(
    p.pending.map((i) => i.seq),
    [7],
  );
  assert.deepEqual(p.ackedDir, [0, 1]);
  // The base still follows the newest server position.
  near(p.positionAt(500), { x: 98, y: 100 });
  // The same ack again (we moved, no new input processed): still nothing dropped.
  p.reconcile({ seq: 6, x: 90, y: 100, mass: MASS }, 500, 0);
  assert.equal(p.pending.length, 1);
});

test('the server mass sets the replay speed', () => {
  const p = predictor();
  p.addInput(1, 1, 0, 0);
  p.reconcile({ seq: 1, x: 100, y: 100, mass: 400 }, 1000, 0); // speed 10
  near(p.positionAt(2000), { x: 110, y: 100 });
});

test('a small correction is blended in, not snapped', () => {
  const p = predictor({ smoothingMs: 100 });
  p.addInput(1, 1, 0, 0);
  near(p.display(1000), { x: 120, y: 100 });
  // The server says we are 5 units behind where we predicted.
  p.reconcile({ seq: 1, x: 115, y: 100, mass: MASS }, 1000, 0);
  near(p.positionAt(1000), { x: 115, y: 100 });
  near(p.display(1000), { x: 120, y: 100 }, 'no visible jump');
  const later = p.display(1100); // prediction 117, error 5 * e^-1
  assert.ok(Math.abs(later.x - (117 + 5 * Math.exp(-1))) < 1e-9);
  const settled = p.display(2000);
  assert.ok(Math.abs(settled.x - 135) < 0.01);
});

test('a huge correction (respawn, teleport) snaps', () => {
  const p = predictor({ snapDistance: 200 });
  p.display(0);
  p.reconcile({ seq: 0, x: 900, y: 100, mass: MASS }, 10, 0);
  near(p.display(10), { x: 900, y: 100 });
  assert.deepEqual(p.error, { x: 0, y: 0 });
});

test('reset drops pending inputs and the acked direction', () => {
  const p = predictor();
  p.addInput(1, 1, 0, 0);
  p.reset({ x: 5, y: 5, mass: 10, at: 100 });
  assert.equal(p.pending.length, 0);
  near(p.positionAt(5000), { x: 5, y: 5 });
  p.clear();
  assert.equal(p.positionAt(5000), null);
  assert.equal(p.ackedSeq, -1);
});

test('pending inputs are capped', () => {
  const p = predictor({ maxPending: 3 });
  for (let seq = 1; seq <= 10; seq++) p.addInput(seq, 1, 0, seq);
  assert.deepEqual(
    p.pending.map((i) => i.seq),
    [8, 9, 10],
  );
});
