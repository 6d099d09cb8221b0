"""Lantern's browser page: the package ships it (`GameSpec.page`), its modules import only the
SDK's table page by absolute path and their own files relatively, and its logic passes its own
tests under Node (page.test.mjs)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from arena_lantern import spec

HERE = Path(__file__).resolve().parent


def test_the_spec_names_the_page_the_package_ships() -> None:
    assert spec.page is not None
    module = spec.page.directory / spec.page.module
    assert module.is_file() and module.name == "page.js"
    imports = re.findall(r"^import .* from '([^']+)';$", module.read_text(), re.MULTILINE)
    assert imports == ["/client/table.js", "./lantern.js"]
    assert (spec.page.directory / "lantern.js").is_file()


def test_the_page_logic_passes_its_tests_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("CI=true but no node: install Node.js")
        pytest.skip("node not found: install Node.js (apt-get install -y nodejs) to run these")
    done = subprocess.run([node, "--test", str(HERE / "page.test.mjs")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout
