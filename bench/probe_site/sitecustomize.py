"""Loaded by every Python process that `python -m bench.probe` starts (through PYTHONPATH); it
acts only in a game server (`python -m game_server`) when ARENA_BENCH_PROBE names a directory.

Once the server has imported its application, each function in ARENA_BENCH_PROBE_FUNCS
(`module:Class.method` or `module:function`, comma-separated; a `thread:` prefix times it in
thread CPU time, for what runs on a worker thread) is wrapped with a timer, and the totals are
written to `DIR/probe-<pid>.json` every 5 s and at exit. A function a checkout does not have is
left out (reported absent). The wrapper itself costs about a tenth of a microsecond a call, the
same in every server probed.
"""

from __future__ import annotations

import atexit
import builtins
import importlib
import json
import os
import sys
import threading
import time
from typing import Any

_OUT = os.environ.get("ARENA_BENCH_PROBE")
_FUNCS = os.environ.get("ARENA_BENCH_PROBE_FUNCS", "")


def _wrap(owner: Any, name: str, clock: Any, total: list[float]) -> None:
    inner = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return inner(*args, **kwargs)
        finally:
            total[0] += clock() - start
            total[1] += 1

    timed.__wrapped__ = inner  # type: ignore[attr-defined]
    setattr(owner, name, timed)


def _install(totals: dict[str, list[float]], absent: list[str]) -> None:
    for spec in filter(None, (s.strip() for s in _FUNCS.split(","))):
        clock = time.perf_counter
        target = spec
        if target.startswith("thread:"):
            clock, target = time.thread_time, target[len("thread:"):]
        module_name, _, path = target.partition(":")
        try:
            owner: Any = importlib.import_module(module_name)
            *parents, name = path.split(".")
            for part in parents:
                owner = getattr(owner, part)
            getattr(owner, name)
        except (ImportError, AttributeError, ValueError):
            absent.append(target)
            continue
        totals[target] = total = [0.0, 0]
        _wrap(owner, name, clock, total)


def _start() -> None:
    totals: dict[str, list[float]] = {}
    absent: list[str] = []
    out = os.path.join(_OUT or ".", f"probe-{os.getpid()}.json")

    def dump() -> None:
        record = {"server": os.getcwd(), "pid": os.getpid(), "absent": absent,
                  "functions": {k: {"seconds": v[0], "calls": v[1]} for k, v in totals.items()}}
        with open(out + ".tmp", "w") as fh:
            json.dump(record, fh)
        os.replace(out + ".tmp", out)

    def every_five_seconds() -> None:
        while True:
            time.sleep(5)
            dump()

    real_import = builtins.__import__

    def watching(name: str, *args: Any, **kwargs: Any) -> Any:
        module = real_import(name, *args, **kwargs)
        if name == "game_server.app":
            builtins.__import__ = real_import
            _install(totals, absent)
            threading.Thread(target=every_five_seconds, name="bench-probe", daemon=True).start()
            atexit.register(dump)
        return module

    builtins.__import__ = watching


if _OUT and "game_server" in getattr(sys, "orig_argv", ()):
    _start()
