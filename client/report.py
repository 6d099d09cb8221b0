"""What bots saw: one bot's `BotStats`, and the `BotReport` of a run summed over its bots, whose
`format()` is the summary `game-bots` prints: a scoring game's best score (the arena's mass),
or for a game whose matches end the matches the bots finished and won, and for a game whose
matches have rounds the rounds that ended."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class BotStats:
    """What one bot saw during the run."""

    name: str
    connected: bool = False
    joined: bool = False
    joined_at: float | None = None
    played_seconds: float = 0.0
    states: int = 0
    rtts_ms: list[float] = field(default_factory=list)
    best_mass: int = 0  # the best score its policy reported (the arena's mass)
    errors: Counter[str] = field(default_factory=Counter)
    failure: str | None = None
    close_code: int | None = None
    closed_early: bool = False
    redirects: int = 0  # redirects followed (to a room on another process)
    seat_fallbacks: int = 0  # redirect seats refused or unreachable: matchmade again
    server: str | None = None  # the ws:// URL of the server it played on last
    reconnects: int = 0  # dropped connections it came back from
    resumes: int = 0  # of those, how many took the held seat back (the rest matchmade again)
    matches: int = 0  # matches it finished (games whose matches end)
    wins: int = 0
    draws: int = 0
    rounds: int = 0  # rounds that ended in its rooms, the match going on (games with rounds)
    round_wins: int = 0


@dataclass
class BotReport:
    """The numbers of one run, summed over its bots; `format()` is the printed summary."""

    requested: int
    connected: int
    joined: int
    mode: str
    duration: float
    states: int
    states_per_second: float
    states_per_second_per_bot: float
    ping_mean_ms: float | None
    ping_p99_ms: float | None
    ping_samples: int
    best_mass: int
    errors: dict[str, int]
    failures: list[str]
    closed_early: dict[int | None, int]
    bots: list[BotStats] = field(repr=False, default_factory=list)
    redirects: int = 0  # redirects followed, all bots together
    redirected: int = 0  # bots that followed at least one
    seat_fallbacks: int = 0  # redirect seats refused or unreachable: matchmade again
    servers: dict[str, int] = field(default_factory=dict)  # bots per server they played on
    reconnects: int = 0  # dropped connections the bots came back from
    resumes: int = 0  # of those, seats taken back with the resume token
    matches: int = 0  # matches finished, counted once per bot that played in them
    wins: int = 0
    draws: int = 0
    rounds: int = 0  # rounds ended, counted once per bot that played in them
    round_wins: int = 0

    @classmethod
    def from_stats(cls, stats: list[BotStats], *, mode: str, duration: float) -> BotReport:
        joined = [s for s in stats if s.joined]
        rates = [s.states / s.played_seconds for s in joined if s.played_seconds > 0]
        rtts = [rtt for s in stats for rtt in s.rtts_ms]
        errors = sum((s.errors for s in stats), Counter[str]())
        return cls(
            requested=len(stats),
            connected=sum(s.connected for s in stats),
            joined=len(joined),
            mode=mode,
            duration=duration,
            states=sum(s.states for s in stats),
            states_per_second=sum(rates),
            states_per_second_per_bot=sum(rates) / len(rates) if rates else 0.0,
            ping_mean_ms=sum(rtts) / len(rtts) if rtts else None,
            ping_p99_ms=percentile(rtts, 99) if rtts else None,
            ping_samples=len(rtts),
            best_mass=max((s.best_mass for s in stats), default=0),
            errors=dict(errors.most_common()),
            failures=[f"{s.name}: {s.failure}" for s in stats if s.failure],
            closed_early=dict(Counter(s.close_code for s in stats if s.closed_early)),
            bots=stats,
            redirects=sum(s.redirects for s in stats),
            redirected=sum(1 for s in stats if s.redirects),
            seat_fallbacks=sum(s.seat_fallbacks for s in stats),
            servers=dict(Counter(s.server for s in joined if s.server).most_common()),
            reconnects=sum(s.reconnects for s in stats),
            resumes=sum(s.resumes for s in stats),
            matches=sum(s.matches for s in stats),
            wins=sum(s.wins for s in stats),
            draws=sum(s.draws for s in stats),
            rounds=sum(s.rounds for s in stats),
            round_wins=sum(s.round_wins for s in stats),
        )

    @property
    def ok(self) -> bool:
        """Every requested bot connected and joined."""
        return self.requested > 0 and self.connected == self.joined == self.requested

    def main_failure(self) -> str | None:
        """The most common per-bot failure reason, without the bot's name."""
        reasons = Counter(s.failure for s in self.bots if s.failure)
        return reasons.most_common(1)[0][0] if reasons else None

    def format(self) -> str:
        if self.ping_mean_ms is None or self.ping_p99_ms is None:
            ping = "no round trips measured"
        else:
            ping = (
                f"mean {self.ping_mean_ms:.1f} ms, p99 {self.ping_p99_ms:.1f} ms"
                f" ({self.ping_samples} round trips)"
            )
        errors = ", ".join(f"{code} x{n}" for code, n in self.errors.items()) or "none"
        lines = [
            f"bots:      {self.connected}/{self.requested} connected, {self.joined} joined"
            f" (mode {self.mode}, {self.duration:.1f} s)",
            f"states:    {self.states_per_second:.1f}/s total,"
            f" {self.states_per_second_per_bot:.2f}/s per bot ({self.states} received)",
            f"ping:      {ping}",
        ]
        # A game that scores (the arena's mass) reports its best; one whose matches end, those.
        if self.best_mass:
            label = "best mass" if self.mode == "arena" else "best score"
            lines.append(f"{label}: {self.best_mass}")
        if self.matches or not self.best_mass:
            lines.append(f"matches:   {self.matches} finished by the bots,"
                         f" {self.wins} won, {self.draws} drawn")
        if self.rounds:
            lines.append(f"rounds:    {self.rounds} ended in the bots' matches,"
                         f" {self.round_wins} won")
        lines.append(f"errors:    {errors}")
        if self.redirects or self.seat_fallbacks:
            # Only with matchmaking across processes: a single server never redirects.
            servers = ", ".join(f"{url} x{n}" for url, n in self.servers.items())
            lines.append(
                f"redirects: {self.redirects} followed by {self.redirected} bots,"
                f" {self.seat_fallbacks} seats refused; playing on {servers or 'none'}"
            )
        if self.reconnects:
            lines.append(f"reconnects: {self.reconnects} after dropped connections,"
                         f" {self.resumes} back in their seats")
        if self.closed_early:
            codes = ", ".join(
                f"{'no close frame' if code is None else f'code {code}'} x{n}"
                for code, n in self.closed_early.items()
            )
            lines.append(f"closed early: {sum(self.closed_early.values())} by the server ({codes})")
        return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile `q` (0-100] of non-empty `values`."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]
