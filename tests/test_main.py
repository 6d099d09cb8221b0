"""`python -m game_server` as a newcomer runs it: flags, the start line, secrets, clean stops."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from tornado.httpclient import AsyncHTTPClient

from game_server.__main__ import parse_config
from game_server.config import Config, declared_settings, load_cookie_secret
from tests.conftest import REPO, Browserless, recv_until, running


async def fetch(url: str) -> int:
    client = AsyncHTTPClient(force_instance=True)
    try:
        return (await client.fetch(url, raise_error=False)).code
    finally:
        client.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_starts_logs_its_url_serves_and_stops_cleanly(tmp_path: Path, sig) -> None:
    async with running(tmp_path / "data", "--tick-group", "2") as (proc, url):
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


def run_main(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "game_server", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("args, words", [
    (["--tick-group", "0"], "--tick-group must be between 1 and 1000"),
    (["--presence-ttl", "0"], "--presence-ttl must be more than 0"),
    (["--log-level", "loud"], "--log-level must be one of: debug, info, warning, error"),
    (["--public-url", "ftp://x"], "--public-url must start with http:// or https://"),
    (["--mode-option", "arena.tick_rate=0"],
     '--mode-option arena.tick_rate=0: "tick_rate" must be at least 1'),
    (["--mode-option", "arena.max_players=1001"], "must be at most 1000"),
    (["--mode-option", "arena.speed=2"], "arena has no option 'speed' (its options: tick_rate"),
    (["--mode-option", "chess.tick_rate=2"], "no mode 'chess'; this server runs: arena, dice"),
    (["--mode-option", "arena.tick_rate=fast"], "arena.tick_rate=fast: an integer expected"),
    (["--mode-option", "arena"], "expected MODE.OPTION=VALUE"),
    # The arena's settings are its options now, no longer the server's flags.
    (["--tick-rate", "30"], "unrecognized arguments: --tick-rate"),
    (["--max-players", "8"], "unrecognized arguments: --max-players"),
])
def test_bad_settings_exit_2_with_a_message(tmp_path: Path, args: list[str], words: str) -> None:
    done = run_main(*args, "--data-dir", str(tmp_path))
    assert done.returncode == 2 and words in done.stderr, done.stderr


def test_flags_win_over_environment_and_environment_over_defaults(tmp_path: Path) -> None:
    env = {"ARENA_COOKIE_SECRET": "k" * 40, "ARENA_PORT": "9000", "ARENA_TICK_GROUP": "2",
           "ARENA_ALLOWED_ORIGINS": "https://a.example, https://b.example/",
           "ARENA_MODE_OPTIONS": "arena.tick_rate=30,arena.max_players=8",
           "ARENA_GAMES": "a:spec,b:spec", "ARENA_XHEADERS": "1", "ARENA_NO_UVLOOP": "true"}
    config, level = parse_config(["--port", "9001", "--data-dir", str(tmp_path)], env)
    assert config.port == 9001 and config.tick_group == 2 and level == "info"
    assert parse_config(["--tick-group", "1", "--data-dir", str(tmp_path)], env)[0].tick_group == 1
    assert config.allowed_origins == ("https://a.example", "https://b.example")
    assert config.mode_options == ("arena.tick_rate=30", "arena.max_players=8")
    assert config.games == ("a:spec", "b:spec")
    assert config.xheaders and not config.uvloop and not config.strict_games
    assert config.cookie_secret == "k" * 40
    # A list flag replaces the variable's list (the flag wins), and may be repeated.
    config, _ = parse_config(["--mode-option", "dice.dice=3", "--mode-option",
                              "arena.tick_rate=10", "--data-dir", str(tmp_path)], env)
    assert config.mode_options == ("dice.dice=3", "arena.tick_rate=10")
    config, _ = parse_config(["--data-dir", str(tmp_path), "--strict-games", "--no-uvloop"], {})
    assert config.strict_games and not config.uvloop and config.games == ()


def test_each_setting_is_declared_once_in_config(tmp_path: Path, capsys) -> None:
    """A setting declared in `Config` is a flag, an ARENA_ variable and a checked value, from
    that one declaration: nothing else names it."""
    settings = declared_settings()
    with pytest.raises(SystemExit):
        parse_config(["--help"], {})
    shown = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # wrapped at dashes
    for declared in settings:
        assert f"--{declared.flag} " in shown and declared.rules.help in shown, declared.flag
    by_flag = {d.flag: d for d in settings}
    assert by_flag["tick-group"].env == "ARENA_TICK_GROUP"
    assert by_flag["game"].env == "ARENA_GAMES" and by_flag["no-uvloop"].name == "uvloop"
    # Every bound a setting declares is what `validate` holds it to, named by its flag.
    checked = 0
    for declared in settings:
        rules = declared.rules
        for bad in (rules.low, rules.above):
            if bad is None:
                continue
            value = type(declared.default)(bad - 1 if bad == rules.low else bad)
            config = replace(Config(cookie_secret="k" * 40), **{declared.name: value})
            with pytest.raises(ValueError, match=f"^--{declared.flag} must be"):
                config.validate()
            checked += 1
        # ...and a value from the environment reaches the same field.
        if rules.low is not None and not isinstance(declared.default, bool):
            text = str(type(declared.default)(rules.low))
            config, _ = parse_config(["--data-dir", str(tmp_path)], {declared.env: text})
            assert getattr(config, declared.name) == type(declared.default)(rules.low)
    assert checked > 15


def test_the_generated_secret_is_stable_across_restarts(tmp_path: Path) -> None:
    first = load_cookie_secret(tmp_path, None)
    assert load_cookie_secret(tmp_path, None) == first and len(first) == 64
    (tmp_path / "cookie_secret").write_text("short")
    with pytest.raises(ValueError):
        load_cookie_secret(tmp_path, None)


def test_the_readmes_table_lists_every_setting_with_its_variable() -> None:
    section = (REPO / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ")[0]
    rows = re.findall(r"^\| `(--[a-z-]+)` \| *(?:`(ARENA_[A-Z_]+)`)? *\|", section, re.MULTILINE)
    assert dict(rows) == {**{f"--{d.flag}": d.env for d in declared_settings()},
                          "--rotate-cookie-secret": ""}


def test_help_names_every_default_after_the_environment(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # the width --help wraps at
    with pytest.raises(SystemExit) as exited:
        parse_config(["--help"], {"ARENA_TICK_GROUP": "8", "ARENA_XHEADERS": "1",
                                  "ARENA_MODE_OPTIONS": "arena.tick_rate=30"})
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
    assert flags["--resume-grace"].endswith("(default: 15.0)")
    assert flags["--mode-option"].endswith("(default: arena.tick_rate=30)")
    assert flags["--strict-games"].endswith("(default: off)")
    assert "--tick-rate" not in flags and "--max-players" not in flags
    assert flags["--redis-url"].endswith("(default: none)")
    assert flags["--no-uvloop"].endswith("(default: off)")
    # A set environment variable is what the flag falls back to, so it is the default shown.
    assert flags["--tick-group"].endswith("one callback per room (default: 8)")
    assert flags["--xheaders"].endswith("(default: on)")
    assert "ARENA_TICK_GROUP" in " ".join(text.split())
    # The modes' own settings, each with its bounds and the default it would have.
    assert (" arena: tick_rate 1 to 120 (default 30), max_players 1 to 1000 (default 20),"
            " bots 0 to 1000 (default 8) " in " ".join(text.split()))
    assert "\n  tictactoe: turn_seconds 5 to 300 (default 30)\n" in text


async def test_each_mode_runs_and_is_listed_with_its_own_rate_and_seats(tmp_path: Path) -> None:
    """The arena's rate and seats are its options: `--mode-option` sets their defaults, the
    start line lists every mode with its own, and a private table may choose within bounds."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "game_server", "--port", "0", "--data-dir", str(tmp_path),
        "--mode-option", "arena.tick_rate=10", "--mode-option", "arena.max_players=8",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "ARENA_COOKIE_SECRET": "k" * 40})
    client: Browserless | None = None
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(30):
            while "Arena listening on" not in (line := (await proc.stderr.readline()).decode()):
                assert line, "the server exited before it was ready"
        assert "modes: arena (10 Hz, 8 seats), dice (events, 6 seats)" in line, line
        assert "players a room" not in line
        client = Browserless(line.split("Arena listening on ")[1].split()[0])
        await client.guest("ann")
        ws = await client.ws()
        ws.write_message(orjson.dumps({"type": "join", "mode": "arena"}).decode())
        assert (await recv_until(ws, "joined"))["tick_rate"] == 10
        rooms = orjson.loads((await client.request("GET", "/api/rooms")).body)["rooms"]
        assert [(r["mode"], r["max_players"]) for r in rooms] == [("arena", 8)]
        ws.write_message(orjson.dumps({"type": "leave"}).decode())
        await recv_until(ws, "left")
        ws.write_message(orjson.dumps({"type": "create", "mode": "arena", "private": True,
                                       "options": {"tick_rate": 5}}).decode())
        assert (await recv_until(ws, "joined"))["tick_rate"] == 5
        ws.write_message(orjson.dumps({"type": "leave"}).decode())
        await recv_until(ws, "left")
        ws.write_message(orjson.dumps({"type": "create", "mode": "arena", "private": True,
                                       "options": {"max_players": 5000}}).decode())
        refused = await recv_until(ws, "error")
        assert refused["code"] == "out_of_range" and "max_players" in refused["message"]
    finally:
        if client is not None:
            await client.aclose()
        proc.terminate()
        await proc.wait()


def test_help_names_the_subcommands_and_each_has_its_own_help(tmp_path: Path) -> None:
    """`--help` is where a newcomer looks: it names `new-game` and `announce` (which `main`
    dispatches before the flags are parsed, so argparse alone would never list them)."""
    shown = run_main("--help")
    assert shown.returncode == 0, shown.stderr
    usage, commands = shown.stdout.split("\n\n")[0], shown.stdout.split("commands", 1)[-1]
    for command in ("new-game", "announce"):
        assert f"game-server {command} " in usage, shown.stdout
        assert re.search(rf"^  {command}\s+\w", commands, re.MULTILINE), shown.stdout
        own = run_main(command, "--help")
        assert own.returncode == 0 and f"usage: game-server {command}" in own.stdout, own.stderr
