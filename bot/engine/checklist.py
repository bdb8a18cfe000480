"""The checklist ("before you move on") and the member's progress across phases."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process, utils

from bot.engine.commands import Arg, Param, action_id, command, route
from bot.engine.community import milestones, role_effects
from bot.engine.context import Deps, Member, UserError
from bot.engine.privacy import PrivacyFlow
from bot.engine.replies import (
    Action,
    Announcement,
    Attachment,
    ChecklistState,
    Kind,
    Reply,
    RoleEffect,
)
from bot.engine.setup import setup_of
from bot.knowledge.schema import ChecklistItem, Phase
from bot.render import progress_bar, render
from bot.storage.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bot.storage.records import Progress

RESOLVE_CUTOFF = 80  # a typed item name must match this well (0-100, token set) to be used
RESOLVE_MARGIN = 10  # … and beat the runner-up by this much (else the member's phase decides)


class ChecklistFlow:
    def __init__(self, deps: Deps):
        self.deps = deps

    async def member_phase(self, member: Member) -> int | None:
        rec = await self.deps.store.members.get(member.user_id)
        return rec.current_phase if rec else None

    # --- item lookup (also used by autocomplete) ------------------------------------------------

    def complete_items(
        self, text: str, first_phase: int | None, limit: int = 25
    ) -> list[ChecklistItem]:
        """Items matching ``text`` (id or title, fuzzy); the member's phase first."""
        kb = self.deps.kb
        items = list(kb.item_by_id.values())
        if first_phase:
            items.sort(key=lambda i: (kb.phase_of_item(i.id) != first_phase))
        text = (text or "").strip()
        if not text:
            return items[:limit]
        names = {i.id: f"{i.id} {i.title}" for i in items}
        hits = process.extract(text, names, scorer=fuzz.WRatio, processor=str.casefold,
                               limit=len(items), score_cutoff=50)
        rank = {i.id: n for n, i in enumerate(items)}
        hits.sort(key=lambda h: (-round(h[1] / 5), rank[h[2]]))
        return [kb.item_by_id[key] for _, _, key in hits[:limit]]

    def resolve_item(self, text: str, prefer_phase: int | None = None) -> ChecklistItem:
        """The item ``text`` names: its id, or words of its title. A guess is acted on only
        when it is clear; between close ones the member's own phase wins, else they choose."""
        text = (text or "").strip()
        item = self.deps.kb.item_by_id.get(text)
        if item:
            return item
        kb = self.deps.kb
        names = {i.id: f"{i.id.split('.', 1)[1].replace('-', ' ')} {i.title}"
                 for i in kb.item_by_id.values()}
        hits = process.extract(text, names, scorer=fuzz.token_set_ratio,
                               processor=utils.default_process, limit=5,
                               score_cutoff=RESOLVE_CUTOFF) if len(text) >= 3 else []
        close = [h[2] for h in hits if hits[0][1] - h[1] < RESOLVE_MARGIN]
        if len(close) > 1 and prefer_phase is not None:
            mine = [i for i in close if kb.phase_of_item(i) == prefer_phase]
            close = mine if len(mine) == 1 else sorted(
                close, key=lambda i: kb.phase_of_item(i) != prefer_phase)
        if len(close) == 1:
            return kb.item_by_id[close[0]]
        if close:
            options = ", ".join(f"`{i}`" for i in close)
            raise UserError(f"“{text[:80]}” could be several items: {options}. "
                            "Use the item id.")
        raise UserError(
            f"I know no checklist item “{text[:80]}”. See the ids with `/checklist view`."
        )

    async def _resolve_for(self, member: Member, text: str) -> ChecklistItem:
        if text.strip() in self.deps.kb.item_by_id:
            return self.deps.kb.item_by_id[text.strip()]
        return self.resolve_item(text, await self.member_phase(member))

    # --- views --------------------------------------------------------------------------------

    @command("checklist view", "your checklist for a phase",
             Param("phase", "phase", "the phase (default: your own)"), private=True,
             default=True)
    async def view(self, member: Member, phase: int | None = None) -> Reply:
        return await self.view_phase(member, phase)

    @route("chk:view", Arg("phase_number", "int"))
    async def view_phase(self, member: Member, phase_number: int | None = None) -> Reply:
        rec, states = await self.deps.store.members.get_with_checklist(member.user_id)
        if phase_number is None:
            phase_number = (rec.current_phase if rec else None) or min(self.deps.kb.phase_by_number)
        phase = self.deps.phase(phase_number)
        rows = []
        for item in phase.checklist:
            st = states.get(item.id)
            rows.append(_Row(item, bool(st and st.done),
                             st.evidence_url if st and st.done else None))
        done = sum(r.done for r in rows)
        toggles = tuple(
            Action(
                action_id(self.unmark_button if r.done else self.mark_button, r.item.id),
                ("↩ " if r.done else "✓ ") + _short(r.item.title),
                "secondary" if r.done else "success",
            )
            for r in rows
        )
        return Reply(
            f"Phase {phase.number} checklist: {phase.checklist_heading}",
            render("checklist", rows=rows, progress=progress_bar(done, len(rows))),
            kind=Kind.CHECKLIST,
            actions=toggles,
            private=True,
            checklist=ChecklistState(phase.number, tuple(r.item.id for r in rows), done),
        )

    @route("chk:done", Arg("item", "item"), updates=True)
    async def mark_button(self, member: Member, item: str) -> Reply:
        return await self.mark(member, item)

    @route("chk:undo", Arg("item", "item"), updates=True)
    async def unmark_button(self, member: Member, item: str) -> Reply:
        return await self.unmark(member, item)

    @command("checklist done", "mark an item done (optional evidence link)",
             Param("item", "item", "the item (start typing)", required=True),
             Param("evidence", "link", "a link that shows it: a PR, a doc, a dashboard"),
             private=True, aliases=("done",))
    async def mark(self, member: Member, item: str, evidence: str | None = None) -> Reply:
        found = await self._resolve_for(member, item)
        evidence = (evidence or "").strip() or None
        await self.deps.store.members.touch(member.user_id, guild_id=member.guild_id)
        try:
            await self.deps.store.checklist.mark(member.user_id, found.id, evidence_url=evidence)
        except InvalidInput as exc:
            raise UserError(f"That evidence link doesn't look right: {exc}. "
                            "Use a full http(s):// link, or leave it out.") from exc
        return await self._after_change(member, found, True, evidence)

    @command("checklist undo", "mark an item not done",
             Param("item", "item", "the item (start typing)", required=True),
             private=True, aliases=("undo",))
    async def unmark(self, member: Member, item: str) -> Reply:
        found = await self._resolve_for(member, item)
        states = await self.deps.store.checklist.states(member.user_id)
        if not (states.get(found.id) and states[found.id].done):
            raise UserError(f"**{found.title}** isn't marked done, so there is nothing to undo.")
        await self.deps.store.members.touch(member.user_id, guild_id=member.guild_id)
        await self.deps.store.checklist.unmark(member.user_id, found.id)
        return await self._after_change(member, found, False, None)

    async def _after_change(
        self, member: Member, item: ChecklistItem, done: bool, evidence: str | None
    ) -> Reply:
        kb = self.deps.kb
        phase: Phase = kb.phase_by_number[kb.phase_of_item(item.id) or 1]
        states = await self.deps.store.checklist.states(member.user_id)
        open_items = [i for i in phase.checklist if not (states.get(i.id) and states[i.id].done)]
        n_done = len(phase.checklist) - len(open_items)
        complete = not open_items
        next_phase = kb.phase_by_number.get(phase.number + 1)
        buttons: list[Action] = []
        if done:
            buttons.append(Action(action_id(self.unmark_button, item.id), "Undo"))
        else:
            buttons.append(Action(action_id(self.mark_button, item.id), "Mark done again"))
        if complete and next_phase:
            buttons.append(Action(action_id(self.set_phase, next_phase.number),
                                  f"Move to phase {next_phase.number}", "primary"))
        buttons.append(Action(action_id(self.view_phase, phase.number), "Open checklist"))
        effects: tuple[RoleEffect, ...] = ()
        announce: tuple[Announcement, ...] = ()
        if done and complete:
            current = await self.member_phase(member)
            if current is None or phase.number >= current:  # not when catching up on an old one
                target = next_phase.number if next_phase else phase.number
                effects = await role_effects(self.deps, member, target)
            announce = await milestones(self.deps, member, phase.number)
        return Reply(
            "Checklist updated",
            render("checklist_marked", done=done, item=item, evidence=evidence, phase=phase,
                   progress=progress_bar(n_done, len(phase.checklist)), complete=complete,
                   next_phase=next_phase, next_item=open_items[0] if open_items else None),
            kind=Kind.CHECKLIST,
            actions=tuple(buttons),
            private=True,
            tone="success",
            checklist=ChecklistState(phase.number, (item.id,), n_done, changed_item=item.id,
                                     changed_to_done=done, phase_complete=complete),
            roles=effects,
            announce=announce,
        )

    @route("phase:set", Arg("number", "int"), updates=True)
    async def set_phase(self, member: Member, number: int) -> Reply:
        self.deps.phase(number)
        await self.deps.store.members.touch(member.user_id, guild_id=member.guild_id)
        await self.deps.store.members.set_phase(member.user_id, number, source="chosen")
        reply = await self.view_phase(member, number)
        return Reply(f"You're now in phase {number}", reply.body, kind=Kind.CHECKLIST,
                     actions=reply.actions, private=True, tone="success",
                     checklist=reply.checklist,
                     roles=await role_effects(self.deps, member, number))

    # --- progress -----------------------------------------------------------------------------

    @route("prog:view")
    async def progress_button(self, member: Member) -> Reply:
        return await self.progress(member)

    @command("progress", "your progress (or a member's who shares theirs)",
             Param("member_id", "member", "another member (only if they share)"), private=True)
    async def progress(self, member: Member, member_id: int | None = None) -> Reply:
        target_id = member_id
        own = target_id is None or target_id == member.user_id
        user_id = member.user_id if own else int(target_id or 0)
        rec = None if own else await self.deps.store.members.get(user_id)
        if not own:
            # Shared progress is for the people a member meets: only inside a server that
            # both use mentorbot in, never by id from elsewhere or in DMs.
            if rec is None or (member.guild_id is not None and
                               member.guild_id not in rec.guild_ids):
                raise UserError("I have no progress for that member in this server.")
            if member.guild_id is None:
                raise UserError("Other members' progress can only be seen inside a server "
                                "you share with them.")
            if (await setup_of(self.deps, member.guild_id)).sharing == "nobody":
                raise UserError("Members' progress is not shared in this server.")
            if not rec.sharing:
                raise UserError("That member keeps their progress private. "
                                "(Members can share theirs with `/privacy share on`.)")
        kb = self.deps.kb
        summary = await self.deps.store.checklist.summary(user_id, self.deps.items_by_phase())
        if own:
            rec = summary.member
        phases = [(n, progress_bar(*summary.per_phase.get(n, (0, 0))))
                  for n in sorted(kb.phase_by_number)]
        titles = {ev.item_id: kb.item_by_id[ev.item_id].title if ev.item_id in kb.item_by_id
                  else ev.item_id for ev in summary.recent}
        phase = kb.phase_by_number.get(rec.current_phase) if rec and rec.current_phase else None
        sharing = bool(rec and rec.sharing)
        buttons = (
            (Action(action_id(PrivacyFlow.share_button, not sharing),
                    "Stop sharing" if sharing else "Share my progress"),
             Action(action_id(self.view_phase, phase.number if phase else min(kb.phase_by_number)),
                    "Open checklist"))
            if own else ()
        )
        next_item = next((i for i in phase.checklist if i.id not in summary.done_ids),
                         None) if phase else None
        card = await self._card(member.name if own else "A member", phase, summary.per_phase,
                                next_item)
        return Reply(
            "Your progress" if own else "Their progress",
            render("progress", phase=phase, phase_source=rec.phase_source if rec else None,
                   phases=phases, overall=progress_bar(*summary.overall), recent=summary.recent,
                   titles=titles,
                   own=own, sharing=sharing),
            kind=Kind.PROGRESS,
            actions=buttons,
            private=own,
            overall=summary.overall,
            attachment=card,
        )

    async def _card(self, name: str, phase: Phase | None, per_phase: Mapping[int, Progress],
                    next_item: ChecklistItem | None) -> Attachment:
        """The same progress as a PNG card (the text stays in the message for screen
        readers), drawn off the event loop."""
        from bot.render.images import PhaseBar, ProgressCard, progress_card

        kb = self.deps.kb
        data = ProgressCard(
            member_name=name or "You",
            phase=phase.number if phase else None,
            phase_title=phase.title if phase else "",
            phases=tuple(PhaseBar(n, kb.phase_by_number[n].title,
                                  *per_phase.get(n, (0, len(kb.phase_by_number[n].checklist))))
                         for n in sorted(kb.phase_by_number)),
            next_item=next_item.title if next_item else None,
        )
        png = await asyncio.to_thread(progress_card, data)
        return Attachment("progress.png", png, "Progress card: the same figures as the text")


@dataclass(frozen=True)
class _Row:
    item: ChecklistItem
    done: bool
    evidence: str | None


def _short(title: str, limit: int = 70) -> str:
    return title if len(title) <= limit else title[: limit - 1] + "…"
