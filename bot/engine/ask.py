"""The ask flow: free text → intent → answer, "did you mean", or an honest "I don't know"."""

from __future__ import annotations

import logging

from bot.engine.commands import Arg, Param, action_id, command, route
from bot.engine.context import Deps, Member
from bot.engine.replies import Action, Kind, Reply, ReplyField, Style
from bot.knowledge.schema import Intent
from bot.limits import MAX_QUESTION_CHARS
from bot.matching.matcher import MatchResult
from bot.render import render
from bot.storage.errors import StorageError

log = logging.getLogger(__name__)


class AskFlow:
    def __init__(self, deps: Deps, log_questions: bool = True):
        self.deps = deps
        self.log_questions = log_questions

    def _choice(self, intent_id: str) -> Intent | None:
        return self.deps.kb.intent_by_id.get(intent_id)

    def _show_action(self, intent: Intent, style: Style = "secondary") -> Action:
        # front ends clip labels to their own limits
        return Action(action_id(self.show_topic, intent.id), intent.title, style)

    async def _log(self, member: Member, question: str, result: MatchResult) -> bool:
        status = "unanswered" if result.intent is None else result.status
        if not self.log_questions or (
            status == "answered" and not self.deps.settings.log_all_questions
        ):
            return False
        try:
            await self.deps.store.questions.log(
                question, status, result.intent, result.score, guild_id=member.guild_id
            )
        except StorageError:  # never lose the answer because the review log is down
            log.warning("could not log a question for review", exc_info=True)
            return False
        return True

    @command("ask", "answer a question about MLOps careers (a plain line works too)",
             Param("question", "text", "your question, in your own words", required=True))
    async def ask(self, member: Member, question: str) -> Reply:
        question = (question or "").strip()
        truncated = len(question) > MAX_QUESTION_CHARS
        result = self.deps.matcher.match(question[:MAX_QUESTION_CHARS])
        if result.status == "empty":
            body = render("ask_unknown", reason="empty", choices=self._popular(), logged=False)
            return Reply(
                "Ask me anything about MLOps careers",
                body,
                kind=Kind.ASK,
                actions=tuple(self._show_action(i) for i in self._popular()),
                tone="info",
                match=result,
            )
        logged = await self._log(member, question, result)
        if result.intent is None:
            choices = [i for c in result.alternatives if (i := self._choice(c.intent))]
            return Reply(
                "I don't know that one",
                render("ask_unknown", reason="unknown", choices=choices, logged=logged),
                kind=Kind.ASK,
                actions=tuple(self._show_action(i) for i in choices),
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
                actions=tuple(self._show_action(i, "primary") for i in choices),
                match=result,
            )
        alt_ids = [c.intent for c in result.alternatives]
        reply = self.show(result.intent, alternatives=alt_ids)
        footer = reply.footer
        if truncated:
            footer = f"I read the first {MAX_QUESTION_CHARS} characters of your question. " + (
                footer or ""
            )
        return Reply(
            reply.title,
            reply.body,
            kind=Kind.ASK,
            fields=reply.fields,
            actions=reply.actions,
            footer=footer,
            match=result,
            intent=result.intent,
        )

    @route("ask:show", Arg("intent", "intent"))
    async def show_topic(self, member: Member, intent: str) -> Reply:
        return self.show(intent)

    def show(self, intent_id: str, alternatives: list[str] | None = None) -> Reply:
        intent = self.deps.kb.intent_by_id.get(intent_id)
        if intent is None:
            return Reply(
                "Unknown topic",
                f"I have no topic called `{intent_id[:60]}`. Try `/faq` or just ask.",
                kind=Kind.ANSWER,
                tone="warning",
            )
        buttons: list[Action] = [
            Action(action_id(self.feedback, intent.id, True), "Helpful", "success"),
            Action(action_id(self.feedback, intent.id, False), "Not helpful"),
        ]
        fitting = _fitting(alternatives or [])
        if fitting:
            buttons.append(Action(action_id(self.alternatives, fitting), "Not what I asked"))
        related = [r for rid in intent.related if (r := self._choice(rid))][:3]
        buttons += [self._show_action(r) for r in related]
        fields = tuple(
            ReplyField(f.label, f"{f.value}\n*{f.source}*", inline=True) for f in intent.facts
        )
        footer = "Sources: " + ", ".join(intent.sources)
        return Reply(
            intent.title,
            render("answer", intent=intent),
            kind=Kind.ANSWER,
            fields=fields,
            actions=tuple(buttons),
            footer=footer,
            intent=intent.id,
        )

    @route("ask:alts", Arg("intents", "intents"))
    async def alternatives(self, member: Member, intents: list[str]) -> Reply:
        choices = [i for x in intents if (i := self._choice(x))]
        return Reply(
            "Other topics you may have meant",
            render("alternatives", choices=choices),
            kind=Kind.ASK,
            actions=tuple(self._show_action(i, "primary") for i in choices),
            private=True,
        )

    @route("ask:fb", Arg("intent", "intent"), Arg("helpful", "flag"))
    async def feedback(self, member: Member, intent: str, helpful: bool) -> Reply:
        intent_id = intent
        if intent_id not in self.deps.kb.intent_by_id:
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


def _fitting(intent_ids: list[str]) -> list[str]:
    """As many intent ids as fit in one "Not what I asked" button's id (Discord: 100 chars)."""
    out: list[str] = []
    for intent_id in intent_ids:
        try:
            action_id(AskFlow.alternatives, [*out, intent_id])
        except ValueError:
            break
        out.append(intent_id)
    return out
