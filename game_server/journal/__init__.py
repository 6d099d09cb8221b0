"""The match journal: what rooms record, and replays of it (docs/writing-a-game.md).

Game authors use `load_replay(path)` (an exported match) and `Replay`; `ReplayError` is what
every bad journal or export raises.
"""

from game_server.journal.codec import ReplayError
from game_server.journal.replay import Replay, Verification, load_replay

__all__ = ["Replay", "ReplayError", "Verification", "load_replay"]
