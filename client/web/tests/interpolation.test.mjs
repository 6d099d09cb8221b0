import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ClockSync, Interpolator, SnapshotBuffer } from '../net/interpolation.js';

function buffer() {
  const b = new SnapshotBuffer({ tickInterval: 50 });
  b.push(1000, 0, 0, 10);
  b.push(1050, 10, 20, 10);
  b.push(1100, 20, 40, 12);
  return b;
}

test('an empty buffer has no position', () => {
  assert.equal(new SnapshotBuffer().sample(1000), null);
});

test('before the first sample: the first sample', () => {
  assert.deepEqual(buffer().sample(900), { x: 0, y: 0, mass: 10 });
});

test('exactly on a sample: that sample', () => {
  const b = buffer();
  assert.deepEqual(b.sample(1000), { x: 0, y: 0, mass: 10 });
  assert.deepEqual(b.sample(1050), { x: 10, y: 20, mass: 10 });
  assert.deepEqual(b.sample(1100), { x: 20, y: 40, mass: 12 });
});

test('between two samples: lerped between the two that straddle it', () => {
  const b = buffer();
  assert.deepEqual(b.sample(1025), { x: 5, y: 10, mass: 10 });
  assert.deepEqual(b.sample(1075), { x: 15, y: 30, mass: 11 });
  const p = b.sample(1060);
  assert.ok(Math.abs(p.x - 12) < 1e-9 && Math.abs(p.y - 24) < 1e-9);
});

test('past the last sample: hold it, never extrapolate', () => {
  assert.deepEqual(buffer().sample(5000), { x: 20, y: 40, mass: 12 });
});

test('a gap over 1.5 ticks means it stood still: the old position is repeated one tick early', () => {
  const b = new SnapshotBuffer({ tickInterval: 50 });
  b.push(1000, 0, 0, 10);
  b.push(1500, 10, 0, 10); // stood still at 0 from 1000 until 1450, then moved
  assert.deepEqual(
    b.samples.map((s) => [s.ts, s.x]),
    [
      [1000, 0],
      [1450, 0],
      [1500, 10],
    ],
  );
  assert.equal(b.sample(1200).x, 0); // no slow-motion smear over the still period
  assert.equal(b.sample(1450).x, 0);
  assert.equal(b.sample(1475).x, 5);
});

test('gaps of up to 1.5 ticks are lerped as they are', () => {
  const b = new SnapshotBuffer({ tickInterval: 50 });
  b.push(1000, 0, 0, 10);
  b.push(1075, 30, 0, 10); // 1.5 ticks exactly: a late state, not a still period
  assert.equal(b.length, 2);
  assert.equal(b.sample(1050).x, 20);
});

test('old or duplicate samples do not rewind the buffer', () => {
  const b = buffer();
  b.push(1100, 99, 99, 99);
  assert.equal(b.sample(1100).x, 99); // same ts as the newest: replaced
  b.push(1050, -5, -5, 10); // older than the newest: ignored
  assert.equal(b.sample(1050).x, 10);
  assert.equal(b.length, 3);
  assert.equal(b.latest.ts, 1100);
});

test('reset starts over from one sample (respawn: no lerp across the map)', () => {
  const b = buffer();
  b.reset(2000, 500, 500, 10);
  assert.equal(b.length, 1);
  assert.deepEqual(b.sample(1050), { x: 500, y: 500, mass: 10 });
});

test('old samples are trimmed, keeping the ones render time still needs', () => {
  const b = new SnapshotBuffer({ tickInterval: 50, maxAgeMs: 200 });
  for (let ts = 0; ts <= 2000; ts += 50) b.push(ts, ts, 0, 10);
  assert.ok(b.length <= 6, `kept ${b.length}`);
  assert.equal(b.sample(1900).x, 1900);
});

test('Interpolator renders 100 ms in the past and keys buffers by entity', () => {
  const interp = new Interpolator({ tickInterval: 50 });
  assert.equal(interp.renderTime(5000), 4900);
  interp.push(1, 1000, 0, 0, 10);
  interp.push(1, 1050, 10, 0, 10);
  interp.reset(2, 1000, 300, 300, 20);
  assert.equal(interp.sample(1, interp.renderTime(1125)).x, 5);
  assert.equal(interp.sample(2, 1025).x, 300);
  assert.equal(interp.sample(3, 1025), null);
  interp.remove(1);
  assert.equal(interp.has(1), false);
  interp.setTickInterval(100);
  interp.push(2, 1500, 310, 300, 20);
  assert.equal(interp.buffers.get(2).samples[1].ts, 1400); // the gap rule uses the new interval
  interp.clear();
  assert.equal(interp.buffers.size, 0);
});

test('ClockSync: not ready before a state, then serverNow from the first offset', () => {
  const clock = new ClockSync();
  assert.equal(clock.ready, false);
  assert.equal(clock.serverNow(100), null);
  clock.observe(1_000_000, 200);
  assert.equal(clock.ready, true);
  assert.equal(clock.serverNow(200), 1_000_000);
  assert.equal(clock.serverNow(250), 1_000_050);
  assert.equal(clock.toLocal(1_000_000), 200);
});

test('ClockSync ignores jitter: late packets never pull the estimate', () => {
  const clock = new ClockSync({ smoothing: 0.1 });
  // One-way delay 20 ms plus 0..80 ms of jitter; the offset is local - server.
  const base = 5_000_000;
  const jitter = [0, 80, 35, 60, 5, 75, 0, 50, 20, 80];
  let local = 1000;
  for (let i = 0; i < 200; i++) {
    const ts = base + i * 50;
    local = 1000 + i * 50 + 20 + jitter[i % jitter.length];
    clock.observe(ts, local);
  }
  // Offset is 1000 - base + 20 (the least delayed sample).
  assert.equal(clock.windowMin, 1000 - base + 20);
  assert.ok(Math.abs(clock.offset - (1000 - base + 20)) < 1e-6);
  // A single very late packet changes nothing.
  clock.observe(base + 200 * 50, 1000 + 200 * 50 + 500);
  assert.ok(Math.abs(clock.offset - (1000 - base + 20)) < 1e-6);
});

test('ClockSync moves smoothly to a better minimum and forgets it outside the window', () => {
  const clock = new ClockSync({ windowMs: 1000, smoothing: 0.5, snapMs: 1000 });
  clock.observe(0, 100); // offset 100
  clock.observe(50, 130); // offset 80: target 80, halfway there
  assert.equal(clock.windowMin, 80);
  assert.equal(clock.offset, 90);
  clock.observe(100, 180); // still 80
  assert.equal(clock.offset, 85);
  // The 80 sample leaves the window: the minimum rises to the newest samples'.
  clock.observe(1200, 1300);
  assert.equal(clock.windowMin, 100);
  assert.equal(clock.offset, 92.5);
});

test('ClockSync snaps on a jump bigger than snapMs (a clock change)', () => {
  const clock = new ClockSync({ snapMs: 1000 });
  clock.observe(0, 100);
  clock.observe(50, 150 - 60_000);
  assert.equal(clock.offset, 100 - 60_000);
});

test('ClockSync ignores non-finite input', () => {
  const clock = new ClockSync();
  clock.observe(undefined, 5);
  clock.observe(NaN, 5);
  assert.equal(clock.ready, false);
});
