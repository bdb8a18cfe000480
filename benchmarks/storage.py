"""Storage benchmark: p50/p99 latency of mark-item and progress-summary with many members.

    python -m benchmarks.storage [--members 100000] [--samples 2000] [--url URL]

Always measures SQLite (a fresh file in a temporary directory). PostgreSQL is measured too
when ``--url`` is given (or ``MENTORBOT_TEST_POSTGRES_URL`` is set) and reachable: the benchmark
works in a scratch schema ``mb_bench_<random>`` of that database (``?search_path=``) and drops it
afterwards (``--keep`` keeps it). The database is migrated with Alembic, then seeded in bulk:
every member is in a server, has a few checklist items done (each with its event) and some
have reminder preferences. Latencies are for single sequential calls through
:class:`bot.storage.Store`, the way the bot makes them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from bot.storage import DatabaseUnavailable, Store
from bot.storage.migrate import upgrade_async
from bot.storage.models import (
    ChecklistEvent,
    ChecklistProgress,
    GuildMembership,
    Member,
    ReminderPref,
)

PHASE_ITEMS = 8
ITEMS_BY_PHASE: dict[int, list[str]] = {
    p: [f"p{p}-item-{i}" for i in range(PHASE_ITEMS)] for p in (1, 2, 3, 4)
}
ALL_ITEMS = [i for ids in ITEMS_BY_PHASE.values() for i in ids]
FIRST_ID = 100_000_000_000_000_000  # snowflake-sized ids
GUILDS = (900_000_000_000_000_001, 900_000_000_000_000_002)
CHUNK = 5_000


@dataclass
class Result:
    backend: str
    members: int
    op: str
    samples: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.samples, n=100, method="inclusive")[98] * 1000


def _chunks(rows: Iterator[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def seed(store: Store, members: int, rng: random.Random) -> dict[str, int]:
    """Bulk-insert ``members`` members with memberships, progress, events and preferences."""
    now = datetime(2025, 3, 1, tzinfo=UTC)
    counts = dict.fromkeys(("member", "guild_membership", "checklist", "reminder_pref"), 0)

    def member_rows() -> Iterator[dict[str, Any]]:
        for n in range(members):
            yield {
                "id": FIRST_ID + n,
                "created_at": now,
                "last_seen_at": now,
                "current_phase": rng.choice((None, 1, 1, 2, 2, 3, 4)),
                "phase_source": None,
                "sharing": False,
            }

    def guild_rows() -> Iterator[dict[str, Any]]:
        for n in range(members):
            for g in GUILDS[: 1 + (n % 10 == 0)]:
                yield {
                    "member_id": FIRST_ID + n,
                    "guild_id": g,
                    "first_seen": now,
                    "last_seen": now,
                }

    progress: list[tuple[int, str, datetime]] = []
    for n in range(members):
        for item in rng.sample(ALL_ITEMS, rng.randint(2, 6)):
            progress.append((FIRST_ID + n, item, now - timedelta(minutes=rng.randint(0, 90_000))))

    def progress_rows() -> Iterator[dict[str, Any]]:
        for member_id, item, at in progress:
            yield {
                "member_id": member_id,
                "item_id": item,
                "done": True,
                "done_at": at,
                "undone_at": None,
                "updated_at": at,
                "evidence_url": None,
            }

    def event_rows() -> Iterator[dict[str, Any]]:
        for member_id, item, at in progress:
            yield {"member_id": member_id, "item_id": item, "action": "done", "at": at}

    def pref_rows() -> Iterator[dict[str, Any]]:
        for n in range(0, members, 3):
            yield {
                "member_id": FIRST_ID + n,
                "enabled": True,
                "weekday": n % 7,
                "hour": n % 24,
                "timezone": "Europe/Paris",
                "next_due_utc": now + timedelta(minutes=n % 10_080),
                "paused_reason": None,
                "last_sent_at": None,
                "updated_at": now,
            }

    plan: Sequence[tuple[str, Any, Callable[[], Iterator[dict[str, Any]]]]] = (
        ("member", Member, member_rows),
        ("guild_membership", GuildMembership, guild_rows),
        ("checklist", ChecklistProgress, progress_rows),
        ("checklist_event", ChecklistEvent, event_rows),
        ("reminder_pref", ReminderPref, pref_rows),
    )
    async with store.db.engine.connect() as conn:
        for name, model, rows in plan:
            n = 0
            for batch in _chunks(rows()):
                await conn.execute(insert(model), batch)
                await conn.commit()
                n += len(batch)
            counts[name] = n
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    return counts


async def timed(fn: Callable[[], Awaitable[object]], samples: int) -> list[float]:
    out: list[float] = []
    for _ in range(samples):
        t = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t)
    return out


async def bench(
    backend: str, url: str, members: int, samples: int, seed_value: int
) -> list[Result]:
    rng = random.Random(seed_value)
    t0 = time.perf_counter()
    await upgrade_async(url)
    store = Store.open(url)
    try:
        counts = await seed(store, members, rng)
        seeded = time.perf_counter() - t0
        print(
            f"{backend}: seeded {counts['member']:,} members, "
            f"{counts['checklist']:,} checklist rows + events, "
            f"{counts['reminder_pref']:,} reminder prefs in {seeded:.1f}s",
            file=sys.stderr,
        )

        def member() -> int:
            return FIRST_ID + rng.randrange(members)

        async def mark() -> None:
            await store.checklist.mark(member(), rng.choice(ALL_ITEMS))

        async def summary() -> None:
            await store.checklist.summary(member(), ITEMS_BY_PHASE)

        await timed(mark, min(100, samples))  # warm up pool and caches
        await timed(summary, min(100, samples))
        return [
            Result(backend, members, "mark-item", await timed(mark, samples)),
            Result(backend, members, "progress-summary", await timed(summary, samples)),
        ]
    finally:
        await store.close()


async def _pg_scratch(url: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Create a scratch schema; return the URL selecting it and a function dropping it."""
    import asyncpg

    base = make_url(url).set(drivername="postgresql").difference_update_query(["search_path"])
    dsn = base.render_as_string(hide_password=False)
    schema = f"mb_bench_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except Exception as exc:
        raise DatabaseUnavailable(f"PostgreSQL unreachable ({url}): {exc}") from exc
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()

    async def drop() -> None:
        c = await asyncpg.connect(dsn, timeout=5)
        try:
            await c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await c.close()

    scratch = base.set(drivername="postgresql+asyncpg").update_query_dict({"search_path": schema})
    return scratch.render_as_string(hide_password=False), drop


def _table(results: list[Result]) -> str:
    lines = [
        f"{'backend':<11} {'members':>9} {'operation':<17} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}"
    ]
    for r in results:
        lines.append(
            f"{r.backend:<11} {r.members:>9,} {r.op:<17} {len(r.samples):>6} "
            f"{r.p50:>8.2f} {r.p99:>8.2f}"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="mentorbot-bench-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        results += await bench("sqlite", url, args.members, args.samples, args.seed)
    pg_url = args.url or os.environ.get("MENTORBOT_TEST_POSTGRES_URL")
    if pg_url:
        try:
            scratch, drop = await _pg_scratch(pg_url)
        except DatabaseUnavailable as exc:
            print(f"skipping PostgreSQL: {exc}", file=sys.stderr)
        else:
            try:
                results += await bench("postgresql", scratch, args.members, args.samples, args.seed)
            finally:
                if args.keep:
                    print(f"kept {scratch}", file=sys.stderr)
                else:
                    await drop()
    else:
        print("PostgreSQL not measured: pass --url postgresql+asyncpg://...", file=sys.stderr)
    print(_table(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storage", description=__doc__)
    parser.add_argument("--members", type=int, default=100_000, help="members to seed")
    parser.add_argument("--samples", type=int, default=2_000, help="timed calls per operation")
    parser.add_argument("--url", default=None, help="PostgreSQL URL (a scratch schema is used)")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL scratch schema")
    args = parser.parse_args(argv)
    if args.members < 1 or args.samples < 2:
        parser.error("--members must be >= 1 and --samples >= 2")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
