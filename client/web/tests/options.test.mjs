// The words the room-option forms show: a game's declared label, else the option's name.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { optionLabel } from '../options.js';

test('an option reads by the label its game declares', () => {
  assert.equal(optionLabel('turn_seconds', { kind: 'int', label: 'Seconds per turn' }), 'Seconds per turn');
});

test('an option without a label reads as its name with spaces', () => {
  assert.equal(optionLabel('start_players', { kind: 'int' }), 'start players');
  assert.equal(optionLabel('fog', { kind: 'bool', label: '' }), 'fog');
});
