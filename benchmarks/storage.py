"""Storage benchmark: p50/p99 latency of mark-item, progress-summary and a server's /stats with
many members.

    python -m benchmarks.storage [--members 100000] [--samples 2000] [--stats-samples 300]
                                 [--url URL] [--no-sqlite] [--keep] [--no-plans]

Always measures SQLite (a fresh file in a temporary directory). PostgreSQL is measured too
when ``--url`` is given (or ``MENTORBOT_TEST_POSTGRES_URL`` is set) and reachable: the benchmark
works in a scratch schema ``mb_bench_<random>`` of that database (``?search_path=``) and drops it
afterwards (``--keep`` keeps it). The database is migrated with Alembic, then seeded in bulk:
one server of a tenth of the members (10,000 of 100,000) and 30 others sharing the rest, a
tenth of the members in a second server; every member has a few checklist items done over the
last 16 weeks (each with its event), most finished the quiz (some twice), some have reminder
preferences, and every server has logged questions. Then ``VACUUM ANALYZE`` (PostgreSQL) /
``ANALYZE`` (SQLite), as autovacuum would have done. Latencies are for single sequential calls
through :class:`bot.storage.Store`, the way the bot makes them; ``stats`` is the whole /stats
report of the big server (targets: p99 ≤ 50 ms on PostgreSQL, ≤ 150 ms on SQLite). The plan
of the /stats statement is printed (SQLite ``EXPLAIN QUERY PLAN``, PostgreSQL
``EXPLAIN (ANALYZE, BUFFERS)``) and checked: no table is scanned whole. Its floor is timed alone
too (``checklist pass alone``: the one range over the server's copy of its members' done
items, ``guild_checklist``, only counted). The machine's load average is printed with each
backend's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from bot.storage import DatabaseUnavailable, Store
from bot.storage.migrate import upgrade_async
from bot.storage.models import (
    Base,
    ChecklistEvent,
    ChecklistProgress,
    GuildChecklist,
    GuildMembership,
    Member,
    QuestionLog,
    QuizAttempt,
    ReminderPref,
)
from bot.storage.repo.checklist import guild_checklist_derived

PHASE_ITEMS = 8
ITEMS_BY_PHASE: dict[int, list[str]] = {
    p: [f"p{p}-item-{i}" for i in range(PHASE_ITEMS)] for p in (1, 2, 3, 4)
}
ALL_ITEMS = [i for ids in ITEMS_BY_PHASE.values() for i in ids]
FIRST_ID = 100_000_000_000_000_000  # snowflake-sized ids
BIG_GUILD = 900_000_000_000_000_001  # a tenth of the members: the /stats measured
OTHER_GUILDS = tuple(900_000_000_000_000_002 + g for g in range(30))
CHUNK = 5_000
STATS_P99_MS = {"sqlite": 150.0, "postgresql": 50.0}
QUESTIONS = [f"how do i {verb} {thing}" for verb in ("learn", "deploy", "monitor", "pick", "test")
             for thing in ("kubeflow", "feast", "a model", "drift", "airflow", "ray", "gpus")]


@dataclass
class Result:
    backend: str
    members: int
    op: str
    samples: list[float]
    load: tuple[float, float] = (0.0, 0.0)

    @property
    def p50(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.samples, n=100, method="inclusive")[98] * 1000


@dataclass
class Plan:
    backend: str
    lines: list[str] = field(default_factory=list)
    #: tables read whole (a sequential scan / SCAN without an index)
    full_scans: list[str] = field(default_factory=list)


class Explain(Executable, ClauseElement):
    """``EXPLAIN`` of a statement, with its parameters bound as the repository binds them."""

    inherit_cache = False

    def __init__(self, stmt: Any) -> None:
        self.stmt = stmt


@compiles(Explain, "sqlite")
def _explain_sqlite(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN QUERY PLAN " + compiler.process(element.stmt, **kw)


@compiles(Explain, "postgresql")
def _explain_pg(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (ANALYZE, BUFFERS) " + compiler.process(element.stmt, **kw)


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
    """Bulk-insert ``members`` members with memberships, progress, events, quiz attempts,
    preferences and logged questions; the servers' copies of the done items are derived from
them as the writes keep them (``guild_checklist_derived``); then refresh the planner's
statistics."""
    now = datetime.now(UTC)
    counts: dict[str, int] = {}
    big = set(rng.sample(range(members), max(1, members // 10)))  # spread over the id space
    phases = [rng.choice((None, 1, 1, 2, 2, 3, 4)) for _ in range(members)]
    quizzes = [rng.choice((0, 1, 1, 1, 1, 2)) for _ in range(members)]

    def member_rows() -> Iterator[dict[str, Any]]:
        for n in range(members):
            yield {
                "id": FIRST_ID + n,
                "created_at": now,
                "last_seen_at": now,
                "current_phase": phases[n],
                "phase_source": None,
                "sharing": False,
                "quizzes_finished": quizzes[n],
            }

    def guild_rows() -> Iterator[dict[str, Any]]:
        for n in range(members):
            guilds = {BIG_GUILD} if n in big else {rng.choice(OTHER_GUILDS)}
            if n % 10 == 0:
                guilds.add(rng.choice(OTHER_GUILDS))
            for g in guilds:
                yield {"member_id": FIRST_ID + n, "guild_id": g, "first_seen": now,
                       "last_seen": now, "current_phase": phases[n],
                       "quizzes_finished": quizzes[n]}

    progress: list[tuple[int, str, datetime]] = []
    for n in range(members):
        for item in rng.sample(ALL_ITEMS, rng.randint(2, 6)):
            progress.append((FIRST_ID + n, item, now - timedelta(minutes=rng.randint(0, 161_280))))

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

    def quiz_rows() -> Iterator[dict[str, Any]]:
        for n in range(members):
            for _ in range(quizzes[n]):
                at = now - timedelta(minutes=rng.randint(0, 161_280))
                score = rng.randint(0, 6)
                yield {"member_id": FIRST_ID + n, "started_at": at, "finished_at": at,
                       "status": "finished", "score": score, "phase": 1 + min(3, score // 2)}

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

    def question_rows() -> Iterator[dict[str, Any]]:
        for n in range(members // 2):
            text_ = rng.choice(QUESTIONS)
            yield {"member_id": None, "text": text_, "normalized": text_,
                   "outcome": rng.choice(("unanswered", "ambiguous", "answered")),
                   "intent_id": None, "score": 0.0,
                   "guild_id": BIG_GUILD if n % 10 == 0 else rng.choice(OTHER_GUILDS),
                   "created_at": now - timedelta(minutes=rng.randint(0, 161_280))}

    plan: Sequence[tuple[str, Any, Callable[[], Iterator[dict[str, Any]]]]] = (
        ("member", Member, member_rows),
        ("guild_membership", GuildMembership, guild_rows),
        ("checklist", ChecklistProgress, progress_rows),
        ("checklist_event", ChecklistEvent, event_rows),
        ("quiz_attempt", QuizAttempt, quiz_rows),
        ("reminder_pref", ReminderPref, pref_rows),
        ("question_log", QuestionLog, question_rows),
    )
    async with store.db.engine.connect() as conn:
        for name, model, rows in plan:
            n = 0
            for batch in _chunks(rows()):
                await conn.execute(insert(model), batch)
                await conn.commit()
                n += len(batch)
            counts[name] = n
        gc = GuildChecklist.__table__
        assert isinstance(gc, Table)
        for first in range(FIRST_ID, FIRST_ID + members, CHUNK):  # members by id, as written
            derived = guild_checklist_derived().where(
                ChecklistProgress.member_id.between(first, first + CHUNK - 1))
            await conn.execute(insert(gc).from_select([c.name for c in gc.columns], derived))
            await conn.commit()
        counts["guild_checklist"] = int(await conn.scalar(select(func.count()).select_from(gc))
                                        or 0)
    async with store.db.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if store.db.is_postgres:  # this schema's tables only
            await auto.execute(text("VACUUM ANALYZE " + ", ".join(
                table.name for table in Base.metadata.sorted_tables)))
        else:
            await auto.execute(text("ANALYZE"))
    counts["big_guild"] = len(big)
    return counts


async def explain(store: Store, backend: str) -> Plan:
    """The plan of the big server's /stats statement, and the tables it reads whole."""
    stmt = store.stats.statement(BIG_GUILD)
    plan = Plan(backend)
    async with store.db.engine.connect() as conn:
        rows = list(await conn.execute(Explain(stmt)))
    if store.db.is_postgres:
        plan.lines = [r[0] for r in rows]
        plan.full_scans = sorted({m.group(1) for line in plan.lines
                                  if (m := re.search(r"Seq Scan on (\w+)", line))})
    else:
        depth: dict[int, int] = {0: -1}
        for node, parent, _, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            plan.lines.append("  " * depth[node] + detail)
        tables = {t.name for t in Base.metadata.sorted_tables}  # not subqueries (anon_1)
        plan.full_scans = sorted({m.group(1) for line in plan.lines
                                  if (m := re.match(r"\s*SCAN (\w+)", line))
                                  and " USING " not in line and m.group(1) in tables})
    return plan


async def timed(fn: Callable[[], Awaitable[object]], samples: int) -> list[float]:
    out: list[float] = []
    for _ in range(samples):
        t = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t)
    return out


async def bench(
    backend: str, url: str, members: int, samples: int, stats_samples: int, seed_value: int
) -> tuple[list[Result], Plan]:
    rng = random.Random(seed_value)
    t0 = time.perf_counter()
    await upgrade_async(url)
    store = Store.open(url)
    try:
        counts = await seed(store, members, rng)
        seeded = time.perf_counter() - t0
        print(
            f"{backend}: seeded {counts['member']:,} members "
            f"({counts['big_guild']:,} in the measured server, "
            f"{counts['guild_membership']:,} memberships), "
            f"{counts['checklist']:,} checklist rows + events "
            f"({counts['guild_checklist']:,} server copies), "
            f"{counts['quiz_attempt']:,} quiz attempts, {counts['question_log']:,} questions, "
            f"{counts['reminder_pref']:,} reminder prefs in {seeded:.1f}s",
            file=sys.stderr,
        )

        def member() -> int:
            return FIRST_ID + rng.randrange(members)

        async def mark() -> None:
            await store.checklist.mark(member(), rng.choice(ALL_ITEMS))

        async def summary() -> None:
            await store.checklist.summary(member(), ITEMS_BY_PHASE)

        async def stats() -> None:
            await store.stats.guild(BIG_GUILD, ITEMS_BY_PHASE)

        async def measured(op: str, fn: Callable[[], Awaitable[object]], n: int) -> Result:
            before = os.getloadavg()[0]
            times = await timed(fn, n)
            return Result(backend, members, op, times, (before, os.getloadavg()[0]))

        await timed(mark, min(100, samples))  # warm up pool and caches
        await timed(summary, min(100, samples))
        results = [await measured("mark-item", mark, samples),
                   await measured("progress-summary", summary, samples)]
        # /stats after the writes above: some pages are no longer all-visible, as in a live bot
        await timed(stats, min(10, stats_samples))
        results.append(await measured("stats (10k of 100k)" if members == 100_000
                                      else "stats", stats, stats_samples))
        # the floor of /stats: the one range over the server's copy of its members' done
        # items, only counted (no grouping, no other aggregate); what is left above it is the rest
        floor_stmt = (select(func.count()).select_from(GuildChecklist)
                      .where(GuildChecklist.guild_id == BIG_GUILD))

        async def floor() -> None:
            async def tx(s: Any) -> None:
                if store.db.is_postgres:
                    await s.execute(text("SET LOCAL jit = off"))
                await s.execute(floor_stmt)
            await store.db.run(tx, readonly=True, offload=True)

        await timed(floor, min(10, stats_samples))
        results.append(await measured("checklist pass alone", floor, stats_samples))
        return results, await explain(store, backend)
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
        f"{'backend':<11} {'members':>9} {'operation':<20} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}"
        f"  {'load avg (1 min) before-after':<30}"
    ]
    for r in results:
        target = STATS_P99_MS.get(r.backend) if r.op.startswith("stats") else None
        verdict = "" if target is None else \
            f"  target p99 <= {target:.0f} ms: {'ok' if r.p99 <= target else 'MISSED'}"
        lines.append(
            f"{r.backend:<11} {r.members:>9,} {r.op:<20} {len(r.samples):>6} "
            f"{r.p50:>8.2f} {r.p99:>8.2f}  {r.load[0]:.2f}-{r.load[1]:.2f}{verdict}"
        )
    return "\n".join(lines)


def _plans(plans: list[Plan]) -> str:
    out = []
    for plan in plans:
        verdict = ("no table read whole" if not plan.full_scans
                   else "tables read whole: " + ", ".join(plan.full_scans))
        out.append(f"--- /stats plan, {plan.backend} ({verdict})")
        out.extend(plan.lines)
    return "\n".join(out)


async def main_async(args: argparse.Namespace) -> int:
    results: list[Result] = []
    plans: list[Plan] = []
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (1 min)",
          file=sys.stderr)
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="mentorbot-bench-") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            res, plan = await bench("sqlite", url, args.members, args.samples,
                                    args.stats_samples, args.seed)
            results += res
            plans.append(plan)
    pg_url = args.url or os.environ.get("MENTORBOT_TEST_POSTGRES_URL")
    if pg_url:
        try:
            scratch, drop = await _pg_scratch(pg_url)
        except DatabaseUnavailable as exc:
            print(f"skipping PostgreSQL: {exc}", file=sys.stderr)
        else:
            try:
                res, plan = await bench("postgresql", scratch, args.members, args.samples,
                                        args.stats_samples, args.seed)
                results += res
                plans.append(plan)
            finally:
                if args.keep:
                    print(f"kept {scratch}", file=sys.stderr)
                else:
                    await drop()
    else:
        print("PostgreSQL not measured: pass --url postgresql+asyncpg://...", file=sys.stderr)
    if args.plans:
        print(_plans(plans))
    print(_table(results))
    missed = [r for r in results if r.op.startswith("stats")
              and r.p99 > STATS_P99_MS.get(r.backend, float("inf"))]
    return 1 if missed or any(p.full_scans for p in plans) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storage", description=__doc__)
    parser.add_argument("--members", type=int, default=100_000, help="members to seed")
    parser.add_argument("--samples", type=int, default=2_000, help="timed calls per operation")
    parser.add_argument("--url", default=None, help="PostgreSQL URL (a scratch schema is used)")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--stats-samples", type=int, default=300,
                        help="timed /stats calls per backend")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL scratch schema")
    parser.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    parser.add_argument("--no-plans", dest="plans", action="store_false",
                        help="do not print the /stats plans")
    args = parser.parse_args(argv)
    if args.members < 1 or args.samples < 2 or args.stats_samples < 2:
        parser.error("--members must be >= 1, --samples and --stats-samples >= 2")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
