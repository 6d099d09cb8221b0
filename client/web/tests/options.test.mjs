// The words the room-option forms show: a game's declared label, else the option's name.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { optionLabel, optionsFrom } from '../options.js';

test('an option reads by the label its game declares', () => {
  assert.equal(optionLabel('turn_seconds', { kind: 'int', label: 'Seconds per turn' }), 'Seconds per turn');
});

test('an option without a label reads as its name with spaces', () => {
  assert.equal(optionLabel('start_players', { kind: 'int' }), 'start players');
  assert.equal(optionLabel('fog', { kind: 'bool', label: '' }), 'fog');
});

test('a page reads the options of its table back from its address', () => {
  const params = new URLSearchParams('mode=arena&create=private&bots=0&max_players=6&fog=false&name=Ann&Bad-Key=1');
  assert.deepEqual(optionsFrom(params), { bots: 0, max_players: 6, fog: false, name: 'Ann' });
});
