"""Time and memory to draw the pictures: a member's progress card and the server's stats charts.

    python -m benchmarks.images [--cards 200] [--charts 50]

The data comes from the knowledge base (its phases, their titles and checklist items), with
varied progress, member names and weekly counts, so every run draws a different picture. Prints
p50/p99/min/max per picture and the PNG sizes, then the process's resident memory: after loading
what the bot loads (knowledge base, matcher, the Discord front end), after importing Pillow, and
after all the drawing, against the 150 MiB target. Targets (issue 15): card p99 ≤ 50 ms, charts
p99 ≤ 150 ms. The machine's load average is printed with the figures: other work on the same
cores stretches the tail, so the CPU time each drawing took is printed too.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

CARD_P99_MS, CHARTS_P99_MS, RSS_MIB = 50.0, 150.0, 150.0
NAMES = ["Ana", "José Müller", "李小龙", "مرحبا", "🔥 deploy wizard 🔥", "W" * 300,
         "\u202eevil\u202c name", "Priya the pipeline person"]


def rss_mib() -> float:
    """Resident memory now (VmRSS), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def timed(draw: Callable[[], bytes], runs: int) -> tuple[list[float], list[float], list[int]]:
    """Wall-clock and CPU milliseconds per drawing, and the PNG sizes."""
    times, cpu, sizes = [], [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        png = draw()
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        sizes.append(len(png))
    return times, cpu, sizes


def report(name: str, times: list[float], cpu: list[float], sizes: list[int],
           target: float) -> bool:
    p99 = percentile(times, 99)
    ok = p99 <= target
    print(f"{name:<7} n={len(times):<4} p50 {percentile(times, 50):6.1f} ms  p99 {p99:6.1f} ms  "
          f"min {min(times):6.1f}  max {max(times):6.1f} ms  (target p99 ≤ {target:.0f} ms: "
          f"{'ok' if ok else 'MISSED'})")
    print(f"{'':<7} CPU time p50 {percentile(cpu, 50):6.1f} ms  p99 {percentile(cpu, 99):6.1f} ms"
          f" (the drawing's own cost, whatever else runs on the cores)   "
          f"PNG {min(sizes) / 1024:.1f}-{max(sizes) / 1024:.1f} KiB "
          f"(median {statistics.median(sizes) / 1024:.1f})")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=200)
    parser.add_argument("--charts", type=int, default=50)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)

    load_start = os.getloadavg()
    rss_start = rss_mib()
    # what the bot process holds before any picture
    import bot.frontends.discord.client  # noqa: F401
    from bot.knowledge.loader import load_knowledge
    from bot.matching.build import build_matcher

    kb = load_knowledge()
    matcher = build_matcher(kb)
    rss_bot = rss_mib()
    preloaded = "PIL" in sys.modules  # once the bot imports the pictures itself
    from bot.render import images

    rss_pillow = rss_mib()

    rng = random.Random(args.seed)
    phases = kb.phases.phases
    titles = [item.title for p in phases for item in p.checklist]

    def card() -> bytes:
        bars = tuple(images.PhaseBar(p.number, p.title, rng.randint(0, len(p.checklist)),
                                     len(p.checklist)) for p in phases)
        current = rng.choice([*(p.number for p in phases), None])
        title = kb.phase_by_number[current].title if current is not None else ""
        return images.progress_card(images.ProgressCard(
            member_name=rng.choice(NAMES), phase=current, phase_title=title, phases=bars,
            streak_weeks=rng.randint(0, 30), next_item=rng.choice([*titles, None])))

    from bot.engine.stats import week_label

    mondays = [week_label(date(2026, 9, 14) + timedelta(weeks=w)) for w in range(12)]

    def charts() -> bytes:  # as /stats draws them: twelve weeks labelled by their Monday
        members = rng.randint(10, 10_000)
        return images.stats_charts(images.StatsCharts(
            phase_distribution=tuple((p.number, rng.randint(0, members)) for p in phases),
            funnel=tuple((t, rng.randint(0, members)) for t in titles),
            weekly_activity=tuple((w, rng.randint(0, members)) for w in mondays),
            unanswered_weekly=tuple((w, rng.randint(0, 40)) for w in mondays),
            unplaced=rng.randint(0, members)))

    first = time.perf_counter()
    card()
    charts()
    first_ms = (time.perf_counter() - first) * 1000  # font loading, first-use caches
    card_times, card_cpu, card_sizes = timed(card, args.cards)
    chart_times, chart_cpu, chart_sizes = timed(charts, args.charts)
    rss_end = rss_mib()
    load_end = os.getloadavg()
    del matcher

    print(f"machine: {os.cpu_count()} cores, load average {load_start[0]:.2f} at start, "
          f"{load_end[0]:.2f} at end (1 min)")
    print(f"first card + charts (font loading): {first_ms:.0f} ms")
    ok = report("card", card_times, card_cpu, card_sizes, CARD_P99_MS)
    ok &= report("charts", chart_times, chart_cpu, chart_sizes, CHARTS_P99_MS)
    within = rss_end <= RSS_MIB
    print(f"RSS: {rss_start:.0f} MiB interpreter, {rss_bot:.0f} MiB with the bot loaded "
          f"(knowledge, matcher, Discord front end), {rss_pillow:.0f} MiB after importing "
          f"Pillow (+{rss_pillow - rss_bot:.1f}), {rss_end:.0f} MiB after drawing "
          f"(+{rss_end - rss_bot:.1f} for pictures in all"
          f"{'; Pillow was already loaded with the bot' if preloaded else ''}); "
          f"peak {peak_rss_mib():.0f} MiB; "
          f"target ≤ {RSS_MIB:.0f} MiB: {'ok' if within else 'MISSED'}")
    return 0 if ok and within else 1


if __name__ == "__main__":
    sys.exit(main())
