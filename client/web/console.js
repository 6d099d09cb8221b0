// The operator console (/console): every host's rooms and players, refreshed once a second,
// the actions on them (each confirmed first), announcements, bans, accounts and the audit log.
// Everything it shows comes from /api/console/*; text from players is set as text, never HTML.

const REFRESH_MS = 1000; // at most one snapshot a second per open console
const CHART_MS = 10000; // the hosts' chart points come every 10 s
const SVG = 'http://www.w3.org/2000/svg';
let xsrf = '';
let paused = false;
let lastHosts = '';
let inspected = null; // {process, room, state}

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function say(text, error = false) {
  const status = $('status');
  status.textContent = text;
  status.className = error ? 'error' : 'muted';
}

async function api(name, body = null, query = '') {
  const options = body === null ? {} : {
    method: 'POST',
    headers: {'Content-Type': 'application/json', 'X-XSRFToken': xsrf},
    body: JSON.stringify(body),
  };
  const response = await fetch(`/api/console/${name}${query}`, {credentials: 'same-origin', ...options});
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.message || `${response.status} ${response.statusText}`);
  return answer;
}

// An action: confirmed, sent, its answer (or error) shown, the views refreshed.
async function act(question, name, body) {
  if (question && !window.confirm(question)) return null;
  try {
    const answer = await api(name, body);
    say(typeof answer.reply === 'string' ? answer.reply : 'done');
    refresh();
    loadAudit();
    return answer;
  } catch (error) {
    say(error.message, true);
    return null;
  }
}

function when(seconds) {
  return new Date(seconds * 1000).toLocaleString();
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return '';
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function percent(fraction) {
  const digits = fraction < 0.01 ? 2 : fraction < 0.1 ? 1 : 0;
  return `${(fraction * 100).toFixed(digits)}%`;
}

function millis(ms) {
  return ms === null || ms === undefined ? '–' : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

function rate(bytesPerSecond) {
  if (bytesPerSecond >= 1e6) return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
  if (bytesPerSecond >= 1e3) return `${(bytesPerSecond / 1e3).toFixed(1)} kB/s`;
  return `${Math.round(bytesPerSecond)} B/s`;
}

// -- hosts and rooms ---------------------------------------------------------------------------

// What a room costs its host (absent with --no-room-accounting): its CPU split into the game,
// encoding and sending, its share of the host's CPU, tick p99, state size and bandwidth.
function costLine(room) {
  const c = room.cost;
  if (!c) return null;
  return el('p', {class: `cost${c.overrun ? ' overrun' : ''}`},
    c.overrun ? el('span', {class: 'tag overrun', title: 'its game took longer than a tick period in the last second'}, 'overruns its tick') : null,
    el('span', {class: 'cpu'}, `CPU ${percent(c.cpu)}`),
    ` (game ${percent(c.game)} · encode ${percent(c.encode)} · send ${percent(c.send)}) · `,
    el('span', {class: 'share'}, `${percent(c.share)} of the host's CPU`),
    ` · tick p99 ${millis(c.tick_p99_ms)} · state ${c.state_bytes} B · ${rate(c.bytes_per_second)}`,
    c.overruns ? ` · ${c.overruns} ticks overran` : '');
}

function hostLine(host) {
  const parts = [`${host.url} · ${host.players_connected} connected · ${host.rooms_count ?? host.rooms.length} rooms`];
  if (host.cpu !== undefined) {
    parts.push(`CPU ${percent(host.cpu)} · tick p99 ${millis(host.tick_p99_ms)} · ${rate(host.bytes_per_second)} sent`);
  }
  return el('p', {class: 'muted figures'}, parts.join(' · '));
}

function byCost(a, b) {
  return ((b.cost && b.cost.cpu) || 0) - ((a.cost && a.cost.cpu) || 0);
}

function roomActions(host, room) {
  const target = {process: host.process, room: room.id};
  const buttons = [
    el('button', {type: 'button', class: 'secondary inspect', onclick: () => inspect(host.process, room.id)}, 'Inspect'),
    el('button', {type: 'button', class: 'secondary lock', onclick: () => act(
      `${room.locked ? 'Unlock' : 'Lock'} room ${room.id}?`, 'room',
      {...target, action: room.locked ? 'unlock' : 'lock'})}, room.locked ? 'Unlock' : 'Lock'),
    el('button', {type: 'button', class: 'close', onclick: () => {
      const reason = window.prompt(`Close room ${room.id}: the reason its players read`, 'Closed by an operator');
      if (reason !== null) act(null, 'room', {...target, action: 'close', reason});
    }}, 'Close'),
  ];
  if (room.signals) {
    buttons.push(el('button', {type: 'button', class: 'secondary signal', onclick: () => {
      const name = window.prompt(`Signal to room ${room.id}: its name`);
      if (!name) return;
      const text = window.prompt('Its payload, as JSON (empty: none)', '');
      let payload = null;
      try { payload = text ? JSON.parse(text) : null; } catch { say('The payload is not JSON.', true); return; }
      act(null, 'room', {...target, action: 'signal', name, payload});
    }}, 'Signal'));
  }
  return el('div', {class: 'actions'}, ...buttons);
}

function playersTable(host, room) {
  const rows = room.players_list.map((p) => el('tr', {dataset: {player: p.player}},
    el('td', {class: 'name'}, p.name, p.away ? ' (away)' : ''),
    el('td', {}, `#${p.player} · account ${p.user}`),
    el('td', {class: 'ping'}, p.ping_ms === null ? '–' : `${p.ping_ms} ms`),
    el('td', {class: 'time'}, duration(p.seconds)),
    el('td', {}, el('button', {type: 'button', class: 'kick', onclick: () => {
      const reason = window.prompt(`Kick ${p.name}: the reason they read`, 'Kicked by an operator');
      if (reason !== null) act(null, 'room', {process: host.process, room: room.id, action: 'kick', player: p.player, reason});
    }}, 'Kick'))));
  if (!rows.length) return el('p', {class: 'muted'}, 'No players.');
  return el('table', {class: 'players'},
    el('thead', {}, el('tr', {}, el('th', {}, 'Player'), el('th', {}, 'Seat'), el('th', {}, 'Ping'), el('th', {}, 'In room'), el('th', {}))),
    el('tbody', {}, ...rows));
}

function hostCard(host) {
  // The costliest room first: the one that makes its host slow is at the top.
  const rooms = [...host.rooms].sort(byCost).map((room) => el('article', {class: 'room', dataset: {room: room.id}},
    el('h4', {}, `${room.mode} · ${room.id}`,
      room.private ? ` · private ${room.code}` : '',
      room.locked ? ' · locked' : '',
      ` · ${room.connected}/${room.max_players} here`, room.away ? `, ${room.away} away` : ''),
    room.metadata ? el('p', {class: 'muted meta'}, JSON.stringify(room.metadata)) : null,
    costLine(room),
    roomActions(host, room),
    playersTable(host, room)));
  const drain = el('button', {type: 'button', class: 'secondary drain', onclick: () => act(
    host.draining ? `Let ${host.process} take new rooms again?` : `Drain ${host.process}: no new rooms there, running ones finish?`,
    'drain', {process: host.process, on: !host.draining})}, host.draining ? 'Undrain' : 'Drain');
  return el('div', {class: 'host', dataset: {process: host.process}},
    el('h3', {}, host.process, host.draining ? el('span', {class: 'tag draining'}, 'draining') : null),
    hostLine(host),
    drain,
    rooms.length ? el('div', {}, ...rooms) : el('p', {class: 'muted'}, 'No rooms.'));
}

async function refresh() {
  if (paused || document.hidden) return;
  try {
    const {hosts} = await api('hosts');
    const text = JSON.stringify(hosts);
    if (text !== lastHosts) {
      lastHosts = text;
      $('hosts').replaceChildren(...hosts.map(hostCard));
    }
  } catch (error) {
    say(error.message, true);
  }
}

// -- the chart: players, tick p99 and bandwidth over the last hour, per host ------------------------

const SERIES = [
  {key: 'players', label: 'players', format: (v) => String(v)},
  {key: 'tick_p99_ms', label: 'tick p99', format: millis},
  {key: 'bytes_per_second', label: 'sent', format: rate},
];
const W = 300;
const H = 60;

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

// One small line chart: the series' points over the hour, its latest value and its peak.
function sparkline(points, series) {
  const values = points.map((p) => p[series.key]).filter((v) => v !== null && v !== undefined);
  const box = svg('svg', {viewBox: `0 0 ${W} ${H + 16}`, width: W, height: H + 16, role: 'img',
                          class: `chart-${series.key}`});
  const top = Math.max(...values, 0) || 1;
  const last = values.length ? values[values.length - 1] : null;
  const title = svg('text', {x: 0, y: 12, class: 'label'});
  title.textContent = `${series.label}: ${last === null ? '–' : series.format(last)} (peak ${values.length ? series.format(top) : '–'})`;
  box.append(title);
  if (points.length > 1) {
    const t0 = points[0].t;
    const span = Math.max(points[points.length - 1].t - t0, 1);
    const coords = points.filter((p) => p[series.key] !== null && p[series.key] !== undefined)
      .map((p) => `${((p.t - t0) / span * W).toFixed(1)},${(16 + H - p[series.key] / top * H).toFixed(1)}`);
    box.append(svg('polyline', {points: coords.join(' '), fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5}));
  }
  box.append(svg('line', {x1: 0, y1: H + 16, x2: W, y2: H + 16, stroke: 'currentColor', 'stroke-opacity': 0.3}));
  return box;
}

async function loadChart() {
  if (paused || document.hidden) return;
  try {
    const {hosts} = await api('history');
    $('charts').replaceChildren(...hosts.map((host) => el('div', {class: 'chart', dataset: {process: host.process}},
      el('h3', {}, host.process, el('span', {class: 'muted small'}, ` · ${host.points.length} points, one per 10 s`)),
      host.points.length ? el('div', {class: 'sparklines'}, ...SERIES.map((series) => sparkline(host.points, series)))
        : el('p', {class: 'muted'}, 'No points yet: the first comes 10 s after the host started.'))));
  } catch (error) {
    say(error.message, true);
  }
}

// -- inspect -------------------------------------------------------------------------------------

async function inspect(process, room) {
  try {
    const found = await api('inspect', null, `?process=${encodeURIComponent(process)}&room=${encodeURIComponent(room)}`);
    inspected = {process, room, text: JSON.stringify(found.state, null, 2)};
    $('inspect-recent').replaceChildren(...(found.recent.length ? found.recent.map((r) => el('li', {},
      `${(r.ms / 1000).toFixed(1)} s · ${r.player === undefined || r.player === null ? '' : `player ${r.player} `}${r.what}`,
      r.detail === undefined ? '' : ` ${typeof r.detail === 'string' ? r.detail : JSON.stringify(r.detail)}`))
      : [el('li', {class: 'muted'}, 'None recorded (the room’s match is not being journaled).')]));
    $('inspect-title').textContent = `room ${room} on ${process}`;
    $('inspect-section').hidden = false;
    showState();
  } catch (error) {
    say(error.message, true);
  }
}

function showState() {
  if (!inspected) return;
  const wanted = $('inspect-search').value.trim().toLowerCase();
  const lines = inspected.text.split('\n');
  const shown = wanted ? lines.filter((line) => line.toLowerCase().includes(wanted)) : lines;
  $('inspect-state').textContent = shown.join('\n');
  $('inspect-count').textContent = wanted ? `${shown.length} of ${lines.length} lines match` : `${lines.length} lines`;
}

// -- accounts, bans, audit ----------------------------------------------------------------------

async function findAccounts(event) {
  event.preventDefault();
  try {
    const {accounts} = await api('accounts', null, `?name=${encodeURIComponent($('accounts-name').value)}`);
    const rows = accounts.map((a) => el('tr', {dataset: {account: a.id}},
      el('td', {class: 'name'}, a.name), el('td', {}, a.guest ? 'guest' : 'registered', a.operator ? ' · operator' : ''),
      el('td', {}, `#${a.id}`),
      el('td', {}, el('button', {type: 'button', class: 'secondary open', onclick: () => openAccount(a.id)}, 'Open'))));
    $('accounts').querySelector('tbody').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', {}, 'No account has such a name.'))]));
  } catch (error) {
    say(error.message, true);
  }
}

async function openAccount(id) {
  try {
    const {account, banned_until: bannedUntil} = await api('account', null, `?id=${id}`);
    const sessions = account.sessions.map((s) => el('li', {}, `${s.session}… since ${when(s.created_at)}: ${s.live ? 'live' : 'ended'}`));
    const results = account.results.map((r) => el('li', {}, `${r.mode}: best ${r.best_score ?? '–'}, ${r.wins} wins of ${r.played}${r.rating === null ? '' : `, rating ${Math.round(r.rating)}`}`));
    $('account').replaceChildren(el('article', {class: 'account', dataset: {account: account.id}},
      el('h3', {}, `${account.name} (#${account.id})`),
      bannedUntil ? el('p', {class: 'error'}, `Banned until ${when(bannedUntil)}`) : null,
      el('h4', {}, 'Sessions'), sessions.length ? el('ul', {}, ...sessions) : el('p', {class: 'muted'}, 'None.'),
      el('h4', {}, 'Results'), results.length ? el('ul', {class: 'results'}, ...results) : el('p', {class: 'muted'}, 'None.'),
      el('div', {class: 'actions'},
        el('button', {type: 'button', class: 'secondary revoke', onclick: () => act(`End every session of ${account.name}?`, 'revoke', {id: account.id}).then(() => openAccount(account.id))}, 'Revoke sessions'),
        el('button', {type: 'button', class: 'secondary ban-account', onclick: () => {
          $('ban-kind').value = 'account';
          $('ban-value').value = String(account.id);
          $('ban-minutes').focus();
        }}, 'Ban…'),
        el('button', {type: 'button', class: 'delete', onclick: async () => {
          if (await act(`Delete ${account.name} for good? Its results leave the leaderboards.`, 'delete', {id: account.id})) {
            $('account').replaceChildren();
          }
        }}, 'Delete account'))));
  } catch (error) {
    say(error.message, true);
  }
}

async function loadBans() {
  try {
    const {bans} = await api('bans');
    $('bans').querySelector('tbody').replaceChildren(...bans.map((b) => el('tr', {dataset: {ban: b.id}},
      el('td', {}, `${b.kind} ${b.value}`), el('td', {}, `until ${when(b.until)}`), el('td', {}, b.reason),
      el('td', {}, `by ${b.created_by}`),
      el('td', {}, el('button', {type: 'button', class: 'secondary lift', onclick: () => act(`Lift the ban on ${b.kind} ${b.value}?`, 'lift', {id: b.id}).then(loadBans)}, 'Lift')))));
  } catch (error) {
    say(error.message, true);
  }
}

async function loadAudit() {
  try {
    const {audit} = await api('audit');
    $('audit').querySelector('tbody').replaceChildren(...audit.map((a) => el('tr', {},
      el('td', {}, when(a.at)), el('td', {}, a.actor), el('td', {class: 'what'}, a.action),
      el('td', {}, a.target), el('td', {}, a.detail))));
  } catch (error) {
    say(error.message, true);
  }
}

async function start() {
  xsrf = (await (await fetch('/api/xsrf', {credentials: 'same-origin'})).json()).xsrf;
  $('announce-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = $('announce-text').value;
    if (await act(`Announce to every room: “${text}”?`, 'announce', {text})) $('announce-text').value = '';
  });
  $('ban-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {kind: $('ban-kind').value, value: $('ban-value').value.trim(),
                  minutes: Number($('ban-minutes').value), reason: $('ban-reason').value};
    if (body.kind === 'account') body.value = Number(body.value);
    if (await act(`Ban ${body.kind} ${body.value} for ${body.minutes} min?`, 'ban', body)) loadBans();
  });
  $('accounts-form').addEventListener('submit', findAccounts);
  $('inspect-search').addEventListener('input', showState);
  $('inspect-close').addEventListener('click', () => { $('inspect-section').hidden = true; inspected = null; });
  $('pause').addEventListener('change', (event) => { paused = event.target.checked; });
  await Promise.all([refresh(), loadChart(), loadBans(), loadAudit()]);
  setInterval(refresh, REFRESH_MS);
  setInterval(loadChart, CHART_MS);
}

start();
