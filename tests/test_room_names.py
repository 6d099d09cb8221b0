"""The browser names rooms as the server does: client/web/names.js `roomName` and
game_server/names.py `room_name` agree on every id (the HUD and the lobby say the same name)."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from game_server.names import room_name

NAMES_JS = Path(__file__).resolve().parent.parent / "client" / "web" / "names.js"


def test_the_page_and_the_server_name_rooms_alike() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("CI=true but no node: .ci/run should install nodejs")
        pytest.skip("node not found: install Node.js (apt-get install -y nodejs) to run this")
    rng = random.Random(22)
    # Room ids as the matchmaker makes them (8 hex digits), and any text at all.
    ids = [f"{rng.getrandbits(32):08x}" for _ in range(300)] + ["", "é-room", "a b/c", "日本"]
    script = (f"import({json.dumps(NAMES_JS.as_uri())}).then((m) => console.log("
              f"JSON.stringify({json.dumps(ids)}.map(m.roomName))))")
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [room_name(i) for i in ids]
