/**
 * The page of a mode without a page of its own (a freshly scaffolded game, say): the table
 * shell, the view as JSON text, and a form that sends any of the mode's messages. A starting
 * point for the game's real page, which its package ships (`GamePage` on its spec; the
 * scaffold, `python -m game_server new-game`, writes one).
 */

import { TablePage, el } from '../table.js';

const page = new TablePage();
const view = el('pre');
view.id = 'view';
const type = el('input');
Object.assign(type, { id: 'send-type', placeholder: 'type', required: true });
const body = el('input');
Object.assign(body, { id: 'send-body', placeholder: '{"field": 1}' });
const form = el('form', 'controls', el('label', '', 'Message ', type), el('label', '', 'Body (JSON) ', body),
  el('button', '', 'Send'));
form.addEventListener('submit', (event) => {
  event.preventDefault();
  let fields = {};
  try {
    fields = body.value.trim() ? JSON.parse(body.value) : {};
  } catch {
    page.notice('The body is not JSON.');
    return;
  }
  page.arena.send(type.value.trim(), fields);
});
page.root.append(view, form);
page.start((state) => {
  page.status(`Room ${page.arena.room ?? '–'} · you are player ${page.me ?? '–'}`);
  view.textContent = JSON.stringify(state, null, 2);
});
