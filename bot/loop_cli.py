"""``mentorbot kb inbox|teach|dismiss|adopt|export-overlay|apply-overlay|retire-overlay``:
the knowledge loop for operators (issue 14), and the overlay behind ``mentorbot ask --db``.

    mentorbot kb inbox [--db URL] [--json] [--all]
    mentorbot kb teach ID_OR_QUESTION INTENT_ID [--db URL]
    mentorbot kb teach ID_OR_QUESTION --off-topic [--db URL]
    mentorbot kb dismiss ID [--db URL]
    mentorbot kb adopt ID --title TITLE [--summary S] [--short S] [--source S] [--db URL]
    mentorbot kb export-overlay [--db URL]          (YAML on stdout)
    mentorbot kb apply-overlay FILE [--knowledge DIR] (merged into knowledge/, comments kept)
    mentorbot kb retire-overlay FILE [--db URL]      (the overlay rows FILE holds are retired)

Without ``--db`` they use ``DATABASE_URL``. What the operator must fix (an unknown inbox id or
intent, an unreachable database) is one :class:`~bot.config.OperatorError` line, exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot.config import OperatorError

if TYPE_CHECKING:
    from bot.app import App
    from bot.engine.overlay import LiveOverlay
    from bot.storage.repo.overlay import Overlay
    from bot.storage.store import Store

T = TypeVar("T")
OVERLAY_FORMAT = "mentorbot-overlay/1"
TAUGHT_TOPIC = "oos.taught-by-mentors"
MIN_NEGATIVE_EXAMPLES = 3


def _with_store(app: App, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` on the app's store; storage errors are one operator line."""
    from bot.storage.errors import StorageError

    async def main() -> T:
        async with app:
            store = await app.store()
            try:
                return await work(store)
            except StorageError as exc:
                raise OperatorError(str(exc)) from None

    return asyncio.run(main())


def load_live(app: App) -> LiveOverlay:
    """The overlay of the app's database, for ``mentorbot ask --db``."""
    from bot.engine.overlay import LiveOverlay

    async def work(store: Store) -> LiveOverlay:
        live = LiveOverlay()
        await live.refresh(store, force=True)
        return live

    return _with_store(app, work)


def _app(args: argparse.Namespace) -> App:
    """The app of a command, with ``--db`` and ``--knowledge`` on top of the settings."""
    from bot.app import App, load_settings

    return App(load_settings({"database_url": "--db"}, database_url=getattr(args, "db", None),
                             knowledge_dir=getattr(args, "knowledge", None)))


def _known_intents(app: App, overlay: Overlay) -> set[str]:
    return set(app.kb.intent_by_id) | {i.id for i in overlay.intents}


# --- inbox -------------------------------------------------------------------------------------


def _inbox(args: argparse.Namespace) -> int:
    app = _app(args)

    async def work(store: Store) -> list[Any]:
        return await store.inbox.entries(all_guilds=True, include_resolved=args.all,
                                         limit=args.limit)

    items = _with_store(app, work)
    for item in items:
        if args.json:
            print(json.dumps(item.to_json(), ensure_ascii=False))
        else:
            done = f" [{item.resolution}]" if item.resolved else ""
            print(f"#{item.id:<5} ×{item.count:<3} {item.status:<17} {item.guess or '-':<32} "
                  f"{item.question}{done}")
    if not items and not args.json:
        print("the inbox is empty", file=sys.stderr)
    return 0


def _entry_id(text: str) -> int | None:
    text = text.strip().lstrip("#")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


def _teach(args: argparse.Namespace) -> int:
    if args.off_topic == (args.intent is not None):
        print("mentorbot kb teach: give an INTENT_ID or --off-topic (one of them)",
              file=sys.stderr)
        return 2
    app = _app(args)
    target: str | None = None if args.off_topic else args.intent

    async def work(store: Store) -> str:
        overlay = await store.overlay.snapshot()
        if target is not None and target not in _known_intents(app, overlay):
            raise OperatorError(f"unknown intent {target!r} (see `mentorbot kb list`)")
        entry = _entry_id(args.what)
        if entry is not None:
            item = await store.inbox.get(entry)
            if item is None or item.resolved:
                raise OperatorError(f"no open inbox entry {entry}" if item is None else
                                    f"inbox entry {entry} is already resolved "
                                    f"({item.resolution})")
            await store.overlay.teach_entry(entry, target, taught_by="operator")
            question = item.question
        else:
            question = args.what.strip()
            if not question:
                raise OperatorError("the question is empty")
            open_ = [i for i in await store.inbox.find(question) if i.status !=
                     "proposed_answer"]
            for item in open_:  # its open entries are done with it
                await store.overlay.teach_entry(item.id, target, taught_by="operator")
            if not open_:
                await store.overlay.teach(question, target, taught_by="operator")
        return question

    question = _with_store(app, work)
    what = f"as {target}" if target else "as off-topic"
    print(f"taught {json.dumps(question, ensure_ascii=False)} {what}")
    return 0


def _dismiss(args: argparse.Namespace) -> int:
    entry = _entry_id(args.id)
    if entry is None:
        print(f"mentorbot kb dismiss: not an inbox id: {args.id!r}", file=sys.stderr)
        return 2

    async def work(store: Store) -> str:
        return (await store.inbox.dismiss(entry)).question

    question = _with_store(_app(args), work)
    print(f"dismissed #{entry}: {json.dumps(question, ensure_ascii=False)}")
    return 0


def _adopt(args: argparse.Namespace) -> int:
    entry = _entry_id(args.id)
    if entry is None:
        print(f"mentorbot kb adopt: not an inbox id: {args.id!r}", file=sys.stderr)
        return 2
    app = _app(args)

    async def work(store: Store) -> str:
        intent = await store.overlay.adopt(
            entry, title=args.title, summary=args.summary, short=args.short,
            source=args.source, taught_by="operator", taken=app.kb.intent_by_id)
        return intent.id

    print(f"new intent {_with_store(app, work)} from inbox entry #{entry}")
    return 0


# --- export, apply, retire ---------------------------------------------------------------------


def overlay_document(overlay: Overlay) -> dict[str, Any]:
    phrasings: dict[str, list[str]] = {}
    off_topic: list[str] = []
    for phrase in overlay.phrases.values():
        if phrase.intent_id is None:
            off_topic.append(phrase.phrasing)
        else:
            phrasings.setdefault(phrase.intent_id, []).append(phrase.phrasing)
    return {
        "format": OVERLAY_FORMAT,
        "version": overlay.version,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "phrasings": dict(sorted(phrasings.items())),
        "off_topic": off_topic,
        "intents": [{"id": i.id, "title": i.title, "summary": i.summary, "short": i.short,
                     "source": i.source} for i in overlay.intents],
    }


def _export(args: argparse.Namespace) -> int:
    from ruamel.yaml import YAML

    async def work(store: Store) -> Overlay:
        return await store.overlay.snapshot()

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 100
    print("# What mentors taught mentorbot (the overlay). `mentorbot kb apply-overlay FILE` "
          "merges it into knowledge/;\n# new intents from mentor answers stay in the overlay "
          "until a maintainer writes them as intents.")
    yaml.dump(overlay_document(_with_store(_app(args), work)), sys.stdout)
    return 0


def _read_overlay(path: Path) -> dict[str, Any]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OperatorError(f"cannot read {path}: {exc.strerror}") from None
    except YAMLError as exc:
        raise OperatorError(f"{path}: not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or data.get("format") != OVERLAY_FORMAT:
        raise OperatorError(f"{path}: not an overlay export ({OVERLAY_FORMAT})")
    return data


def apply_overlay(knowledge: Path, data: dict[str, Any]) -> list[str]:
    """Merge an exported overlay into the YAML of ``knowledge`` (ruamel.yaml round trip:
    comments, order and quoting kept); returns what was done, one line each."""
    from ruamel.yaml import YAML

    from bot.storage.overlay_data import normalize_question

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    report: list[str] = []
    wanted: dict[str, list[str]] = {k: list(v) for k, v in (data.get("phrasings") or {}).items()}
    for path in sorted((knowledge / "intents").glob("*.yaml")):
        doc = yaml.load(path)
        changed = False
        for intent in doc.get("intents", []):
            new = wanted.pop(intent["id"], [])
            have = {normalize_question(str(e)) for e in intent["examples"]}
            for phrasing in new:
                if normalize_question(phrasing) not in have:
                    intent["examples"].append(phrasing)
                    have.add(normalize_question(phrasing))
                    changed = True
                    report.append(f"{path.name}: {intent['id']}: + {phrasing}")
        if changed:
            yaml.dump(doc, path)
    for intent_id, phrasings in wanted.items():
        report.append(f"kept in the overlay ({intent_id} is not in knowledge/intents): "
                      + "; ".join(phrasings))
    off = list(data.get("off_topic") or [])
    if off:
        path = knowledge / "out_of_scope.yaml"
        doc = yaml.load(path)
        topics = doc.setdefault("topics", [])
        topic = next((t for t in topics if t["id"] == TAUGHT_TOPIC), None)
        have = {normalize_question(str(e)) for e in (topic["examples"] if topic else [])}
        new = [p for p in dict.fromkeys(off) if normalize_question(p) not in have]
        if topic is None and len(new) < MIN_NEGATIVE_EXAMPLES:
            report.append(f"kept in the overlay (a new out-of-scope topic needs "
                          f"{MIN_NEGATIVE_EXAMPLES} examples): " + "; ".join(new))
        elif new:
            if topic is None:
                topics.append({"id": TAUGHT_TOPIC, "title": "taught off-topic by mentors",
                               "examples": []})
                topic = topics[-1]
            topic["examples"].extend(new)
            yaml.dump(doc, path)
            report.extend(f"out_of_scope.yaml: {TAUGHT_TOPIC}: + {p}" for p in new)
    for intent in data.get("intents") or []:
        report.append(f"kept in the overlay: new intent {intent.get('id')} (write it as an "
                      "intent with its sources to move it into knowledge/)")
    return report


def _apply(args: argparse.Namespace) -> int:
    from bot.knowledge.loader import KnowledgeError, load_knowledge

    app = _app(args)
    knowledge = app.kb.root  # validated before: never merge into a broken knowledge base
    data = _read_overlay(Path(args.file))
    for line in apply_overlay(knowledge, data):
        print(line)
    try:
        load_knowledge(knowledge)
    except KnowledgeError as exc:
        raise OperatorError(f"the merged knowledge base is invalid: {exc.problems[0]}") from None
    print(f"merged into {knowledge}: check with `mentorbot kb check`, then retire the rows "
          f"with `mentorbot kb retire-overlay {args.file}`")
    return 0


def _retire(args: argparse.Namespace) -> int:
    from bot.knowledge.loader import load_knowledge
    from bot.storage.overlay_data import normalize_question

    data = _read_overlay(Path(args.file))
    kb = load_knowledge(_app(args).settings.knowledge_dir)
    in_files = {normalize_question(e) for i in kb.intents for e in i.examples} | {
        normalize_question(e) for n in kb.negatives for e in n.examples}
    listed = [p for ps in (data.get("phrasings") or {}).values() for p in ps]
    listed += list(data.get("off_topic") or [])
    merged = [p for p in listed if normalize_question(p) in in_files]

    async def work(store: Store) -> int:
        return await store.overlay.retire(merged, intent_ids=[])

    n = _with_store(_app(args), work)
    print(f"retired {n} overlay phrasing(s) now in knowledge/; "
          f"{len(listed) - len(merged)} not merged yet stay live")
    return 0


def overlay_problems(app: App) -> list[str]:
    """``kb check --db``: overlay rows that name an intent the knowledge base and the
    overlay do not have, and new intents whose id the knowledge base already uses."""

    async def work(store: Store) -> Overlay:
        return await store.overlay.snapshot()

    overlay = _with_store(app, work)
    known = _known_intents(app, overlay)
    problems = [f"overlay: phrasing {p.phrasing!r} names the missing intent {p.intent_id!r}"
                for p in overlay.phrases.values() if p.intent_id and p.intent_id not in known]
    problems += [f"overlay: new intent {i.id!r} has the id of an intent in knowledge/"
                 for i in overlay.intents if i.id in app.kb.intent_by_id]
    return problems


def add_loop_commands(kb_sub: argparse._SubParsersAction[argparse.ArgumentParser],
                      with_common: Callable[..., argparse.ArgumentParser]) -> None:
    inbox = with_common(kb_sub.add_parser(
        "inbox", help="what needs a mentor: unanswered and ambiguous questions, feedback, "
        "proposed answers (grouped, with counts)"))
    inbox.add_argument("--json", action="store_true", help="one JSON object a line")
    inbox.add_argument("--all", action="store_true", help="resolved entries too")
    inbox.add_argument("--limit", type=int, default=1000, help=argparse.SUPPRESS)
    inbox.set_defaults(func=_inbox)
    teach = with_common(kb_sub.add_parser(
        "teach", help="teach an inbox entry (its id) or a question as a way of asking an "
        "intent, or as off-topic; served at once"))
    teach.add_argument("what", metavar="ID_OR_QUESTION")
    teach.add_argument("intent", metavar="INTENT_ID", nargs="?")
    teach.add_argument("--off-topic", action="store_true",
                       help="answer it with an honest \"I don't know\"")
    teach.set_defaults(func=_teach)
    dismiss = with_common(kb_sub.add_parser("dismiss", help="close an inbox entry"))
    dismiss.add_argument("id", metavar="ID")
    dismiss.set_defaults(func=_dismiss)
    adopt = with_common(kb_sub.add_parser(
        "adopt", help="turn a proposed mentor answer (an inbox id) into a new intent"))
    adopt.add_argument("id", metavar="ID")
    adopt.add_argument("--title", required=True)
    adopt.add_argument("--summary", default=None)
    adopt.add_argument("--short", default=None, help="the answer (default: the mentor's)")
    adopt.add_argument("--source", default=None,
                       help='default: "community answer by @MENTOR"')
    adopt.set_defaults(func=_adopt)
    export = with_common(kb_sub.add_parser("export-overlay",
                                           help="print the overlay as YAML"))
    export.set_defaults(func=_export)
    apply_ = with_common(kb_sub.add_parser(
        "apply-overlay", help="merge an exported overlay into knowledge/ (comments and order "
        "kept)"), db=False)
    apply_.add_argument("file", metavar="FILE")
    apply_.set_defaults(func=_apply)
    retire = with_common(kb_sub.add_parser(
        "retire-overlay", help="retire the overlay phrasings of FILE that knowledge/ now has"))
    retire.add_argument("file", metavar="FILE")
    retire.set_defaults(func=_retire)
