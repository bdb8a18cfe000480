"""The ask flow: free text → intent → answer, "did you mean", or an honest "I don't know"."""

from __future__ import annotations

import logging

from bot.engine import actions
from bot.engine.context import Deps, Member
from bot.engine.replies import Action, Reply, ReplyField
from bot.knowledge.schema import Intent
from bot.matching.matcher import MatchResult
from bot.render import render
from bot.storage.errors import StorageError

log = logging.getLogger(__name__)

MAX_QUESTION = 4000  # longer questions are matched on their start; the member is told


class AskFlow:
    def __init__(self, deps: Deps, log_questions: bool = True):
        self.deps = deps
        self.log_questions = log_questions

    def _choice(self, intent_id: str) -> Intent | None:
        return self.deps.kb.intent_by_id.get(intent_id)

    def _show_action(self, intent: Intent, style: str = "secondary") -> Action:
        return Action(
            actions.make("ask", "show", actions.short_intent(intent.id)),
            intent.title,  # front ends clip labels to their own limits
            style,  # type: ignore[arg-type]
        )

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

    async def ask(self, member: Member, question: str) -> Reply:
        question = (question or "").strip()
        truncated = len(question) > MAX_QUESTION
        result = self.deps.matcher.match(question[:MAX_QUESTION])
        if result.status == "empty":
            body = render("ask_unknown", reason="empty", choices=self._popular(), logged=False)
            return Reply(
                "Ask me anything about MLOps careers",
                body,
                kind="ask",
                actions=tuple(self._show_action(i) for i in self._popular()),
                tone="info",
                meta={"match": result},
            )
        logged = await self._log(member, question, result)
        if result.intent is None:
            choices = [i for c in result.alternatives if (i := self._choice(c.intent))]
            return Reply(
                "I don't know that one",
                render("ask_unknown", reason="unknown", choices=choices, logged=logged),
                kind="ask",
                actions=tuple(self._show_action(i) for i in choices),
                tone="warning",
                meta={"match": result},
            )
        if result.status == "ambiguous":
            ids = [result.intent, *(c.intent for c in result.alternatives)]
            choices = [i for x in ids if (i := self._choice(x))]
            return Reply(
                "Did you mean…",
                render("ask_ambiguous", choices=choices),
                kind="ask",
                actions=tuple(self._show_action(i, "primary") for i in choices),
                meta={"match": result},
            )
        alt_ids = [c.intent for c in result.alternatives]
        reply = self.show(result.intent, alternatives=alt_ids)
        footer = reply.footer
        if truncated:
            footer = f"I read the first {MAX_QUESTION} characters of your question. " + (
                footer or ""
            )
        return Reply(
            reply.title,
            reply.body,
            kind="ask",
            fields=reply.fields,
            actions=reply.actions,
            footer=footer,
            meta={"match": result, "intent": result.intent},
        )

    def show(self, intent_id: str, alternatives: list[str] | None = None) -> Reply:
        intent = self.deps.kb.intent_by_id.get(intent_id)
        if intent is None:
            return Reply(
                "Unknown topic",
                f"I have no topic called `{intent_id[:60]}`. Try `/faq` or just ask.",
                kind="ask",
                tone="warning",
            )
        short = actions.short_intent(intent.id)
        buttons: list[Action] = [
            Action(actions.make("ask", "fb", short, 1), "Helpful", "success"),
            Action(actions.make("ask", "fb", short, 0), "Not helpful"),
        ]
        if alternatives:
            arg = actions.intents_arg(alternatives, actions.MAX_LEN - len("ask:alts:"))
            buttons.append(
                Action(actions.make("ask", "alts", arg), "Not what I asked")
            )
        related = [r for rid in intent.related if (r := self._choice(rid))][:3]
        buttons += [self._show_action(r) for r in related]
        fields = tuple(
            ReplyField(f.label, f"{f.value}\n*{f.source}*", inline=True) for f in intent.facts
        )
        footer = "Sources: " + ", ".join(intent.sources)
        return Reply(
            intent.title,
            render("answer", intent=intent),
            kind="answer",
            fields=fields,
            actions=tuple(buttons),
            footer=footer,
            meta={"intent": intent.id},
        )

    def alternatives(self, arg: str) -> Reply:
        ids = [actions.long_intent(s) for s in arg.split(",") if s]
        choices = [i for x in ids if (i := self._choice(x))]
        return Reply(
            "Other topics you may have meant",
            render("alternatives", choices=choices),
            kind="ask",
            actions=tuple(self._show_action(i, "primary") for i in choices),
            private=True,
        )

    async def feedback(self, member: Member, intent_id: str, helpful: bool) -> Reply:
        if intent_id not in self.deps.kb.intent_by_id:
            return Reply("Unknown topic", "That answer no longer exists.", tone="warning")
        await self.deps.store.members.touch(member.user_id, guild_id=member.guild_id)
        await self.deps.store.questions.feedback(
            member.user_id, intent_id, helpful, guild_id=member.guild_id
        )
        return Reply(
            "Thanks for the feedback",
            render("feedback", helpful=helpful),
            kind="feedback",
            private=True,
            tone="success",
        )

    def _popular(self) -> list[Intent]:
        picks = ["faq.which-phase", "faq.time-to-senior", "roadblock.tools-not-promoted"]
        return [i for p in picks if (i := self._choice(p))]
