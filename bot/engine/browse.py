"""Browsing the knowledge base: roadblocks, FAQs, topics, phases, levels, tools, roadmap."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process

from bot.engine.commands import Arg, Param, action_id, command, route
from bot.engine.context import Deps, Member, UserError
from bot.engine.replies import Action, Kind, Reply
from bot.knowledge.schema import Intent
from bot.render import render, source_list

if TYPE_CHECKING:
    from bot.engine.ask import AskFlow
    from bot.engine.checklist import ChecklistFlow

MAX_CHOICES = 25  # buttons one reply carries (Discord's limit)
ROADBLOCKS = ("roadblock",)
TOPICS = ("faq", "topic", "phase")


class BrowseFlow:
    def __init__(self, deps: Deps, asking: AskFlow, checklist: ChecklistFlow):
        self.deps = deps
        self.asking = asking
        self.checklist = checklist

    # --- lookup -------------------------------------------------------------------------------

    def intents_of(self, kinds: tuple[str, ...]) -> list[Intent]:
        return [i for i in self.deps.kb.intents if i.kind in kinds]

    def complete(self, kinds: tuple[str, ...], text: str, limit: int = 25) -> list[Intent]:
        """Autocomplete over titles and ids: fuzzy, best first; everything when text is empty."""
        pool = self.intents_of(kinds)
        text = (text or "").strip()
        if not text:
            return pool[:limit]
        names = {i.id: f"{i.title} {i.id}" for i in pool}
        hits = process.extract(
            text, names, scorer=fuzz.WRatio, processor=str.casefold, limit=limit, score_cutoff=45
        )
        by_id = {i.id: i for i in pool}
        return [by_id[key] for _, _, key in hits]

    def resolve(self, kinds: tuple[str, ...], text: str) -> Intent:
        text = (text or "").strip()
        if text in self.deps.kb.intent_by_id and self.deps.kb.intent_by_id[text].kind in kinds:
            return self.deps.kb.intent_by_id[text]
        hits = self.complete(kinds, text, limit=1)
        if not hits:
            names = ", ".join(i.title for i in self.intents_of(kinds)[:6])
            raise UserError(f"I know no {'/'.join(kinds)} called “{text[:80]}”. Try: {names}")
        return hits[0]

    # --- views --------------------------------------------------------------------------------

    @command("roadblock", "what unlocks a common roadblock (all of them without a name)",
             Param("name", "text", "the roadblock (start typing)"))
    async def roadblock(self, member: Member, name: str | None = None) -> Reply:
        if not (name or "").strip():
            return self._listing("Common roadblocks, and what unlocks them", ROADBLOCKS)
        return self.asking.first_answer(self.resolve(ROADBLOCKS, name or "").id)

    @command("faq", "a career question or technical topic (all of them without a topic)",
             Param("topic", "text", "the topic (start typing)"))
    async def faq(self, member: Member, topic: str | None = None) -> Reply:
        if not (topic or "").strip():
            return self._listing("Career questions and topics I can answer", TOPICS)
        return self.asking.first_answer(self.resolve(TOPICS, topic or "").id)

    def _listing(self, title: str, kinds: tuple[str, ...]) -> Reply:
        intents = self.intents_of(kinds)
        return Reply(title, render("listing", intents=intents), kind=Kind.BROWSE,
                     actions=tuple(self.asking.show_action(i) for i in intents[:MAX_CHOICES]))

    @command("phase", "what a phase means and its checklist",
             Param("number", "phase", "the phase (default: your own)"), private=True)
    async def phase(self, member: Member, number: int | None = None) -> Reply:
        return await self.show_phase(member, number)

    @route("phase:show", Arg("number", "int"))
    async def show_phase(self, member: Member, number: int | None) -> Reply:
        if number is None:
            number = await self.checklist.member_phase(member)
            if number is None:
                raise UserError(
                    f"You have no phase yet: take `/quiz` ({len(self.deps.kb.quiz.questions)} "
                    f"yes/no questions), or look at a phase by its number "
                    f"({self.deps.phase_range}) and make it yours.")
        phase = self.deps.phase(number)
        states = {k: v.done for k, v in (await self.deps.store.checklist.states(
            member.user_id)).items()}
        buttons = [
            Action(action_id(self.checklist.set_phase, number), "Make this my phase",
                   "primary"),
            Action(action_id(self.checklist.view_phase, number), "Open my checklist"),
            Action(action_id(self.asking.show_topic, f"phase.{number}"),
                   "More about this phase"),
        ]
        buttons += [
            Action(action_id(self.show_phase, n), f"Phase {n}")
            for n in (number - 1, number + 1) if n in self.deps.kb.phase_by_number
        ]
        return Reply(
            f"Phase {phase.number}: {phase.title}",
            render("phase", phase=phase, states=states),
            kind=Kind.BROWSE,
            actions=tuple(buttons),
            footer="Sources: " + source_list(phase.sources),
        )

    @command("levels", "the level ladder: tenure, titles, what unlocks the next level")
    async def levels(self, member: Member) -> Reply:
        return Reply(
            "The MLOps level ladder",
            render("levels", ladders=self.deps.kb.levels.ladders),
            kind=Kind.BROWSE,
            actions=(Action(action_id(self.asking.show_topic, "faq.time-to-senior"),
                            "How long to senior?"),
                     Action(action_id(self.asking.show_topic, "faq.senior-vs-staff"),
                            "Senior vs staff")),
        )

    @command("tools", "the tools catalogue, with when to choose what",
             Param("phase", "phase", "only the tools of this phase"))
    async def tools(self, member: Member, phase: int | None = None) -> Reply:
        if phase is not None:
            self.deps.phase(phase)
        cats = [cat.model_copy(update={"tools": tools})
                for cat in self.deps.kb.tools.categories
                if (tools := [t for t in cat.tools if phase is None or t.phase == phase])]
        title = f"Tools for phase {phase}" if phase else "The MLOps tools catalogue"
        return Reply(title, render("tools", categories=cats), kind=Kind.BROWSE)

    @command("sources", "the articles every answer comes from, and what each covers")
    async def sources(self, member: Member) -> Reply:
        return Reply("Where my answers come from",
                     render("sources", sources=self.deps.kb.sources.sources), kind=Kind.BROWSE)

    @command("roadmap", "a month-by-month plan for the first year")
    async def roadmap(self, member: Member) -> Reply:
        rm = self.deps.kb.roadmap
        return Reply(rm.title, render("roadmap", roadmap=rm), kind=Kind.BROWSE)
