/**
 * WebSocket close codes: every code Arena's server sends or its clients act on, with the same
 * names and values as the server's `protocol/closes.py` (a test holds the two equal).
 * PROTOCOL.md's table says when each is sent.
 */

export const CloseCode = Object.freeze({
  NORMAL: 1000, // a normal close
  GOING_AWAY: 1001, // the server is shutting down
  PROTOCOL_ERROR: 1002, // the client broke the WebSocket protocol
  ABNORMAL: 1006, // no close frame: the connection dropped (never sent; what a client reports)
  INVALID_DATA: 1007, // a text message (or a close reason) that is not UTF-8
  POLICY_VIOLATION: 1008, // the client kept flooding after `rate_limited`
  MESSAGE_TOO_BIG: 1009, // a message over the size limit
  SERVICE_RESTART: 1012, // restarting, back shortly; Arena never sends it, clients act on it
  SILENT: 4000, // sent by the browser client: the server said nothing for too long
  REPLACED: 4001, // the same account opened a newer game connection
  TOO_SLOW: 4002, // the client stopped reading for too long
  SESSION_ENDED: 4003, // the login session was ended (logout, on any process)
});
