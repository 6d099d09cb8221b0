"""The processes a benchmark starts: CPU pinning, start and stop by process group, and a run that
stops every one of them however it ends (Ctrl-C, SIGTERM, SIGHUP or an error)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STOP_GRACE = 10.0


def pinning(cpus: int | None, taskset: str | None) -> tuple[list[str], list[str]]:
    """`taskset` prefixes for the server (CPU 0) and the load generator (the other CPUs)."""
    if not taskset or not cpus or cpus < 2:
        return [], []
    rest = "1" if cpus == 2 else f"1-{cpus - 1}"
    return [taskset, "-c", "0"], [taskset, "-c", rest]


class Processes:
    """Everything the run started, each in its own process group, all stopped by `stop_all`."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only us; we stop them in order
            )
        self._procs.append(proc)
        return proc

    def start_listening(self, argv: list[str], log_path: Path, listening: re.Pattern[str],
                        timeout: float, name: str) -> tuple[subprocess.Popen[bytes], str]:
        """Start a server and wait for the log line whose group 1 is its URL; a server that does
        not get there is stopped and reported as a RuntimeError naming it."""
        proc = self.start(argv, log_path)
        match = wait_for_line(log_path, listening, proc, timeout)
        if match is None:
            self.stop(proc)
            raise RuntimeError(f"{name} did not start:\n{tail(log_path)}")
        return proc, match.group(1)

    def stop(self, proc: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> None:
        """SIGTERM to the process group, then SIGKILL after `grace` seconds."""
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(5)
        _signal_group(proc, signal.SIGKILL)  # stragglers of the group (locust workers)
        if proc in self._procs:
            self._procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(self._procs[:]):  # load generators before the server
            self.stop(proc)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# -- a run that always cleans up -------------------------------------------------------------


class Interrupted(Exception):
    """SIGTERM or SIGHUP: stop like Ctrl-C."""


def _raise_interrupted(signum: int, _frame: object) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signal.Signals(signum).name)


@dataclass
class RunEnd:
    """How a guarded run ended: finished, interrupted, or stopped by an error."""

    interrupted: bool = False
    error: str | None = None

    def report_fields(self) -> dict[str, Any]:
        """What a report records of it: `interrupted` and `error`, when they apply."""
        fields: dict[str, Any] = {}
        if self.interrupted:
            fields["interrupted"] = True
        if self.error is not None:
            fields["error"] = self.error
        return fields


@contextmanager
def guarded_run(procs: Processes, *, prog: str, stopping: str) -> Iterator[RunEnd]:
    """Run the body with SIGINT, SIGTERM and SIGHUP raising, and keep what it finished.

    Ctrl-C, SIGTERM or SIGHUP ends the body as interrupted; a RuntimeError (a server or load
    generator that failed) as interrupted with its message. Either is printed and recorded in
    the `RunEnd`, not raised. On the way out every process in `procs` is stopped with those
    signals ignored, then the handlers from before are restored.
    """
    end = RunEnd()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    for sig in handlers:
        # SIGINT too: a shell starts background jobs with it ignored, and Ctrl-C must still work.
        signal.signal(sig, _raise_interrupted)
    try:
        yield end
    except (KeyboardInterrupt, Interrupted):
        end.interrupted = True
        print(f"\ninterrupted: stopping {stopping}", file=sys.stderr, flush=True)
    except RuntimeError as exc:  # keep the finished steps or runs
        end.interrupted = True
        end.error = str(exc)
        print(f"{prog}: {exc}", file=sys.stderr, flush=True)
    finally:
        for sig in handlers:
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
        try:
            procs.stop_all()
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)


# -- logs ------------------------------------------------------------------------------------


def wait_for_line(path: Path, pattern: re.Pattern[str], proc: subprocess.Popen[bytes],
                  timeout: float) -> re.Match[str] | None:
    """Poll a log file until a line matches; None on timeout or if the process ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            match = pattern.search(path.read_text(errors="replace"))
        except OSError:
            match = None
        if match is not None:
            return match
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
