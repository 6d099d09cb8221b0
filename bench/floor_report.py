"""What a floor comparison's numbers mean: one run's record from the load generator's result and
the server's counters, medians across rounds with the ratio Arena / floor, and the report (JSON
and Markdown)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.report import machine_line, num, rounded, write_report_files

SERVERS = ("arena", "floor")
LOADGEN_BUSY_PERCENT = 80.0  # above this the load generator may be the limit


# -- one run ---------------------------------------------------------------------------------


def summarize_run(
    kind: str,
    players: int,
    round_no: int,
    result: Mapping[str, Any],
    rss_idle: int | None,
    before: Mapping[str, float] | None,
    after: Mapping[str, float] | None,
    seconds: float,
    floor_state_bytes: int | None,
) -> dict[str, Any]:
    """One run's record from the load generator's result and the server's counters."""
    server = result.get("server") or {}
    players_avg = float(result.get("players_avg") or 0.0)
    rss_loaded = server.get("rss_max_bytes")
    rss_kb = None
    if rss_idle is not None and rss_loaded is not None and players_avg > 0:
        rss_kb = (rss_loaded - rss_idle) / 1024.0 / players_avg
    state_avg = sent_rate = None
    if before and after:
        messages = after["messages"] - before["messages"]
        sent = after["bytes"] - before["bytes"]
        if messages > 0:
            state_avg = sent / messages
        if players_avg > 0:
            sent_rate = sent / (players_avg * seconds)
    loadgen_cpu = result.get("cpu_percent")
    return {
        "server": kind,
        "players": players,
        "round": round_no,
        "profiled": False,
        "joined": result.get("joined"),
        "connected": min(result.get("open_at_start") or 0, result.get("open_at_end") or 0),
        "window_seconds": result.get("window_seconds"),
        "cpu_us_per_player_second": server.get("cpu_us_per_player_second"),
        "server_cpu_percent": server.get("cpu_percent"),
        "ping_p50_ms": result.get("ping_p50_ms"),
        "ping_p99_ms": result.get("ping_p99_ms"),
        "pings_sent": result.get("pings_sent"),
        "pongs": result.get("pongs"),
        "states_per_player_second": result.get("states_per_player_second"),
        "states_per_player_second_min": result.get("states_per_player_second_min"),
        "state_bytes": round(state_avg, 1) if state_avg is not None else floor_state_bytes,
        "floor_state_bytes": floor_state_bytes,
        "rss_idle_mib": rounded(rss_idle / 2**20 if rss_idle else None, 1),
        "rss_loaded_mib": rounded(rss_loaded / 2**20 if rss_loaded else None, 1),
        "rss_kb_per_player": rounded(rss_kb, 1),
        "state_bytes_per_player_second": rounded(sent_rate, 0),
        "tcp_bytes_per_player_second": result.get("bytes_per_player_second"),
        "loadgen_cpu_percent": loadgen_cpu,
        "loadgen_busy": bool(loadgen_cpu is not None and loadgen_cpu >= LOADGEN_BUSY_PERCENT),
        "loadgen": result.get("loadgen"),
        "failures": result.get("failures", 0),
        "failure_kinds": result.get("failure_kinds", {}),
    }


# -- medians and ratios ----------------------------------------------------------------------

MEDIAN_FIELDS = (
    "cpu_us_per_player_second", "server_cpu_percent", "ping_p50_ms", "ping_p99_ms",
    "states_per_player_second", "states_per_player_second_min", "rss_kb_per_player",
    "state_bytes", "state_bytes_per_player_second", "tcp_bytes_per_player_second",
    "loadgen_cpu_percent",
)


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per player count: each server's medians across rounds and the ratio Arena / floor."""
    out = []
    measured = [r for r in runs if not r.get("profiled") and not r.get("warm_up")]
    for players in sorted({r["players"] for r in measured}):
        row: dict[str, Any] = {"players": players}
        for kind in SERVERS:
            mine = [r for r in measured if r["players"] == players and r["server"] == kind]
            row[kind] = {name: _median([r.get(name) for r in mine]) for name in MEDIAN_FIELDS}
            row[kind]["runs"] = len(mine)
            row[kind]["failures"] = sum(r.get("failures") or 0 for r in mine)
        a = row["arena"]["cpu_us_per_player_second"]
        f = row["floor"]["cpu_us_per_player_second"]
        row["ratio"] = round(a / f, 3) if a and f else None
        pairs = []
        for r in measured:
            if r["players"] != players or r["server"] != "arena":
                continue
            floor = [x for x in measured if x["players"] == players and x["server"] == "floor"
                     and x["round"] == r["round"]]
            if floor and r.get("cpu_us_per_player_second") and floor[0].get(
                    "cpu_us_per_player_second"):
                pairs.append(round(r["cpu_us_per_player_second"]
                                   / floor[0]["cpu_us_per_player_second"], 3))
        row["round_ratios"] = pairs
        out.append(row)
    return out


# -- text ------------------------------------------------------------------------------------


def progress_line(record: Mapping[str, Any]) -> str:
    label = f"{record['server']:5} {record['players']:4} players"
    if record.get("profiled"):
        label += " (py-spy attached)"
    else:
        label += f" round {record['round']}"
    return (
        f"[run {record.get('run', '?')}] {label}: "
        f"{num(record.get('cpu_us_per_player_second'))} µs CPU/player-s "
        f"({num(record.get('server_cpu_percent'), 1)}% CPU), ping p50/p99 "
        f"{num(record.get('ping_p50_ms'), 2)}/{num(record.get('ping_p99_ms'), 2)} ms, "
        f"{num(record.get('states_per_player_second'), 2)} states/s per player "
        f"(min {num(record.get('states_per_player_second_min'), 2)}), "
        f"RSS {num(record.get('rss_kb_per_player'), 1)} KB/player, state "
        f"{num(record.get('state_bytes'))} B, {num(record.get('tcp_bytes_per_player_second'))} "
        f"TCP B/player-s, loadgen CPU {num(record.get('loadgen_cpu_percent'), 1)}%, "
        f"failures {record.get('failures')}"
    )


def headline_lines(summary: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for row in summary:
        a, f = row["arena"], row["floor"]
        lines.append(
            f"{row['players']} players: Arena {num(a['cpu_us_per_player_second'])} µs CPU per "
            f"player-second, floor {num(f['cpu_us_per_player_second'])}: "
            f"{num(row['ratio'], 2)}x the floor (medians of {a['runs']} and {f['runs']} runs; "
            f"ping p99 {num(a['ping_p99_ms'], 2)} / {num(f['ping_p99_ms'], 2)} ms, RSS "
            f"{num(a['rss_kb_per_player'], 1)} / {num(f['rss_kb_per_player'], 1)} KB per player)"
        )
    return lines


def render_markdown(report: Mapping[str, Any]) -> str:
    m = report["machine"]
    c = report["config"]
    lines = [
        f"# Arena against its transport floor, {report['date']}",
        "",
        machine_line(m, "uvloop"),
        f"Setup: Arena (`python -m game_server --max-connections-per-ip 0`, every other limit at "
        f"its default) and the floor (`python -m bench.floor_server`, states sized to Arena's "
        f"average in its latest run) in fresh processes, one at a time: A F for each player "
        f"count going up, every other round mirrored (F A going down); "
        f"rounds: {c['rounds']}; each run: ramp, {c['warmup']:g} s warm-up, {c['seconds']:g} s "
        f"measured; {c['pinning']}. Load generator: {report.get('loadgen') or 'bench.loadgen'}.",
        "",
        "## Medians across rounds",
        "",
        "| players | server | µs CPU per player-s | Arena / floor | ping p50 / p99 (ms) "
        "| states/s per player (min) | RSS KB per player | state bytes | server state B per "
        "player-s | TCP B per player-s | load generator CPU % |",
        "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["summary"]:
        for kind in SERVERS:
            s = row[kind]
            ratio = f"**{num(row['ratio'], 2)}x**" if kind == "arena" else ""
            lines.append(
                f"| {row['players']} | {kind} | {num(s['cpu_us_per_player_second'])} | {ratio} "
                f"| {num(s['ping_p50_ms'], 2)} / {num(s['ping_p99_ms'], 2)} "
                f"| {num(s['states_per_player_second'], 2)} "
                f"({num(s['states_per_player_second_min'], 2)}) "
                f"| {num(s['rss_kb_per_player'], 1)} | {num(s['state_bytes'])} "
                f"| {num(s['state_bytes_per_player_second'])} "
                f"| {num(s['tcp_bytes_per_player_second'])} "
                f"| {num(s['loadgen_cpu_percent'], 1)} |"
            )
    lines += [
        "",
        "## Every run, in order",
        "",
        "| run | server | players | round | µs CPU per player-s | server CPU % "
        "| ping p50 / p99 (ms) | states/s per player (min) | RSS idle → loaded (MiB) "
        "| KB per player | state bytes | TCP B per player-s | load generator CPU % | failures |",
        "|---:|---|---:|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        busy = " (busy)" if r.get("loadgen_busy") else ""
        lines.append(
            f"| {r.get('run')} | {r['server']} | {r['players']} "
            f"| {'py-spy' if r.get('profiled') else 'warm-up' if r.get('warm_up') else r['round']} "
            f"| {num(r.get('cpu_us_per_player_second'))} | {num(r.get('server_cpu_percent'), 1)} "
            f"| {num(r.get('ping_p50_ms'), 2)} / {num(r.get('ping_p99_ms'), 2)} "
            f"| {num(r.get('states_per_player_second'), 2)} "
            f"({num(r.get('states_per_player_second_min'), 2)}) "
            f"| {num(r.get('rss_idle_mib'), 1)} → {num(r.get('rss_loaded_mib'), 1)} "
            f"| {num(r.get('rss_kb_per_player'), 1)} | {num(r.get('state_bytes'))} "
            f"| {num(r.get('tcp_bytes_per_player_second'))} "
            f"| {num(r.get('loadgen_cpu_percent'), 1)}{busy} | {r.get('failures')} |"
        )
    lines += ["", *(f"**{line}**" for line in headline_lines(report["summary"]))]
    lines += [
        "",
        "CPU per player-second is the server process's user + system CPU over the measured "
        "window (`/proc/PID/stat`, read by the load generator at its window's edges) divided by "
        "players x seconds. About 30% of it is loopback kernel time charged to the sender: "
        "compare, don't subtract. Ping RTT is `ping` to `pong` at the load generator. RSS per "
        "player is the growth from the idle server (1 s after start) to its highest sample "
        "under load, over the players connected. State bytes: the average state payload the "
        "server sent (Arena's `/metrics`, the floor's `/healthz`); TCP bytes: every WebSocket "
        "byte the load generator received (states, pongs, frame headers), the fairest common "
        "measure. Runs of one setup vary by about ±10% on a shared 2-core machine; the ratio "
        "compares runs made minutes apart in the same session.",
    ]
    if report.get("profile"):
        lines += ["", f"Flame graph of one extra Arena run at {c['profile_players']} players "
                  f"(py-spy, 200 Hz, not in the medians): `{report['profile']}`"]
    if report.get("interrupted"):
        lines += ["", "*The run was interrupted; the runs above are the ones that finished.*"]
    lines += ["", f"Reproduce: `{report['command']}`"]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path) -> list[Path]:
    if not report["runs"]:
        return []
    return write_report_files(report, out, "floor", render_markdown)
