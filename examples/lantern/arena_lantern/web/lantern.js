/**
 * What the Lantern page knows, without a DOM: the view merged from the states (a `joined` or a
 * resync's `full` view replaces it; a tick's state changes some of its keys), the heading the
 * keys held down say, and the words above the maze. page.js draws it; Node tests it.
 */

/** The view after one state: `changes` with a maze is a whole view, any other merges in. */
export function applyState(view, changes) {
  if (!changes) return view;
  if (changes.maze || !view) return { ...changes };
  return { ...view, ...changes };
}

const KEYS = {
  ArrowLeft: [-1, 0], KeyA: [-1, 0],
  ArrowRight: [1, 0], KeyD: [1, 0],
  ArrowUp: [0, -1], KeyW: [0, -1],
  ArrowDown: [0, 1], KeyS: [0, 1],
};

/** Whether a key (a KeyboardEvent's `code`) steers. */
export function steers(code) {
  return code in KEYS;
}

/** The heading [dx, dy] of the steering keys held (a Set of codes): each -1, 0 or 1. */
export function heading(held) {
  let dx = 0;
  let dy = 0;
  for (const code of held) {
    const step = KEYS[code];
    if (step) {
      dx += step[0];
      dy += step[1];
    }
  }
  return [Math.sign(dx), Math.sign(dy)];
}

/** This player's row in the view: [player, x, y, gems, flares, burning], or null. */
export function mine(view, me) {
  return view?.players?.find((p) => p[0] === me) ?? null;
}

/** A player's name from the roster. */
export function nameOf(view, player) {
  return view?.roster?.[String(player)] ?? `player ${player}`;
}

/** The line above the maze. */
export function statusLine(view, me) {
  if (!view || view.status === 'waiting') return 'Waiting for the first round…';
  if (view.status === 'break') {
    const best = view.results?.[0];
    const winner = best && best[1] > 0 ? `${nameOf(view, best[0])} wins with ${best[1]}` : 'No gems found';
    return `Round ${view.round} over. ${winner}. Next round in ${Math.ceil(view.left)} s.`;
  }
  const row = mine(view, me);
  const gems = row ? row[3] : 0;
  const flares = row ? row[4] : 0;
  return `Round ${view.round}: ${Math.ceil(view.left)} s left · ${count(gems, 'gem')} · ${count(flares, 'flare')} (space)`;
}

/** "1 gem", "2 gems". */
export function count(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
