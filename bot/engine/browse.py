"""Browsing the knowledge base: roadblocks, FAQs, topics, phases, levels, tools, roadmap."""

from __future__ import annotations

from rapidfuzz import fuzz, process

from bot.engine import actions
from bot.engine.context import Deps, Member, UserError
from bot.engine.replies import Action, Reply
from bot.knowledge.schema import Intent
from bot.render import render


class BrowseFlow:
    def __init__(self, deps: Deps):
        self.deps = deps

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

    async def phase(self, member: Member, number: int | None) -> Reply:
        if number is None:
            rec = await self.deps.store.members.get(member.user_id)
            number = rec.current_phase if rec and rec.current_phase else None
            if number is None:
                raise UserError("You have no phase yet: take `/quiz` (six yes/no questions), "
                                "or look at a phase by its number (1-4) and make it yours.")
        if number not in self.deps.kb.phase_by_number:
            raise UserError("Phases are numbered 1 to 4.")
        phase = self.deps.kb.phase_by_number[number]
        states = {k: v.done for k, v in (await self.deps.store.checklist.states(
            member.user_id)).items()}
        buttons = [
            Action(actions.make("phase", "set", number), "Make this my phase", "primary"),
            Action(actions.make("chk", "view", number), "Open my checklist"),
            Action(actions.make("ask", "show", f"p.{number}"), "More about this phase"),
        ]
        buttons += [
            Action(actions.make("phase", "show", n), f"Phase {n}")
            for n in (number - 1, number + 1) if n in self.deps.kb.phase_by_number
        ]
        return Reply(
            f"Phase {phase.number}: {phase.title}",
            render("phase", phase=phase, states=states),
            kind="phase",
            actions=tuple(buttons),
            footer="Sources: " + ", ".join(phase.sources),
        )

    def levels(self) -> Reply:
        return Reply(
            "The MLOps level ladder",
            render("levels", ladders=self.deps.kb.levels.ladders),
            kind="levels",
            actions=(Action("ask:show:f.time-to-senior", "How long to senior?"),
                     Action("ask:show:f.senior-vs-staff", "Senior vs staff")),
        )

    def tools(self, phase: int | None) -> Reply:
        if phase is not None and phase not in self.deps.kb.phase_by_number:
            raise UserError("Phases are numbered 1 to 4.")
        cats = []
        for cat in self.deps.kb.tools.categories:
            tools = [t for t in cat.tools if phase is None or t.phase == phase]
            if tools:
                cats.append({"name": cat.name, "tools": tools})
        title = f"Tools for phase {phase}" if phase else "The MLOps tools catalogue"
        return Reply(title, render("tools", categories=cats), kind="tools")

    def roadmap(self) -> Reply:
        rm = self.deps.kb.roadmap
        return Reply(rm.title, render("roadmap", roadmap=rm), kind="roadmap")
