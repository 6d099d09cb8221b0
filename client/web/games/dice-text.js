/**
 * Liar's Dice (docs/dice.md) for the dice page: how faces rank, the lowest legal raise, and
 * the words for bids and reveals. Pure: no DOM, so Node's test runner can import it.
 */

const FACES = ['', '⚀', '⚁', '⚂', '⚃', '⚄', '⚅'];

/** Faces from lowest to highest: with wild ones, ones rank above sixes. */
export function faceOrder(onesWild) {
  return onesWild ? [2, 3, 4, 5, 6, 1] : [1, 2, 3, 4, 5, 6];
}

/** The smallest bid that raises `bid` ({count, face} or null), or null when none fits. */
export function lowestRaise(bid, onesWild, totalDice) {
  const order = faceOrder(onesWild);
  if (!bid) return totalDice >= 1 ? { count: 1, face: order[0] } : null;
  const higher = order.indexOf(bid.face) + 1;
  if (higher < order.length) return { count: bid.count, face: order[higher] };
  return bid.count + 1 <= totalDice ? { count: bid.count + 1, face: order[0] } : null;
}

/** "3 × 5" with the die's glyph: `count` dice showing `face`. */
export function bidText(bid) {
  return `${bid.count} × ${bid.face} ${FACES[bid.face] ?? ''}`.trim();
}

/** A player's name by id in a view, or "player N". */
export function nameOf(view, id) {
  const player = (view.players || []).find((p) => p.id === id);
  return player ? String(player.name) : `player ${id}`;
}

/** One sentence for a challenge's outcome. */
export function revealText(view, reveal) {
  const bidder = nameOf(view, reveal.bid.by);
  const verdict = reveal.holds ? 'the bid holds' : 'the bid was a lie';
  const loser = nameOf(view, reveal.loser);
  const outcome = reveal.eliminated ? `${loser} is out` : `${loser} loses a die`;
  return `${nameOf(view, reveal.challenger)} challenged ${bidder}'s ${bidText(reveal.bid)}: `
    + `${reveal.count} found, ${verdict}; ${outcome}.`;
}
