/**
 * The lobby page: keeps the room list (every 2 s) and the all-time leaderboard (every 10 s)
 * fresh. Rows are built with `textContent`: room ids and names are data, never markup.
 */

const ROOMS_EVERY_MS = 2000;
const LEADERBOARD_EVERY_MS = 10000;

async function getJson(url) {
  const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function cell(text, className) {
  const td = document.createElement('td');
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

/** One `<tr data-room-id>` of the rooms table, the same markup lobby.html renders. */
export function roomRow(room) {
  const tr = document.createElement('tr');
  tr.dataset.roomId = String(room.id);
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
    cell(`${room.players} / ${room.max_players}`, 'room-players'),
    action,
  );
  return tr;
}

function emptyRow() {
  const tr = document.createElement('tr');
  tr.className = 'empty';
  const td = cell('No rooms yet: the first player to join creates one.');
  td.colSpan = 4;
  tr.append(td);
  return tr;
}

export function renderRooms(tbody, rooms) {
  tbody.replaceChildren(...(rooms.length ? rooms.map(roomRow) : [emptyRow()]));
}

export function renderLeaderboard(list, empty, entries) {
  const items = entries.map((entry) => {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'lb-name';
    name.textContent = String(entry.name);
    li.append(name);
    // The guest mark is drawn by CSS, so the entry's text stays "name figure".
    if (entry.guest) li.classList.add('guest');
    const figure = document.createElement('span');
    figure.className = 'lb-figure';
    // The figure the mode ranks by: a best score, a rating or a number of wins.
    figure.textContent = String(entry.score ?? entry.rating ?? entry.wins);
    li.append(' ', figure);
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
  const table = document.getElementById('rooms');
  const tbody = table?.tBodies[0];
  if (tbody) {
    poll(async () => {
      const { rooms } = await getJson('/api/rooms');
      renderRooms(tbody, Array.isArray(rooms) ? rooms : []);
    }, ROOMS_EVERY_MS);
  }
  const list = document.getElementById('leaderboard');
  if (list) {
    const empty = document.getElementById('leaderboard-empty');
    poll(async () => {
      const { leaderboard } = await getJson('/api/leaderboard');
      renderLeaderboard(list, empty, Array.isArray(leaderboard) ? leaderboard : []);
    }, LEADERBOARD_EVERY_MS);
  }
}

start();
