import assert from 'node:assert/strict';
import { test } from 'node:test';

import { bidText, endText, faceOrder, lowestRaise, nameOf, revealText } from '../games/dice-text.js';

test('faces rank 1..6, or 2..6 then 1 with wild ones', () => {
  assert.deepEqual(faceOrder(false), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(faceOrder(true), [2, 3, 4, 5, 6, 1]);
});

test('the lowest raise: 1 x the lowest face to open, then a higher face, then one more die', () => {
  assert.deepEqual(lowestRaise(null, true, 10), { count: 1, face: 2 });
  assert.deepEqual(lowestRaise(null, false, 10), { count: 1, face: 1 });
  assert.deepEqual(lowestRaise({ count: 2, face: 5 }, true, 10), { count: 2, face: 6 });
  assert.deepEqual(lowestRaise({ count: 2, face: 6 }, true, 10), { count: 2, face: 1 });
  assert.deepEqual(lowestRaise({ count: 2, face: 1 }, true, 10), { count: 3, face: 2 });
  assert.deepEqual(lowestRaise({ count: 2, face: 6 }, false, 10), { count: 3, face: 1 });
  assert.equal(lowestRaise({ count: 2, face: 1 }, true, 2), null); // nothing left but a challenge
});

test('bids and reveals in words, names by id', () => {
  const view = { players: [{ id: 1, name: 'ann' }, { id: 2, name: '<b>bob</b>' }] };
  assert.equal(bidText({ count: 3, face: 5 }), '3 × 5 ⚄');
  assert.equal(nameOf(view, 2), '<b>bob</b>');
  assert.equal(nameOf(view, 9), 'player 9');
  const reveal = { bid: { by: 1, count: 3, face: 5 }, challenger: 2, count: 2, holds: false, loser: 1, eliminated: false };
  assert.equal(revealText(view, reveal), "<b>bob</b> challenged ann's 3 × 5 ⚄: 2 found, the bid was a lie; ann loses a die.");
});

test('endText: who won and why, from the winner\'s side and the others\'', () => {
  const players = [{ id: 1, name: 'ann' }, { id: 2, name: 'bob' }];
  const reveal = { round: 3, bid: { count: 1, face: 2, by: 1 }, challenger: 2, count: 1, holds: true, loser: 2, eliminated: true };
  const view = { status: 'finished', winner: 1, players, reveal };
  assert.deepEqual(endText(view, 1), { title: 'You win!', why: 'You are the last with dice: bob lost the last die on the challenge.' });
  assert.deepEqual(endText(view, 2), { title: 'ann wins.', why: 'ann is the last with dice: you lost the last die on the challenge.' });
  const left = { status: 'finished', winner: 1, players: [players[0], { ...players[1], left: true }], reveal: null };
  assert.equal(endText(left, 1).why, 'You are the last at the table: everyone else left.');
});
