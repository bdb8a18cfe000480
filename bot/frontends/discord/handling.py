"""One way every interaction is handled, whether a slash command or a button: time it, run the
engine, answer in time, count it, and never let an exception reach Discord.

Two promises on top:

* **bounded work**: at most :data:`MAX_IN_FLIGHT` interactions run at once per process; past
  that a member is told at once that the bot is busy (and nothing was changed) instead of
  waiting in a queue until Discord gives up on the interaction;
* **replies that stay true**: when Discord refuses the reply to a change that was already
  saved (429, 5xx, an expired interaction), the member's next interaction starts with
  "Saved earlier: …", so a stored change is never reported as lost.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord

from bot.engine.context import Member
from bot.engine.core import busy_reply
from bot.engine.replies import ErrorCause, Kind, Reply
from bot.frontends.discord.context import member_from
from bot.frontends.discord.effects import apply_effects, apply_thread_effects, member_role_ids
from bot.frontends.discord.present import run_in_time, send_error, send_reply

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 64  # interactions one process works on at once; more are turned away
UNDELIVERED_KEEP = 10_000  # members whose last saved change could not be reported
UNDELIVERED_TTL = 15 * 60.0  # seconds a "saved earlier" note waits for the next interaction

#: Replies that report a change the engine has stored.
WRITES = (Kind.CHECKLIST, Kind.QUIZ, Kind.QUIZ_RESULT, Kind.REMINDERS, Kind.PRIVACY,
          Kind.FEEDBACK, Kind.CHECKIN)


class Undelivered:
    """Per member, the title of the last saved change whose reply Discord refused."""

    def __init__(self, keep: int = UNDELIVERED_KEEP, ttl: float = UNDELIVERED_TTL):
        self.keep, self.ttl = keep, ttl
        self._notes: OrderedDict[int, tuple[float, str]] = OrderedDict()

    def remember(self, user_id: int, note: str) -> None:
        self._notes[user_id] = (time.monotonic(), note)
        self._notes.move_to_end(user_id)
        while len(self._notes) > self.keep:
            self._notes.popitem(last=False)

    def take(self, user_id: int) -> str | None:
        entry = self._notes.pop(user_id, None)
        if entry is None or time.monotonic() - entry[0] > self.ttl:
            return None
        return entry[1]

    def __len__(self) -> int:
        return len(self._notes)


def _after(bot: MentorBot, interaction: discord.Interaction, reply: Reply) -> None:
    """What the reply asks besides itself (phase roles, a milestone post), once the member
    has their answer: in the background, so the interaction is done."""
    if reply.roles or reply.announce:
        bot.spawn(apply_effects(bot, reply, member_role_ids(interaction, reply)),
                  "reply effects")
    if reply.escalate is not None or reply.edits:
        bot.spawn(apply_thread_effects(bot, reply), "thread effects")


def _with_note(reply: Reply, note: str) -> Reply:
    from dataclasses import replace

    saved = f"Saved earlier (the reply didn't reach you): {note}"
    return replace(reply, footer=f"{saved}\n{reply.footer}" if reply.footer else saved)


async def handle(
    bot: MentorBot,
    interaction: discord.Interaction,
    name: str,
    work: Callable[[Member], Awaitable[Reply]],
    *,
    ephemeral: bool,
    update: bool = False,
) -> Reply | None:
    """Run ``work(member)`` and send its reply: a new message (ephemeral when asked or when the
    reply is private), or with ``update`` an edit of the message whose button was pressed."""
    started = time.perf_counter()
    metrics = bot.metrics
    reply: Reply | None = None
    try:
        member = member_from(interaction)
        if bot.in_flight >= bot.max_in_flight:
            reply = busy_reply()
        else:
            bot.in_flight += 1
            try:
                reply = await run_in_time(interaction, lambda: work(member),
                                          ephemeral=ephemeral, update=update)
            finally:
                bot.in_flight -= 1
        note = bot.undelivered.take(member.user_id)
        if note is not None:
            reply = _with_note(reply, note)
        try:
            await send_reply(interaction, reply, ephemeral=ephemeral or reply.private,
                             update=update and reply.kind != Kind.ERROR)
        except discord.HTTPException as exc:
            _after(bot, interaction, reply)  # saved all the same
            if reply.kind in WRITES and reply.error is None:
                bot.undelivered.remember(member.user_id, reply.title)
            metrics.interaction(name, "undelivered")
            log.warning("%s: Discord refused the reply (%s %s); %s", name, exc.status,
                        exc.code, "the change is saved and will be reported next time"
                        if reply.kind in WRITES else "nothing was changed")
            return reply
        _after(bot, interaction, reply)
    except Exception:
        metrics.interaction(name, "error")
        error_id = await send_error(interaction, "Something went wrong on my side.")
        log.exception("%s failed [%s]", name, error_id)
        return None
    metrics.latency.labels(command=name).observe(time.perf_counter() - started)
    outcome = "ok" if reply.kind != Kind.ERROR else (
        "busy" if reply.error == ErrorCause.BUSY else "error")
    metrics.interaction(name, outcome)
    if reply.unanswered:
        metrics.unanswered.inc()
    if reply.error == ErrorCause.DATABASE:
        metrics.db_errors.inc()
    if reply.kind == Kind.QUIZ_RESULT:
        metrics.quiz_completions.inc()
    return reply

