/**
 * The Lantern page (the real-time guide's game, docs/writing-a-realtime-game.md): the maze on a
 * canvas, dark but for what your lantern lights, the players and gems the server sent you, and
 * the leaders. Arrow keys or WASD steer (`steer` is sent when the heading changes), space
 * lights a flare. Built on the SDK through the table page (`/client/table.js`).
 */

import { TablePage, el } from '/client/table.js';
import { applyState, count, heading, mine, nameOf, statusLine, steers } from './lantern.js';

const page = new TablePage();
const canvas = el('canvas', 'lantern');
canvas.id = 'maze';
canvas.tabIndex = 0;
const leaders = el('ol', 'players');
leaders.id = 'leaders';
page.root.append(canvas, el('p', 'muted', 'Leaders'), leaders);
const ctx = canvas.getContext('2d');

let view = null;
const held = new Set();
let sent = [0, 0];

function steer(flare = false) {
  const [dx, dy] = heading(held);
  if (!flare && dx === sent[0] && dy === sent[1]) return;
  sent = [dx, dy];
  page.arena.send('steer', { dx, dy, flare });
}

window.addEventListener('keydown', (event) => {
  if (event.code === 'Space') {
    event.preventDefault();
    if (!event.repeat) steer(true);
  } else if (steers(event.code)) {
    event.preventDefault();
    held.add(event.code);
    steer();
  }
});
window.addEventListener('keyup', (event) => {
  if (held.delete(event.code)) steer();
});
window.addEventListener('blur', () => {
  held.clear();
  steer();
});

function draw() {
  if (!view?.maze) return;
  const rows = view.maze;
  const cell = Math.max(6, Math.min(20, Math.floor(640 / rows[0].length)));
  canvas.width = rows[0].length * cell;
  canvas.height = rows.length * cell;
  ctx.fillStyle = '#050508';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const me = mine(view, page.me);
  if (me && view.status === 'playing') {
    // The light: a circle of the lantern's (or the flare's) radius round this player.
    const radius = (me[5] ? view.flare_radius : view.radius) + 0.5;
    const cx = (me[1] + 0.5) * cell;
    const cy = (me[2] + 0.5) * cell;
    const light = ctx.createRadialGradient(cx, cy, cell, cx, cy, radius * cell);
    light.addColorStop(0, 'rgba(255, 214, 140, 0.35)');
    light.addColorStop(1, 'rgba(255, 214, 140, 0)');
    ctx.fillStyle = light;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  ctx.fillStyle = '#3a3a48';
  rows.forEach((row, y) => {
    for (let x = 0; x < row.length; x += 1) if (row[x] === '#') ctx.fillRect(x * cell, y * cell, cell, cell);
  });
  ctx.fillStyle = '#ffd23f';
  for (const [x, y] of view.gems ?? []) {
    ctx.beginPath();
    ctx.moveTo((x + 0.5) * cell, y * cell + 2);
    ctx.lineTo((x + 1) * cell - 2, (y + 0.5) * cell);
    ctx.lineTo((x + 0.5) * cell, (y + 1) * cell - 2);
    ctx.lineTo(x * cell + 2, (y + 0.5) * cell);
    ctx.fill();
  }
  for (const [player, x, y] of view.players ?? []) {
    ctx.fillStyle = player === page.me ? '#ffffff' : '#ff8c42';
    ctx.beginPath();
    ctx.arc((x + 0.5) * cell, (y + 0.5) * cell, cell * 0.4, 0, 2 * Math.PI);
    ctx.fill();
  }
}

page.start((changes) => {
  const joinedNow = Boolean(changes?.maze);
  view = applyState(view, changes);
  if (joinedNow) sent = [0, 0];
  page.status(statusLine(view, page.me));
  leaders.replaceChildren(...(view.top ?? []).map(([player, gems]) => {
    const li = el('li', '', el('span', 'p-name', nameOf(view, player)), el('span', 'p-info', count(gems, 'gem')));
    li.classList.toggle('me', player === page.me);
    return li;
  }));
  draw();
});
