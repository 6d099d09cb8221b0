"""What the server's own bots cost: one person alone in an arena room, with the arena's bots
(up to `--bots` players) and without, the server's CPU per second of play in each case.

Starts an `ArenaServer` in this process, joins one guest over a real WebSocket (reading every
state it is sent), lets the bots arrive, then measures this process's CPU time over
`--seconds` of wall time; the same again with no bots. The difference is the bots' share:
their policies, their states, their inputs through the room's normal path.

    .venv/bin/python -m bench.house_bots --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

from client.session import ArenaSocket, login_guest
from game_server.app import ArenaServer
from game_server.config import Config


async def measure(bots: int, seconds: float) -> tuple[int, float]:
    """(bots seated, % of a core used by this process) for one person and `bots` players
    wanted (0: the bots off)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(host="127.0.0.1", port=0, data_dir=Path(tmp),
                        cookie_secret=secrets.token_hex(32), house_bots=bots > 0,
                        mode_options=(f"arena.bots={max(bots, 0)}",))
        server = ArenaServer(config)
        await server.start()
        try:
            sock = await ArenaSocket.connect(server.url, await login_guest(server.url, "Ann"))
            sock.send({"type": "join", "mode": "arena"})

            async def read() -> None:
                while await sock.recv() is not None:
                    pass

            reading = asyncio.ensure_future(read())
            async with asyncio.timeout(30):  # a count in this process: no event says so
                while not server.matchmaker.rooms() or (  # noqa: ASYNC110
                        bots and server.matchmaker.rooms()[0].bot_count < bots - 1):
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # settled: every bot has its first view
            room = server.matchmaker.rooms()[0]
            cpu, wall = time.process_time(), time.monotonic()
            await asyncio.sleep(seconds)
            used = (time.process_time() - cpu) / (time.monotonic() - wall)
            seated = room.bot_count
            sock.close()
            reading.cancel()
        finally:
            await server.stop()
    return seated, 100.0 * used


async def main_async(bots: int, seconds: float) -> None:
    seated, with_bots = await measure(bots, seconds)
    _, without = await measure(0, seconds)
    extra = with_bots - without
    print(f"one person and {seated} bots: {with_bots:.2f}% of a core")
    print(f"one person alone:     {without:.2f}% of a core")
    print(f"the bots:             {extra:.2f}% of a core, "
          f"{extra / max(seated, 1):.3f}% each")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=8,
                        help="the room's target of players (the arena's default: 8)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="seconds measured in each case (default: 10)")
    args = parser.parse_args()
    asyncio.run(main_async(args.bots, args.seconds))


if __name__ == "__main__":
    main()
