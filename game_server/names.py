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
