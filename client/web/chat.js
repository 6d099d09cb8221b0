/**
 * The /play page's chat: the form that sends a line (to the room, or with `/g text` or
 * `/all text` to every player of every process) and the log of what arrives. Names and texts
 * reach the DOM through `textContent` only.
 */

import { chatText } from './net/protocol.js';

const MAX_CHAT_LINES = 100;
const GLOBAL_CHAT = /^\/(?:g|all)\s+/i; // "/g text" goes to every player of every process
const GLOBAL_MARK = '[all]';

export class ChatBox {
  /** `log`, `form` and `input` are the page's elements; any of them may be missing. */
  constructor({ log, form, input }) {
    this.log = log;
    this.form = form;
    this.input = input;
  }

  /** Send what is typed through `connection` on submit; Escape leaves the input. */
  listen(connection) {
    if (!this.form || !this.input) return;
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      const raw = this.input.value;
      const global = GLOBAL_CHAT.test(raw);
      const text = chatText(global ? raw.replace(GLOBAL_CHAT, '') : raw);
      if (text === null) return;
      // Global chat needs no room, only a connection.
      const sent = global ? connection.sendGlobalChat(text) : connection.inRoom && connection.sendChat(text);
      if (sent) {
        this.input.value = '';
        this.input.blur();
      }
    });
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.input.blur();
    });
  }

  /** Add a line to the log (marked when `global`), keeping the last lines only. */
  append(name, text, global = false) {
    const log = this.log;
    if (!log) return;
    const line = document.createElement('div');
    line.className = global ? 'chat-line chat-global' : 'chat-line';
    if (global) {
      // From every process of this Arena, not only this room.
      const mark = document.createElement('span');
      mark.className = 'chat-scope';
      mark.textContent = `${GLOBAL_MARK} `;
      line.append(mark);
    }
    const who = document.createElement('span');
    who.className = 'chat-name';
    who.textContent = String(name ?? '');
    const what = document.createElement('span');
    what.className = 'chat-text';
    what.textContent = String(text ?? '');
    line.append(who, what);
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    log.append(line);
    while (log.childElementCount > MAX_CHAT_LINES) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }
}
