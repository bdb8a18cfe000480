"""The ``mentorbot`` command line: one sub-command per job, each a thin call into the package.

    mentorbot chat        the mentor in a terminal (SQLite by default, no Discord needed)
    mentorbot ask "Q"     match one question (--json, --batch FILE --json)
    mentorbot kb check    validate knowledge/ (--db: and the overlay) ; kb list [--json]
    mentorbot kb inbox|teach|dismiss|adopt|export-overlay|apply-overlay|retire-overlay
                          the knowledge loop (bot/loop_cli.py)
    mentorbot db upgrade|downgrade|current|purge
    mentorbot run         the Discord bot ; sync ; invite-url ; reminders run-once

Every command builds what it needs through :class:`bot.app.App` (settings → knowledge →
database → store → engine → metrics, each only when needed). Whatever the operator must fix is
one :class:`~bot.config.OperatorError`: one line on stderr, exit code 1. Exit codes: 0 done
(also ``run`` stopped by SIGTERM / SIGINT), 1 operator error, 2 usage error (argparse),
130 Ctrl-C in the other commands, 141 stdout closed early (``| head``).
"""

from __future__ import annotations

# Light on purpose: `main` installs the stop-signal handlers of `run` before the heavy imports.
import argparse
import gc
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bot import collector
from bot.ops.signals import StopSignals

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import Settings
    from bot.knowledge.loader import KnowledgeBase

EXIT_OPERATOR = 1
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 128 + 13  # like a process killed by SIGPIPE


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings, with ``--db`` / ``--url`` and ``--knowledge`` on top."""
    from bot.app import load_settings

    return load_settings({"database_url": "--db"}, database_url=getattr(args, "db", None),
                         knowledge_dir=getattr(args, "knowledge", None))


def app_from(args: argparse.Namespace) -> App:
    from bot.app import App

    return App(settings_from(args))


_PROCESS = False  # set by `entry`: this process is mentorbot's own and ends with the command

#: Set in mentorbot's own process before numpy loads; a value the operator set wins. OpenBLAS
#: otherwise starts a thread per core at import (about 60 ms of CPU, a sixth of a cold
#: ``mentorbot ask`` on two cores) and keeps them spinning after each product. The matcher's
#: products are small, and training already runs under ``threadpool_limits(1)``.
PROCESS_ENV = {"OPENBLAS_NUM_THREADS": "1"}


@contextmanager
def starting() -> Iterator[None]:
    """Start-up with the cyclic garbage collector off, then back on.

    Start-up (the imports, the settings, the knowledge base, the matcher) makes a few hundred
    thousand objects that live as long as the process and form no garbage cycles: the collector
    would only walk them, again and again (two full collections and ~150 young ones during a
    cold ``mentorbot ask``). In mentorbot's own process (:func:`entry`) they are then frozen
    (:func:`gc.freeze`): no later collection walks them, nor the full one Python runs at exit
    (together ~0.1 s of a cold ``ask``). Collections resume for the work that follows (a
    ``--batch``, a chat, the bot), so its garbage is collected as before. Called in-process
    (tests), nothing is frozen."""
    # ``owner`` is False when nested, or when an embedding program had the collector off
    with collector.paused() as owner:
        try:
            yield
        finally:
            if owner and _PROCESS:
                gc.freeze()


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
    import asyncio

    from bot.app import App
    from bot.knowledge.loader import KnowledgeError, load_knowledge

    app = app_from(args)
    try:
        kb = load_knowledge(app.settings.knowledge_dir)
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"knowledge base invalid: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    for warning in kb.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.db:
        from bot.loop_cli import overlay_problems

        for warning in asyncio.run(_orphan_warnings(App(app.settings, kb=kb), kb)):
            print(f"warning: {warning}", file=sys.stderr)
        overlay = overlay_problems(App(app.settings, kb=kb))
        for line in overlay:
            print(line, file=sys.stderr)
        if overlay:
            print(f"overlay invalid: {len(overlay)} problem(s)", file=sys.stderr)
            return 1
    items = sum(len(p.checklist) for p in kb.phases.phases)
    print(f"knowledge base OK: {len(kb.intents)} intents, {items} checklist items, "
          f"{len(kb.uncovered)} uncovered topics, {len(kb.negatives)} out-of-scope topics")
    return 0


async def _orphan_warnings(app: App, kb: KnowledgeBase) -> list[str]:
    from bot.config import OperatorError
    from bot.storage.errors import StorageError

    async with app:
        store = await app.store(upgrade=False)
        try:
            orphans = await store.checklist.orphaned_item_ids(set(kb.item_by_id))
        except StorageError as exc:
            raise OperatorError(str(exc)) from None
    return [f"checklist item {item!r} is not in the knowledge base but {n} member(s) have "
            "progress on it (renamed? it keeps its history but stops counting)"
            for item, n in sorted(orphans.items())]


def _kb_list(args: argparse.Namespace) -> int:
    import json

    kb = app_from(args).kb
    rows = [{"id": i.id, "title": i.title, "kind": i.kind} for i in kb.intents]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for row in rows:
            print(f"{row['id']:<40} {row['title']}")
    return 0


# --- ask -------------------------------------------------------------------------------------


MAX_BATCH_BYTES = 16 * 1024 * 1024  # a --batch file larger than this is refused, not read


def _batch_lines(path: Path) -> list[str]:
    """The questions of a ``--batch`` file: bounded in size (``/dev/zero`` is refused, not
    read forever), decoded leniently, escape sequences and control characters removed, each
    cut to the question-length limit."""
    from bot.config import OperatorError
    from bot.frontends.console import clean_line
    from bot.limits import MAX_QUESTION_CHARS

    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BATCH_BYTES + 1)
    except OSError as exc:
        raise OperatorError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_BATCH_BYTES:
        raise OperatorError(f"{path} is larger than {MAX_BATCH_BYTES // 2**20} MiB: split it")
    text = data.decode("utf-8", errors="replace")
    lines = (clean_line(line)[:MAX_QUESTION_CHARS] for line in text.splitlines())
    return [line for line in lines if line]


def _ask(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from bot.frontends.console import clean_line
    from bot.matching.build import build_matcher

    question = clean_line(" ".join(args.question))
    if not args.batch and not question:
        print("mentorbot ask: give a question (mentorbot ask \"how long until senior?\"), "
              "or --batch FILE", file=sys.stderr)
        return 2
    with starting():
        app = app_from(args)
        kb = app.kb
        matcher = build_matcher(kb)
    # the overlay of the database given (--db) or configured (DATABASE_URL): taught phrasings
    live = None
    if args.db or "database_url" in app.settings.model_fields_set:
        from bot.loop_cli import load_live

        live = load_live(app)
        live.attach(kb, matcher)
        live.retrain_now()  # the matcher retrained with the overlay, as the bot's processes
    match = matcher.match if live is None else (lambda q: live.match(matcher, q))
    if args.batch:
        for line in _batch_lines(Path(args.batch)):
            result = match(line)
            if args.json:
                print(json.dumps(result.to_json(), ensure_ascii=False))
            else:
                print(f"{result.to_json()['intent'] or '-'}\t{result.score:.1f}\t{line}")
        return 0
    if args.json:
        print(json.dumps(match(question).to_json(), ensure_ascii=False))
        return 0
    with starting():
        from bot.engine.ask import AskFlow
        from bot.engine.context import Deps, Member
        from bot.frontends.console import plain_text

    deps = Deps(kb=kb, matcher=matcher, store=None, settings=app.settings)  # type: ignore[arg-type]
    if live is not None:
        deps.live = live
    flow = AskFlow(deps, stateless=True)
    reply = asyncio.run(flow.ask(Member(0), question))
    if args.full and reply.intent:  # the whole card, as More shows it
        reply = flow.show(reply.intent)
    print(plain_text(reply))
    return 0


def _sources(args: argparse.Namespace) -> int:
    from bot.engine.replies import Kind, Reply
    from bot.frontends.console import plain_text
    from bot.render import render

    kb = app_from(args).kb
    print(plain_text(Reply("Where my answers come from",
                           render("sources", sources=kb.sources.sources), kind=Kind.BROWSE)))
    return 0


# --- chat ------------------------------------------------------------------------------------


def _one_line(record: logging.LogRecord) -> bool:
    """A log filter for the console: keep the message, drop the traceback (-v keeps it)."""
    record.exc_info = None
    record.exc_text = None
    return True


def _chat(args: argparse.Namespace) -> int:
    import asyncio

    from bot.engine.context import Member
    from bot.frontends.console import Console

    app = app_from(args)
    if not args.verbose:  # the member sees the error id in the reply; the terminal, one line
        for handler in logging.getLogger().handlers:
            handler.addFilter(_one_line)

    async def main() -> int:
        async with app:
            engine = await app.engine()
            # --guild: a server's operator, as in that server (its /setup applies)
            console = Console(engine, Member(args.user, guild_id=args.guild, name="you",
                                             is_admin=args.guild is not None))
            return await console.run()

    return asyncio.run(main())


# --- Discord ---------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from bot.config import discord_token

    settings = settings_from(args)
    discord_token(settings)

    from bot.frontends.discord.client import run
    from bot.ops import eventloop

    signals: StopSignals = args.signals  # installed by main() before the heavy imports
    return eventloop.run(run(settings, signals))


def _sync(args: argparse.Namespace) -> int:
    import asyncio

    from bot.frontends.discord.client import sync

    settings = settings_from(args)
    asyncio.run(sync(settings))
    target = f"guild {settings.dev_guild_id}" if settings.dev_guild_id else "all servers (global)"
    print(f"commands synced to {target}")
    return 0


def _invite_url(args: argparse.Namespace) -> int:
    from bot.config import OperatorError, discord_token
    from bot.frontends.discord.client import application_id_from_token, invite_url

    client_id = args.client_id
    if client_id is None:
        settings = settings_from(args)
        try:
            client_id = application_id_from_token(discord_token(settings))
        except OperatorError:
            client_id = None
    if client_id is None:
        raise OperatorError("give --client-id (the application id from the developer portal) "
                            "or set DISCORD_TOKEN")
    print(invite_url(client_id))
    return 0


def _reminders_run_once(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import datetime

    from bot.config import OperatorError
    from bot.frontends.discord.sender import run_reminders_once

    now = None
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            raise OperatorError(f"--now: not an ISO time: {args.now!r}") from None
    app = app_from(args)

    async def main() -> str:
        async with app:
            return str(await run_reminders_once(app, now))

    print(f"reminders: {asyncio.run(main())}")
    return 0


def _digest_preview(args: argparse.Namespace) -> int:
    import asyncio

    from bot.engine.context import Member
    from bot.frontends.console import plain_text

    app = app_from(args)

    async def main() -> str:
        async with app:
            engine = await app.engine()
            admin = Member(1, guild_id=args.guild, name="operator", is_admin=True)
            return plain_text(await engine.run("setup digest-preview", admin))

    print(asyncio.run(main()))
    return 0


# --- db --------------------------------------------------------------------------------------


def _db(fn: Callable[[App, argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A ``db`` sub-command: storage errors become one operator line."""

    def run(args: argparse.Namespace) -> int:
        from bot.config import OperatorError
        from bot.storage.errors import StorageError

        try:
            return fn(app_from(args), args)
        except StorageError as exc:
            raise OperatorError(str(exc)) from None

    return run


def _safe(url: str) -> str:
    from bot.storage.db import normalize_url

    return normalize_url(url).render_as_string(hide_password=True)


def _db_upgrade(app: App, args: argparse.Namespace) -> int:
    from bot.storage.migrate import current, upgrade

    url = app.database_url()
    upgrade(url, args.revision)
    print(f"database {_safe(url)} at revision {current(url)}")
    return 0


def _db_downgrade(app: App, args: argparse.Namespace) -> int:
    from bot.config import OperatorError
    from bot.storage.migrate import current, downgrade, downgrade_losses

    url = app.database_url()
    losses = downgrade_losses(url, args.revision)
    if losses and not args.yes:
        raise OperatorError(
            f"downgrading {_safe(url)} to {args.revision} deletes data: "
            f"{'; '.join(losses)}. Back it up first (README: Backup and restore), then run "
            "it again with --yes")
    downgrade(url, args.revision)
    print(f"database {_safe(url)} at revision {current(url) or 'base (empty)'}")
    return 0


def _db_current(app: App, args: argparse.Namespace) -> int:
    from bot.storage.migrate import current, head_revision

    rev = current(app.database_url())
    head = head_revision()
    state = "up to date" if rev == head else f"head is {head}: run `mentorbot db upgrade`"
    print(f"{rev or 'none (empty database)'} ({state})")
    return 0


def _db_purge(app: App, args: argparse.Namespace) -> int:
    import asyncio

    days = app.settings.question_log_days

    async def main() -> int:
        async with app:
            store = await app.store(upgrade=False)
            return await store.questions.purge(days)

    print(f"purged {asyncio.run(main())} logged questions older than {days} days "
          "(QUESTION_LOG_DAYS)")
    return 0


def add_db_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database migrations (Alembic) and upkeep")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="migrate the database up (default: to head)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=_db(_db_upgrade))
    down = db_sub.add_parser(
        "downgrade", help="migrate the database down (revision required, e.g. -1 or base); "
        "refused without --yes when it would drop tables or columns")
    down.add_argument("revision", help="target revision: -1, a revision id, or base")
    down.add_argument("--yes", action="store_true",
                      help="really drop the tables / columns the downgrade removes")
    down.set_defaults(func=_db(_db_downgrade))
    cur = db_sub.add_parser("current", help="show the database's revision")
    cur.set_defaults(func=_db(_db_current))
    purge = db_sub.add_parser(
        "purge", help="delete logged questions older than QUESTION_LOG_DAYS (for cron; the "
        "bot also does it daily)")
    purge.set_defaults(func=_db(_db_purge))
    for p in (up, down, cur, purge):
        p.add_argument("--db", "--url", dest="db", default=None,
                       help="database URL (default: DATABASE_URL)")


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
    chat.add_argument("--guild", type=member_id, default=None,
                      help="act as an admin of this server id (its /setup applies: "
                           "Ask a mentor with a mentors' channel)")
    chat.set_defaults(func=_chat)

    ask = with_common(sub.add_parser(
        "ask", help="answer one question (or a batch); with --db (or DATABASE_URL) what "
        "mentors taught too"))
    ask.add_argument("question", nargs="*", help="the question")
    ask.add_argument("--json", action="store_true", help="print the JSON contract")
    ask.add_argument("--batch", type=Path, help="a file with one question per line")
    ask.add_argument("--full", action="store_true",
                     help="the whole card (what More shows), not the first answer")
    ask.set_defaults(func=_ask)

    sources = with_common(sub.add_parser("sources", help="where the answers come from"),
                          db=False)
    sources.set_defaults(func=_sources)

    kb = sub.add_parser("kb", help="check or list the knowledge base")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    check = with_common(kb_sub.add_parser("check", help="validate knowledge/ and references"))
    check.set_defaults(func=_kb_check)
    lst = with_common(kb_sub.add_parser("list", help="list intents"), db=False)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=_kb_list)
    from bot.loop_cli import add_loop_commands

    add_loop_commands(kb_sub, with_common)

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
    digest = with_common(rem_sub.add_parser(
        "digest-preview", help="print a server's weekly blocker digest for mentors as it "
        "would be posted now (nothing is sent)"))
    digest.add_argument("--guild", type=member_id, required=True, help="the server's id")
    digest.set_defaults(func=_digest_preview)
    invite = sub.add_parser("invite-url", help="print the URL that adds the bot to a server")
    invite.add_argument("--client-id", type=int, default=None, help="application id")
    invite.set_defaults(func=_invite_url)
    add_db_commands(sub)
    return parser


def _stdout_closed() -> int:
    """The reader of our stdout went away (``| head``): end quietly, as other tools do."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # Python's exit-time flush must not fail again
    return EXIT_PIPE_CLOSED


def _command(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def entry() -> int:
    """The ``mentorbot`` process (the console script, ``python -m bot``): :func:`main` in a
    process that ends with the command, so what start-up built is frozen (:func:`starting`)."""
    global _PROCESS
    _PROCESS = True
    for name, value in PROCESS_ENV.items():
        os.environ.setdefault(name, value)
    return main()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    signals = StopSignals()
    if _command(argv) == "run":
        signals.early()  # from here SIGTERM / SIGINT are never lost (PID 1), only deferred
    try:
        with starting():
            from bot.config import OperatorError
            from bot.ops.logging import setup_logging

            args = build_parser().parse_args(argv)
            args.signals = signals
            setup_logging(verbose=args.verbose)  # WARNING (-v: DEBUG), LOG_FORMAT, token redacted
        try:
            code = int(args.func(args) or 0)
            sys.stdout.flush()
            return code
        except OperatorError as exc:
            print(f"mentorbot: {exc}", file=sys.stderr)
            return EXIT_OPERATOR
        except BrokenPipeError:
            return _stdout_closed()
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
