"""Answer shape on the labelled focused questions in ``tests/data/focused.yaml``.

    python -m benchmarks.answers            # the figures
    python -m benchmarks.answers --misses   # also every question whose first answer misses

Each question asks for one fact (a level's pay, the yes count for a phase, a tool pair …). The
first answer a member sees is taken exactly as ``mentorbot ask`` prints it (the console's plain
text: title, answer, sources, choices) and checked for:

* the asked fact (the question's ``expect`` regex) in that first answer;
* at most 80 words of prose (the answer itself) and 170 words in all;
* no source file name anywhere.

It also checks that every fact of the knowledge base is reachable within two steps of a plain
question: the first answer, or its *More* (the whole card, whose fact fields carry the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
from pathlib import Path

import yaml

from bot.config import Settings
from bot.engine.ask import AskFlow
from bot.engine.context import Deps, Member
from bot.frontends.console import plain_text
from bot.knowledge.loader import load_knowledge
from bot.matching.build import build_matcher

FOCUSED = Path(__file__).resolve().parents[1] / "tests" / "data" / "focused.yaml"
FILE_NAME = re.compile(r"\b\d{3}_[0-9a-f]{16}\.txt\b|\b00[0-4]\b")
PROSE_LIMIT, TOTAL_LIMIT = 80, 170


def words(text: str) -> int:
    return len(text.split())


async def run(show_misses: bool) -> dict[str, float]:
    kb = load_knowledge()
    deps = Deps(kb=kb, matcher=build_matcher(kb), store=None,  # type: ignore[arg-type]
                settings=Settings(_env_file=None))
    flow = AskFlow(deps, stateless=True)
    questions = yaml.safe_load(FOCUSED.read_text(encoding="utf-8"))["questions"]
    carried = within = 0
    prose_counts: list[int] = []
    total_counts: list[int] = []
    leaks: list[str] = []
    misses: list[str] = []
    for q in questions:
        reply = await flow.ask(Member(0), q["q"])
        shown = plain_text(reply)
        prose, total = words(reply.body), words(shown)
        prose_counts.append(prose)
        total_counts.append(total)
        hit = re.search(q["expect"], shown, re.I) is not None
        carried += hit
        within += prose <= PROSE_LIMIT and total <= TOTAL_LIMIT
        if FILE_NAME.search(shown):
            leaks.append(q["q"])
        if not hit:
            misses.append(f"  {q['q']!r} → {reply.intent or reply.title!r} "
                          f"(wanted {q['intent']}, /{q['expect']}/)")
    # every fact reachable in two steps: a topic's whole card (More) carries its fact fields
    facts = reachable = 0
    for intent in kb.intents:
        card = plain_text(flow.show(intent.id))
        for fact in intent.facts:
            facts += 1
            reachable += fact.value.split("\n")[0][:40] in card
    n = len(questions)
    rows = [
        ("asked fact in the first answer", 100 * carried / n, "%"),
        ("first answer within 80 prose / 170 words", 100 * within / n, "%"),
        ("median prose words", statistics.median(prose_counts), ""),
        ("median words in all (title, sources, choices)", statistics.median(total_counts), ""),
        ("max prose words", max(prose_counts), ""),
        ("answers showing a file name", len(leaks), ""),
        ("facts reachable within two steps", 100 * reachable / max(1, facts), "%"),
    ]
    print(f"Focused questions: {n} (tests/data/focused.yaml)")
    for name, value, unit in rows:
        print(f"  {name:<48} {value:g}{unit}" if not unit else f"  {name:<48} {value:.1f}{unit}")
    if show_misses and misses:
        print("Misses:")
        print("\n".join(misses))
    if leaks:
        print("File names shown for: " + "; ".join(leaks))
    return {name: float(value) for name, value, _ in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--misses", action="store_true", help="list every miss")
    asyncio.run(run(parser.parse_args().misses))


if __name__ == "__main__":
    main()
