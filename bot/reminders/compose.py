"""The weekly reminder a member gets: their phase at a glance and one concrete next step.

* the phase's progress bar (the member's current phase, phase 1 if they have none yet),
* what they ticked off since the last reminder,
* the next unchecked item with its hint, and the phase's tools,
* when they have stalled for three weeks or more (no checklist change in 21 days), the
  ``unlock`` of the roadblock that fits the phase,
* how to update, with buttons: *Check in* (``form:checkin``: the weekly check-in form), snooze
  a week (``rem:snooze``), stop (``rem:off``) and open
  the checklist (``chk:view:<phase>``) — ids the engine already handles.

The roadblock is chosen from the knowledge base, not a table in code: among the roadblock
intents whose ``related`` list names ``phase.<n>``, the one that names it earliest (file
order breaks ties). With today's knowledge that gives phase 1 → no-production-experience,
2 → tools-not-promoted, 3 and 4 → stuck-at-senior.

The body is kept under :data:`BODY_LIMIT` characters so it reads in a notification: the hint,
the roadblock tip and the tools are shortened (at a sentence or word end, with "…") until it
fits.

:class:`ReminderComposer` precomputes the per-phase parts once; :func:`compose_reminder`
reads one member and renders; the dispatcher renders from batched
:meth:`~bot.storage.repo.reminders.RemindersRepo.snapshots` instead of reading one by one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol, overload

from bot.engine.checkin import OPEN_FORM
from bot.engine.checklist import ChecklistFlow
from bot.engine.commands import action_id
from bot.engine.reminders import RemindersFlow
from bot.engine.replies import Action, Kind, ReminderDigest, Reply
from bot.engine.schedule import WEEKDAYS
from bot.knowledge.loader import KnowledgeBase
from bot.knowledge.schema import ChecklistItem, Intent, Phase
from bot.render import environment, progress_bar
from bot.storage.errors import NotFound
from bot.storage.records import ReminderPrefRecord
from bot.storage.repo.reminders import ReminderSnapshot
from bot.storage.store import Store

BODY_LIMIT = 900
STALL_DAYS = 21
#: without a previous reminder, "done since last time" looks back this far
FIRST_LOOKBACK = timedelta(days=7)
MAX_DONE_SHOWN = 3
MAX_TOOLS = 3
#: the next item's hint and the roadblock tip are cut (at a sentence end if possible) to this
HINT_LEN = 320
TIP_LEN = 280
#: rendered bodies kept per composer (keyed by everything a body depends on)
BODY_CACHE_SIZE = 4096

CHECK_IN = Action(OPEN_FORM, "Check in", "success")  # opens the check-in form
SNOOZE = Action(action_id(RemindersFlow.snooze_button), "Snooze a week")
STOP = Action(action_id(RemindersFlow.off_button), "Stop reminders", "danger")


class HasKbAndStore(Protocol):
    """``bot.engine.context.Deps`` or anything else carrying a knowledge base and a store."""

    @property
    def kb(self) -> KnowledgeBase: ...

    @property
    def store(self) -> Store: ...


@lru_cache(maxsize=4096)
def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters: at a sentence end if one is near, else at
    a word end, with "…" when anything was dropped."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    window = text[: max(1, limit - 1)]
    sentence = max(window.rfind(". "), window.rfind("? "), window.rfind("! "))
    if sentence >= limit // 2:
        return window[: sentence + 1]
    space = window.rfind(" ")
    cut = window[:space] if space >= limit // 3 else window
    return cut.rstrip(" ,;:—-") + "…"


def tool_name(tool: str) -> str:
    """``MLflow (experiment tracking; …)`` → ``MLflow``: names only, for a notification."""
    return " ".join(re.sub(r"\s*\([^)]*\)", "", tool).split()) or tool


def roadblock_for_phase(kb: KnowledgeBase, phase: int) -> Intent | None:
    """The roadblock whose ``related`` list names ``phase.<phase>`` earliest (see module doc)."""
    tag = f"phase.{phase}"
    ranked = [
        (intent.related.index(tag), order, intent)
        for order, intent in enumerate(kb.intents)
        if intent.kind == "roadblock" and intent.unlock and tag in intent.related
    ]
    return min(ranked, key=lambda r: (r[0], r[1]))[2] if ranked else None


@dataclass(frozen=True)
class _PhaseParts:
    phase: Phase
    items: tuple[ChecklistItem, ...]
    tools: tuple[str, ...]
    roadblock: Intent | None


class ReminderComposer:
    """Renders reminders for one knowledge base (the per-phase parts are computed once)."""

    def __init__(self, kb: KnowledgeBase, *, body_limit: int = BODY_LIMIT) -> None:
        self.kb = kb
        self.body_limit = body_limit
        self._phases = {
            p.number: _PhaseParts(
                phase=p,
                items=tuple(p.checklist),
                tools=tuple(tool_name(t) for t in p.tools),
                roadblock=roadblock_for_phase(kb, p.number),
            )
            for p in kb.phases.phases
        }
        self._first = min(self._phases)
        self._last = max(self._phases)
        self._template = environment().get_template("reminder.j2")  # once, not per member
        self._bodies: dict[tuple[object, ...], str] = {}
        self._titles = {n: f"Your weekly check-in · phase {n}" for n in self._phases}
        self._actions = {
            n: (CHECK_IN,
                Action(action_id(ChecklistFlow.view_phase, n), "Open checklist", "primary"),
                SNOOZE, STOP)
            for n in self._phases
        }
        #: bodies actually rendered (the rest came from the memo)
        self.renders = 0

    def _body(
        self, phase_number: int, n_done: int, titles: tuple[str, ...], next_id: str | None,
        stalled: bool,
    ) -> str:
        """The body text: a pure function of its arguments, so it is memoised — members in
        the same state (phase, items done, done since last time, stalled) share one render."""
        key = (phase_number, n_done, titles, next_id, stalled)
        body = self._bodies.get(key)
        if body is None:
            self.renders += 1
            body = self._render_body(*key)
            if len(self._bodies) >= BODY_CACHE_SIZE:
                self._bodies.pop(next(iter(self._bodies)))  # oldest first
            self._bodies[key] = body
        return body

    def _render_body(
        self, phase_number: int, n_done: int, titles: tuple[str, ...], next_id: str | None,
        stalled: bool,
    ) -> str:
        parts = self._phases[phase_number]
        phase = parts.phase
        next_item = self.kb.item_by_id[next_id] if next_id else None
        roadblock = parts.roadblock if stalled else None
        next_phase = phase.number + 1 if phase.number < self._last else None
        # (hint, tip, tools, done-title) lengths, tried in turn until the body fits; a 0
        # drops the part (the tip, the tools line) altogether
        budgets = [(HINT_LEN, TIP_LEN, MAX_TOOLS, 60), (220, 200, 2, 45), (150, 140, 2, 40),
                   (100, 100, 1, 30), (60, 60, 1, 24), (60, 0, 0, 24), (0, 0, 0, 0)]
        body = ""
        for hint_len, tip_len, n_tools, title_len in budgets:
            tip = roadblock if roadblock and tip_len else None
            body = self._template.render(
                phase=phase,
                bar=progress_bar(n_done, len(parts.items)),
                done_since=[shorten(t, title_len) for t in titles[:MAX_DONE_SHOWN]]
                if title_len else [],
                more_done=max(0, len(titles) - MAX_DONE_SHOWN) if title_len else len(titles),
                next_item=next_item,
                hint=shorten(next_item.hint, hint_len) if next_item and hint_len else "",
                tools=", ".join(parts.tools[:n_tools]),
                roadblock=tip,
                tip=shorten(tip.unlock or "", tip_len) if tip else "",
                next_phase=next_phase,
            ).strip()
            if len(body) <= self.body_limit:
                return body
        return shorten(body, self.body_limit)

    def stalled(self, snap: ReminderSnapshot, now: datetime) -> bool:
        """No checklist change in :data:`STALL_DAYS` days (counted from joining if never)."""
        last = snap.last_event_at or snap.member_created_at
        return now - last >= timedelta(days=STALL_DAYS)

    def render(
        self, snap: ReminderSnapshot, now: datetime, pref: ReminderPrefRecord | None = None
    ) -> Reply:
        """The reminder for ``snap`` at ``now``; ``pref`` (default ``snap.pref``) gives the
        last reminder's time and the schedule shown in the footer."""
        parts = self._phases.get(snap.current_phase or self._first) or self._phases[self._first]
        phase = parts.phase
        done_ids = snap.done
        n_done = 0
        next_item = None
        for item in parts.items:
            if item.id in done_ids:
                n_done += 1
            elif next_item is None:
                next_item = item
        pref = pref or snap.pref
        since = pref.last_sent_at if pref and pref.last_sent_at else now - FIRST_LOOKBACK
        done_since = snap.done_since(since) if done_ids else []
        items = self.kb.item_by_id
        titles = tuple(items[i].title for i in done_since if i in items)
        stalled = self.stalled(snap, now)
        roadblock = parts.roadblock if stalled else None
        body = self._body(phase.number, n_done, titles, next_item.id if next_item else None,
                          stalled)
        return Reply(
            self._titles[phase.number],
            body,
            kind=Kind.REMINDER,
            actions=self._actions[phase.number],
            private=True,
            footer=self._footer(pref.weekday, pref.hour, pref.timezone) if pref else None,
            reminder=ReminderDigest(
                user_id=snap.user_id,
                phase=phase.number,
                done=n_done,
                total=len(parts.items),
                done_since=tuple(done_since),
                next_item=next_item.id if next_item else None,
                stalled=stalled,
                roadblock=roadblock.id if roadblock else None,
            ),
        )

    @staticmethod
    @lru_cache(maxsize=1024)
    def _footer(weekday: int, hour: int, timezone: str) -> str:
        day = WEEKDAYS[weekday].title()
        return f"Every {day} at {hour:02d}:00 ({timezone}) · /reminders status"


_composers: dict[int, tuple[KnowledgeBase, ReminderComposer]] = {}


def composer_for(kb: KnowledgeBase) -> ReminderComposer:
    """A cached :class:`ReminderComposer` for ``kb`` (a reloaded knowledge base gets its own)."""
    hit = _composers.get(id(kb))
    if hit is None or hit[0] is not kb:
        if len(_composers) > 8:
            _composers.clear()
        hit = (kb, ReminderComposer(kb))
        _composers[id(kb)] = hit
    return hit[1]


@overload
async def compose_reminder(deps: HasKbAndStore, user_id: int, now: datetime, /) -> Reply: ...
@overload
async def compose_reminder(
    kb: KnowledgeBase, store: Store, user_id: int, now: datetime, /
) -> Reply: ...
async def compose_reminder(*args: Any) -> Reply:
    """The reminder ``user_id`` would get at ``now``: ``compose_reminder(deps, user_id, now)``
    or ``compose_reminder(kb, store, user_id, now)``.

    Raises :class:`~bot.storage.errors.NotFound` for an unknown member.
    """
    kb, store, user_id, now = _unpack(args)
    snaps = await store.reminders.snapshots([user_id])
    if user_id not in snaps:
        raise NotFound(f"member {user_id} not found")
    return composer_for(kb).render(snaps[user_id], now)


def _unpack(args: Sequence[Any]) -> tuple[KnowledgeBase, Store, int, datetime]:
    if len(args) == 3:
        deps, user_id, now = args
        return deps.kb, deps.store, user_id, now
    if len(args) == 4:
        kb, store, user_id, now = args
        return kb, store, user_id, now
    raise TypeError("compose_reminder(deps, user_id, now) or compose_reminder(kb, store, "
                    "user_id, now)")


__all__ = [
    "BODY_LIMIT",
    "STALL_DAYS",
    "HasKbAndStore",
    "ReminderComposer",
    "compose_reminder",
    "composer_for",
    "roadblock_for_phase",
    "shorten",
    "tool_name",
]
