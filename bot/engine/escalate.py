"""*Ask a mentor* (issue 14): a question the bot could not answer well reaches a human.

After "I don't know" (unanswered or uncovered), *Not helpful* and *Not what I asked*, the reply
offers *Ask a mentor* — only in a server whose ``/setup mentors`` set a mentors' channel; with
nothing set up the question just goes to the inbox. Pressing it asks the member, privately,
to confirm and whether to share their phase and checklist progress. *Yes* opens a thread in
the mentors' channel (the engine says so with a :class:`~bot.engine.replies.ThreadPost`; the
Discord front end opens it) with the question, the bot's best guesses (titles) and the chosen
context, and a *Claim* button. One escalation per member and question: a second press says it
is already with the mentors, with a link.

A mentor (Manage Server, or the mentor role) presses *Claim*: the post shows who claimed it
and when, without the button; two racing mentors — one wins (compare-and-set in the
database). Unclaimed after ``MENTOR_REMINDER_MINUTES``, the thread gets one reminder naming
the mentor role (mentions off, as always), sent by the reminder dispatcher's loop
(:mod:`bot.reminders.dispatcher`), exactly once across processes.

*Mark as answer* (a message command, :meth:`EscalationFlow.mark_answer`) on a reply in such a
thread stores that reply as the question's proposed answer in the inbox (``/kb inbox`` can
make it an intent) and DMs the asker the answer with a link to the thread.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.engine.commands import Arg, action_id, route
from bot.engine.context import Deps, Member, UserError
from bot.engine.replies import (
    Action,
    DirectMessage,
    Kind,
    MessageEdit,
    Reply,
    ThreadPost,
)
from bot.engine.setup import GuildSetup, setup_of
from bot.render import render, strip_controls, user_text

if TYPE_CHECKING:
    from bot.storage.repo.escalations import EscalationRecord

log = logging.getLogger(__name__)

ASK_ROUTE = "esc:ask"  # the Ask a mentor button's route
THREAD_NAME = 90  # Discord allows 100 characters
GUESSES = 3
MAX_ANSWER = 1800  # characters of a mentor's reply quoted in the asker's DM


def jump_link(guild_id: int, channel_id: int, message_id: int | None = None) -> str:
    """A link to a channel or thread (or one of its messages) on Discord."""
    link = f"https://discord.com/channels/{guild_id}/{channel_id}"
    return f"{link}/{message_id}" if message_id else link


def thread_name(question: str) -> str:
    """The thread's name: the question on one line, clipped (Discord shows it as plain text)."""
    name = " ".join(strip_controls(question).split()) or "A member's question"
    return name if len(name) <= THREAD_NAME else name[: THREAD_NAME - 1] + "…"


async def is_mentor(deps: Deps, member: Member, setup: GuildSetup | None = None) -> bool:
    """Manage Server, or the mentor role of ``/setup mentors``, in the member's server."""
    if member.guild_id is None:
        return False
    if member.is_admin:
        return True
    setup = setup or await setup_of(deps, member.guild_id)
    return setup.mentor_role is not None and setup.mentor_role in member.roles


async def ask_mentor_action(deps: Deps, member: Member, log_id: int | None) -> Action | None:
    """The *Ask a mentor* button for the logged question ``log_id``: only in a server whose
    mentors' channel is set (else the question just waits in the inbox)."""
    if member.guild_id is None or log_id is None or member.user_id <= 0:
        return None
    if (await setup_of(deps, member.guild_id)).mentor_channel is None:
        return None
    return Action(action_id(EscalationFlow.ask, log_id), "Ask a mentor", "primary")


class EscalationFlow:
    def __init__(self, deps: Deps):
        self.deps = deps

    # --- the member's side ------------------------------------------------------------------

    async def _question(self, member: Member, log_id: int) -> tuple[str, str | None, int]:
        """The member's logged question ``log_id``: its text, the intent that answered it, and
        the mentors' channel of this server (a :class:`UserError` when it can't be passed on)."""
        if member.guild_id is None:
            raise UserError("Questions reach the mentors from inside a server.")
        logged = await self.deps.store.questions.logged(log_id)
        if logged is None or not logged.text.strip():
            raise UserError("I no longer have that question. Ask it again and press "
                            "*Ask a mentor* on my reply.")
        if logged.member_id != member.user_id:
            raise UserError("Only the member who asked can pass a question to the mentors. "
                            "Ask it yourself and press *Ask a mentor* on my reply.")
        setup = await setup_of(self.deps, member.guild_id)
        if setup.mentor_channel is None:
            raise UserError("This server has no mentors' channel any more; your question is "
                            "in the mentors' inbox all the same.")
        return logged.text, logged.intent_id, setup.mentor_channel

    def _already(self, esc: EscalationRecord) -> Reply:
        where = (f"[its thread]({jump_link(esc.guild_id, esc.thread_id)})"
                 if esc.thread_id else None)
        return Reply("Already with the mentors",
                     render("escalate_done", state="already", where=where,
                            claimed=esc.claimed_name and user_text(esc.claimed_name, 80)),
                     kind=Kind.FEEDBACK, private=True)

    async def _context(self, member: Member) -> str | None:
        """What the member may share: their phase and checklist progress (None: no phase)."""
        kb = self.deps.kb
        rec = await self.deps.store.members.get(member.user_id)
        phase = kb.phase_by_number.get(rec.current_phase) if rec and rec.current_phase \
            else None
        if phase is None:
            return None
        states = await self.deps.store.checklist.states(member.user_id)
        done = [i for i in phase.checklist if (st := states.get(i.id)) and st.done]
        todo = [i for i in phase.checklist if i not in done]
        text = (f"Phase {phase.number} ({phase.title}); checklist {len(done)}/"
                f"{len(phase.checklist)} done")
        return text + (f"; next: {todo[0].title}" if todo else "")

    @route(ASK_ROUTE, Arg("question", "int"))
    async def ask(self, member: Member, question: int) -> Reply:
        """*Ask a mentor*: confirm privately, with or without the member's progress."""
        text, _, _ = await self._question(member, question)
        assert member.guild_id is not None
        found = await self.deps.store.escalations.find(member.user_id, member.guild_id, text)
        if found is not None:
            return self._already(found)
        context = await self._context(member)
        actions = [Action(action_id(self.confirm, question, False), "Yes, just the question",
                          "primary"),
                   Action(action_id(self.decline, question), "No, thanks")]
        if context is not None:
            actions.insert(0, Action(action_id(self.confirm, question, True),
                                     "Yes, with my phase and progress", "success"))
        return Reply("Ask a mentor?",
                     render("escalate_confirm", question=user_text(text, 300),
                            context=context),
                     kind=Kind.FEEDBACK, private=True, actions=tuple(actions), pending=True)

    @route("esc:no", Arg("question", "int"), updates=True)
    async def decline(self, member: Member, question: int) -> Reply:
        return Reply("Not passed on", render("escalate_done", state="declined", where=None,
                                             claimed=None),
                     kind=Kind.FEEDBACK, private=True)

    @route("esc:yes", Arg("question", "int"), Arg("share", "yn"), updates=True)
    async def confirm(self, member: Member, question: int, share: bool) -> Reply:
        """*Yes*: the escalation is stored and its thread opened (by the front end)."""
        text, answered, channel = await self._question(member, question)
        assert member.guild_id is not None
        result = self.deps.match(text)
        ids = [x for x in (answered, result.intent, *(c.intent for c in result.alternatives))
               if x and self.deps.intent(x) is not None]
        guesses = list(dict.fromkeys(ids))[:GUESSES]
        context = await self._context(member) if share else None
        setup = await setup_of(self.deps, member.guild_id)
        minutes = setup.mentor_reminder_minutes or self.deps.settings.mentor_reminder_minutes
        esc, new = await self.deps.store.escalations.open(
            member_id=member.user_id, guild_id=member.guild_id, question=text,
            guesses=guesses, context=context, channel_id=channel,
            remind_at=self.deps.clock() + timedelta(minutes=minutes))
        if not new:
            return self._already(esc)
        post = ThreadPost(member.guild_id, channel, esc.id, thread_name(text), self.post(esc))
        return Reply("Passed to the mentors",
                     render("escalate_done", state="passed", where=None, claimed=None),
                     kind=Kind.FEEDBACK, private=True, tone="success", escalate=post,
                     actions=(Action(action_id(self.take_back, esc.id),
                                     "Withdraw my question"),))

    @route("esc:withdraw", Arg("escalation", "int"), updates=True)
    async def take_back(self, member: Member, escalation: int) -> Reply:
        """The member takes back a question they passed to the mentors: the escalation and
        their part in the inbox go; the thread's post says they withdrew it."""
        esc = await self.deps.store.escalations.get(escalation)
        done = False
        edits: tuple[MessageEdit, ...] = ()
        if esc is not None and esc.member_id == member.user_id:
            for item in await self.deps.store.inbox.find(esc.question):
                if item.guild_id == esc.guild_id and item.status != "proposed_answer":
                    await self.deps.store.inbox.withdraw(item.id, member.user_id)
            edits = await self.withdrawn(member, esc.question)
            done = True
        return Reply("Question withdrawn" if done else "Nothing to withdraw",
                     render("inbox_withdrawn", done=done), kind=Kind.FEEDBACK, private=True,
                     tone="success" if done else "info", edits=edits)

    # --- the thread -------------------------------------------------------------------------

    def post(self, esc: EscalationRecord) -> Reply:
        """The thread's first message: the question, the bot's guesses, the shared context,
        who claimed it (or the *Claim* button)."""
        # escaped: a community intent's title is a member's question
        titles = [user_text(i.title, 120) for g in esc.guesses if (i := self.deps.intent(g))]
        actions = () if esc.claimed_by else (
            Action(action_id(self.claim, esc.id), "Claim", "success"),)
        return Reply("A member asks the mentors",
                     render("escalation_post", asker=esc.member_id,
                            question=user_text(esc.question, 1500), guesses=titles,
                            context=esc.context, claimed=esc.claimed_name and
                            user_text(esc.claimed_name, 80), claimed_at=esc.claimed_at),
                     kind=Kind.FEEDBACK, actions=actions,
                     tone="success" if esc.claimed_by else "info")

    @route("esc:claim", Arg("escalation", "int"), updates=True)
    async def claim(self, member: Member, escalation: int) -> Reply:
        """A mentor takes the question: the post shows who and when; one of two racing
        mentors wins."""
        if not await is_mentor(self.deps, member):
            raise UserError("Claiming a question is for mentors: members with Manage Server or "
                            "the mentor role of `/setup mentors`.")
        esc, won = await self.deps.store.escalations.claim(escalation, member.user_id,
                                                           member.name or "a mentor")
        if esc is None or esc.guild_id != member.guild_id:
            raise UserError("That question is no longer waiting (the member withdrew it).")
        if not won:
            who = user_text(esc.claimed_name or "another mentor", 80)
            when = f" <t:{int(esc.claimed_at.timestamp())}:R>" if esc.claimed_at else ""
            raise UserError(f"{who} claimed it already{when}.")
        return self.post(esc)

    async def mark_answer(self, member: Member, thread_id: int, text: str, author_id: int,
                          author_name: str, message_id: int | None = None) -> Reply:
        """*Mark as answer* on a reply in an escalation's thread: the reply becomes the
        question's proposed answer in the inbox, and the asker gets it by DM (the front end
        sends :attr:`Reply.dm` and says here whether it arrived)."""
        if not await is_mentor(self.deps, member):
            raise UserError("Mark as answer is for mentors: members with Manage Server or the "
                            "mentor role of `/setup mentors`.")
        esc = await self.deps.store.escalations.by_thread(thread_id)
        if esc is None or esc.guild_id != member.guild_id:
            raise UserError("Mark as answer works on a reply inside a question thread I opened "
                            "for the mentors.")
        answer = (text or "").strip()
        if not answer:
            raise UserError("That message has no text to use as the answer.")
        entry = await self.deps.store.inbox.propose_answer(
            esc.question, answer, mentor_id=author_id, mentor_name=author_name or "a mentor",
            guild_id=esc.guild_id, guess=esc.guesses[0] if esc.guesses else None)
        _, first = await self.deps.store.escalations.answered(esc.id)
        link = jump_link(esc.guild_id, thread_id, message_id)
        dm = Reply("A mentor answered your question",
                   render("escalation_answer", question=user_text(esc.question, 300),
                          answer=user_text_block(answer), mentor=user_text(author_name, 80),
                          link=link),
                   kind=Kind.FEEDBACK, tone="success")
        return Reply("Marked as the answer",
                     render("escalation_marked", entry=entry, first=first, delivered=None),
                     kind=Kind.ADMIN, private=True, tone="success",
                     dm=DirectMessage(esc.member_id, dm))

    @staticmethod
    def delivered(reply: Reply, ok: bool) -> Reply:
        """``reply`` of :meth:`mark_answer` once the front end tried the DM."""
        return replace(reply, body=reply.body + "\n\n" + render(
            "escalation_marked_dm", delivered=ok), tone="success" if ok else "warning")

    # --- withdrawn --------------------------------------------------------------------------

    async def withdrawn(self, member: Member, question: str) -> tuple[MessageEdit, ...]:
        """The member withdrew ``question``: their escalation of it goes, and its thread post
        says so (without their words)."""
        gone = await self.deps.store.escalations.withdraw(member.user_id, member.guild_id,
                                                          question)
        note = Reply("Withdrawn", render("escalation_withdrawn"), kind=Kind.FEEDBACK)
        return tuple(MessageEdit(e.thread_id, e.message_id, note) for e in gone
                     if e.thread_id and e.message_id)


def reminder_message(setup: GuildSetup) -> Reply:
    """The one reminder in an unclaimed escalation's thread: it names the mentor role (mentions
    are off on every message, so it pings nobody)."""
    return Reply("Still waiting for a mentor",
                 render("escalation_reminder", role=setup.mentor_role),
                 kind=Kind.REMINDER, tone="warning")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted ``values`` (``share`` 0.5: the median)."""
    rank = max(1, -(-len(values) * share // 1))  # ceil
    return values[int(rank) - 1]


def duration(seconds: float) -> str:
    """``45 s``, ``30 min``, ``2 h 5 min``, ``3 d 4 h``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    minutes = round(s / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def answer_times(seconds: list[float]) -> tuple[int, str, str] | None:
    """(answered escalations, median, p90) as text; None when none was answered."""
    if not seconds:
        return None
    return len(seconds), duration(percentile(seconds, 0.5)), duration(percentile(seconds, 0.9))


def user_text_block(text: str, limit: int = MAX_ANSWER) -> str:
    """A mentor's multi-line answer quoted safely: each line escaped like :func:`user_text`."""
    lines = [user_text(line, limit) for line in text.strip().splitlines()]
    out, used = [], 0
    for line in lines:
        if used + len(line) > limit:
            out.append("…")
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)
