"""Load benchmark: ``mentorbot run`` as its own process, driven through the loopback fake Discord.

    python -m benchmarks.load [--scenario steady|ramp|storm429|soak] [--rate 50] [--seconds 30]
                              [--url postgresql+asyncpg://postgres@127.0.0.1:5432/test]
                              [--members 1000] [--max-in-flight 1000] [--seed 7]
                              [--steps 50,100,150] [--step-seconds 20] [--keep-log FILE]
                              [--mix KIND=SHARE,…] [--floor]

The bot is started as ``python -m bot run`` (what ``mentorbot run`` runs), configured only
through its environment: ``DISCORD_TOKEN``, ``DISCORD_API_BASE`` and ``DISCORD_GATEWAY_URL``
pointing at the fake, ``DATABASE_URL`` (a fresh SQLite file by default; with ``--url`` a fresh
PostgreSQL schema selected with ``?search_path=``, created and dropped here),
``REMINDERS_ENABLED=false`` and ``HTTP_PORT`` (its /metrics are scraped at the end).

Many fake members of one guild send, open loop at a fixed ``--rate`` per second, a mix of
40 % ``/ask`` (varied questions from tests/data/dev.yaml), 20 % quiz (``/quiz`` in the
guild, then clicks on the DM's yes/no buttons), 20 % ``/checklist done|undo|view``, 10 %
``/progress`` and 10 % browsing (``/faq``, ``/roadblock``, ``/phase``, ``/tools``…). A member
has at most one interaction open; at most ``--max-in-flight`` are open at once (more are
counted as "not sent", never queued).

Measured per run: acknowledgements within Discord's 3 s (%), time to first response
p50/p95/p99 (gateway frame out → first callback in), time to the final answer p99 and max
(→ last change of the reply after deferrals/edits/follow-ups), the bot's CPU ms per
interaction (utime+stime from /proc/<pid>/stat over the run ÷ interactions sent), its RSS at
start and end (/proc/<pid>/status VmRSS), interactions shed with the bot's "I'm very busy"
reply, errors (the bot's error replies), late acks (answered after 3 s, refused), lost ones (no
answer at all within 13 s) and stuck ones (acknowledged, no final answer within 30 s).
Besides: how long frames waited in the gateway connection before the bot read them, how long
the bot's and the generator's loop threads were runnable but had no CPU (``/proc/<pid>/
schedstat``: other work on the machine), and the generator's own CPU and lag behind its
schedule — when those are high the figures are the machine's limit, not the bot's.

Scenarios: ``steady`` (default: --rate for --seconds); ``ramp`` (50, 100, 150, 200, 250/s for
20 s each, or --steps/--step-seconds: where the knee is); ``storm429`` (--rate for --seconds,
with every interaction callback answered 429 retry-after 1 s during the middle third);
``soak`` (default 40/s for 1800 s, RSS printed every minute).

``--floor`` runs :mod:`benchmarks.floor` instead: the same process with every slash command
answered by one fixed embed, so its CPU per interaction is discord.py's and aiohttp's alone;
run it beside the bot on the same ``--mix`` of slash commands to see what the bot's own work
costs.

The figures come from a shared 2-core machine (the load average at start and end is printed):
compare runs made side by side, not with figures from elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks._loadgen import (
    BUSY,
    DEFAULT_MIX,
    ERROR,
    LATE,
    LOST,
    OK,
    STUCK,
    WARNING,
    BotExited,
    BotProcess,
    LoadGenerator,
    PhaseResult,
)
from tests.e2e.fake_discord import FakeDiscord

RAMP_STEPS = (50.0, 100.0, 150.0, 200.0, 250.0)
CALLBACK = "/interactions/{id}/{token}/callback"


def machine_load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPU(s)"


def machine_state() -> str:
    """:func:`machine_load` and the reference work: for the start and end lines only, as
    timing the reference blocks this process's event loop for about a tenth of a second."""
    return f"{machine_load()}; reference work {reference_ms():.1f} ms CPU"


def _reference_work() -> int:
    """A fixed piece of interpreter work of the kind the bot does (small dicts, strings, calls)."""
    total = 0
    for i in range(40_000):
        d: dict[str, Any] = {"id": str(i), "n": i, "tags": [i, i + 1]}
        total += len(d["id"]) + sum(d["tags"]) + len(f"{i}:{d['n']}".split(":"))
    return total


def reference_ms(rounds: int = 5) -> float:
    """CPU milliseconds of :func:`_reference_work`, best of ``rounds``: how fast this machine
    runs small, cache-resident Python right now. A high figure means a slow machine; a usual
    one does not mean a steady one: here it stayed within 21.5-23.6 ms while the bot's CPU per
    interaction moved by half within the hour (README, Figures: Load)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.thread_time()
        _reference_work()
        best = min(best, time.thread_time() - started)
    return best * 1000


#: (heading, summary key, format): what a member sees …
MEMBER_COLUMNS = (
    ("rate/s", "rate", "{:.0f}"), ("sent", "sent", "{:.0f}"),
    ("acks≤3s %", "acks_3s_pct", "{:.1f}"), ("1st p50 ms", "first_p50", "{:.0f}"),
    ("1st p95", "first_p95", "{:.0f}"), ("1st p99", "first_p99", "{:.0f}"),
    ("final p99", "final_p99", "{:.0f}"), ("final max", "final_max", "{:.0f}"),
    ("shed", f"n_{BUSY}", "{:.0f}"), ("errors", f"n_{ERROR}", "{:.0f}"),
    ("late", f"n_{LATE}", "{:.0f}"), ("lost", f"n_{LOST}", "{:.0f}"),
    ("stuck", f"n_{STUCK}", "{:.0f}"),
)
#: … and what it cost, and whether the generator kept up
COST_COLUMNS = (
    ("CPU ms/int", "cpu_ms_per", "{:.2f}"), ("writes/int", "writes_per", "{:.1f}"),
    ("bot CPU % sending", "bot_cpu_pct", "{:.0f}"),
    ("RSS start", "rss_start", "{:.1f}"), ("RSS end", "rss_end", "{:.1f}"),
    ("gw wait p99 ms", "gateway_wait_p99", "{:.0f}"), ("gw wait max", "gateway_wait_max", "{:.0f}"),
    ("acks≤3s of creation %", "acks_3s_created_pct", "{:.1f}"),
    ("bot runq wait %", "bot_runq_pct", "{:.0f}"),
    ("gen lag p99 ms", "gen_lag_p99", "{:.0f}"), ("gen CPU %", "gen_cpu_pct", "{:.0f}"),
    ("gen runq wait %", "gen_runq_pct", "{:.0f}"),
    ("not sent", "skipped", "{:.0f}"),
)


def table(rows: list[tuple[str, PhaseResult]],
          columns: tuple[tuple[str, str, str], ...] = MEMBER_COLUMNS) -> str:
    head = ["run"] + [c[0] for c in columns]
    body = []
    for name, result in rows:
        s = dict(result.summary(), rate=result.rate)
        body.append([name] + [fmt.format(s[key]) for _, key, fmt in columns])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def by_kind(result: PhaseResult) -> str:
    """Per kind of interaction: count, outcomes and first-response p99."""
    from benchmarks.intents import percentile

    kinds: dict[str, list] = {}
    for r in result.records:
        kinds.setdefault(r.kind, []).append(r)
    lines = []
    for kind, recs in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
        firsts = [r.first * 1000 for r in recs if r.first is not None]
        finals = [r.final * 1000 for r in recs if r.final is not None]
        outcomes = Counter(r.outcome for r in recs)
        extra = ", ".join(f"{o} {n}" for o, n in outcomes.items() if o != OK)
        lines.append(
            f"  {kind:<15} n={len(recs):<6} 1st p99 "
            f"{percentile(firsts, 99) if firsts else float('nan'):7.0f} ms  final p99 "
            f"{percentile(finals, 99) if finals else float('nan'):7.0f} ms"
            + (f"  ({extra})" if extra else ""))
    odd = Counter(r.title for r in result.records if r.outcome in (BUSY, ERROR, WARNING))
    if odd:
        lines.append("  replies other than answers: "
                     + "; ".join(f"{t!r} ×{n}" for t, n in odd.most_common(6)))
    return "\n".join(lines)


async def bench_database(url: str | None,
                         tmp: Path) -> tuple[str, Callable[[], Awaitable[None]]]:
    """The database a benchmark run uses, and how to drop it: a new SQLite file in ``tmp`` by
    default, a given SQLite URL as it is, a fresh schema of a given PostgreSQL database."""
    async def nothing() -> None:  # a file in tmp goes with tmp; a given SQLite file is kept
        return None

    if url is None:
        return f"sqlite+aiosqlite:///{tmp / 'load.db'}", nothing
    if url.startswith("sqlite"):
        return url, nothing
    from benchmarks.storage import _pg_scratch  # a fresh schema, dropped afterwards

    return await _pg_scratch(url)


async def run(args: argparse.Namespace) -> int:
    print(f"start: {machine_state()} — a shared 2-core machine: other work skews these figures",
          flush=True)
    rows: list[tuple[str, PhaseResult]] = []
    with tempfile.TemporaryDirectory(prefix="mb-load-") as tmp_name:
        tmp = Path(tmp_name)
        db_url, drop = await bench_database(args.url, tmp)
        backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
        try:
            async with FakeDiscord() as fake:
                bot = BotProcess(fake, db_url, tmp,
                                 module="benchmarks.floor" if args.floor else "bot")
                gen = LoadGenerator(fake, bot, members=args.members,
                                    max_in_flight=args.max_in_flight, seed=args.seed,
                                    mix=args.mix)
                await bot.start()
                try:
                    await gen.warm_up()
                    print(f"bot pid {bot.pid} on {backend}, RSS after warm-up "
                          f"{bot.rss_mib():.1f} MiB; {args.members} members", flush=True)
                    rows = await _scenario(args, fake, bot, gen)
                    metrics = await bot.metrics()
                    requests = gen.count_requests()
                finally:
                    code = await bot.stop()
                writes = {} if args.floor else await gen.check_writes(db_url)
                warnings, errors, sample = bot.log_summary()
                if args.keep_log:
                    shutil.copyfile(bot.log_path, args.keep_log)
        finally:
            await drop()
    print()
    who = ("the floor: mentorbot run answering every command with one fixed embed"
           if args.floor else "mentorbot run")
    print(f"{args.scenario} on {backend} ({who} as a process; times in ms, RSS in MiB)")
    print(table(rows))
    print()
    print(table(rows, COST_COLUMNS))
    print("CPU ms/int: the bot's utime+stime over the run ÷ interactions sent (100 % = one "
          "core). writes/int: the bot's write system calls ÷ interactions sent (sends to "
          "Discord and PostgreSQL, SQLite WAL writes; independent of the machine's load). "
          "gw wait: from "
          "the interaction's creation until its gateway frame went out (the bot not reading "
          "its socket); 1st/final are timed from the frame going out, as the fake's 3 s "
          "deadline is. runq wait: time the loop thread was runnable but had no CPU (other "
          "processes on the machine), as % of the run. gen: this generator (and fake Discord).")
    for name, result in rows:
        print(f"\n{name}:")
        print(by_kind(result))
    if not args.floor:
        print("\nwrites (last /checklist done|undo per member and item that would change it, "
              "against the database after the run): "
              + ", ".join(f"{k} {v}" for k, v in writes.items())
              + f"; replies carrying the bot's 'Saved earlier' note: {gen.saved_notes}")
    if metrics:
        print("\nbot /metrics, interactions by outcome (whole run, warm-up included): "
              + ", ".join(f"{k} {v:.0f}" for k, v in sorted(metrics.items())))
        handled = sum(metrics.values())
        print(f"the bot's requests to Discord's API (whole run): "
              f"{sum(requests.values()) / handled:.2f} per interaction; by route: "
              + ", ".join(f"{route} {n / handled:.2f}" for route, n in requests.most_common()))
    print(f"bot log: {warnings} warning line(s), {errors} error line(s); "
          f"exit code {code}")
    for line in sample:
        print(f"  {line[:200]}")
    if args.keep_log:
        print(f"the bot's log: {args.keep_log}")
    print(f"\nend: {machine_state()}")
    print("Figures are from a shared 2-core machine (other agents' work runs alongside); "
          "'gen CPU %' is this process (fake Discord + generator), which shares those cores.")
    return 0


async def _scenario(args: argparse.Namespace, fake: FakeDiscord, bot: BotProcess,
                    gen: LoadGenerator) -> list[tuple[str, PhaseResult]]:
    if args.scenario == "ramp":
        rows = []
        for rate in args.steps:
            print(f"ramp: {rate:.0f}/s for {args.step_seconds:.0f} s …", flush=True)
            result = await gen.run_phase(rate, args.step_seconds)
            rows.append((f"ramp {rate:.0f}/s", result))
            s = result.summary()
            print(f"  acks≤3s {s['acks_3s_pct']:.1f} %, 1st p99 {s['first_p99']:.0f} ms, "
                  f"shed {s['n_' + BUSY]:.0f}, lost {s['n_' + LOST]:.0f}; {machine_load()}",
                  flush=True)
        return rows
    if args.scenario == "storm429":
        third = args.seconds / 3
        rule = None

        def begin(_: float) -> None:
            nonlocal rule
            print(f"storm: 429 (retry after {args.retry_after:g} s) on every interaction "
                  f"callback for {third:.0f} s", flush=True)
            rule = fake.rate_limit("POST", CALLBACK, count=10**9, retry_after=args.retry_after)

        def end(_: float) -> None:
            if rule is not None and rule.remaining != 0:
                rule.remaining = 0
                print("storm: over", flush=True)

        try:
            result = await gen.run_phase(args.rate, args.seconds,
                                         events=[(third, begin), (2 * third, end)])
        finally:
            end(0.0)
        hits = rule.hits if rule is not None else 0
        print(f"storm: {hits} callback(s) answered 429")
        return [(f"storm429 {args.rate:.0f}/s", result)]
    if args.scenario == "soak":
        def report(elapsed: float) -> None:
            print(f"  soak {elapsed / 60:4.1f} min: RSS {bot.rss_mib():.1f} MiB, "
                  f"open {len(gen.pending)}; {machine_load()}", flush=True)

        events = [(60.0 * m, report) for m in range(1, int(args.seconds // 60) + 1)]
        return [(f"soak {args.rate:.0f}/s", await gen.run_phase(args.rate, args.seconds,
                                                                 events=events))]
    return [(f"steady {args.rate:.0f}/s", await gen.run_phase(args.rate, args.seconds))]


def _mix(text: str) -> dict[str, float]:
    """``ask=2,browse=1`` → ``{"ask": 2.0, "browse": 1.0}`` (kinds of :data:`DEFAULT_MIX`)."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        kind, _, share = part.partition("=")
        kind = kind.strip()
        if kind not in DEFAULT_MIX:
            raise argparse.ArgumentTypeError(
                f"unknown kind {kind!r}: one of {', '.join(DEFAULT_MIX)}")
        try:
            mix[kind] = float(share or 1)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: the share is not a number") from None
        if mix[kind] <= 0:
            raise argparse.ArgumentTypeError(f"{part!r}: the share must be positive")
    return mix


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenario", choices=("steady", "ramp", "storm429", "soak"),
                        default="steady")
    parser.add_argument("--rate", type=float, default=None,
                        help="interactions per second (default 50; soak 40)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="how long to send (default 30; storm429 60; soak 1800)")
    parser.add_argument("--steps", type=lambda s: [float(x) for x in s.split(",")],
                        default=list(RAMP_STEPS), help="ramp rates, e.g. 50,100,150")
    parser.add_argument("--step-seconds", type=float, default=20.0, help="ramp: seconds a step")
    parser.add_argument("--retry-after", type=float, default=1.0, help="storm429: retry_after")
    parser.add_argument("--url", default=None,
                        help="database URL (default: a fresh SQLite file); a PostgreSQL URL "
                             "gets a fresh schema, dropped afterwards")
    parser.add_argument("--members", type=int, default=1000, help="fake members")
    parser.add_argument("--max-in-flight", type=int, default=1000,
                        help="interactions open at once; past it they are not sent")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mix", type=_mix, default=None, metavar="KIND=SHARE,…",
                        help="the mix of interactions, e.g. ask=1 or ask=2,browse=1 (default "
                             + ",".join(f"{k}={v:g}" for k, v in DEFAULT_MIX.items())
                             + "): CPU per interaction of one kind")
    parser.add_argument("--floor", action="store_true",
                        help="run benchmarks.floor (every command answered with one fixed "
                             "embed: discord.py's and aiohttp's cost alone) instead of the bot")
    parser.add_argument("--keep-log", type=Path, default=None, metavar="FILE",
                        help="copy the bot's log (stdout+stderr) here")
    args = parser.parse_args(argv)
    defaults = {"soak": (40.0, 1800.0), "storm429": (50.0, 60.0)}.get(args.scenario, (50.0, 30.0))
    args.rate = args.rate if args.rate is not None else defaults[0]
    args.seconds = args.seconds if args.seconds is not None else defaults[1]
    if args.rate <= 0 or args.seconds <= 0 or args.members < 1 or args.max_in_flight < 1:
        parser.error("--rate, --seconds, --members and --max-in-flight must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        return asyncio.run(run(args))
    except BotExited as exc:
        print(f"load: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
