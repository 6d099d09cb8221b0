/** Fakes shared by the netcode tests: a manual clock and WebSockets driven by hand. */

/** A manual clock with setTimeout-like timers. */
export class Clock {
  constructor() {
    this.t = 0;
    this.timers = new Map();
    this.nextId = 1;
  }
  now = () => this.t;
  set = (fn, ms) => {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  };
  clear = (id) => {
    this.timers.delete(id);
  };
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let next = null;
      for (const [id, timer] of this.timers) if (timer.at <= end && (!next || timer.at < next[1].at)) next = [id, timer];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

/** Records every socket made; tests drive them by hand. */
export function fakeSockets() {
  const sockets = [];
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closedWith = null;
      sockets.push(this);
    }
    send(data) {
      this.sent.push(JSON.parse(data));
    }
    close(code, reason) {
      this.closedWith = { code, reason };
      this.readyState = 3;
    }
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    receive(msg) {
      this.onmessage?.({ data: JSON.stringify(msg) });
    }
    drop(code = 1006) {
      this.readyState = 3;
      this.onclose?.({ code, reason: '' });
    }
    sentOf(type) {
      return this.sent.filter((m) => m.type === type);
    }
  }
  return { sockets, FakeSocket };
}
