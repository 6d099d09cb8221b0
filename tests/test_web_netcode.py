"""The browser netcode modules' own unit tests (client/web/tests), run with Node's test runner."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parent.parent / "client" / "web"


def test_netcode_unit_tests_pass_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("CI=true but no node: .ci/run should install nodejs")
        pytest.skip("node not found: install Node.js (apt-get install -y nodejs) to run these")
    tests = sorted(str(p) for p in (WEB / "tests").glob("*.test.mjs"))
    assert tests, "no netcode tests found"
    done = subprocess.run([node, "--test", *tests], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout
