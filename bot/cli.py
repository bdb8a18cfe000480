"""The ``mentorbot`` command line: one sub-command per job, each a thin call into the package."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.knowledge.loader import KnowledgeError, load_knowledge


def _kb_check(args: argparse.Namespace) -> int:
    try:
        kb = load_knowledge(args.knowledge)
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"knowledge base invalid: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    for warning in kb.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    items = sum(len(p.checklist) for p in kb.phases.phases)
    print(f"knowledge base OK: {len(kb.intents)} intents, {items} checklist items")
    return 0


def _kb_list(args: argparse.Namespace) -> int:
    try:
        kb = load_knowledge(args.knowledge)
    except KnowledgeError as exc:
        print(exc, file=sys.stderr)
        return 1
    rows = [{"id": i.id, "title": i.title, "kind": i.kind} for i in kb.intents]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for row in rows:
            print(f"{row['id']:<40} {row['title']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mentorbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    kb = sub.add_parser("kb", help="check or list the knowledge base")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    check = kb_sub.add_parser("check", help="validate knowledge/ and its cross references")
    check.set_defaults(func=_kb_check)
    lst = kb_sub.add_parser("list", help="list intents")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=_kb_list)
    for p in (check, lst):
        p.add_argument("--knowledge", type=Path, default=None, help="knowledge directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
