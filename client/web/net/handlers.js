// Handlers by event type: what the connection, the SDK and the replay source each call their
// subscribers with. One subscriber's error is logged and never stops the others, nor the
// caller (a page's bug must not break the network code that called it).

export class Handlers {
  constructor() {
    this._byType = new Map();
  }

  /** Call `fn` on each `type` event; returns the function that unsubscribes it. */
  on(type, fn) {
    if (!this._byType.has(type)) this._byType.set(type, new Set());
    this._byType.get(type).add(fn);
    return () => this._byType.get(type).delete(fn);
  }

  /** Call every subscriber of `type` with `args` (a copy of the set: one may unsubscribe). */
  emit(type, ...args) {
    const handlers = this._byType.get(type);
    if (!handlers) return;
    for (const fn of [...handlers]) {
      try {
        fn(...args);
      } catch (err) {
        globalThis.console?.error(err);
      }
    }
  }
}
