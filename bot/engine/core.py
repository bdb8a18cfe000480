"""The engine: every flow behind one object, and one dispatcher for button / choice ids.

Front ends (Discord cogs, the terminal console) call these methods and render the
:class:`~bot.engine.replies.Reply` they get. Nothing here imports discord. Every public method
is guarded: a member mistake becomes a friendly warning, a database outage a friendly "try
again", anything else an error reply with a short id that is logged with its traceback —
never a traceback in front of the member.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

from bot.config import Settings
from bot.engine import actions
from bot.engine.ask import AskFlow
from bot.engine.browse import BrowseFlow
from bot.engine.checklist import ChecklistFlow
from bot.engine.context import Deps, Member, UserError, utcnow
from bot.engine.privacy import PrivacyFlow
from bot.engine.quiz import QuizFlow
from bot.engine.reminders import RemindersFlow
from bot.engine.replies import Reply
from bot.engine.stats import StatsFlow
from bot.knowledge.loader import KnowledgeBase
from bot.matching.build import build_matcher
from bot.matching.matcher import Matcher
from bot.render import render
from bot.storage.errors import DatabaseUnavailable, InvalidInput, StorageError
from bot.storage.store import Store

log = logging.getLogger(__name__)
P = ParamSpec("P")

COMMANDS: tuple[tuple[str, str], ...] = (
    ("/ask question", "answer a question about MLOps careers (a plain line works too)"),
    ("/roadblock name", "what unlocks a common roadblock"),
    ("/faq topic", "a career question or technical topic"),
    ("/phase [number]", "what a phase means and its checklist"),
    ("/levels", "the level ladder: tenure, titles, what unlocks the next level"),
    ("/tools [phase]", "the tools catalogue, with when to choose what"),
    ("/roadmap", "a month-by-month plan for the first year"),
    ("/quiz", "six yes/no questions that place you in a phase"),
    ("/checklist view [phase]", "your checklist for a phase"),
    ("/checklist done item [evidence]", "mark an item done (optional evidence link)"),
    ("/checklist undo item", "mark an item not done"),
    ("/progress [member]", "your progress (or a member's who shares theirs)"),
    ("/reminders on [weekday] [hour] [timezone]", "a weekly progress DM"),
    ("/reminders off | status | snooze", "stop, check or skip a week of reminders"),
    ("/privacy export | delete | share on|off", "your data, yours to take or delete"),
    ("/stats", "server progress and unanswered questions (Manage Server)"),
    ("/help", "this list"),
)


def error_reply(message: str, error_id: str | None = None, title: str = "Sorry",
                cause: str = "internal") -> Reply:
    """``cause`` (internal, database, storage) lands in ``meta`` for metrics and front ends."""
    return Reply(title, render("error", message=message, error_id=error_id),
                 kind="error", private=True, tone="error", meta={"error": cause})


def guarded(fn: Callable[P, Awaitable[Reply]]) -> Callable[P, Awaitable[Reply]]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Reply:
        try:
            return await fn(*args, **kwargs)
        except UserError as exc:
            return Reply("Hmm", str(exc), kind="error", private=True, tone="warning")
        except DatabaseUnavailable:
            error_id = secrets.token_hex(3)
            log.exception("database unavailable [%s] in %s", error_id, fn.__name__)
            return error_reply(
                "I can't reach my database right now, so nothing was changed. "
                "Please try again in a minute.", error_id, title="Database unavailable",
                cause="database")
        except InvalidInput as exc:
            return Reply("Hmm", f"That input isn't valid: {exc}", kind="error", private=True,
                         tone="warning")
        except StorageError as exc:
            error_id = secrets.token_hex(3)
            log.warning("storage refused [%s] in %s: %s", error_id, fn.__name__, exc)
            return error_reply("That didn't work: the data changed meanwhile. Try again.",
                               error_id, cause="storage")
        except Exception:
            error_id = secrets.token_hex(3)
            log.exception("unexpected error [%s] in %s", error_id, fn.__name__)
            return error_reply("Something went wrong on my side. It's logged; please try "
                               "again.", error_id)

    return wrapper


class Engine:
    def __init__(self, kb: KnowledgeBase, store: Store, settings: Settings,
                 clock: Callable[..., Any] = utcnow):
        self.deps = Deps(kb=kb, matcher=build_matcher(kb), store=store, settings=settings,
                         clock=clock)
        self._flows()

    def _flows(self) -> None:
        self.asking = AskFlow(self.deps)
        self.browsing = BrowseFlow(self.deps)
        self.quizzing = QuizFlow(self.deps)
        self.checklist = ChecklistFlow(self.deps)
        self.reminders = RemindersFlow(self.deps)
        self.privacy = PrivacyFlow(self.deps)
        self.stats_flow = StatsFlow(self.deps)

    @property
    def kb(self) -> KnowledgeBase:
        return self.deps.kb

    def reload(self, kb: KnowledgeBase, matcher: Matcher | None = None) -> None:
        """Swap in a new, already validated knowledge base and its matcher (pass one built
        off the event loop; building takes a few hundred milliseconds)."""
        self.deps.kb = kb
        self.deps.matcher = matcher or build_matcher(kb)
        self._flows()

    # --- ask & browse -------------------------------------------------------------------------

    @guarded
    async def ask(self, member: Member, question: str) -> Reply:
        return await self.asking.ask(member, question)

    @guarded
    async def show(self, member: Member, intent_id: str) -> Reply:
        return self.asking.show(intent_id)

    @guarded
    async def roadblock(self, member: Member, name: str) -> Reply:
        return self.asking.show(self.browsing.resolve(("roadblock",), name).id)

    @guarded
    async def faq(self, member: Member, topic: str) -> Reply:
        return self.asking.show(self.browsing.resolve(("faq", "topic", "phase"), topic).id)

    @guarded
    async def phase(self, member: Member, number: int | None = None) -> Reply:
        return await self.browsing.phase(member, number)

    @guarded
    async def levels(self, member: Member) -> Reply:
        return self.browsing.levels()

    @guarded
    async def tools(self, member: Member, phase: int | None = None) -> Reply:
        return self.browsing.tools(phase)

    @guarded
    async def roadmap(self, member: Member) -> Reply:
        return self.browsing.roadmap()

    @guarded
    async def help(self, member: Member) -> Reply:
        return Reply("mentorbot: your MLOps career mentor", render("help", commands=COMMANDS),
                     kind="help", private=True)

    # --- quiz, checklist, progress --------------------------------------------------------------

    @guarded
    async def quiz(self, member: Member, restart: bool = False) -> Reply:
        return await self.quizzing.start(member, restart=restart)

    @guarded
    async def checklist_view(self, member: Member, phase: int | None = None) -> Reply:
        return await self.checklist.view(member, phase)

    @guarded
    async def checklist_done(self, member: Member, item: str, evidence: str | None = None) -> Reply:
        return await self.checklist.mark(member, item, evidence)

    @guarded
    async def checklist_undo(self, member: Member, item: str) -> Reply:
        return await self.checklist.unmark(member, item)

    @guarded
    async def progress(self, member: Member, target_id: int | None = None) -> Reply:
        return await self.checklist.progress(member, target_id)

    # --- reminders, privacy, stats --------------------------------------------------------------

    @guarded
    async def reminders_on(self, member: Member, weekday: str | int | None = None,
                           hour: str | int | None = None, timezone: str | None = None) -> Reply:
        return await self.reminders.on(member, weekday, hour, timezone)

    @guarded
    async def reminders_off(self, member: Member) -> Reply:
        return await self.reminders.off(member)

    @guarded
    async def reminders_status(self, member: Member) -> Reply:
        return await self.reminders.status(member)

    @guarded
    async def reminders_snooze(self, member: Member) -> Reply:
        return await self.reminders.snooze(member)

    @guarded
    async def export(self, member: Member) -> Reply:
        return await self.privacy.export(member)

    @guarded
    async def delete(self, member: Member, confirmed: bool = False) -> Reply:
        if not confirmed:
            return self.privacy.confirm_delete()
        return await self.privacy.delete(member, True)

    @guarded
    async def share(self, member: Member, on: bool) -> Reply:
        return await self.privacy.share(member, on)

    @guarded
    async def stats(self, member: Member) -> Reply:
        return await self.stats_flow.guild(member)

    # --- buttons ----------------------------------------------------------------------------------

    @guarded
    async def act(self, member: Member, action_id: str) -> Reply:
        """Carry out a button / choice by its stable id (see :mod:`bot.engine.actions`)."""
        p = actions.parse(action_id)
        flow, verb = p[0], p[1] if len(p) > 1 else ""
        match flow, verb, p[2:]:
            case "ask", "show", [short]:
                return self.asking.show(actions.long_intent(short))
            case "ask", "alts", [arg]:
                return self.asking.alternatives(arg)
            case "ask", "fb", [short, flag] if flag in ("0", "1"):
                return await self.asking.feedback(member, actions.long_intent(short), flag == "1")
            case "quiz", "start", []:
                return await self.quizzing.start(member)
            case "quiz", "restart", []:
                return await self.quizzing.start(member, restart=True)
            case "quiz", "ans", [attempt, index, yn] if attempt.isdigit() and index.isdigit() \
                    and yn in ("y", "n"):
                return await self.quizzing.answer(member, int(attempt), int(index), yn == "y")
            case "quiz", "back", [attempt] if attempt.isdigit():
                return await self.quizzing.back(member, int(attempt))
            case "chk", "view", [n] if n.isdigit():
                return await self.checklist.view(member, int(n))
            case "chk", "done", [item]:
                return await self.checklist.mark(member, item)
            case "chk", "undo", [item]:
                return await self.checklist.unmark(member, item)
            case "phase", "show", [n] if n.isdigit():
                return await self.browsing.phase(member, int(n))
            case "phase", "set", [n] if n.isdigit():
                return await self.checklist.set_phase(member, int(n))
            case "prog", "view", []:
                return await self.checklist.progress(member)
            case "rem", "on", []:
                return await self.reminders.on(member)
            case "rem", "off", []:
                return await self.reminders.off(member)
            case "rem", "snooze", []:
                return await self.reminders.snooze(member)
            case "rem", "status", []:
                return await self.reminders.status(member)
            case "priv", "delete", [yn] if yn in ("yes", "no"):
                return await self.privacy.delete(member, yn == "yes")
            case "share", ("on" | "off") as state, []:
                return await self.privacy.share(member, state == "on")
        raise UserError("That button no longer does anything. Try the command again.")


async def open_engine(settings: Settings, kb: KnowledgeBase | None = None) -> Engine:
    """Knowledge base + database (migrated when configured) → a ready engine."""
    from bot.knowledge.loader import load_knowledge
    from bot.storage.migrate import upgrade_async

    kb = kb or load_knowledge(settings.knowledge_dir)
    if settings.db_upgrade_on_start:
        await upgrade_async(settings.database_url)
    store = await Store.open(settings.database_url)
    return Engine(kb, store, settings)
