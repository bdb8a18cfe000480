"""The ``mentorbot`` command line: one sub-command per job, each a thin call into the package.

    mentorbot chat        the mentor in a terminal (SQLite by default, no Discord needed)
    mentorbot ask "Q"     match one question (--json, --batch FILE --json)
    mentorbot kb check    validate knowledge/ ; kb list [--json]
    mentorbot db upgrade|downgrade|current
    mentorbot run         the Discord bot ; sync ; invite-url ; reminders run-once
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from bot.config import Settings
from bot.knowledge.loader import KnowledgeBase, KnowledgeError, load_knowledge
from bot.ops.logging import setup_logging
from bot.storage.errors import StorageError

log = logging.getLogger("mentorbot")


class CliError(Exception):
    """One clear line for the operator; the CLI prints it and exits non-zero."""


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "db", None):
        overrides["database_url"] = args.db
    if getattr(args, "knowledge", None):
        overrides["knowledge_dir"] = args.knowledge
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"]).upper()
        raise CliError(f"invalid setting {name}: {err['msg']}") from None


def knowledge(args: argparse.Namespace) -> KnowledgeBase:
    try:
        return load_knowledge(getattr(args, "knowledge", None))
    except KnowledgeError as exc:
        raise CliError("knowledge base invalid:\n" + str(exc)) from None


def member_id(text: str) -> int:
    """argparse type: a Discord-sized user id (1 … 2**63-1)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 < value < 2**63:
        raise argparse.ArgumentTypeError("must be between 1 and 2**63-1")
    return value


# --- kb --------------------------------------------------------------------------------------


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
    if args.db:
        for warning in asyncio.run(_orphan_warnings(args, kb)):
            print(f"warning: {warning}", file=sys.stderr)
    items = sum(len(p.checklist) for p in kb.phases.phases)
    print(f"knowledge base OK: {len(kb.intents)} intents, {items} checklist items, "
          f"{len(kb.negatives)} out-of-scope topics")
    return 0


async def _orphan_warnings(args: argparse.Namespace, kb: KnowledgeBase) -> list[str]:
    from bot.storage.store import Store

    store = await Store.open(settings_from(args).database_url)
    try:
        orphans = await store.checklist.orphaned_item_ids(set(kb.item_by_id))
    finally:
        await store.close()
    return [f"checklist item {item!r} is not in the knowledge base but {n} member(s) have "
            "progress on it (renamed? it keeps its history but stops counting)"
            for item, n in sorted(orphans.items())]


def _kb_list(args: argparse.Namespace) -> int:
    kb = knowledge(args)
    rows = [{"id": i.id, "title": i.title, "kind": i.kind} for i in kb.intents]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for row in rows:
            print(f"{row['id']:<40} {row['title']}")
    return 0


# --- ask -------------------------------------------------------------------------------------


def _ask(args: argparse.Namespace) -> int:
    from bot.engine.ask import AskFlow
    from bot.engine.context import Deps, Member
    from bot.frontends.console import plain_text
    from bot.matching.build import build_matcher

    kb = knowledge(args)
    matcher = build_matcher(kb)
    if args.batch:
        try:
            text = Path(args.batch).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise CliError(f"cannot read {args.batch}: {exc.strerror}") from None
        for line in text.splitlines():
            if not line.strip():
                continue
            result = matcher.match(line)
            if args.json:
                print(json.dumps(result.to_json(), ensure_ascii=False))
            else:
                print(f"{result.intent or '-'}\t{result.score:.1f}\t{line}")
        return 0
    question = " ".join(args.question)
    if args.json:
        print(json.dumps(matcher.match(question).to_json(), ensure_ascii=False))
        return 0
    deps = Deps(kb=kb, matcher=matcher, store=None, settings=settings_from(args))  # type: ignore[arg-type]
    reply = asyncio.run(AskFlow(deps, stateless=True).ask(Member(0), question))
    print(plain_text(reply))
    return 0


# --- chat ------------------------------------------------------------------------------------


def _one_line(record: logging.LogRecord) -> bool:
    """A log filter for the console: keep the message, drop the traceback (-v keeps it)."""
    record.exc_info = None
    record.exc_text = None
    return True


def _chat(args: argparse.Namespace) -> int:
    from bot.engine.context import Member
    from bot.engine.core import open_engine
    from bot.frontends.console import Console
    from bot.storage.errors import DatabaseUnavailable

    settings = settings_from(args)
    if not args.verbose:  # the member sees the error id in the reply; the terminal, one line
        for handler in logging.getLogger().handlers:
            handler.addFilter(_one_line)

    async def main() -> int:
        try:
            engine = await open_engine(settings, knowledge(args))
        except DatabaseUnavailable as exc:
            raise CliError(str(exc)) from None
        try:
            console = Console(engine, Member(args.user, name="you"))
            return await console.run()
        finally:
            await engine.deps.store.close()

    return asyncio.run(main())


# --- Discord ---------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from bot.frontends.discord.client import ConfigError, run
    from bot.storage.errors import DatabaseUnavailable

    settings = settings_from(args)
    try:
        return asyncio.run(run(settings))
    except (ConfigError, DatabaseUnavailable) as exc:
        raise CliError(str(exc)) from None


def _sync(args: argparse.Namespace) -> int:
    from bot.frontends.discord.client import ConfigError, sync
    from bot.storage.errors import DatabaseUnavailable

    settings = settings_from(args)
    try:
        asyncio.run(sync(settings))
    except (ConfigError, DatabaseUnavailable) as exc:
        raise CliError(str(exc)) from None
    target = f"guild {settings.dev_guild_id}" if settings.dev_guild_id else "all servers (global)"
    print(f"commands synced to {target}")
    return 0


def _invite_url(args: argparse.Namespace) -> int:
    from bot.frontends.discord.client import application_id_from_token, invite_url

    client_id = args.client_id
    if client_id is None:
        token = settings_from(args).discord_token
        client_id = application_id_from_token(token.get_secret_value()) if token else None
    if client_id is None:
        raise CliError("give --client-id (the application id from the developer portal) or "
                       "set DISCORD_TOKEN")
    print(invite_url(client_id))
    return 0


def _reminders_run_once(args: argparse.Namespace) -> int:
    from datetime import datetime

    from bot.reminders.cli import ReminderSetupError, run_once_cli

    now = None
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            raise CliError(f"--now: not an ISO time: {args.now!r}") from None
    try:
        report = asyncio.run(run_once_cli(settings_from(args), now))
    except ReminderSetupError as exc:
        raise CliError(str(exc)) from None
    print(f"reminders: {report}")
    return 0


# --- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mentorbot", description="An MLOps career mentor for Discord and the terminal.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_common(p: argparse.ArgumentParser, db: bool = True) -> argparse.ArgumentParser:
        p.add_argument("--knowledge", type=Path, default=None, help="knowledge directory")
        if db:
            p.add_argument("--db", default=None, help="database URL (default: DATABASE_URL)")
        return p

    chat = with_common(sub.add_parser("chat", help="talk to the mentor in this terminal"))
    chat.add_argument("--user", type=member_id, default=1,
                      help="member id to act as (default 1)")
    chat.set_defaults(func=_chat)

    ask = with_common(sub.add_parser("ask", help="answer one question (or a batch)"), db=False)
    ask.add_argument("question", nargs="*", help="the question")
    ask.add_argument("--json", action="store_true", help="print the JSON contract")
    ask.add_argument("--batch", type=Path, help="a file with one question per line")
    ask.set_defaults(func=_ask)

    kb = sub.add_parser("kb", help="check or list the knowledge base")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    check = with_common(kb_sub.add_parser("check", help="validate knowledge/ and references"))
    check.set_defaults(func=_kb_check)
    lst = with_common(kb_sub.add_parser("list", help="list intents"), db=False)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=_kb_list)

    run = with_common(sub.add_parser("run", help="connect to Discord and serve (DISCORD_TOKEN)"))
    run.set_defaults(func=_run)
    sync_p = with_common(sub.add_parser("sync", help="push slash commands to Discord now"))
    sync_p.set_defaults(func=_sync)
    rem = sub.add_parser("reminders", help="weekly reminders")
    rem_sub = rem.add_subparsers(dest="reminders_command", required=True)
    once = with_common(rem_sub.add_parser(
        "run-once", help="send the due reminders once over the REST API (cron, operators)"))
    once.add_argument("--now", default=None,
                      help="act as if it were this time (ISO 8601 with a time zone)")
    once.set_defaults(func=_reminders_run_once)
    invite = sub.add_parser("invite-url", help="print the URL that adds the bot to a server")
    invite.add_argument("--client-id", type=int, default=None, help="application id")
    invite.set_defaults(func=_invite_url)

    from bot.storage.migrate import add_db_commands

    add_db_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(verbose=args.verbose)  # WARNING (-v: DEBUG), LOG_FORMAT, token redacted
    try:
        return int(args.func(args) or 0)
    except (CliError, StorageError) as exc:  # StorageError: e.g. DATABASE_URL=nonsense
        print(f"mentorbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
