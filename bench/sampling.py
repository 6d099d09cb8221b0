"""What a benchmark reads while it runs: a process's CPU time and RSS from `/proc`, a server's
HTTP endpoints, and a description of the machine the numbers were measured on."""

from __future__ import annotations

import os
import platform
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# -- /proc -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    """The fields of `/proc/PID/stat` a benchmark needs (CPU times in clock ticks)."""

    pid: int
    ppid: int
    utime: int
    stime: int

    @property
    def cpu_ticks(self) -> int:
        return self.utime + self.stime


def parse_proc_stat(text: str) -> ProcStat:
    # The command name is in parentheses and may hold spaces or parentheses: split after the
    # last ')'. Fields after it start at field 3 (state).
    head, _, tail = text.rpartition(")")
    pid = int(head.split("(", 1)[0])
    fields = tail.split()
    return ProcStat(pid=pid, ppid=int(fields[1]), utime=int(fields[11]), stime=int(fields[12]))


def parse_rss_bytes(status_text: str) -> int | None:
    """VmRSS from `/proc/PID/status`, in bytes (None for a zombie, which has none)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            return int(parts[1]) * 1024
    return None


def proc_stat(pid: int) -> ProcStat | None:
    try:
        return parse_proc_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def proc_rss(pid: int) -> int | None:
    try:
        return parse_rss_bytes(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (locust's --processes workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None:
                children.setdefault(stat.ppid, []).append(stat.pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def listening_ports(pid: int) -> set[int]:
    """TCP ports process `pid` listens on: its socket descriptors matched, by inode, against the
    listening sockets of `/proc/PID/net/tcp` and `tcp6` (how a forked server worker is told
    from its siblings: by its own port)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            text = Path(f"/proc/{pid}/net/{table}").read_text()
        except OSError:
            continue
        ports |= parse_listening(text, inodes)
    return ports


def parse_listening(table: str, inodes: set[str]) -> set[int]:
    """Local ports of the listening sockets (state 0A) of a `/proc/net/tcp` table whose inode
    is one of `inodes`."""
    ports = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:
            ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


# -- the server --------------------------------------------------------------------------------


def http_get(url: str, timeout: float = 5.0) -> str | None:
    """The body of a GET on the benchmark's own server (`/metrics`, `/healthz`); None if none."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.read().decode()
    except (OSError, urllib.error.URLError):
        return None


# -- the machine -------------------------------------------------------------------------------


def machine_info(packages: Sequence[str]) -> dict[str, Any]:
    """What the numbers were measured on, with the version of each of `packages` (None when it
    is not installed)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                model = value.strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gib": round(ram / 2**30, 1) if ram else None,
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    for package in packages:
        try:
            from importlib.metadata import version

            info[package] = version(package)
        except Exception:  # noqa: BLE001 - a missing package is just not reported
            info[package] = None
    return info
