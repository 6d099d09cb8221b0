"""`python -m game_server` as a newcomer runs it: flags, the start line, secrets, clean stops."""

from __future__ import annotations

import asyncio
import re
import signal
import stat
import sys
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient

from game_server.__main__ import parse_config
from game_server.config import load_cookie_secret
from tests.conftest import running


async def fetch(url: str) -> int:
    client = AsyncHTTPClient(force_instance=True)
    try:
        return (await client.fetch(url, raise_error=False)).code
    finally:
        client.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_starts_logs_its_url_serves_and_stops_cleanly(tmp_path: Path, sig) -> None:
    async with running(tmp_path / "data", "--tick-rate", "30") as (proc, url):
        assert await fetch(url + "/healthz") == 200
        proc.send_signal(sig)
        async with asyncio.timeout(20):
            rest = (await proc.stderr.read()).decode()
            assert await proc.wait() == 0
        assert "stopped" in rest
    secret = tmp_path / "data" / "cookie_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert (tmp_path / "data" / "arena.sqlite3").exists()


async def test_the_cookie_secret_can_come_from_the_environment(tmp_path: Path) -> None:
    async with running(tmp_path / "d", env={"ARENA_COOKIE_SECRET": "s" * 40}) as (proc, url):
        assert await fetch(url + "/healthz") == 200
        proc.terminate()
        await proc.wait()
    assert not (tmp_path / "d" / "cookie_secret").exists()


def test_bad_settings_exit_2_with_a_message(tmp_path: Path) -> None:
    import subprocess
    done = subprocess.run([sys.executable, "-m", "game_server", "--tick-rate", "0",
                           "--data-dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "--tick-rate" in done.stderr


def test_flags_win_over_environment_and_environment_over_defaults(tmp_path: Path) -> None:
    env = {"ARENA_TICK_RATE": "30", "ARENA_MAX_PLAYERS": "8", "ARENA_COOKIE_SECRET": "k" * 40,
           "ARENA_ALLOWED_ORIGINS": "https://a.example, https://b.example/",
           "ARENA_TICK_GROUP": "2"}
    config, level = parse_config(["--max-players", "12", "--data-dir", str(tmp_path)], env)
    assert config.tick_rate == 30 and config.max_players == 12 and level == "info"
    assert config.tick_group == 2
    assert parse_config(["--tick-group", "1", "--data-dir", str(tmp_path)], env)[0].tick_group == 1
    assert config.allowed_origins == ("https://a.example", "https://b.example")
    assert config.cookie_secret == "k" * 40


def test_the_generated_secret_is_stable_across_restarts(tmp_path: Path) -> None:
    first = load_cookie_secret(tmp_path, None)
    assert load_cookie_secret(tmp_path, None) == first and len(first) == 64
    (tmp_path / "cookie_secret").write_text("short")
    with pytest.raises(ValueError):
        load_cookie_secret(tmp_path, None)


def test_help_names_every_default_after_the_environment(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_config(["--help"], {"ARENA_MAX_PLAYERS": "8", "ARENA_XHEADERS": "1"})
    assert exited.value.code == 0
    text = capsys.readouterr().out
    options = text.split("\noptions:\n", 1)[1]
    entries = [" ".join(e.split()) for e in re.split(r"\n  (?=-)", options) if e.strip()]
    flags = {entry.split()[0].rstrip(","): entry for entry in entries}
    assert len(flags) > 25
    lacking = [flag for flag, entry in flags.items() if flag != "-h" and "default:" not in entry]
    assert not lacking, f"--help shows no default for {lacking}"
    assert flags["--host"].endswith("address to listen on (default: 127.0.0.1)")
    assert flags["--port"].endswith("(default: 8888)")
    assert flags["--tick-rate"].endswith("(default: 20)")
    assert flags["--redis-url"].endswith("(default: none)")
    assert flags["--no-uvloop"].endswith("(default: off)")
    # A set environment variable is what the flag falls back to, so it is the default shown.
    assert flags["--max-players"].endswith("players per room (default: 8)")
    assert flags["--xheaders"].endswith("(default: on)")
    assert "ARENA_TICK_RATE" in " ".join(text.split())
