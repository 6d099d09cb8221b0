/**
 * Operator announcements (`python -m game_server announce TEXT`) as a banner on every game
 * page, the arena's and the table pages' alike. They arrive as global chat from "server"
 * (PROTOCOL.md, `chat`), a name no player can take, so nothing on the wire changes: this
 * module listens to the SDK's `chat` messages and draws those as a dismissible banner at the
 * top of the page. The text is set with `textContent`, never as markup.
 */

import { isGlobalChat } from './net/protocol.js';

/** The name announcements come from (game_server/names.py SERVER_NAME). */
export const ANNOUNCER = 'server';

/** How many announcements stay up at once: the oldest goes when another comes. */
const KEEP = 3;

/** True for a `chat` message that is an operator's announcement. */
export function isAnnouncement(msg) {
  return isGlobalChat(msg) && msg.name === ANNOUNCER && typeof msg.text === 'string';
}

/** Shows announcements in one box fixed at the top of `document`'s page. */
export class AnnouncementBanner {
  constructor(doc = document) {
    this.doc = doc;
    this.box = doc.createElement('div');
    this.box.id = 'announcements';
    this.box.setAttribute('role', 'status');
    this.box.setAttribute('aria-live', 'polite');
    this.box.hidden = true;
    doc.body.append(this.box);
  }

  /** Put `text` up until the player dismisses it. */
  show(text) {
    const doc = this.doc;
    const item = doc.createElement('div');
    item.className = 'announcement';
    const label = doc.createElement('strong');
    label.textContent = 'Announcement';
    const body = doc.createElement('span');
    body.className = 'announcement-text';
    body.textContent = text;
    const close = doc.createElement('button');
    close.type = 'button';
    close.className = 'announcement-close';
    close.textContent = '×';
    close.title = 'Dismiss';
    close.setAttribute('aria-label', 'Dismiss the announcement');
    close.addEventListener('click', () => {
      item.remove();
      this.box.hidden = this.box.children.length === 0;
    });
    item.append(label, body, close);
    this.box.append(item);
    while (this.box.children.length > KEEP) this.box.firstChild.remove();
    this.box.hidden = false;
  }
}

/** Show the announcements `arena` (an SDK `Arena`) receives; returns the banner. */
export function mountAnnouncements(arena, doc = document) {
  const banner = new AnnouncementBanner(doc);
  arena.on('chat', (msg) => {
    if (isAnnouncement(msg)) banner.show(msg.text);
  });
  return banner;
}

/** How often a page without a game socket asks for announcements. */
export const POLL_MS = 5000;

/**
 * Pages without a game socket (the lobby, the first screen, the login page) ask the server
 * what it announced lately (`GET /api/announcements`: the newest few of the last minutes)
 * every `everyMs`, and show each text once, as the game pages do. A failed request is tried
 * again at the next turn: announcements are a courtesy, never an error on the page.
 */
export function watchAnnouncements({ doc = document, everyMs = POLL_MS,
  fetchJson = async (url) => (await fetch(url, { credentials: 'same-origin' })).json() } = {}) {
  const banner = new AnnouncementBanner(doc);
  const shown = new Set();
  async function poll() {
    try {
      const body = await fetchJson('/api/announcements');
      for (const item of body.announcements || []) {
        // Every process hears every announcement, at its own moment: the text is the key.
        if (typeof item.text === 'string' && !shown.has(item.text)) {
          shown.add(item.text);
          banner.show(item.text);
        }
      }
    } catch {
      // The server is away or restarting: the next turn asks again.
    }
  }
  poll();
  const timer = setInterval(poll, everyMs);
  return { banner, poll, stop: () => clearInterval(timer) };
}
