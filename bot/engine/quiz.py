"""The phase quiz: yes/no questions (as many as quiz.yaml has), one at a time, with back,
restart and resume.

Every answer is stored as it is given, so a member who leaves half-way resumes where they were,
and a button pressed after a restart acts on the stored attempt. Buttons carry the attempt id
and question index, so a double click or a stale message cannot answer the wrong question.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from bot.engine.commands import Arg, Param, action_id, command, route
from bot.engine.community import role_effects
from bot.engine.context import Deps, Member, UserError
from bot.engine.replies import Action, Kind, QuizOutcome, QuizStep, Reply
from bot.render import progress_bar, render
from bot.storage.errors import Conflict, NotFound

if TYPE_CHECKING:
    from bot.engine.checklist import ChecklistFlow
    from bot.engine.reminders import RemindersFlow
    from bot.storage.records import QuizAttemptRecord


class QuizFlow:
    def __init__(self, deps: Deps, checklist: ChecklistFlow, reminders: RemindersFlow):
        self.deps = deps
        self.checklist = checklist
        self.reminders = reminders

    @property
    def total(self) -> int:
        return len(self.deps.kb.quiz.questions)

    @command("quiz", "yes/no questions that place you in a phase",
             Param("restart", "flag", "start a new quiz instead of resuming"), private=True)
    async def start(self, member: Member, restart: bool = False) -> Reply:
        await self.deps.store.members.touch(member.user_id, guild_id=member.guild_id)
        attempt = await self.deps.store.quiz.start(member.user_id, restart=restart)
        return await self._next(member, attempt)

    async def resume(self, member: Member) -> Reply | None:
        """The question an open quiz waits at, or None when no quiz is open."""
        attempt = await self.deps.store.quiz.open_attempt(member.user_id)
        return await self._next(member, attempt) if attempt is not None else None

    @route("quiz:start", updates=True)
    async def start_button(self, member: Member) -> Reply:
        return await self.start(member)

    @route("quiz:restart", updates=True)
    async def restart(self, member: Member) -> Reply:
        return await self.start(member, restart=True)

    @route("quiz:ans", Arg("attempt_id", "int"), Arg("index", "int"), Arg("yes", "yn"),
           updates=True)
    async def answer(self, member: Member, attempt_id: int, index: int, yes: bool) -> Reply:
        if index >= self.total:  # a button of a longer quiz than the knowledge base has now
            return self._stale("the quiz has changed since")
        try:
            attempt = await self.deps.store.quiz.answer(attempt_id, member.user_id, index, yes)
        except NotFound:
            return self._stale("it was deleted")
        except Conflict:
            owned = await self._owned(member, attempt_id)
            if owned is None:  # someone else's button: told privately, their message stays
                raise UserError("That quiz belongs to someone else: start your own with "
                                "`/quiz`.") from None
            if owned.status == "finished":  # a re-click after the last answer: the result
                return self.result(owned)
            if owned.status != "open":
                return self._stale("you started a new one")
            attempt = owned  # a stale or repeated click: the question the quiz is at
        return await self._next(member, attempt)

    @route("quiz:back", Arg("attempt_id", "int"), updates=True)
    async def back(self, member: Member, attempt_id: int) -> Reply:
        try:
            attempt = await self.deps.store.quiz.back(attempt_id, member.user_id)
        except (NotFound, Conflict):
            return self._stale("it is no longer open")
        return await self._next(member, attempt)

    async def _owned(self, member: Member, attempt_id: int) -> QuizAttemptRecord | None:
        try:
            attempt = await self.deps.store.quiz.get(attempt_id)
        except NotFound:
            return None
        return attempt if attempt.user_id == member.user_id else None

    async def _next(self, member: Member, attempt: QuizAttemptRecord) -> Reply:
        if attempt.status == "finished":
            return self.result(attempt)
        index = len(attempt.answers)
        if index >= self.total:
            phase = self.deps.kb.phase_for_score(sum(attempt.answers))
            attempt = await self.deps.store.quiz.finish(attempt.id, member.user_id, phase,
                                                         questions=self.total)
            result = self.result(attempt)
            effects = await role_effects(self.deps, member, attempt.phase or phase)
            return replace(result, roles=effects) if effects else result
        question = self.deps.kb.quiz.questions[index]
        buttons = [
            Action(action_id(self.answer, attempt.id, index, True), "Yes", "success"),
            Action(action_id(self.answer, attempt.id, index, False), "No", "danger"),
        ]
        if index > 0:
            buttons.append(Action(action_id(self.back, attempt.id), "Back"))
        buttons.append(Action(action_id(self.restart), "Start over"))
        return Reply(
            "Which phase are you in?",
            render(
                "quiz_question",
                intro=self.deps.kb.quiz.intro,
                index=index,
                total=self.total,
                question=question,
                progress=progress_bar(index, self.total, width=self.total),
            ),
            kind=Kind.QUIZ,
            actions=tuple(buttons),
            private=True,
            quiz=QuizStep(attempt.id, index),
            pending=True,
        )

    def result(self, attempt: QuizAttemptRecord) -> Reply:
        kb = self.deps.kb
        score = attempt.score if attempt.score is not None else sum(attempt.answers)
        phase = kb.phase_by_number[attempt.phase or kb.phase_for_score(score)]
        route = next(r for r in kb.quiz.routing if r.min_yes <= score <= r.max_yes)
        reasons = [q.why for q, yes in zip(kb.quiz.questions, attempt.answers, strict=False) if yes]
        return Reply(
            f"You're in phase {phase.number}: {phase.title}",
            render(
                "quiz_result",
                score=score,
                total=self.total,
                verdict=route.verdict,
                phase=phase,
                yes_reasons=reasons,
            ),
            kind=Kind.QUIZ_RESULT,
            actions=(
                Action(action_id(self.reminders.on_button), "Weekly reminders", "primary"),
                Action(action_id(self.checklist.view_phase, phase.number), "Open my checklist",
                       "success"),
                Action(action_id(self.restart), "Retake the quiz"),
            ),
            private=True,
            outcome=QuizOutcome(phase.number, score),
        )

    def _stale(self, why: str) -> Reply:
        return Reply(
            "This quiz has ended",
            render("quiz_stale", why=why),
            kind=Kind.QUIZ,
            actions=(Action(action_id(self.restart), "Start a new quiz", "primary"),),
            private=True,
            tone="warning",
        )
