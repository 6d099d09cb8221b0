/**
 * The lobby page: the games the server runs, each a card (rendered by the server: picture,
 * quick play, a private table, join by code) whose players online and room count follow the
 * live rooms; the rooms of every game by their readable names with their metadata (every 2 s);
 * each game's leaderboard (every 10 s); and each card's "private table with options" form,
 * built from GET /api/modes (labels and hints as the game declares them). Everything is
 * built with `textContent`: room names, metadata and player names are data, never markup.
 */

import { watchAnnouncements } from './banner.js';
import { fillOptions, optionLabel } from './options.js';
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

/** A room's public metadata as one line (players are a column, the name its own): a room
 * option by its label, "Dice per player 1 · Ones are wild yes · status waiting". `labels`:
 * option name to label, from the mode's description. */
export function metadataText(metadata, labels = {}) {
  return Object.entries(metadata || {})
    .filter(([key]) => key !== 'players' && key !== 'name')
    .map(([key, value]) => {
      const shown = value === true ? 'yes' : value === false ? 'no' : value;
      return `${labels[key] ?? key.replace(/_/g, ' ')} ${shown}`;
    })
    .join(' · ');
}

/** One `<tr data-room-id>` of the rooms table, the same markup lobby.html renders: the room
 * by its readable name (`name`, from GET /api/rooms), its game by title (`titles`). */
export function roomRow(room, titles = {}, labels = {}) {
  const tr = document.createElement('tr');
  tr.dataset.roomId = String(room.id);
  tr.dataset.mode = String(room.mode);
  const join = document.createElement('a');
  join.className = 'join';
  join.href = `/play?room=${encodeURIComponent(room.id)}`;
  join.textContent = 'Join';
  // Watch as a spectator: the public view, no seat taken (the game's own page, watch=1).
  const watch = document.createElement('a');
  watch.className = 'watch';
  watch.href = `/play?room=${encodeURIComponent(room.id)}&watch=1`;
  watch.textContent = 'Watch';
  const action = cell('', 'room-join');
  action.append(join, ' ', watch);
  tr.append(
    cell(String(room.name ?? room.id), 'room-name'),
    cell(String(titles[room.mode] ?? room.mode), 'room-mode'),
    cell(`${room.connected ?? room.players} / ${room.max_players}${room.away ? ` (${room.away} away)` : ''}${room.bots ? ` + ${room.bots} bots` : ''}${room.spectators ? ` · ${room.spectators} watching` : ''}`, 'room-players'),
    cell(metadataText(room.metadata, labels[room.mode]), 'room-meta'),
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
export function renderRooms(tbody, rooms, modeOrder = [], titles = {}, labels = {}) {
  const rank = (mode) => {
    const i = modeOrder.indexOf(mode);
    return i === -1 ? modeOrder.length : i;
  };
  const sorted = [...rooms].sort((a, b) => rank(a.mode) - rank(b.mode) || b.players - a.players);
  tbody.replaceChildren(...(sorted.length ? sorted.map((room) => roomRow(room, titles, labels)) : [emptyRow()]));
}

/** Per mode, the players online in its rooms (connected, where the server says so; held seats
 * are away, not online) and how many rooms it has (as pages.py counts them). */
export function modeCounts(rooms) {
  const counts = {};
  for (const room of rooms) {
    const entry = (counts[room.mode] ??= { players: 0, rooms: 0 });
    entry.players += Number(room.connected ?? room.players) || 0;
    entry.rooms += 1;
  }
  return counts;
}

/** A card's live line: "3 online · 1 room". */
export function renderCounts(card, count = { players: 0, rooms: 0 }) {
  const players = card.querySelector('.mode-players');
  const rooms = card.querySelector('.mode-rooms');
  if (players) players.textContent = String(count.players);
  if (rooms) {
    rooms.textContent = String(count.rooms);
    const word = rooms.nextSibling;
    if (word && word.nodeType === Node.TEXT_NODE) word.textContent = count.rooms === 1 ? ' room' : ' rooms';
  }
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

/** Per mode, its options' labels (option name to label). */
export function optionLabels(modes) {
  return Object.fromEntries(modes.map((m) => [m.name, Object.fromEntries(
    Object.entries(m.options ?? {}).map(([name, field]) => [name, optionLabel(name, field)]))]));
}

/** Each card's "private table with options" form: an input per option the mode declares. */
function fillCreateForms(modes) {
  const boxes = [...document.querySelectorAll('.create-options[data-mode]')];
  for (const box of boxes) {
    const spec = modes.find((m) => m.name === box.dataset.mode);
    fillOptions(box, spec?.options, `${box.dataset.mode}-option`);
  }
}

function start() {
  const arena = new Arena(); // HTTP only here: the lobby opens no game socket
  watchAnnouncements(); // so it asks for announcements, as a banner like the game pages'
  const boards = [...document.querySelectorAll('ol.leaderboard[data-mode]')];
  const modeOrder = boards.map((list) => list.dataset.mode);
  const cards = [...document.querySelectorAll('.mode-card[data-mode]')];
  const titles = Object.fromEntries(cards.map((card) => [card.dataset.mode, card.dataset.title]));
  let labels = {}; // filled in once the modes are described
  arena.modes().then((modes) => {
    labels = optionLabels(modes);
    fillCreateForms(modes);
  }, (err) => console.warn(String(err))); // the forms still create a table, with the defaults
  const tbody = document.getElementById('rooms')?.tBodies[0];
  if (tbody) {
    poll(async () => {
      const got = await arena.rooms();
      const rooms = Array.isArray(got) ? got : [];
      renderRooms(tbody, rooms, modeOrder, titles, labels);
      const counts = modeCounts(rooms);
      for (const card of cards) renderCounts(card, counts[card.dataset.mode]);
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
