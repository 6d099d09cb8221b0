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

/**
 * The end of a match in words: `{title, why}`, who won (you, from `me`) and why: the last
 * challenge took the last die of the last rival, or everyone else left the table.
 */
export function endText(view, me) {
  const winner = nameOf(view, view.winner);
  const title = view.winner === me ? 'You win!' : `${winner} wins.`;
  const rivals = (view.players || []).filter((p) => p.id !== view.winner);
  const r = view.reveal;
  const subject = view.winner === me ? 'You are' : `${winner} is`;
  let why;
  if (r && r.eliminated && rivals.some((p) => p.id === r.loser && !p.left)) {
    const loser = r.loser === me ? 'you' : nameOf(view, r.loser);
    why = `${subject} the last with dice: ${loser} lost the last die on the challenge.`;
  } else if (rivals.length && rivals.every((p) => p.left)) {
    why = `${subject} the last at the table: everyone else left.`;
  } else {
    why = `${subject} the last with dice.`;
  }
  return { title, why };
}
