/**
 * The Liar's Dice page (game.html with mode `dice`, docs/dice.md): the table (players, dice
 * counts, whose turn and its clock, the current bid), your own dice, bids and the challenge,
 * the reveal after a challenge and the result. Built on the SDK through `table.js`.
 */

import { TablePage, TurnClock, el } from '/client/table.js';
import { bidText, endText, faceOrder, lowestRaise, nameOf, revealText } from './dice-text.js';

const page = new TablePage();
const root = page.root;

// The skeleton, once: the inputs keep what the player typed across states.
const players = el('ul', 'players');
players.id = 'players';
const bidLine = el('p');
bidLine.id = 'bid-line';
const clock = el('span', 'muted');
clock.id = 'clock';
const myDice = el('div', 'dice');
myDice.id = 'my-dice';
const count = el('input');
Object.assign(count, { id: 'bid-count', type: 'number', min: '1', max: '36', value: '1' });
const face = el('select');
face.id = 'bid-face';
const bid = el('button', '', 'Bid');
bid.id = 'bid';
const challenge = el('button', 'secondary', 'Challenge');
challenge.id = 'challenge';
const ready = el('button', '', 'Ready');
ready.id = 'ready';
const controls = el('div', 'controls',
  el('label', '', 'Count ', count), el('label', '', 'Face ', face), bid, challenge, ready);
const revealBox = el('div', 'reveal');
revealBox.id = 'reveal';
// The end of the match: who won and why, first on the page once the match is over.
const outcome = el('div', 'outcome');
outcome.id = 'outcome';
const result = el('h3');
result.id = 'result';
const why = el('p');
why.id = 'why';
outcome.append(result, why);
const events = el('ul', 'muted');
events.id = 'events';
const clockLine = el('p', '', 'Turn clock: ', clock);
const diceTitle = el('h3', '', 'Your dice');
// The outcome and the last reveal come before the table and the controls: what just
// happened is read first, then what to do next.
root.append(outcome, revealBox, clockLine, players, bidLine, diceTitle, myDice, controls, events);

const turnClock = new TurnClock(clock, page.now); // the replay's clock in a replay
let view = null;
let raisedFor = null; // the turn whose lowest raise was put in the inputs

bid.addEventListener('click', () => {
  page.arena.send('bid', { count: Number(count.value), face: Number(face.value) });
});
challenge.addEventListener('click', () => page.arena.send('challenge'));
ready.addEventListener('click', () => page.arena.send('ready'));

function log(text) {
  events.prepend(el('li', '', text));
  while (events.children.length > 5) events.lastChild.remove();
}

page.arena.on('match_started', () => log('The match started.'));
page.arena.on('timed_out', (msg) => {
  const move = msg.move === 'bid' ? `bid ${bidText(msg)}` : 'challenged';
  log(`${nameOf(view ?? {}, msg.player)} ran out of time and ${move}.`);
});
page.arena.on('player_out', (msg) => log(`${nameOf(view ?? {}, msg.player)} left the match.`));
page.arena.on('reveal', (msg) => log(revealText(view ?? {}, msg)));

function die(value) {
  const node = el('span', 'die', value);
  node.title = `a ${value}`;
  return node;
}

function drawPlayers(v) {
  const rows = (v.players || []).map((p) => {
    const info = v.status === 'waiting'
      ? (p.ready ? 'ready' : 'not ready')
      : p.placement ? `#${p.placement}` : `${p.dice_count} ${p.dice_count === 1 ? 'die' : 'dice'}`;
    const li = el('li', '', el('span', 'p-name', p.name),
      p.connected === false ? el('span', 'muted', '(away)') : '', el('span', 'p-info', info));
    li.dataset.player = String(p.id);
    li.classList.toggle('me', p.id === page.me);
    li.classList.toggle('turn', p.id === v.turn);
    li.classList.toggle('out', p.alive === false);
    return li;
  });
  players.replaceChildren(...rows);
}

function drawControls(v) {
  const myTurn = v.status === 'playing' && v.turn === v.me && Array.isArray(v.dice);
  const onesWild = Boolean(v.rules?.ones_wild);
  if (face.options.length !== 6 || face.dataset.wild !== String(onesWild)) {
    face.replaceChildren(...faceOrder(onesWild).map((f) => {
      const option = el('option', '', f);
      option.value = String(f);
      return option;
    }));
    face.dataset.wild = String(onesWild);
  }
  count.max = String(v.total_dice ?? 36);
  if (myTurn && raisedFor !== v.turn_number) {
    raisedFor = v.turn_number;
    const low = lowestRaise(v.bid, onesWild, v.total_dice ?? 0);
    if (low) {
      count.value = String(low.count);
      face.value = String(low.face);
    }
  }
  bid.disabled = !myTurn;
  challenge.disabled = !myTurn || !v.bid;
  const me = (v.players || []).find((p) => p.id === page.me);
  ready.hidden = v.status !== 'waiting';
  ready.disabled = !me || Boolean(me.ready);
  controls.hidden = v.status === 'finished' || (v.status === 'playing' && !Array.isArray(v.dice));
}

function drawReveal(v) {
  const r = v.reveal;
  if (!r) {
    revealBox.replaceChildren();
    revealBox.hidden = true;
    return;
  }
  const hands = r.hands.map((h) => {
    const li = el('li', '', el('span', 'p-name', nameOf(v, h.player)), el('span', 'dice', ...h.dice.map(die)));
    li.dataset.player = String(h.player);
    return li;
  });
  revealBox.hidden = false;
  revealBox.replaceChildren(el('h3', '', `Round ${r.round}: the reveal`),
    el('p', '', revealText(v, r)), el('ul', 'players', ...hands));
}

function drawOutcome(v) {
  // The finished view is everyone's shared one (no `me`): who we are is `joined.player`.
  outcome.hidden = v.status !== 'finished';
  if (outcome.hidden) return;
  const end = endText(v, page.me);
  outcome.classList.toggle('lost', v.winner !== page.me);
  result.textContent = end.title;
  why.textContent = end.why;
}

function statusText(v) {
  if (v.status === 'waiting') {
    const seated = (v.players || []).length;
    return `Waiting for players: ${seated} of ${v.rules?.start_players ?? 2} seated. `
      + 'Everyone ready starts the match with whoever is here.';
  }
  // The end box (drawOutcome) says who won and why, first on the page: no line above it.
  if (v.status === 'finished') return '';
  if (!Array.isArray(v.dice)) return `${nameOf(v, v.turn)} to play. You are watching.`;
  return v.turn === v.me ? 'Your turn: raise the bid or challenge it.' : `${nameOf(v, v.turn)} to play.`;
}

page.start((v) => {
  view = v;
  page.status(statusText(v));
  drawPlayers(v);
  // A finished table has no bid on it any more: only a match in play shows one.
  bidLine.textContent = v.status !== 'playing' ? ''
    : v.bid ? `Current bid: ${bidText(v.bid)} by ${nameOf(v, v.bid.by)}` : `Round ${v.round}: no bid yet.`;
  bidLine.hidden = v.status !== 'playing';
  turnClock.turn(v.status === 'playing' ? v.turn_number : null, v.rules?.turn_seconds);
  clockLine.hidden = v.status !== 'playing';
  diceTitle.hidden = !Array.isArray(v.dice);
  myDice.replaceChildren(...(v.dice || []).map(die));
  drawControls(v);
  drawReveal(v);
  drawOutcome(v);
});

// For tests and the curious: the page's own pieces.
window.dicePage = { page, clock: turnClock };
