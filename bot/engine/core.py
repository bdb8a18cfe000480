"""The engine: every flow behind one object, one table of commands and button routes.

Front ends call :meth:`Engine.run` with a command's name ("checklist done") and its arguments,
or :meth:`Engine.act` with a button's action id, and render the
:class:`~bot.engine.replies.Reply` they get. Nothing here imports discord. Both entries apply
one guard: a member mistake becomes a friendly warning, a database outage a friendly "try
again", anything else an error reply with a short id that is logged with its traceback —
never a traceback in front of the member.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.engine.ask import AskFlow
from bot.engine.browse import BrowseFlow
from bot.engine.checkin import CheckInFlow
from bot.engine.checklist import ChecklistFlow
from bot.engine.commands import CommandSpec, RouteSpec, Table, command
from bot.engine.community import CommunityFlow
from bot.engine.context import Deps, Member, UserError, utcnow
from bot.engine.digest import DigestFlow
from bot.engine.escalate import EscalationFlow
from bot.engine.inbox import InboxFlow
from bot.engine.privacy import PrivacyFlow
from bot.engine.quiz import QuizFlow
from bot.engine.reminders import RemindersFlow
from bot.engine.replies import ErrorCause, Kind, Reply
from bot.engine.setup import SetupFlow
from bot.engine.stats import StatsFlow
from bot.knowledge.loader import KnowledgeBase
from bot.matching.build import build_matcher
from bot.render import render
from bot.storage.errors import (
    Busy,
    CapacityExceeded,
    DatabaseUnavailable,
    InvalidInput,
    StorageError,
)

if TYPE_CHECKING:
    from bot.matching.matcher import Matcher
    from bot.storage.store import Store

log = logging.getLogger(__name__)


def error_reply(message: str, error_id: str | None = None, title: str = "Sorry",
                cause: ErrorCause = ErrorCause.INTERNAL) -> Reply:
    return Reply(title, render("error", message=message, error_id=error_id),
                 kind=Kind.ERROR, private=True, tone="error", error=cause)


def warning_reply(message: str) -> Reply:
    """Something the member can fix, said as it is."""
    return Reply("Hmm", message, kind=Kind.ERROR, private=True, tone="warning",
                 error=ErrorCause.MEMBER)


def busy_reply() -> Reply:
    """Turned away before starting (too much at once): said at once, nothing changed."""
    return Reply("I'm very busy right now",
                 "Too many people are asking at this moment, so I didn't start on this one and "
                 "nothing was changed. Please try again in a few seconds.",
                 kind=Kind.ERROR, private=True, tone="warning", error=ErrorCause.BUSY)


async def guarded(name: str, work: Callable[[], Awaitable[Reply]]) -> Reply:
    """Run one command or button; whatever happens, the member gets a reply."""
    try:
        return await work()
    except UserError as exc:
        return warning_reply(str(exc))
    except DatabaseUnavailable:
        error_id = secrets.token_hex(3)
        log.exception("database unavailable [%s] in %s", error_id, name)
        return error_reply(
            "I can't reach my database right now, so nothing was changed. "
            "Please try again in a minute.", error_id, title="Database unavailable",
            cause=ErrorCause.DATABASE)
    except CapacityExceeded:  # every connection busy: shed at once, nothing started
        log.warning("database capacity exhausted in %s", name)
        return busy_reply()
    except Busy:  # the database stayed locked past the retry budget
        log.warning("database busy in %s", name)
        return Reply("Please try again", "The database was busy for a moment, so nothing was "
                     "changed. Please try again.", kind=Kind.ERROR, private=True,
                     tone="warning", error=ErrorCause.BUSY)
    except InvalidInput as exc:
        return warning_reply(f"That input isn't valid: {exc}")
    except StorageError as exc:
        error_id = secrets.token_hex(3)
        log.warning("storage refused [%s] in %s: %s", error_id, name, exc)
        return error_reply("That didn't work: the data changed meanwhile. Try again.",
                           error_id, cause=ErrorCause.STORAGE)
    except Exception:
        error_id = secrets.token_hex(3)
        log.exception("unexpected error [%s] in %s", error_id, name)
        return error_reply("Something went wrong on my side. It's logged; please try again.",
                           error_id)


class HelpFlow:
    def __init__(self, engine: Engine):
        self.engine = engine

    @command("help", "this list", private=True)
    async def help(self, member: Member) -> Reply:
        rows = [(spec.usage, spec.help) for spec in self.engine.table.commands.values()]
        return Reply("mentorbot: your MLOps career mentor", render("help", commands=rows),
                     kind=Kind.HELP, private=True)


FLOW_CLASSES: tuple[type, ...] = (AskFlow, BrowseFlow, QuizFlow, ChecklistFlow, RemindersFlow,
                                  PrivacyFlow, StatsFlow, SetupFlow, CommunityFlow, CheckInFlow,
                                  InboxFlow, EscalationFlow, DigestFlow,
                                  HelpFlow)


class Engine:
    def __init__(self, kb: KnowledgeBase, store: Store, settings: Settings,
                 clock: Callable[[], datetime] = utcnow, matcher: Matcher | None = None):
        self.deps = Deps(kb=kb, matcher=matcher or build_matcher(kb, isolated=True), store=store,
                         settings=settings, clock=clock)
        self.deps.live.attach(kb, self.deps.matcher)  # retrained when the overlay changes
        self._flows()

    def _flows(self) -> None:
        deps = self.deps
        self.asking = AskFlow(deps)
        self.privacy = PrivacyFlow(deps)
        self.checklist = ChecklistFlow(deps)
        self.browsing = BrowseFlow(deps, self.asking, self.checklist)
        self.reminders = RemindersFlow(deps)
        self.quizzing = QuizFlow(deps, self.checklist, self.reminders)
        self.setup = SetupFlow(deps)
        self.escalations = EscalationFlow(deps)
        flows: list[object] = [self.asking, self.browsing, self.quizzing, self.checklist,
                               self.reminders, self.privacy, StatsFlow(deps), self.setup,
                               CommunityFlow(deps), CheckInFlow(deps, self.asking),
                               InboxFlow(deps), self.escalations,
                               DigestFlow(deps, self.setup), HelpFlow(self)]
        self.table = Table.collect(flows)

    @property
    def kb(self) -> KnowledgeBase:
        return self.deps.kb

    def reload(self, kb: KnowledgeBase, matcher: Matcher | None = None) -> None:
        """Swap in a new, already validated knowledge base and its matcher (pass one built
        off the event loop; building takes a few hundred milliseconds)."""
        self.deps.kb = kb
        self.deps.matcher = matcher or build_matcher(kb, isolated=True)
        self.deps.live.attach(kb, self.deps.matcher)  # the overlay retrained on top of it
        self._flows()

    def command(self, name: str) -> CommandSpec:
        return self.table.commands[name]

    async def run(self, name: str, member: Member, /, **args: Any) -> Reply:
        """Carry out the command ``name`` ("checklist done") with its parameters by name."""
        entry = self.table.handler(name)
        if entry is None:
            return warning_reply(f"There is no command /{name[:40]}. Try /help.")
        await self.deps.live.refresh(self.deps.store)
        return await guarded(name, lambda: entry.handler(member, **args))

    def route(self, action: str) -> RouteSpec | None:
        found = self.table.route_of(action)
        return found[0] if found else None

    async def act(self, member: Member, action: str) -> Reply:
        """Carry out a button / choice by its stable id (see :mod:`bot.engine.commands`)."""
        found = self.table.route_of(action)
        if found is None:
            return warning_reply("That button no longer does anything. Try the command again.")
        spec, args = found
        entry = self.table.route_handler(spec)
        await self.deps.live.refresh(self.deps.store)
        return await guarded(spec.prefix, lambda: entry.handler(member, **args))


    async def mark_answer(self, member: Member, thread_id: int, text: str, author_id: int,
                          author_name: str, message_id: int | None = None) -> Reply:
        """*Mark as answer* (a message command) on a reply in an escalation thread (see
        :meth:`~bot.engine.escalate.EscalationFlow.mark_answer`), guarded like a command."""
        await self.deps.live.refresh(self.deps.store)
        return await guarded("mark answer", lambda: self.escalations.mark_answer(
            member, thread_id, text, author_id, author_name, message_id))
