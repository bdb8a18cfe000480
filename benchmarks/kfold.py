"""How well the matcher generalises from the knowledge base's own phrasings (no labelled
questions used: neither the dev nor the test part).

    python -m benchmarks.kfold                   # 5 folds, one shuffle
    python -m benchmarks.kfold --repeats 3       # three shuffles (less noise, 3× the time)
    python -m benchmarks.kfold --themes          # negatives held out by whole topic instead
    python -m benchmarks.kfold --errors          # list the held-out phrasings it got wrong
    python -m benchmarks.kfold --reference DIR   # score only texts also in the knowledge base
                                                 # at DIR (compare two versions on one set)
    python -m benchmarks.kfold --set null_margin=2  # a MatcherConfig setting changed

Every intent's example phrasings, every uncovered topic's and the out-of-scope negatives are
split into five folds (per intent and per negative topic, so each fold holds about a fifth of
each). In turn, one fold is left out, the matcher is trained on everything else (titles,
summaries, keywords, answers and checklists stay in) and the left-out texts are matched.
With ``--themes`` the negatives are held out a fifth of the *topics* at a time (whole themes
the model has never seen: closer to a new kind of off-topic question).

Figures:

* intent phrasings: top-1, top-3, answered outright and right, refused (``intent: null`` or an
  ``uncovered.*`` topic), mis-ranked (another catalogue intent first), confident wrong;
* uncovered phrasings: declined (null or any uncovered topic), or given a catalogue intent;
* negatives: refused, answered with an intent outright, offered as "did you mean";
* precision of refusals: of the held-out texts refused, the share that were negatives or
  uncovered phrasings.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter, defaultdict
from dataclasses import fields, replace
from pathlib import Path

from benchmarks.intents import declines
from bot.knowledge.loader import load_knowledge
from bot.matching.build import documents, kb_shape, trained_matcher
from bot.matching.matcher import NEGATIVE_PREFIX, UNCOVERED_PREFIX, MatchDoc, MatcherConfig

FOLDS = 5


def theme(doc_id: str) -> str:
    return doc_id.split("#", 1)[0]


def split(docs: list[MatchDoc], seed: int, by_theme: bool
          ) -> list[tuple[list[MatchDoc], list[tuple[str, str]]]]:
    """Per fold: (training documents, held-out (text, wanted id) pairs)."""
    fold_of: dict[tuple[str, int], int] = {}  # (doc id, text index) -> fold
    negatives: dict[str, list[str]] = defaultdict(list)
    for d in docs:
        if d.id.startswith(NEGATIVE_PREFIX):
            negatives[theme(d.id)].append(d.id)
            continue
        order = list(range(len(d.texts)))
        random.Random(f"{seed}:{d.id}").shuffle(order)
        for pos, i in enumerate(order):
            fold_of[(d.id, i)] = pos % FOLDS
    themes = sorted(negatives)
    random.Random(f"{seed}:themes").shuffle(themes)
    for t_no, t in enumerate(themes):
        ids = list(negatives[t])
        random.Random(f"{seed}:{t}").shuffle(ids)
        for pos, neg_id in enumerate(ids):
            fold_of[(neg_id, 0)] = t_no % FOLDS if by_theme else (pos + t_no) % FOLDS
    out = []
    for k in range(FOLDS):
        train: list[MatchDoc] = []
        held: list[tuple[str, str]] = []
        for d in docs:
            if d.id.startswith(NEGATIVE_PREFIX):
                if fold_of[(d.id, 0)] == k:
                    held += [(t, d.id) for t in d.texts]
                else:
                    train.append(d)
                continue
            keep = tuple(t for i, t in enumerate(d.texts) if fold_of[(d.id, i)] != k)
            held += [(t, d.id) for i, t in enumerate(d.texts) if fold_of[(d.id, i)] == k]
            train.append(MatchDoc(d.id, d.title, keep, d.keywords, d.summary, d.context))
        out.append((train, held))
    return out


def declined(intent: str | None) -> bool:
    """Refused outright or answered "my sources don't cover that"."""
    return intent is None or declines(intent)


def configured(settings: list[str]) -> MatcherConfig:
    """The default :class:`MatcherConfig` with ``name=value`` settings applied."""
    types = {f.name: f.type for f in fields(MatcherConfig)}
    changes: dict[str, float | int] = {}
    for setting in settings:
        name, _, value = setting.partition("=")
        if name not in types:
            raise SystemExit(f"no MatcherConfig setting {name!r}")
        changes[name] = int(value) if types[name] in {"int", int} else float(value)
    return replace(MatcherConfig(), **changes)  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    kb = load_knowledge()
    docs = documents(kb)
    shape = kb_shape(kb)
    reference: set[str] | None = None
    if args.reference:
        ref = documents(load_knowledge(Path(args.reference)))
        reference = {t.strip().casefold() for d in ref for t in d.texts}
    config = configured(args.set)
    c: Counter[str] = Counter()
    errors: list[str] = []
    t0 = time.process_time()
    for seed in range(args.repeats):
        for train, held in split(docs, seed, args.themes):
            matcher = trained_matcher(train, config, shape)
            for text, want in held:
                if reference is not None and text.strip().casefold() not in reference:
                    continue
                r = matcher.match(text)
                ranked = ([r.intent] if r.intent else []) + [a.intent for a in r.alternatives]
                kind = ("neg" if want.startswith(NEGATIVE_PREFIX) else
                        "unc" if want.startswith(UNCOVERED_PREFIX) else None)
                if kind is not None:  # should be declined: counted as refused or given an intent
                    c[kind] += 1
                    if declined(r.intent):
                        c[f"{kind}_refused"] += 1
                        continue
                    c[f"{kind}_{'answered' if r.status == 'answered' else 'ambiguous'}"] += 1
                else:
                    c["in"] += 1
                    c["in_top3"] += want in ranked[:3]
                    if r.intent == want:
                        c["in_top1"] += 1
                        c["in_answered_right"] += r.status == "answered"
                        if r.status == "answered":
                            continue
                    elif declined(r.intent):
                        c["in_refused"] += 1
                    else:
                        c["in_misranked"] += 1
                        c["in_confident_wrong"] += r.status == "answered"
                errors.append(f"  want {want:<36} got {r.intent!s:<36} {r.score:5.1f} "
                              f"{r.status:<10} {text[:80]!r}")
    cpu = time.process_time() - t0
    n_in, n_unc, n_neg = c["in"] or 1, c["unc"] or 1, c["neg"] or 1
    refusals = c["in_refused"] + c["unc_refused"] + c["neg_refused"]
    mode = "whole negative topics" if args.themes else "a fifth of each topic"
    if args.set:
        print("settings: " + ", ".join(args.set))
    print(f"k-fold ({FOLDS} folds × {args.repeats} shuffles; negatives held out by {mode}); "
          f"{cpu:.0f} s CPU")
    print(f"  intent phrasings ({c['in']}): top-1 {c['in_top1'] / n_in:6.1%}   "
          f"top-3 {c['in_top3'] / n_in:6.1%}   answered right "
          f"{c['in_answered_right'] / n_in:6.1%}")
    print(f"    refused {c['in_refused']} ({c['in_refused'] / n_in:.1%})   mis-ranked "
          f"{c['in_misranked']} ({c['in_misranked'] / n_in:.1%})   confident wrong "
          f"{c['in_confident_wrong']} ({c['in_confident_wrong'] / n_in:.1%})")
    print(f"  uncovered phrasings ({c['unc']}): declined {c['unc_refused'] / n_unc:6.1%}   "
          f"given an intent: answered {c['unc_answered']}, did-you-mean {c['unc_ambiguous']}")
    print(f"  negatives ({c['neg']}): refused {c['neg_refused'] / n_neg:6.1%}   "
          f"answered {c['neg_answered']}   did-you-mean {c['neg_ambiguous']}")
    print(f"  precision of refusals {(refusals - c['in_refused']) / (refusals or 1):6.1%} "
          f"({c['in_refused']} of {refusals} refusals were intent phrasings)")
    if args.errors:
        print("  misses (held-out knowledge-base texts):")
        print("\n".join(sorted(errors)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="shuffles (seeds 0, 1, …)")
    parser.add_argument("--themes", action="store_true",
                        help="hold negatives out by whole topic")
    parser.add_argument("--errors", action="store_true", help="list the misses")
    parser.add_argument("--reference", metavar="DIR",
                        help="score only held-out texts also in the knowledge base at DIR")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="change a MatcherConfig setting (repeatable)")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
