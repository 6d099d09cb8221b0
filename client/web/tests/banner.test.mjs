import assert from 'node:assert/strict';
import { test } from 'node:test';

import { isAnnouncement } from '../banner.js';

test('an announcement is global chat from "server"; nothing else is', () => {
  assert.equal(isAnnouncement({ type: 'chat', player: 0, name: 'server', text: 'hi', scope: 'global' }), true);
  // a player's global chat, a room chat from a player, other messages
  assert.equal(isAnnouncement({ type: 'chat', player: 0, name: 'ann', text: 'hi', scope: 'global' }), false);
  assert.equal(isAnnouncement({ type: 'chat', player: 3, name: 'server', text: 'hi' }), false);
  assert.equal(isAnnouncement({ type: 'state', name: 'server', scope: 'global' }), false);
  assert.equal(isAnnouncement(null), false);
});
