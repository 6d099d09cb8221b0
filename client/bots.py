"""Many bots in one process: log in as guests, join, play a mode, report what it was like.

What a bot does in its room is its mode's policy (`client.policies`: the arena's steering
brain, Liar's Dice, the one an installed game ships as an `arena.policies` entry point, or
`--policy module:attr`); logging in, joining by mode, following matchmaking's `redirect`s to
other processes (`client.joining.join_following`), coming back after a drop, pings and the
report are the same for every game. In a game whose matches end, a bot whose match is over
joins again by mode until the run ends; the rounds of a match are counted in the room.

    python -m client.bots --url http://127.0.0.1:8888 --bots 10 --duration 60
    python -m client.bots --url http://127.0.0.1:8888 --mode dice --bots 4 --duration 30

Tests call `run_bots(...)` in-process and read the returned `BotReport` (`client.report`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from tornado.httpclient import AsyncHTTPClient

from client.joining import GameSocket, Joined, JoinError, join_following, resume_seat
from client.policies import (
    ArenaPolicy,
    Finished,
    Policy,
    PolicyError,
    PolicyFactory,
    known_modes,
    policy_for,
)
from client.report import BotReport, BotStats
from client.session import ArenaError, ArenaSocket, login_guest
from protocol.closes import CloseCode

PROG = "game-bots"
PING_INTERVAL = 1.0
JOIN_TIMEOUT = 10.0  # how long to wait for `joined` after sending `join`
RECONNECT_ATTEMPTS = 8  # after a dropped connection; 0.25 s doubling to 4 s apart, jittered
# Closes after which a player would not come back on its own: replaced by a newer connection,
# logged out, closed for flooding.
FINAL_CLOSES = (CloseCode.REPLACED, CloseCode.SESSION_ENDED, CloseCode.POLICY_VIOLATION)
MAX_PENDING_PINGS = 32  # unanswered pings older than this many are forgotten
UNREADABLE = "<unreadable message>"  # error key for frames we could not decode or apply


class Bot:
    """One simulated player: a socket, and the `Policy` that plays its mode (`client.policies`).

    The bot logs in, joins by mode (with `options`), follows redirects, pings once a second,
    hands every server message to the policy and sends what it answers, calls the policy's
    `act()` every `policy.interval` seconds, and comes back after a dropped connection. When the
    policy says its match is over the bot leaves and joins again by mode, until `matches`
    matches are finished (None: until the run ends); the rounds it says ended are counted, and
    the bot stays.
    """

    def __init__(
        self,
        name: str,
        url: str,
        mode: str,
        *,
        policy: Policy | None = None,
        options: dict[str, Any] | None = None,
        matches: int | None = None,
        http_client: AsyncHTTPClient | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.stats = BotStats(name)
        self._url = url
        self._mode = mode
        self._options = options
        self._matches = matches
        self._http_client = http_client
        self._rng = rng if rng is not None else random.Random()
        self.policy: Policy = policy if policy is not None else ArenaPolicy(self._rng)
        self._clock = clock
        self._socket: GameSocket | None = None
        self._cookie: str | None = None
        self._rejoin = False  # the room closed, or we left a finished match: join again
        self._leaving = False  # `leave` sent after a finished match; `left` not yet seen
        self._done = False  # played the matches it was asked to: stop once out of the room
        self._over = False  # this room's match is over and counted
        self._rooms = 0  # rooms joined so far: a late answer for an earlier room is dropped
        self._joining = False  # acting and pings wait while a join is unanswered
        self._pings: dict[int, float] = {}
        self._resume: str | None = None  # the last `joined`'s token, to take the seat back
        self._rounds = self._rounds_won = 0  # the policy's round counts already in the stats

    async def run(self, stop: asyncio.Event, deadline: float) -> BotStats:
        """Log in, join and play until `deadline` (loop time) or `stop`; never raises."""
        stats = self.stats
        try:
            cookie = await login_guest(self._url, stats.name, http_client=self._http_client)
            self._cookie = cookie
            self._socket = await ArenaSocket.connect(self._url, cookie)
            stats.connected = True
            await self._play(stop, deadline)
        except Exception as exc:  # one bot's surprise must not take the others down
            stats.failure = stats.failure or _reason(exc)
        finally:
            if self._socket is not None:
                await self._socket.aclose()
        return stats

    async def _play(self, stop: asyncio.Event, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        stats = self.stats
        join = asyncio.create_task(self._join())
        # The join is bounded by its own timeout; the extra second only backs that up.
        await _first_of([join], [stop], JOIN_TIMEOUT + 1.0)
        if not join.done():
            join.cancel()
            await asyncio.gather(join, return_exceptions=True)
            stopped = stop.is_set()
            stats.failure = (
                "stopped before joined" if stopped else f"not joined within {JOIN_TIMEOUT:g} s"
            )
            return
        if join.exception() is not None:
            exc = join.exception()
            assert exc is not None
            if isinstance(exc, JoinError) and exc.code not in _CLIENT_SIDE:
                stats.errors[exc.code] += 1
            raise exc
        reader = asyncio.create_task(self._read())
        tasks = [reader, asyncio.create_task(self._ping())]
        if self.policy.interval is not None:
            tasks.append(asyncio.create_task(self._act(self.policy.interval)))
        try:
            await _first_of([reader], [stop], deadline - loop.time())
        finally:
            if stats.joined_at is not None:
                stats.played_seconds = self._clock() - stats.joined_at
            if (stats.joined and reader.done() and not self._done and not stop.is_set()
                    and loop.time() < deadline):
                stats.closed_early = True
                stats.close_code = self._socket.close_code if self._socket is not None else None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _join(self) -> None:
        """Join by mode on the current socket, following redirects; then it is in a room."""
        assert self._socket is not None
        self._joining = True
        try:
            result = await join_following(
                self._socket, self._cookie, mode=self._mode, options=self._options,
                join_timeout=JOIN_TIMEOUT, on_message=self.on_message,
            )
        finally:
            self._joining = False
        self._seated(result)

    def _seated(self, result: Joined) -> None:
        stats = self.stats
        self._socket = result.socket
        stats.redirects += result.redirects
        stats.seat_fallbacks += result.fallbacks
        stats.server = result.url
        for code in result.errors:
            stats.errors[code] += 1
        self._pings.clear()  # pings sent to another server will never come back
        self.on_message(result.message)

    async def _read(self) -> None:
        while self._socket is not None:
            try:
                msg = await self._socket.recv()
                if msg is None:
                    if self._done or not await self._reconnect():
                        return
                    continue
                self.on_message(msg)
            except (ValueError, LookupError, TypeError):  # not JSON, or rows of the wrong shape
                self.stats.errors[UNREADABLE] += 1
            if self._done and not self._leaving:
                return
            if self._rejoin:
                self._rejoin = False
                try:
                    await self._join()
                except JoinError as exc:
                    if exc.code not in _CLIENT_SIDE:
                        self.stats.errors[exc.code] += 1
                    self.stats.failure = f"re-join failed: {exc}"
                    return
                except ArenaError as exc:
                    self.stats.failure = f"re-join failed: {exc}"
                    return

    async def _reconnect(self) -> bool:
        """The connection dropped (the server died, or went away): take the seat back with the
        last `joined`'s resume token at the server that seated us, as a player's client would;
        if that cannot be had, log back in at the home server and matchmake again. False if it
        should not or could not come back."""
        assert self._socket is not None
        code = self._socket.close_code
        if code in FINAL_CLOSES:
            return False
        self.stats.close_code = code
        self._socket.close()  # already closed by the peer: this releases it
        self._leaving = False
        delay = 0.25
        failure: Exception | None = None
        for _ in range(RECONNECT_ATTEMPTS):
            await asyncio.sleep(delay * (0.5 + self._rng.random()))
            delay = min(delay * 2.0, 4.0)
            if await self._resume_seat():
                self.stats.resumes += 1
                self.stats.reconnects += 1
                return True
            try:
                self._socket = await ArenaSocket.connect(self._url, self._cookie)
                await self._join()
            except (ArenaError, OSError) as exc:
                failure = exc
                continue
            self.stats.reconnects += 1
            return True
        self.stats.failure = f"could not reconnect after a drop: {failure}"
        return False

    async def _resume_seat(self) -> bool:
        """One try at the held seat (a token is worth one try: the seat is gone if refused)."""
        token, server, self._resume = self._resume, self.stats.server, None
        if token is None or server is None:
            return False
        try:
            sock = await ArenaSocket.connect_url(server, self._cookie)
        except (ArenaError, OSError):
            return False
        self._socket = sock
        self._joining = True
        try:
            result = await resume_seat(sock, token, join_timeout=JOIN_TIMEOUT,
                                       on_message=self.on_message)
        except JoinError as exc:
            if exc.code not in _CLIENT_SIDE:
                self.stats.errors[exc.code] += 1
            await sock.aclose(grace=0.5)
            return False
        finally:
            self._joining = False
        self._seated(result)
        return True

    async def _act(self, interval: float) -> None:
        """Call the policy's `act()` every `interval` seconds and send what it says."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            if not self._joining and not self._leaving:
                for message in self.policy.act():
                    if not self._send(message):
                        return
            next_at += interval
            delay = next_at - loop.time()
            if delay < 0:  # fell behind: carry on from now rather than send a burst
                next_at, delay = loop.time(), 0.0
            await asyncio.sleep(delay)

    async def _ping(self) -> None:
        await asyncio.sleep(self._rng.uniform(0.0, PING_INTERVAL))  # don't all ping at once
        ping_id = 0
        while True:
            if not self._joining:
                ping_id += 1
                self._pings[ping_id] = self._clock()
                if len(self._pings) > MAX_PENDING_PINGS:
                    del self._pings[next(iter(self._pings))]
                if not self._send({"type": "ping", "id": ping_id}):
                    return
            await asyncio.sleep(PING_INTERVAL)

    def _send(self, msg: dict[str, Any]) -> bool:
        """Send on the current socket; True too while a re-join swaps sockets."""
        sock = self._socket
        return (sock is not None and sock.send(msg)) or self._joining

    def _send_in(self, room: int, messages: list[dict[str, Any]]) -> None:
        if room == self._rooms and not self._leaving and not self._joining:
            for message in messages:
                self._send(message)

    def on_message(self, msg: dict[str, Any]) -> None:
        """Account for one server message, hand it to the policy and send what the policy
        answers (also the hook tests drive directly)."""
        stats = self.stats
        kind = msg.get("type")
        if kind == "state":
            stats.states += 1
        elif kind == "joined":
            self._over = False
            self._rooms += 1
            token = msg.get("resume")
            self._resume = token if isinstance(token, str) else None
            if not stats.joined:
                stats.joined = True
                stats.joined_at = self._clock()
        elif kind == "pong":
            sent = self._pings.pop(msg.get("id"), None)
            if sent is not None:
                stats.rtts_ms.append((self._clock() - sent) * 1000.0)
            return
        elif kind == "error":
            stats.errors[str(msg.get("code"))] += 1
        elif kind == "left":
            if msg.get("reason") == "room_closed" or self._leaving:
                # Matchmake again (maybe redirected to another process): the reader does it.
                self._leaving = False
                self._rejoin = not self._done
            return
        if self._leaving:
            return  # what a finished room still says is not for the policy
        policy = self.policy
        answers = policy.on_message(msg)
        think = getattr(policy, "think", 0.0)
        if answers and think > 0:
            # A turn-based bot answers at a person's pace (and within the server's rate limit),
            # in the room it answers for.
            room = self._rooms
            asyncio.get_running_loop().call_later(think, self._send_in, room, answers)
        else:
            for answer in answers:
                self._send(answer)
        score = policy.score
        if score is not None and score > stats.best_mass:
            stats.best_mass = score
        rounds = getattr(policy, "rounds", 0)
        if rounds != self._rounds:  # a round ended and the match goes on: count it, stay
            won = getattr(policy, "rounds_won", 0)
            stats.rounds += rounds - self._rounds
            stats.round_wins += won - self._rounds_won
            self._rounds, self._rounds_won = rounds, won
        finished = policy.finished
        if finished is not None and not self._over:
            self._match_over(finished)

    def _match_over(self, finished: Finished) -> None:
        """Count the match, and leave its room: the `left` answer sends the bot to join again
        (or, with its matches played, ends its run)."""
        stats = self.stats
        self._over = True
        stats.matches += 1
        stats.wins += finished.won
        stats.draws += finished.draw
        if self._matches is not None and stats.matches >= self._matches:
            self._done = True
        self._leaving = True
        if not self._send({"type": "leave"}):
            self._leaving = False


async def _first_of(
    tasks: list[asyncio.Task[Any]], events: list[asyncio.Event], seconds: float
) -> None:
    """Wait until any task finishes, any event is set, or `seconds` pass."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(
            [*tasks, *waiters], timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for waiter in waiters:
            waiter.cancel()


# JoinError codes of this side, not error messages the server sent.
_CLIENT_SIDE = ("too_many_redirects", "closed", "timeout", "session_ended")


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ArenaError) else f"{type(exc).__name__}: {exc}"


# -- running -------------------------------------------------------------------------------------


_TAG_LETTERS = "abcdefghijkmnpqrstuvwxyz"  # no l or o: read aloud, they pass for 1 and 0


def team_names(prefix: str, count: int) -> list[str]:
    """`PREFIX-1-tag` ... `PREFIX-count-tag`, the tag three letters drawn for this run.

    Each bot logs in as a new guest, and a leaderboard ranks accounts: without the tag, every
    run added another "bot-5" to it. The tag is drawn apart from `--seed`, which makes the
    bots' play repeatable, not their names.
    """
    tag = "".join(random.SystemRandom().choice(_TAG_LETTERS) for _ in range(3))
    return [f"{prefix}-{i}-{tag}" for i in range(1, count + 1)]


async def run_bots(
    url: str,
    bots: int,
    duration: float,
    mode: str = "arena",
    name_prefix: str = "bot",
    *,
    seed: int | None = None,
    stop: asyncio.Event | None = None,
    policy: PolicyFactory | None = None,
    options: dict[str, Any] | None = None,
    matches: int | None = None,
) -> BotReport:
    """Run `bots` bots of `mode` against the server at `url` for `duration` seconds and report.

    Each bot plays with its own policy from `policy` (default: the mode's, `policy_for`; a
    mode without one raises `PolicyError`), joins rooms with `options`, and stops early once
    it has finished `matches` matches. Bots that fail to log in or join end early and say why
    in `BotReport.failures`; setting `stop` ends the run before `duration`.
    """
    if bots < 1:
        raise ValueError("bots must be at least 1")
    if matches is not None and matches < 1:
        raise ValueError("matches must be at least 1")
    factory = policy if policy is not None else policy_for(mode)
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    master = random.Random(seed)
    # Our own client instance: the shared one queues beyond 10 requests and is never closed.
    http_client = AsyncHTTPClient(force_instance=True, max_clients=min(max(bots, 10), 100))
    team = []
    names = team_names(name_prefix, bots)
    for i in range(1, bots + 1):
        rng = random.Random(master.getrandbits(64))
        team.append(Bot(names[i - 1], url, mode, policy=factory(rng), options=options,
                        matches=matches, http_client=http_client, rng=rng))
    started = loop.time()
    try:
        stats = await asyncio.gather(*(bot.run(stop, started + duration) for bot in team))
    finally:
        http_client.close()
    return BotReport.from_stats(list(stats), mode=mode, duration=loop.time() - started)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description="Run Arena bots against a server.")
    parser.add_argument("--url", default="http://127.0.0.1:8888", help="server base URL")
    parser.add_argument("--bots", type=int, default=10, help="how many bots (default 10)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--mode", default="arena",
                        help="game mode to play (default arena); policies: "
                        + ", ".join(known_modes()))
    parser.add_argument("--policy", default=None, metavar="MODULE:ATTR",
                        help="the bot policy to play with (a callable taking a random.Random "
                        "and returning a client.policies.Policy), for a mode without one")
    parser.add_argument("--options", type=_json_object, default=None, metavar="JSON",
                        help='room options to quick-play with, e.g. \'{"start_players": 4}\'')
    parser.add_argument("--matches", type=int, default=None,
                        help="each bot stops after finishing this many matches (turn games)")
    parser.add_argument("--name-prefix", default="bot",
                        help="bots are named PREFIX-1-TAG, PREFIX-2-TAG… (TAG: the run's)")
    parser.add_argument("--seed", type=int, default=None, help="seed for reproducible play")
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"--url must start with http:// or https://, not {args.url!r}")
    if args.bots < 1 or not args.duration > 0:
        parser.error("--bots and --duration must be more than 0")
    if args.matches is not None and args.matches < 1:
        parser.error("--matches must be at least 1")
    try:
        args.policy_factory = policy_for(args.mode, args.policy)
    except PolicyError as exc:
        parser.error(str(exc))
    return args


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


async def _run_until_interrupted(args: argparse.Namespace) -> BotReport:
    """`run_bots`, where Ctrl-C ends the run early but still reports."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on this platform/thread
        loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        a = args
        return await run_bots(
            a.url, a.bots, a.duration, a.mode, a.name_prefix, seed=a.seed, stop=stop,
            policy=a.policy_factory, options=a.options, matches=a.matches,
        )
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    """The `game-bots` command: run, print the summary, exit 0 only if every bot joined."""
    args = _parse_args(argv)
    try:
        report = asyncio.run(_run_until_interrupted(args))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    if report.joined == 0:
        # Usually one cause for all (server down, login refused): say it once.
        print(f"{PROG}: {report.main_failure() or 'no bot could join'}", file=sys.stderr)
        return 1
    print(report.format())
    for line in report.failures:
        print(f"{PROG}: {line}", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
