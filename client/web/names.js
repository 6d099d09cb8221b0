/**
 * A room's readable name ("Amber Fox") from its id, the same as the server's
 * (game_server/names.py `room_name`, which the lobby lists): CRC-32 of the id's UTF-8 bytes
 * picks an adjective (its value modulo 64) and an animal (the value shifted right by 8, modulo
 * 64). The word lists are the server's, in the same order; tests/test_room_names.py checks
 * that both sides name the same ids alike.
 */

const ADJECTIVES = [
  'Amber', 'Azure', 'Brave', 'Bright', 'Calm', 'Clever', 'Copper', 'Coral', 'Crimson', 'Dusky',
  'Eager', 'Emerald', 'Fierce', 'Gentle', 'Gilded', 'Golden', 'Grand', 'Happy', 'Hidden', 'Honest',
  'Indigo', 'Ivory', 'Jade', 'Jolly', 'Keen', 'Kind', 'Lively', 'Lucky', 'Lunar', 'Merry', 'Misty',
  'Mossy', 'Noble', 'Olive', 'Pale', 'Plucky', 'Proud', 'Quick', 'Quiet', 'Rapid', 'Rosy', 'Ruby',
  'Rustic', 'Sandy', 'Scarlet', 'Shady', 'Silent', 'Silver', 'Sly', 'Snowy', 'Solar', 'Stormy',
  'Sunny', 'Swift', 'Tawny', 'Teal', 'Tidy', 'Velvet', 'Violet', 'Wild', 'Windy', 'Wise', 'Witty',
  'Young',
];
const ANIMALS = [
  'Badger', 'Bear', 'Beaver', 'Bison', 'Boar', 'Cat', 'Crane', 'Crow', 'Deer', 'Dingo', 'Dove',
  'Eagle', 'Eel', 'Elk', 'Falcon', 'Ferret', 'Finch', 'Fox', 'Frog', 'Gecko', 'Goat', 'Goose',
  'Hare', 'Hawk', 'Heron', 'Horse', 'Ibis', 'Jackal', 'Jay', 'Koala', 'Lark', 'Lemur', 'Lion',
  'Lynx', 'Marten', 'Mole', 'Moose', 'Newt', 'Otter', 'Owl', 'Panda', 'Parrot', 'Pike', 'Puffin',
  'Quail', 'Rabbit', 'Raven', 'Robin', 'Salmon', 'Seal', 'Shark', 'Sparrow', 'Stag', 'Stork',
  'Swan', 'Tiger', 'Toad', 'Trout', 'Turtle', 'Viper', 'Walrus', 'Whale', 'Wolf', 'Wren',
];

let table = null;

/** CRC-32 (IEEE 802.3, as zlib's) of a string's UTF-8 bytes, an unsigned 32-bit number. */
export function crc32(text) {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n += 1) {
      let c = n;
      for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of new TextEncoder().encode(String(text))) {
    crc = table[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The readable name of the room `roomId`, as the lobby shows it. */
export function roomName(roomId) {
  const digest = crc32(roomId);
  return `${ADJECTIVES[digest % ADJECTIVES.length]} ${ANIMALS[(digest >>> 8) % ANIMALS.length]}`;
}
