/**
 * What a dropped connection says about the server, and the banner that tells the player no more
 * than that: a restart only when the close frame says so (1012 "service restart", or 1001 with a
 * reason that names a restart), a shutdown when the server said it is going away (1001, or a
 * `server_closing` message before the drop), and otherwise just a lost connection. Failed
 * reconnect attempts keep the text of the drop that started them. No DOM: runs under Node.
 */

import { CloseCode } from './closes.js';

export const DROP_TEXT = {
  restart: 'The server is restarting — reconnecting…',
  shutdown: 'The server is shutting down — reconnecting…',
  lost: 'Lost connection to the server — reconnecting…',
  unreachable: 'Cannot reach the server — retrying…',
};

/** 'restart', 'shutdown' or 'lost': what close `code` with `reason` says, and nothing more. */
export function closeCause(code, reason = '') {
  // GOING_AWAY: Arena sends it when it stops (SIGTERM, SIGINT); SERVICE_RESTART it never does.
  if (code === CloseCode.SERVICE_RESTART) return 'restart';
  if (code === CloseCode.GOING_AWAY) return /restart/i.test(reason) ? 'restart' : 'shutdown';
  return 'lost';
}

/** Follows one page's connection and says what its banner should read after each close. */
export class DropNotice {
  constructor() {
    this.everConnected = false;
    this.serverClosing = false; // the server said `server_closing` on the current socket
    this.cause = null; // why the last connected socket closed, until the next open
  }

  /** A socket opened: whatever happened before is over. */
  opened() {
    this.everConnected = true;
    this.serverClosing = false;
    this.cause = null;
  }

  /** A message arrived: `server_closing` means the close that follows is a shutdown. */
  message(msg) {
    if (msg?.type === 'server_closing') this.serverClosing = true;
  }

  /**
   * The connection's 'close' event `info` ({code, reason, wasConnected, attempts}): the banner
   * text, or null for none (the first failed attempt of a page that never connected).
   */
  closed(info) {
    if (info.wasConnected || (this.everConnected && !this.cause)) {
      const cause = closeCause(info.code, info.reason ?? '');
      // Told `server_closing`, then dropped before the close frame came: still a shutdown.
      this.cause = cause === 'lost' && this.serverClosing ? 'shutdown' : cause;
      this.serverClosing = false;
    }
    if (this.cause) return DROP_TEXT[this.cause];
    return (info.attempts ?? 0) > 1 ? DROP_TEXT.unreachable : null;
  }
}
