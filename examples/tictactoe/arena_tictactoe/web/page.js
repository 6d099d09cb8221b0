/**
 * The tic-tac-toe page (the tutorial game, docs/writing-a-game.md): a 3x3 board, whose turn
 * with its clock, and the result. Built on the SDK through `table.js`; a click sends
 * `{"type": "move", "cell": N}`.
 */

import { TablePage, TurnClock, el } from '/client/table.js';

const page = new TablePage();
const board = el('div', 'board');
board.id = 'board';
const cells = [];
for (let cell = 0; cell < 9; cell += 1) {
  const button = el('button', '', '');
  button.dataset.cell = String(cell);
  button.setAttribute('aria-label', `cell ${cell + 1}`);
  button.addEventListener('click', () => page.arena.send('move', { cell }));
  cells.push(button);
  board.append(button);
}
const clock = el('span', 'muted');
clock.id = 'clock';
const players = el('ul', 'players');
players.id = 'players';
page.root.append(players, el('p', '', 'Turn clock: ', clock), board);
const turnClock = new TurnClock(clock, page.now); // the replay's clock in a replay

function nameOf(view, id) {
  const seat = view.players.find((p) => p.player === id);
  return seat ? `${seat.name} (${seat.mark})` : `player ${id}`;
}

page.start((view) => {
  const me = page.me;
  const myTurn = view.status === 'playing' && view.turn === me;
  if (view.status === 'waiting') page.status('Waiting for a second player…');
  else if (view.status === 'playing') page.status(myTurn ? 'Your turn.' : `${nameOf(view, view.turn)} to play.`);
  else if (view.winner === null) page.status('A draw.');
  else page.status(view.winner === me ? 'You win!' : `${nameOf(view, view.winner)} wins.`);
  players.replaceChildren(...view.players.map((p) => {
    const li = el('li', '', el('span', 'p-name', p.name), el('span', 'p-info', p.mark), p.away ? el('span', 'muted', '(away)') : '');
    li.classList.toggle('me', p.player === me);
    li.classList.toggle('turn', p.player === view.turn);
    return li;
  }));
  const line = new Set(view.line || []);
  view.board.forEach((mark, cell) => {
    cells[cell].textContent = mark;
    cells[cell].disabled = !myTurn || mark !== '';
    cells[cell].classList.toggle('line', line.has(cell));
  });
  // A new turn: the player on turn or the number of marks changed.
  const marks = view.board.filter(Boolean).length;
  turnClock.turn(view.status === 'playing' ? `${view.turn}:${marks}` : null, view.turn_seconds);
});
