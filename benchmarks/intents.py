"""Matcher quality and speed on the labelled member questions in ``tests/data/questions.yaml``.

    python -m benchmarks.intents            # full knowledge base + 5,000-intent scale run
    python -m benchmarks.intents --errors   # also list every miss

Prints top-1 / top-3 accuracy over the in-scope questions (a question counts as top-1 only when
it is answered or offered first with the right intent, and as top-3 when the right intent is the
choice or among the alternatives), out-of-scope recall (out-of-scope questions that got
``intent: null``), in-scope false rejections, and p50/p99 latency per question.
"""

from __future__ import annotations

import argparse
import random
import string
import time
from collections import Counter
from pathlib import Path

import yaml

from bot.knowledge.loader import load_knowledge
from bot.matching.build import build_matcher
from bot.matching.matcher import MatchDoc, Matcher

QUESTIONS = Path(__file__).resolve().parents[1] / "tests" / "data" / "questions.yaml"


def load_questions(path: Path = QUESTIONS) -> tuple[list[dict], list[dict]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data["in_scope"], data["out_of_scope"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def evaluate(matcher: Matcher, in_scope: list[dict], out_scope: list[dict]) -> dict:
    top1 = top3 = rejected = 0
    misses: list[str] = []
    latencies: list[float] = []
    by_style: Counter[str] = Counter()
    style_total: Counter[str] = Counter()
    for q in in_scope:
        t0 = time.perf_counter()
        r = matcher.match(q["q"])
        latencies.append((time.perf_counter() - t0) * 1000)
        ranked = ([r.intent] if r.intent else []) + [c.intent for c in r.alternatives]
        style_total[q.get("style", "?")] += 1
        if r.intent == q["intent"]:
            top1 += 1
            by_style[q.get("style", "?")] += 1
        if q["intent"] in ranked[:3]:
            top3 += 1
        if r.intent is None:
            rejected += 1
        if r.intent != q["intent"]:
            misses.append(f"  want {q['intent']:<36} got {r.intent!s:<36} {r.score:5.1f} "
                          f"{r.status:<10} {q['q'][:90]!r}")
    oos_ok = 0
    for q in out_scope:
        t0 = time.perf_counter()
        r = matcher.match(q["q"])
        latencies.append((time.perf_counter() - t0) * 1000)
        if r.intent is None:
            oos_ok += 1
        else:
            misses.append(f"  want None{'':<32} got {r.intent!s:<36} {r.score:5.1f} "
                          f"{r.status:<10} {q['q'][:90]!r}")
    n = len(in_scope)
    return {
        "top1": top1 / n,
        "top3": top3 / n,
        "oos_recall": oos_ok / len(out_scope),
        "false_reject": rejected / n,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "styles": {s: by_style[s] / style_total[s] for s in sorted(style_total)},
        "misses": misses,
        "n_in": n,
        "n_out": len(out_scope),
    }


def synthetic_docs(n: int, seed: int = 7) -> list[MatchDoc]:
    """``n`` made-up intents over a 20,000-word made-up vocabulary (1 title + 10 phrasings)."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 10)))
             for _ in range(20_000)]
    docs = []
    for i in range(n):
        topic = rng.sample(vocab, 12)
        docs.append(MatchDoc(
            id=f"synthetic.intent-{i}",
            title=" ".join(topic[:3]),
            texts=tuple(" ".join(rng.sample(topic, 4) + rng.sample(vocab, 4)) for _ in range(10)),
            keywords=tuple(topic[:4]),
        ))
    return docs


def latency_only(matcher: Matcher, questions: list[str]) -> tuple[float, float]:
    lat = []
    for q in questions:
        t0 = time.perf_counter()
        matcher.match(q)
        lat.append((time.perf_counter() - t0) * 1000)
    return percentile(lat, 50), percentile(lat, 99)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list every miss")
    parser.add_argument("--scale", type=int, default=5000, help="synthetic intents (0: skip)")
    args = parser.parse_args(argv)

    kb = load_knowledge()
    in_scope, out_scope = load_questions()
    t0 = time.perf_counter()
    matcher = build_matcher(kb)
    build_ms = (time.perf_counter() - t0) * 1000
    for q in in_scope[:20]:  # warm caches the way a running bot has them warm
        matcher.match(q["q"])
    res = evaluate(matcher, in_scope, out_scope)
    print(f"knowledge base: {len(kb.intents)} intents, {len(kb.negatives)} negative topics; "
          f"matcher built in {build_ms:.0f} ms")
    print(f"questions: {res['n_in']} in scope, {res['n_out']} out of scope")
    print(f"top-1               {res['top1']:6.1%}   (target ≥ 92%)")
    print(f"top-3               {res['top3']:6.1%}   (target ≥ 98%)")
    print(f"out-of-scope recall {res['oos_recall']:6.1%}   (target ≥ 90%)")
    print(f"false rejections    {res['false_reject']:6.1%}   (target ≤ 5%)")
    print(f"latency p50 {res['p50']:.3f} ms, p99 {res['p99']:.3f} ms   (target p99 ≤ 2 ms)")
    print("top-1 by style: " + ", ".join(f"{s} {v:.0%}" for s, v in res["styles"].items()))
    if args.errors:
        print("misses:")
        print("\n".join(res["misses"]))
    if args.scale:
        t0 = time.perf_counter()
        big = Matcher([*build_matcher(kb).docs, *synthetic_docs(args.scale)])
        build_s = time.perf_counter() - t0
        qs = [q["q"] for q in in_scope + out_scope]
        for q in qs[:20]:
            big.match(q)
        p50, p99 = latency_only(big, qs)
        print(f"scale: {len(big.docs)} intents (built in {build_s:.1f} s): "
              f"p50 {p50:.3f} ms, p99 {p99:.3f} ms   (target p99 ≤ 25 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
