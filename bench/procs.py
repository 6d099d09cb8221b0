"""The processes a benchmark starts: CPU pinning, start and stop by process group, and a run that
stops every one of them however it ends (Ctrl-C, SIGTERM, SIGHUP or an error)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STOP_GRACE = 10.0


def pinning(cpus: int | None, taskset: str | None,
            server_cpus: int = 1) -> tuple[list[str], list[str]]:
    """`taskset` prefixes for the server (the first `server_cpus` CPUs: one per server process)
    and the load generator (the other CPUs); no pinning unless at least one CPU is left over."""
    if not taskset or not cpus or server_cpus < 1 or cpus <= server_cpus:
        return [], []
    return [taskset, "-c", cpu_range(0, server_cpus)], [taskset, "-c", cpu_range(server_cpus, cpus)]


def cpu_range(first: int, end: int) -> str:
    """CPUs `first` to `end - 1` as taskset writes them: "0", "1-7"."""
    return str(first) if end - first == 1 else f"{first}-{end - 1}"


class Processes:
    """Everything the run started, each in its own process group, all stopped by `stop_all`."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self._procs: list[subprocess.Popen[bytes]] = []
        self._wait_group: set[int] = set()

    def start(self, argv: list[str], log_path: Path, *, wait_group: bool = False,
              cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Start `argv` in a process group of its own, its output into `log_path`, in `cwd`
        (default: the directory given at construction).

        `wait_group`: when stopping it, give the rest of its group (forked server workers that
        shut down cleanly on SIGTERM) the same grace as the process itself before SIGKILL.
        """
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                cwd=cwd or self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only us; we stop them in order
            )
        self._procs.append(proc)
        if wait_group:
            self._wait_group.add(proc.pid)
        return proc

    def start_listening(self, argv: list[str], log_path: Path, listening: re.Pattern[str],
                        timeout: float, name: str,
                        cwd: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
        """Start a server and wait for the log line whose group 1 is its URL; a server that does
        not get there is stopped and reported as a RuntimeError naming it."""
        proc, [match] = self.start_waiting(argv, log_path, listening, timeout, name, cwd=cwd)
        return proc, match.group(1)

    def start_waiting(
        self, argv: list[str], log_path: Path, pattern: re.Pattern[str], timeout: float,
        name: str, count: int = 1, *, wait_group: bool = False, cwd: Path | None = None,
    ) -> tuple[subprocess.Popen[bytes], list[re.Match[str]]]:
        """Start a process and wait until its log has `count` lines matching `pattern` (one per
        forked worker, say); one that does not get there is stopped and reported as a
        RuntimeError naming it."""
        proc = self.start(argv, log_path, wait_group=wait_group, cwd=cwd)
        matches = wait_for_lines(log_path, pattern, proc, timeout, count)
        if matches is None:
            self.stop(proc)
            raise RuntimeError(f"{name} did not start:\n{tail(log_path)}")
        return proc, matches

    def stop(self, proc: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> None:
        """SIGTERM to the process group, then SIGKILL after `grace` seconds."""
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(5)
        if proc.pid in self._wait_group:
            _wait_for_group(proc.pid, grace)
            self._wait_group.discard(proc.pid)
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


def _wait_for_group(pgid: int, timeout: float) -> None:
    """Wait until no live (non-zombie) process is left in group `pgid`, at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (zombies, which have exited, left out)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[0] != "Z" and fields[2] == str(pgid):
            members.append(int(entry.name))
    return members


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


def wait_for_lines(path: Path, pattern: re.Pattern[str], proc: subprocess.Popen[bytes],
                   timeout: float, count: int) -> list[re.Match[str]] | None:
    """Poll a log file until `count` lines match; None on timeout or if the process ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            matches = list(pattern.finditer(path.read_text(errors="replace")))
        except OSError:
            matches = []
        if len(matches) >= count:
            return matches[:count]
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


def wait_for_each(waits: Sequence[tuple[Path, subprocess.Popen[bytes]]],
                  pattern: re.Pattern[str], timeout: float,
                  seen: Callable[[int], None]) -> int | None:
    """Poll several logs until each has a line matching `pattern`, calling `seen(i)` as soon as
    log `i` has it (so that each is answered at its own moment, not when the last arrives).
    Returns None when all matched, else the index of the first log whose process ended first
    or that was still waiting at the timeout."""
    deadline = time.monotonic() + timeout
    waiting = list(range(len(waits)))
    while waiting:
        for i in waiting[:]:
            path, proc = waits[i]
            try:
                found = pattern.search(path.read_text(errors="replace")) is not None
            except OSError:
                found = False
            if found:
                waiting.remove(i)
                seen(i)
            elif proc.poll() is not None:
                return i
        if waiting and time.monotonic() >= deadline:
            return waiting[0]
        if waiting:
            time.sleep(0.02)
    return None


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
