"""Names no player may take: the server's own, which operator announcements come from, and the
names of those who speak for it, with their look-alikes.

Two names are the same here when their *skeletons* are: NFKC-normalised (fullwidth and
mathematical letters become plain ones), case-folded, accents dropped, common Cyrillic and Greek
look-alikes and digits used as letters mapped to Latin letters, everything but letters and
digits removed (spaces, dots, dashes, underscores), and "rn" read as "m". So "Server",
"s e r v e r", "server.", "SERVER_", "5erver", "ѕеrvеr" (Cyrillic) and "ｓｅｒｖｅｒ" are all
"server". The rule is cheap and deliberately broad: a player who wants "Serv3r" picks another name.
"""

from __future__ import annotations

import unicodedata
import zlib
from collections.abc import Mapping
from typing import Any

#: The name operator announcements carry (`chat` with `"player": 0`, `"scope": "global"`).
SERVER_NAME = "server"

#: Names reserved with every look-alike.
RESERVED_NAMES = (SERVER_NAME, "arena", "admin", "administrator", "system", "operator",
                  "moderator", "root")

_LOOKALIKES = str.maketrans({
    # digits and symbols used as letters
    "0": "o", "1": "i", "l": "i", "3": "e", "4": "a", "@": "a", "5": "s", "$": "s",
    "7": "t", "+": "t", "8": "b", "9": "g",
    # Cyrillic letters drawn like Latin ones (NFKC keeps them apart)
    "а": "a", "в": "b", "г": "r", "е": "e", "ё": "e", "з": "e", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y",
    "х": "x", "ѕ": "s", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ѵ": "v",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w",
})


def skeleton(name: str) -> str:
    """What `name` looks like, reduced to lower-case Latin letters and digits (see above)."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))
    text = "".join(c for c in text.translate(_LOOKALIKES) if c.isalnum())
    return text.replace("rn", "m").replace("vv", "w")


_RESERVED = frozenset(skeleton(name) for name in RESERVED_NAMES)


def is_reserved(name: str) -> bool:
    """True when `name` reads as one of `RESERVED_NAMES`."""
    return skeleton(name) in _RESERVED


# -- rooms' readable names -----------------------------------------------------------------------

# Colours and animals for room names ("Amber Fox"): short, plain, and none a reserved name's
# look-alike. 64 x 64 = 4096 names; two live rooms rarely share one, and the lobby's Join links
# go by id, so a shared name costs nothing.
_ROOM_ADJECTIVES = (
    "Amber", "Azure", "Brave", "Bright", "Calm", "Clever", "Copper", "Coral", "Crimson",
    "Dusky", "Eager", "Emerald", "Fierce", "Gentle", "Gilded", "Golden", "Grand", "Happy",
    "Hidden", "Honest", "Indigo", "Ivory", "Jade", "Jolly", "Keen", "Kind", "Lively", "Lucky",
    "Lunar", "Merry", "Misty", "Mossy", "Noble", "Olive", "Pale", "Plucky", "Proud", "Quick",
    "Quiet", "Rapid", "Rosy", "Ruby", "Rustic", "Sandy", "Scarlet", "Shady", "Silent",
    "Silver", "Sly", "Snowy", "Solar", "Stormy", "Sunny", "Swift", "Tawny", "Teal", "Tidy",
    "Velvet", "Violet", "Wild", "Windy", "Wise", "Witty", "Young",
)
_ROOM_ANIMALS = (
    "Badger", "Bear", "Beaver", "Bison", "Boar", "Cat", "Crane", "Crow", "Deer", "Dingo",
    "Dove", "Eagle", "Eel", "Elk", "Falcon", "Ferret", "Finch", "Fox", "Frog", "Gecko",
    "Goat", "Goose", "Hare", "Hawk", "Heron", "Horse", "Ibis", "Jackal", "Jay", "Koala",
    "Lark", "Lemur", "Lion", "Lynx", "Marten", "Mole", "Moose", "Newt", "Otter", "Owl",
    "Panda", "Parrot", "Pike", "Puffin", "Quail", "Rabbit", "Raven", "Robin", "Salmon",
    "Seal", "Shark", "Sparrow", "Stag", "Stork", "Swan", "Tiger", "Toad", "Trout", "Turtle",
    "Viper", "Walrus", "Whale", "Wolf", "Wren",
)


def room_name(room_id: str) -> str:
    """A readable name for the room `room_id`, the same on every process and every call
    ("Amber Fox"): people say "the Amber Fox table", not "3f9a0c2e"."""
    digest = zlib.crc32(room_id.encode("utf-8", "replace"))
    return (f"{_ROOM_ADJECTIVES[digest % len(_ROOM_ADJECTIVES)]} "
            f"{_ROOM_ANIMALS[(digest >> 8) % len(_ROOM_ANIMALS)]}")


def display_name(room: Mapping[str, Any]) -> str:
    """What the lobby calls a room (as `GET /api/rooms` lists it): the game's own `name`
    metadata when it sets one, else `room_name` of its id."""
    metadata = room.get("metadata")
    if isinstance(metadata, Mapping):
        own = metadata.get("name")
        if isinstance(own, str) and own.strip():
            return own.strip()[:40]
    return room_name(str(room.get("id", "")))


def guest_suggestion(seed: int) -> str:
    """A guest name to offer on the first screen ("Swift Otter"): `seed` picks it, so a page
    offers a different one on each visit and a test can ask for a known one."""
    return (f"{_ROOM_ADJECTIVES[seed % len(_ROOM_ADJECTIVES)]} "
            f"{_ROOM_ANIMALS[(seed // len(_ROOM_ADJECTIVES)) % len(_ROOM_ANIMALS)]}")
