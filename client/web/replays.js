/**
 * The replays page (/replays): your recent matches and the top matches of each game, from
 * GET /api/replays (`?mine=1`, `?mode=M&top=1`), each a link to its replay page
 * (/replays/<id>). Titles and names are data: they reach the DOM through `textContent` only.
 */

import { formatMs } from './sdk/replay.js';

/** The items of an `/api/replays` answer (a list, or an object holding one). */
export function itemsOf(data) {
  if (Array.isArray(data)) return data;
  for (const key of ['replays', 'matches', 'items']) if (Array.isArray(data?.[key])) return data[key];
  return [];
}

/** One line under a match's title: when, how long, the best score. */
export function detailText(item, locale = undefined) {
  const parts = [];
  if (Number.isFinite(item.started)) parts.push(new Date(item.started).toLocaleString(locale));
  if (Number.isFinite(item.duration_ms)) parts.push(formatMs(item.duration_ms));
  if (item.score !== null && item.score !== undefined) parts.push(`best score ${item.score}`);
  return parts.join(' · ');
}

/** A match's title: the API's, else its game and players. */
export function titleOf(item, gameTitle = '') {
  if (typeof item.title === 'string' && item.title) return item.title;
  const names = (item.players || []).map((p) => String(p.name || `player ${p.player}`));
  const head = gameTitle || String(item.mode ?? '');
  return names.length ? `${head}: ${names.join(', ')}` : head;
}

function row(item, gameTitle) {
  const li = document.createElement('li');
  li.className = 'replay-item';
  li.dataset.id = String(item.id);
  const link = document.createElement('a');
  link.className = 'replay-link';
  link.href = `/replays/${encodeURIComponent(item.id)}`;
  link.textContent = titleOf(item, gameTitle);
  const detail = document.createElement('span');
  detail.className = 'muted replay-detail';
  detail.textContent = detailText(item);
  li.append(link, ' ', detail);
  return li;
}

async function fill(list, query, gameTitle = '') {
  let items = [];
  try {
    const response = await fetch(`/api/replays?${query}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new Error(data?.message || `HTTP ${response.status}`);
    items = itemsOf(data);
  } catch (err) {
    const error = document.getElementById('replays-error');
    error.textContent = `The replays could not be loaded: ${err.message}`;
    error.hidden = false;
  }
  if (!items.length) {
    const empty = document.createElement('li');
    empty.className = 'muted replay-empty';
    empty.textContent = list.dataset.empty || 'None yet.';
    list.replaceChildren(empty);
  } else {
    list.replaceChildren(...items.map((item) => row(item, gameTitle)));
  }
  list.dataset.loaded = 'true';
}

if (globalThis.document) {
  const mine = document.getElementById('mine');
  if (mine) fill(mine, 'mine=1');
  for (const list of document.querySelectorAll('.replay-list.top')) {
    fill(list, new URLSearchParams({ mode: list.dataset.mode, top: '1' }).toString(), list.dataset.title);
  }
}
