"""The locust player's recording window: `--arena-warmup` and `--arena-window` (also
`ARENA_WARMUP` / `ARENA_WINDOW`), `--arena-mode`, `--arena-options`, and the [start, end) they
give each test, so a ramp-up does not pollute steady-state samples. Imported by
`bench/locustfile.py`, under gevent."""

from __future__ import annotations

import math
import time
from typing import Any

from locust import events


class Window:
    """When this process records samples: [start, end) in wall-clock seconds."""

    start = 0.0
    end = math.inf
    stopping = False


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--arena-warmup",
        type=float,
        default=0.0,
        env_var="ARENA_WARMUP",
        help="seconds after the test starts before pong and state samples are recorded",
    )
    parser.add_argument(
        "--arena-window",
        type=float,
        default=0.0,
        env_var="ARENA_WINDOW",
        help="seconds of samples to record after the warmup (0: until the test stops)",
    )
    parser.add_argument(
        "--arena-mode", default="arena", env_var="ARENA_MODE",
        help="game mode to join (dice: the Liar's Dice player)"
    )
    parser.add_argument(
        "--arena-options", default="", env_var="ARENA_OPTIONS",
        help='room options to quick-play with, as a JSON object: \'{"start_players": 4}\''
    )


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    warmup = float(getattr(options, "arena_warmup", 0.0) or 0.0)
    window = float(getattr(options, "arena_window", 0.0) or 0.0)
    Window.start = time.time() + warmup
    Window.end = Window.start + window if window > 0 else math.inf
    Window.stopping = False


@events.test_stopping.add_listener
def _on_test_stopping(**_: Any) -> None:
    Window.stopping = True  # closes from here on are ours, not failures
