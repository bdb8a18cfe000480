"""The ask flow: free text → intent → answer, "did you mean", or an honest "I don't know"."""

from __future__ import annotations

import logging
import re
from dataclasses import replace

from bot.engine.commands import Arg, Param, action_id, command, route
from bot.engine.context import Deps, Member
from bot.engine.escalate import ASK_ROUTE, EscalationFlow, ask_mentor_action
from bot.engine.language import not_english
from bot.engine.replies import Action, Kind, MessageEdit, Reply, ReplyField, Style
from bot.knowledge.loader import KnowledgeBase
from bot.knowledge.schema import Intent, source_name, tool_slug
from bot.limits import MAX_QUESTION_CHARS
from bot.matching.matcher import MatchResult
from bot.render import render, source_list, user_text
from bot.storage.errors import StorageError

log = logging.getLogger(__name__)

FORUM_SCORE = 2.5  # a forum post is answered above this many times the matcher's threshold …
FORUM_GAP = 0.7  # … with the runner-up below this share of the top score

#: Answers that depend on where the member is: they end with the member's own next step.
FOR_YOU = frozenset({"faq.which-phase", "roadblock.which-tools-next", "faq.learning-roadmap",
                     "roadblock.tools-not-promoted"})


class AskFlow:
    def __init__(self, deps: Deps, stateless: bool = False):
        """``stateless``: no database (``mentorbot ask``): nothing is logged and answers carry
        no personal line."""
        self.deps = deps
        self.stateless = stateless

    def _choice(self, intent_id: str) -> Intent | None:
        return self.deps.intent(intent_id)

    def show_action(self, intent: Intent, style: Style = "secondary") -> Action:
        # front ends clip labels to their own limits
        return Action(action_id(self.show_topic, intent.id), intent.title, style)

    async def _log(self, member: Member, question: str, result: MatchResult,
                   ) -> tuple[int | None, int | None]:
        """Log the question (answered ones too: their *Not helpful* / *Not what I asked*
        buttons refer to it by id, so the question stays on the server) and put one the bot
        could not answer outright in the mentors' inbox, unless a mentor taught it as
        off-topic. Returns (log id, inbox entry id)."""
        status = "unanswered" if result.intent is None or result.uncovered else result.status
        if self.stateless:
            return None, None
        user_id = member.user_id if member.user_id > 0 else None
        store = self.deps.store
        log_id = entry_id = None
        try:
            answered = status == "answered" and result.intent is not None
            log_id = await store.questions.log(  # an answered one counts for its intent too
                question, status, result.intent, result.score, guild_id=member.guild_id,
                user_id=user_id, count_ask=answered,
            )
            if not answered and self.deps.live.taught(question) is None:
                guess = result.intent if result.intent and not result.uncovered else next(
                    (c.intent for c in result.alternatives
                     if self.deps.intent(c.intent) is not None), None)
                entry_id = await store.inbox.record(
                    question, status, guess, member.guild_id, user_id=user_id)
        except StorageError:  # never lose the answer because the review log is down
            log.warning("could not log a question for review", exc_info=True)
        return log_id, entry_id

    async def _mentor_action(self, member: Member, log_id: int | None) -> tuple[Action, ...]:
        """*Ask a mentor*, where the server has a mentors' channel (issue 14)."""
        if self.stateless:
            return ()
        try:
            action = await ask_mentor_action(self.deps, member, log_id)
        except StorageError:  # the answer stands without the button
            log.warning("could not read the server's setup for Ask a mentor", exc_info=True)
            return ()
        return (action,) if action is not None else ()

    def _withdraw_action(self, entry_id: int | None) -> tuple[Action, ...]:
        if entry_id is None:
            return ()
        return (Action(action_id(self.withdraw, entry_id), "Withdraw my question"),)

    @route("ask:withdraw", Arg("entry", "int"))
    async def withdraw(self, member: Member, entry: int) -> Reply:
        """A member takes back a question they passed to the mentors (their part only)."""
        item = await self.deps.store.inbox.get(entry)
        done = await self.deps.store.inbox.withdraw(entry, member.user_id)
        edits: tuple[MessageEdit, ...] = ()
        if item is not None:  # and the question the member passed to the mentors
            edits = await EscalationFlow(self.deps).withdrawn(member, item.question)
        done = done or bool(edits)
        return Reply("Question withdrawn" if done else "Nothing to withdraw",
                     render("inbox_withdrawn", done=done), kind=Kind.FEEDBACK, private=True,
                     tone="success" if done else "info", edits=edits)

    @command("ask", "answer a question about MLOps careers (a plain line works too)",
             Param("question", "text", "your question, in your own words", required=True))
    async def ask(self, member: Member, question: str) -> Reply:
        question = (question or "").strip()
        truncated = len(question) > MAX_QUESTION_CHARS
        result = self.deps.match(question[:MAX_QUESTION_CHARS])
        if result.status == "empty":
            body = render("ask_unknown", reason="empty", choices=self._popular(), logged=False,
                          english_only=not_english(question))
            return Reply(
                "Ask me anything about MLOps careers",
                body,
                kind=Kind.ASK,
                actions=tuple(self.show_action(i) for i in self._popular()),
                tone="info",
                match=result,
            )
        log_id, entry_id = await self._log(member, question, result)
        mentor = await self._mentor_action(member, log_id) if (
            result.uncovered or result.intent is None) else ()
        if result.uncovered:
            reply = self._uncovered(result)
            return replace(reply, actions=(*mentor, *reply.actions,
                                           *self._withdraw_action(entry_id)))
        if result.intent is None:
            choices = [i for c in result.alternatives if (i := self._choice(c.intent))]
            return Reply(
                "I don't know that one",
                render("ask_unknown", reason="unknown", choices=choices,
                       logged=entry_id is not None, english_only=not_english(question)),
                kind=Kind.ASK,
                actions=(*mentor, *(self.show_action(i) for i in choices),
                         *self._withdraw_action(entry_id)),
                tone="warning",
                match=result,
            )
        if result.status == "ambiguous":
            ids = [result.intent, *(c.intent for c in result.alternatives)]
            choices = [i for x in ids if (i := self._choice(x))]
            return Reply(
                "Did you mean…",
                render("ask_ambiguous", choices=choices),
                kind=Kind.ASK,
                actions=(*(self.show_action(i, "primary") for i in choices),
                         *self._withdraw_action(entry_id)),
                match=result,
            )
        alt_ids = [c.intent for c in result.alternatives]
        reply = self.first_answer(result.intent, alternatives=alt_ids,
                                  slots=slots_of(result, self.deps.kb), log_id=log_id)
        footer = reply.footer
        if truncated:
            footer = f"I read the first {MAX_QUESTION_CHARS} characters of your question. " + (
                footer or ""
            )
        body = reply.body
        if not self.stateless and (result.intent in FOR_YOU or
                                   result.intent.startswith("phase.")):
            body += "\n\n" + await self._for_you(member)
        return replace(reply, kind=Kind.ASK, body=body, footer=footer, match=result)

    async def answer_for(self, member: Member, question: str, asker: str) -> Reply:
        """Answer someone else's message (Discord's *Answer with mentorbot*): the usual answer,
        introduced with who asked and what, quoted safely. ``member`` is who used it."""
        reply = await self.ask(member, question)
        if reply.kind == Kind.ERROR:
            return reply
        intro = render("answering", asker=asker, question=question)
        # someone else's words: not for the one who used it to pass on as their own question
        actions = tuple(a for a in reply.actions
                        if not a.id.startswith(ASK_ROUTE + ":"))
        return replace(reply, body=f"{intro}\n\n{reply.body}", private=False, actions=actions)

    async def _for_you(self, member: Member) -> str:
        """The member's own next step, for answers that depend on their phase."""
        kb = self.deps.kb
        try:
            number, done = await self.deps.store.members.phase_and_done(member.user_id)
            phase = kb.phase_by_number.get(number) if number else None
        except StorageError:  # the answer stands without the personal line
            log.warning("could not read the member's phase for the answer", exc_info=True)
            return ""
        if phase is None:
            return (f"**For you:** take `/quiz` ({len(kb.quiz.questions)} yes/no questions) "
                    "to find your phase, and I'll point you at your next step.")
        todo = [i for i in phase.checklist if i.id not in done]
        if not todo:
            return (f"**For you:** your phase {phase.number} checklist is complete: look at "
                    f"phase {phase.number + 1} with `/phase {phase.number + 1}`."
                    if phase.number + 1 in kb.phase_by_number else
                    f"**For you:** your phase {phase.number} checklist is complete.")
        return (f"**For you** (phase {phase.number}): next on your checklist is "
                f"**{todo[0].title}** (`/checklist done {todo[0].id}` when it's done).")

    def _uncovered(self, result: MatchResult) -> Reply:
        """An in-domain question the sources don't cover: said honestly, with the nearest
        topics they do cover."""
        topic = next(t for t in self.deps.kb.uncovered if t.id == result.intent)
        choices = [i for x in topic.nearest if (i := self._choice(x))]
        return Reply("My sources don't cover that",
                     render("ask_uncovered", topic=topic, choices=choices, mentor=None),
                     kind=Kind.ASK, actions=tuple(self.show_action(i) for i in choices),
                     tone="warning", match=result)

    @route("ask:show", Arg("intent", "intent"))
    async def show_topic(self, member: Member, intent: str) -> Reply:
        return self.first_answer(intent)

    def _unknown_topic(self, intent_id: str) -> Reply:
        return Reply("Unknown topic",
                     f"I have no topic called `{intent_id[:60]}`. Try `/faq` or just ask.",
                     kind=Kind.ANSWER, tone="warning")

    def _feedback_actions(self, intent: Intent, log_id: int | None = None) -> list[Action]:
        if log_id is not None:  # the question stays on the server, the button names it
            return [Action(action_id(self.feedback_on, log_id, intent.id, True), "Helpful",
                           "success"),
                    Action(action_id(self.feedback_on, log_id, intent.id, False),
                           "Not helpful")]
        return [Action(action_id(self.feedback, intent.id, True), "Helpful", "success"),
                Action(action_id(self.feedback, intent.id, False), "Not helpful")]

    def _footer(self, intent: Intent, full: bool = False) -> str:
        community = self.deps.live.sources.get(intent.id)
        if community is not None:
            return "Source: " + user_text(community, 200)
        if full:
            return "Sources: " + source_list(intent.sources)
        return "Sources: " + ", ".join(dict.fromkeys(source_name(f) for f in intent.sources))

    def first_answer(self, intent_id: str, alternatives: list[str] | None = None,
                     slots: dict[str, object] | None = None,
                     log_id: int | None = None) -> Reply:
        """What a member sees first: the part of the answer their question asked for (a
        level's pay, a phase, a tool pair, a quiz score) or the short answer; *More* opens the
        whole card."""
        intent = self.deps.intent(intent_id)
        if intent is None:
            return self._unknown_topic(intent_id)
        parts = intent.parts_for(**slots) if slots else []
        buttons = [Action(action_id(self.full_answer, intent.id), "More", "primary"),
                   *self._feedback_actions(intent, log_id)]
        if log_id is not None:  # pressed even with no alternatives: the mentors see it
            buttons.append(Action(action_id(self.not_what_i_asked, log_id,
                                            _fitting(alternatives or [], log_id)),
                                  "Not what I asked"))
        elif fitting := _fitting(alternatives or []):
            buttons.append(Action(action_id(self.alternatives, fitting), "Not what I asked"))
        return Reply(
            intent.title,
            render("answer_short", intent=intent, part=parts[0] if parts else None),
            kind=Kind.ANSWER,
            actions=tuple(buttons),
            footer=self._footer(intent),
            intent=intent.id,
        )

    # --- the help-forum first responder ----------------------------------------------------

    def sure(self, result: MatchResult) -> bool:
        """Stricter than an /ask answer: a forum post is answered unasked, so only when the
        match is clear (on the dev questions: 85% of in-scope titles answered, 1 wrong of
        246; 1 of 66 off-topic ones)."""
        runner_up = result.alternatives[0].score if result.alternatives else 0.0
        return (result.status == "answered" and not result.uncovered
                and result.intent in self.deps.kb.intent_by_id
                and result.score >= FORUM_SCORE * self.deps.matcher.config.threshold
                and runner_up <= FORUM_GAP * result.score)

    async def first_response(self, member: Member, title: str) -> Reply | None:
        """The answer to a new help-forum post (its title), or None when not sure enough."""
        result = self.deps.match(title[:MAX_QUESTION_CHARS])
        if not self.sure(result) or result.intent is None:
            return None
        first = self.first_answer(result.intent, slots=slots_of(result, self.deps.kb))
        actions = (Action(action_id(self.forum_solved, result.intent), "Solved", "success"),
                   Action(action_id(self.forum_help, result.intent), "Still need help"),
                   *(a for a in first.actions if a.label == "More"))
        intro = render("forum_first", title=title)
        return replace(first, body=f"{intro}\n\n{first.body}", actions=actions, match=result,
                       private=False)

    @route("forum:solved", Arg("intent", "intent"))
    async def forum_solved(self, member: Member, intent: str) -> Reply:
        await self.feedback(member, intent, True)
        return Reply("Marked as solved", render("forum_followup", solved=True),
                     kind=Kind.FEEDBACK, private=True, tone="success")

    @route("forum:help", Arg("intent", "intent"))
    async def forum_help(self, member: Member, intent: str) -> Reply:
        await self.feedback(member, intent, False)
        return Reply("Still open", render("forum_followup", solved=False),
                     kind=Kind.FEEDBACK, tone="info")

    @route("ask:more", Arg("intent", "intent"))
    async def full_answer(self, member: Member, intent: str) -> Reply:
        return self.show(intent)

    def show(self, intent_id: str) -> Reply:
        """The whole card: the full answer, its facts and related topics."""
        intent = self.deps.intent(intent_id)
        if intent is None:
            return self._unknown_topic(intent_id)
        related = [r for rid in intent.related if (r := self._choice(rid))][:3]
        buttons = [*self._feedback_actions(intent), *(self.show_action(r) for r in related)]
        fields = tuple(
            ReplyField(f.label, f"{f.value}\n*{source_name(f.source)}*", inline=True)
            for f in intent.facts
        )
        return Reply(
            intent.title,
            render("answer", intent=intent),
            kind=Kind.ANSWER,
            fields=fields,
            actions=tuple(buttons),
            footer=self._footer(intent, full=True),
            intent=intent.id,
        )

    @route("ask:alts", Arg("intents", "intents"))
    async def alternatives(self, member: Member, intents: list[str]) -> Reply:
        choices = [i for x in intents if (i := self._choice(x))]
        return Reply(
            "Other topics you may have meant",
            render("alternatives", choices=choices),
            kind=Kind.ASK,
            actions=tuple(self.show_action(i, "primary") for i in choices),
            private=True,
        )

    @route("ask:nwia", Arg("question", "int"), Arg("intents", "intents_opt"))
    async def not_what_i_asked(self, member: Member, question: int,
                               intents: list[str]) -> Reply:
        """*Not what I asked* on an answer: counted against the intent that answered, the
        question goes to the mentors' inbox; the member gets the other topics."""
        logged = await self.deps.store.questions.logged(question)
        answered = logged.intent_id if logged is not None else None
        if logged is not None and answered and self.deps.intent(answered) is not None:
            # the question is its asker's (whoever pressed): their part, in their export,
            # and gone with their deletion
            await self.deps.store.inbox.not_what_i_asked(
                answered, logged.text, user_id=logged.member_id, guild_id=member.guild_id)
        choices = [i for x in intents if (i := self._choice(x))]
        mentor = await self._mentor_action(member, question) if (
            logged is not None and logged.member_id == member.user_id) else ()
        return Reply(
            "Other topics you may have meant",
            render("alternatives", choices=choices, noted=logged is not None),
            kind=Kind.ASK,
            actions=(*mentor, *(self.show_action(i, "primary") for i in choices)),
            private=True,
        )

    @route("ask:fbq", Arg("question", "int"), Arg("intent", "intent"), Arg("helpful", "flag"))
    async def feedback_on(self, member: Member, question: int, intent: str,
                          helpful: bool) -> Reply:
        """Helpful / Not helpful on the answer to a logged question: *Not helpful* puts the
        question in the mentors' inbox."""
        reply = await self.feedback(member, intent, helpful)
        if not helpful and reply.tone == "success":
            logged = await self.deps.store.questions.logged(question)
            if logged is not None:  # the asker's part (the press is in the presser's feedback)
                await self.deps.store.inbox.record(
                    logged.text, "not_helpful", intent, member.guild_id,
                    user_id=logged.member_id)
                if logged.member_id == member.user_id:
                    reply = replace(reply, actions=(
                        *reply.actions, *await self._mentor_action(member, question)))
        return reply

    @route("ask:fb", Arg("intent", "intent"), Arg("helpful", "flag"))
    async def feedback(self, member: Member, intent: str, helpful: bool) -> Reply:
        intent_id = intent
        if self.deps.intent(intent_id) is None:
            return Reply("Unknown topic", "That answer no longer exists.", kind=Kind.FEEDBACK,
                         tone="warning")
        await self.deps.store.members.touch(member.user_id, guild_id=member.guild_id)
        await self.deps.store.questions.feedback(
            member.user_id, intent_id, helpful, guild_id=member.guild_id
        )
        return Reply(
            "Thanks for the feedback",
            render("feedback", helpful=helpful),
            kind=Kind.FEEDBACK,
            private=True,
            tone="success",
        )

    def _popular(self) -> list[Intent]:
        picks = ["faq.which-phase", "faq.time-to-senior", "roadblock.tools-not-promoted"]
        return [i for p in picks if (i := self._choice(p))]


def _fitting(intent_ids: list[str], log_id: int | None = None) -> list[str]:
    """As many intent ids as fit in one "Not what I asked" button's id (Discord: 100 chars)."""
    out: list[str] = []
    for intent_id in intent_ids:
        try:
            if log_id is None:
                action_id(AskFlow.alternatives, [*out, intent_id])
            else:
                action_id(AskFlow.not_what_i_asked, log_id, [*out, intent_id])
        except ValueError:
            break
        out.append(intent_id)
    return out


def slots_of(result: MatchResult, kb: KnowledgeBase) -> dict[str, object]:
    """The matcher's slots (the level, phase or tools a question names) as the keyword
    arguments of :meth:`~bot.knowledge.schema.Intent.parts_for`."""
    slots = result.slots
    found: dict[str, object] = {"level": slots.level, "phase": slots.phase}
    if slots.tools:
        found["tool"] = [_part_tool(name, kb) for name in slots.tools]
    text = result.question.casefold()
    named = [s.file for s in kb.sources.sources
             if "not named" not in s.publisher and s.publisher.casefold() in text]
    if len(named) == 1:  # "what does DecipherU say about pay"
        found["source"] = named[0]
    if slots.yes is not None:  # "what does 4 yes mean"
        found["yes_count"] = slots.yes
    return {k: v for k, v in found.items() if v is not None}


def _part_tool(name: str, kb: KnowledgeBase) -> str:
    """A tool's name (``Apache Airflow``) as the parts name it (``airflow``)."""
    known = kb.part_tools
    slug = tool_slug(name)
    for candidate in (slug, re.sub(r"^(apache|aws|google|azure)-", "", slug),
                      re.sub(r"-ai$", "", slug)):
        if candidate in known:
            return candidate
    return slug
