"""Micro-benchmark: the store's cost of one chat post, as the server makes it.

    python -m loadtests.post_path [--store sqlite|postgres] [--messages 4000] [--concurrency 20]

Imports the synthetic school (``loadtests/school.py``) into a fresh store
(SQLite in a temporary directory, or a fresh database on a private
PostgreSQL: ``tests/services.py``, ``DATABASE_URL`` if set), then posts
``--messages`` messages through ``preau.server.chat.posting.post_message`` (the
one function the server calls, inside ``store.posting()``), from
``--concurrency`` pupils of one room at a time, as concurrent senders do.

Two ways, alternated in four rounds so that both see the same machine:
*plain*, as the server posts (``store.post_plain`` first: on PostgreSQL one
round trip to a stored function), and *general*, the general path alone (a
transaction with one statement per read). Per post and way it prints: this
process's CPU (the server's share of the post path, driver included), the
CPU of PostgreSQL's processes (postmaster and every backend, read from /proc)
and the wall time. No sockets, no fan-out: the
chat fan-out benchmark (``loadtests/chat_fanout.py``) measures the whole server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from loadtests.school import build
from preau.server.chat.posting import post_message
from preau.server.directory.model import Profile
from preau.server.moderation.wordfilter import WordLists
from preau.server.store import Author
from preau.server.store.factory import open_store

# "plain": as the server posts (store.post_plain first: one statement);
# "general": post_message's general path alone (a transaction, a statement per read).
PATHS = ("plain", "general")
ROUNDS = 4


@contextlib.asynccontextmanager
async def _store_url(kind: str, tmp: Path) -> AsyncIterator[tuple[str, list[psutil.Process]]]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'preau.db'}", []
        return
    from urllib.parse import urlsplit

    from loadtests.chat_cluster import postmaster_of
    from tests.services import fresh_database, postgres_url

    with postgres_url() as server_url:
        async with fresh_database(server_url) as url:
            port = urlsplit(server_url).port
            master = postmaster_of(port) if port else None
            yield url, [master] if master is not None else []


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for root in procs:
        with contextlib.suppress(psutil.Error):
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    total += t.user + t.system
    return total


async def run(kind: str, n: int, concurrency: int, words: int = 0) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="preau-post-") as tmp_name:
        tmp = Path(tmp_name)
        async with _store_url(kind, tmp) as (url, pg):
            manifest = await build(tmp, 1, store_url=url)
            room = manifest.rooms[0]
            pupils = [s for s in room.members if s.profile == Profile.PUPIL.value][:concurrency]
            store = await open_store(url)
            try:
                if words:  # a school's own lists, as most set them (the demo has none)
                    await store.set_word_lists(manifest.school, _word_lists(words),
                                               room.members[0].person, 0)
                body = "Bonjour la classe, voici le devoir pour demain"

                async def sender(seat_person: str, count: int, tag: str, plain: bool) -> None:
                    author = Author(seat_person, Profile.PUPIL, False)
                    for i in range(count):
                        result = await post_message(
                            store, room.room, author, f"{tag}-{seat_person}-{i}", body,
                            "m_" + secrets.token_urlsafe(12), "h_" + secrets.token_urlsafe(12),
                            time.time_ns() // 1_000_000,
                            school_id=manifest.school if plain else None)
                        if result.message is None:
                            raise RuntimeError(f"post not accepted: {result}")

                async def burst(total: int, tag: str, plain: bool) -> None:
                    each = max(1, total // len(pupils))
                    await asyncio.gather(*(sender(p.person, each, tag, plain) for p in pupils))

                await burst(min(400, n), "warm", True)
                await burst(min(400, n), "warm-general", False)
                posts = ROUNDS * max(1, n // ROUNDS // len(pupils)) * len(pupils)  # per way
                me = psutil.Process()
                totals: dict[str, list[float]] = {m: [0.0, 0.0, 0.0] for m in PATHS}
                for rnd in range(ROUNDS):  # alternate, so both see the same machine
                    for path in PATHS:
                        cpu0, pg0, wall0 = _cpu([me]), _cpu(pg), time.perf_counter()
                        await burst(n // ROUNDS, f"{path}-{rnd}", path == "plain")
                        cpu1, pg1, wall1 = _cpu([me]), _cpu(pg), time.perf_counter()
                        for k, v in enumerate((cpu1 - cpu0, pg1 - pg0, wall1 - wall0)):
                            totals[path][k] += v
            finally:
                await store.close()
    return {f"{path}_{name}": totals[path][k] / posts * 1e6
            for path in PATHS for k, name in enumerate(("server_us", "postgres_us", "wall_us"))
            } | {"posts": posts}


def _word_lists(words: int) -> WordLists:
    def entries(prefix: str) -> tuple[str, ...]:
        return tuple(f"{prefix}mot{i:04d}" for i in range(words))
    return WordLists(block=entries("interdit-"), hold=entries("retenu-"), alert=entries("alerte-"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.post_path",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--messages", type=int, default=4000, help="per way")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--words", type=int, default=0,
                        help="entries in each of the school's three word lists (0: the defaults)")
    args = parser.parse_args(argv)
    import uvloop

    figures = uvloop.run(run(args.store, args.messages, args.concurrency, args.words))
    for path in PATHS:
        print(f"{args.store}, {path} path: {figures['posts']:.0f} posts from "
              f"{args.concurrency} concurrent senders; per post: this process "
              f"{figures[f'{path}_server_us']:.0f} µs CPU, PostgreSQL "
              f"{figures[f'{path}_postgres_us']:.0f} µs CPU, wall "
              f"{figures[f'{path}_wall_us']:.0f} µs"
              + (f" ({args.words} words in each list)" if args.words else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
