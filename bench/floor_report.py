"""What a floor comparison's numbers mean: one run's record from the load generator's result and
the server's counters, medians across rounds with each Arena's ratio to each floor (and Arena to
the baseline Arena), and the report (JSON and Markdown)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.report import machine_line, num, rounded, write_report_files

# The order of a round: the Arenas first. `arena` is this checkout, `arena-baseline` the Arena
# of another checkout (`--baseline DIR`); `floor` is the bare Tornado server (the yardstick),
# `floor-wire` the same server on Arena's asyncio data path. (Results from before 2026-12-06
# have no floor-wire; their `floor` was Tornado with Arena's batched reader, then, on 2026-12-05
# and 06, Arena's asyncio path. Results before 2026-12-05 also have "arena-protocol"; their
# "arena" was Tornado's data path.)
SERVERS = ("arena", "arena-baseline", "floor", "floor-wire")
ARENA, BASELINE = "arena", "arena-baseline"
ARENAS = (ARENA, BASELINE)
FLOOR = "floor"
FLOORS = (FLOOR, "floor-wire")
DATA_PATHS = {"floor": "tornado", "floor-wire": "wire"}  # bench.floor_server --data-path
SHARED_CPU_LIMIT = 85.0  # side by side: % of CPU 0 the servers may use together and not compete
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
CPU = "cpu_us_per_player_second"


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _ratio(arena: float | None, floor: float | None) -> float | None:
    return round(arena / floor, 3) if arena and floor else None


def measured_runs(runs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The runs that count: not the warm-ups, not the profiled one."""
    return [r for r in runs if not r.get("profiled") and not r.get("warm_up")]


def ratio_pairs(kinds: Sequence[str]) -> list[tuple[str, str]]:
    """(numerator, denominator) of every ratio the servers in `kinds` give: each Arena to each
    floor, then Arena to the baseline Arena."""
    pairs = [(a, f) for a in ARENAS if a in kinds for f in FLOORS if f in kinds]
    if ARENA in kinds and BASELINE in kinds:
        pairs.append((ARENA, BASELINE))
    return pairs


def ratio_name(pair: tuple[str, str]) -> str:
    return f"{pair[0]}/{pair[1]}"


def summarize(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per player count: each server's medians across rounds, and every ratio of `ratio_pairs`
    (named "arena/floor" and so on): of the medians, and of each round's own pair."""
    out = []
    measured = measured_runs(runs)
    for players in sorted({r["players"] for r in measured}):
        mine = [r for r in measured if r["players"] == players]
        kinds = [k for k in SERVERS if any(r["server"] == k for r in mine)]
        row: dict[str, Any] = {"players": players, "servers": kinds, "ratios": {},
                               "round_ratios": {}}
        for kind in kinds:
            theirs = [r for r in mine if r["server"] == kind]
            row[kind] = {name: _median([r.get(name) for r in theirs]) for name in MEDIAN_FIELDS}
            row[kind]["runs"] = len(theirs)
            row[kind]["failures"] = sum(r.get("failures") or 0 for r in theirs)
        for top, bottom in ratio_pairs(kinds):
            name = ratio_name((top, bottom))
            row["ratios"][name] = _ratio(row[top][CPU], row[bottom][CPU])
            row["round_ratios"][name] = [
                ratio for r in mine if r["server"] == top
                if (ratio := _ratio(r.get(CPU), _cpu(mine, bottom, r["round"]))) is not None
            ]
        out.append(row)
    return out


def _cpu(runs: Sequence[Mapping[str, Any]], kind: str, round_no: int) -> float | None:
    return next((r.get(CPU) for r in runs if r["server"] == kind and r["round"] == round_no),
                None)


def shared_rounds(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Side by side: per measured round, the servers' CPU summed (all of it on CPU 0: above
    `SHARED_CPU_LIMIT` they competed for it) and the round's ratios (`ratio_pairs`)."""
    out = []
    measured = [r for r in measured_runs(runs) if r.get("side_by_side")]
    for group in sorted({r["group"] for r in measured}):
        mine = [r for r in measured if r["group"] == group]
        cpu = [r.get("server_cpu_percent") for r in mine]
        total = round(sum(c for c in cpu if c is not None), 1) if None not in cpu else None
        kinds = [r["server"] for r in mine]
        out.append({
            "players": mine[0]["players"],
            "round": mine[0]["round"],
            "servers": [r["server"] for r in mine],
            "cpu0_percent": total,
            "contended": total is not None and total > SHARED_CPU_LIMIT,
            "ratios": {ratio_name(pair): _ratio(_cpu(mine, pair[0], mine[0]["round"]),
                                                _cpu(mine, pair[1], mine[0]["round"]))
                       for pair in ratio_pairs(kinds)},
        })
    return out


# -- text ------------------------------------------------------------------------------------


def progress_line(record: Mapping[str, Any]) -> str:
    label = f"{record['server']:14} {record['players']:4} players"
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


def headline_lines(summary: Sequence[Mapping[str, Any]],
                   rounds: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    """Per player count each server's median CPU per player-second, ping p99 and states/s per
    player; then every ratio (each Arena to each floor, Arena to the baseline): of the medians
    and each round's own; then a warning for every side-by-side round in which the servers
    competed for CPU 0."""
    lines = []
    for row in summary:
        parts = []
        for kind in row["servers"]:
            s = row[kind]
            parts.append(
                f"{kind} {num(s[CPU])} µs (ping p99 {num(s['ping_p99_ms'], 2)} ms, "
                f"{num(s['states_per_player_second'], 2)} states/s per player, "
                f"median of {s['runs']})"
            )
        lines.append(f"{row['players']} players, CPU per player-second: " + "; ".join(parts))
        ratios = []
        for name, ratio in row["ratios"].items():
            paired = row.get("round_ratios", {}).get(name) or []
            ratios.append(
                f"{name} {num(ratio, 2)}x"
                # Each round's own ratio: in side-by-side rounds the pair shares the machine's
                # state, so their median is steadier than the ratio of two medians.
                + (f" (each round {', '.join(num(p, 2) for p in paired)}; median "
                   f"{num(_median(paired), 2)}x)" if len(paired) > 1 else "")
            )
        if ratios:
            lines.append(f"{row['players']} players, ratios of the medians: " + "; ".join(ratios))
    for r in rounds:
        if r["contended"]:
            lines.append(
                f"warning: {r['players']} players round {r['round']}: the servers used "
                f"{num(r['cpu0_percent'], 1)}% of CPU 0 together (over {SHARED_CPU_LIMIT:g}% of "
                "a core), so they competed for it: these figures are not clean"
            )
    return lines


SERVER_TEXT = {
    "arena": "`arena`: this checkout's Arena (`python -m game_server --max-connections-per-ip 0`, "
             "every other limit at its default)",
    "floor": "`floor`: the bare Tornado server (`python -m bench.floor_server`: Tornado's own "
             "frame reader and IOStream writes, the same login and messages, no game, no "
             "storage), the yardstick",
    "floor-wire": "`floor-wire`: the same server on Arena's asyncio data path "
                  "(`--data-path wire`)",
}


def _baseline_text(config: Mapping[str, Any]) -> str:
    base = config.get("baseline") or {}
    args = " ".join(base.get("args") or [])
    return (f"`arena-baseline`: the Arena of another checkout, `{base.get('dir')}` at "
            f"{base.get('commit') or 'an unknown commit'} (its own `.venv`, the same flags"
            + (f" and `{args}`" if args else "") + ")")


def _setup_text(report: Mapping[str, Any]) -> str:
    c = report["config"]
    servers = c.get("servers", SERVERS)
    names = ", ".join(f"`{k}`" for k in servers)
    if c.get("mode") == "side-by-side":
        order = (f"side by side: each round starts {names} at once, each driven by a load "
                 "generator of its own, every window opened at the same moment "
                 "(`loadgen --go-file`), player counts going up, every other round down")
    else:
        order = (f"one at a time: {names} for each player count going up, every other round "
                 "mirrored (the other way round, going down)")
    described = "; ".join(_baseline_text(c) if k == BASELINE else SERVER_TEXT[k]
                          for k in servers if k in SERVER_TEXT or k == BASELINE)
    return (
        f"Servers: {described}. The floors' states are sized to Arena's average in its latest "
        f"run. Each in fresh processes, {order}; "
        f"rounds: {c['rounds']}; each run: ramp, {c['warmup']:g} s warm-up, {c['seconds']:g} s "
        f"measured; {c['pinning']}. Load generator: {report.get('loadgen') or 'bench.loadgen'}."
    )


def render_markdown(report: Mapping[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# Arena against its transport floor, {report['date']}",
        "",
        machine_line(m, "uvloop"),
        _setup_text(report),
        "",
        "## Medians across rounds",
        "",
        "| players | server | µs CPU per player-s | ping p50 / p99 (ms) "
        "| states/s per player (min) | RSS KB per player | state bytes | server state B per "
        "player-s | TCP B per player-s | load generator CPU % |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["summary"]:
        for kind in row["servers"]:
            s = row[kind]
            lines.append(
                f"| {row['players']} | {kind} | {num(s[CPU])} "
                f"| {num(s['ping_p50_ms'], 2)} / {num(s['ping_p99_ms'], 2)} "
                f"| {num(s['states_per_player_second'], 2)} "
                f"({num(s['states_per_player_second_min'], 2)}) "
                f"| {num(s['rss_kb_per_player'], 1)} | {num(s['state_bytes'])} "
                f"| {num(s['state_bytes_per_player_second'])} "
                f"| {num(s['tcp_bytes_per_player_second'])} "
                f"| {num(s['loadgen_cpu_percent'], 1)} |"
            )
    if any(row["ratios"] for row in report["summary"]):
        lines += [
            "",
            "## Ratios of CPU per player-second",
            "",
            "| players | ratio | of the medians | each round | median of the rounds |",
            "|---:|---|---:|---|---:|",
        ]
        for row in report["summary"]:
            for name, ratio in row["ratios"].items():
                paired = row.get("round_ratios", {}).get(name) or []
                lines.append(
                    f"| {row['players']} | {name.replace('/', ' / ')} | **{num(ratio, 2)}x** "
                    f"| {', '.join(num(p, 2) for p in paired)} | {num(_median(paired), 2)} |"
                )
    rounds = report.get("rounds") or []
    if rounds:
        names = list(dict.fromkeys(name for r in rounds for name in r["ratios"]))
        lines += [
            "",
            "## Each round (side by side)",
            "",
            "| players | round | servers | CPU 0, all servers (%) | "
            + " | ".join(name.replace("/", " / ") for name in names) + " |",
            "|---:|---:|---|---:|" + "---:|" * len(names),
        ]
        for r in rounds:
            mark = " **competed**" if r["contended"] else ""
            lines.append(
                f"| {r['players']} | {r['round']} | {', '.join(r['servers'])} "
                f"| {num(r['cpu0_percent'], 1)}{mark} | "
                + " | ".join(num(r["ratios"].get(name), 2) for name in names) + " |"
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
    lines += ["", *(f"**{line}**" for line in report["headline"])]
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
        "measure. " + (
            "Side by side, every server had the same seconds of the machine: the ratios of one "
            "round compare like with like; a round in which the servers' CPU summed above "
            f"{SHARED_CPU_LIMIT:g}% of CPU 0 is marked, since they then waited for each other."
            if report["config"].get("mode") == "side-by-side" else
            "Runs of one setup vary by 20-25% on a shared 2-core machine; the ratio compares "
            "runs made minutes apart in the same session (`--side-by-side` runs them at once)."
        ),
    ]
    if report.get("profile"):
        lines += ["", f"Flame graph of one extra Arena run at "
                  f"{report['config']['profile_players']} players "
                  f"(py-spy, 200 Hz, not in the medians): `{report['profile']}`"]
    if report.get("interrupted"):
        lines += ["", "*The run was interrupted; the runs above are the ones that finished.*"]
    lines += ["", f"Reproduce: `{report['command']}`"]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path) -> list[Path]:
    if not report["runs"]:
        return []
    return write_report_files(report, out, "floor", render_markdown)
