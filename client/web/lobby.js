/**
 * The lobby page: the modes the server runs (rendered by the server: quick play, a private
 * table, join by code), the live rooms of every mode with their metadata (every 2 s) and each
 * mode's leaderboard (every 10 s), through the SDK's HTTP calls. Rows are built with
 * `textContent`: room ids, metadata and names are data, never markup.
 */

import { Arena } from './sdk/arena.js';

const ROOMS_EVERY_MS = 2000;
const LEADERBOARD_EVERY_MS = 10000;
const COLUMNS = 5;

function cell(text, className) {
  const td = document.createElement('td');
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

/** A room's public metadata as one line: "status waiting · dice 1" (players are a column). */
export function metadataText(metadata) {
  return Object.entries(metadata || {})
    .filter(([key]) => key !== 'players')
    .map(([key, value]) => `${key} ${value}`)
    .join(' · ');
}

/** One `<tr data-room-id>` of the rooms table, the same markup lobby.html renders. */
export function roomRow(room) {
  const tr = document.createElement('tr');
  tr.dataset.roomId = String(room.id);
  tr.dataset.mode = String(room.mode);
  const id = cell('', 'room-id');
  const code = document.createElement('code');
  code.textContent = String(room.id);
  id.append(code);
  const join = document.createElement('a');
  join.className = 'join';
  join.href = `/play?room=${encodeURIComponent(room.id)}`;
  join.textContent = 'Join';
  const action = cell('', 'room-join');
  action.append(join);
  tr.append(
    id,
    cell(String(room.mode), 'room-mode'),
    cell(`${room.connected ?? room.players} / ${room.max_players}${room.away ? ` (${room.away} away)` : ''}`, 'room-players'),
    cell(metadataText(room.metadata), 'room-meta'),
    action,
  );
  return tr;
}

function emptyRow() {
  const tr = document.createElement('tr');
  tr.className = 'empty';
  const td = cell('No rooms yet: the first player to join creates one.');
  td.colSpan = COLUMNS;
  tr.append(td);
  return tr;
}

/** The rooms, grouped by mode (the order of the modes on the page), fullest first. */
export function renderRooms(tbody, rooms, modeOrder = []) {
  const rank = (mode) => {
    const i = modeOrder.indexOf(mode);
    return i === -1 ? modeOrder.length : i;
  };
  const sorted = [...rooms].sort((a, b) => rank(a.mode) - rank(b.mode) || b.players - a.players);
  tbody.replaceChildren(...(sorted.length ? sorted.map(roomRow) : [emptyRow()]));
}

/** The figure an entry ranks by under `rule`: a best score, a number of wins or a rating. */
export function figure(entry, rule) {
  if (rule === 'wins') return String(entry.wins);
  if (rule === 'rating') return String(Math.round(entry.rating));
  if (rule === 'best_score') return String(entry.score);
  return String(entry.score ?? entry.rating ?? entry.wins);
}

export function renderLeaderboard(list, empty, entries, rule) {
  const items = entries.map((entry) => {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'lb-name';
    name.textContent = String(entry.name);
    li.append(name);
    // The guest mark is drawn by CSS, so the entry's text stays "name figure".
    if (entry.guest) li.classList.add('guest');
    const value = document.createElement('span');
    value.className = 'lb-figure';
    value.textContent = figure(entry, rule);
    li.append(' ', value);
    return li;
  });
  list.replaceChildren(...items);
  if (empty) empty.hidden = items.length > 0;
}

function poll(fn, everyMs) {
  let timer = null;
  const run = async () => {
    try {
      await fn();
    } catch (err) {
      console.warn(String(err)); // keep the last list; try again next time
    }
    timer = setTimeout(run, everyMs);
  };
  run();
  return () => clearTimeout(timer);
}

function start() {
  const arena = new Arena(); // HTTP only here: the lobby opens no game socket
  const boards = [...document.querySelectorAll('ol.leaderboard[data-mode]')];
  const modeOrder = boards.map((list) => list.dataset.mode);
  const tbody = document.getElementById('rooms')?.tBodies[0];
  if (tbody) {
    poll(async () => {
      const rooms = await arena.rooms();
      renderRooms(tbody, Array.isArray(rooms) ? rooms : [], modeOrder);
    }, ROOMS_EVERY_MS);
  }
  for (const list of boards) {
    const empty = list.parentElement.querySelector('.lb-empty');
    poll(async () => {
      const { leaderboard, rule } = await arena.leaderboard(list.dataset.mode);
      renderLeaderboard(list, empty, Array.isArray(leaderboard) ? leaderboard : [], rule);
    }, LEADERBOARD_EVERY_MS);
  }
}

start();
