"""``/kb inbox``: what needs a mentor, and the mentor's actions on it (issue 14).

The inbox lists this server's open entries — unanswered and ambiguous questions, *Not what I
asked* and *Not helpful* presses with their question, proposed mentor answers — grouped with
counts. Each listed entry has buttons: *Teach as…* (the intents the question came closest to,
as buttons: the question becomes a phrasing of the one chosen), *Off-topic* (the question
gets the honest "I don't know" from now on), *Dismiss*, and for a proposed answer *Make it an
intent* (a new intent: the question as its title, the mentor's answer, "community answer by
@mentor"). What is taught is served at once by every process (:mod:`bot.engine.overlay`).

Mentors are members with Manage Server or the mentor role of ``/setup mentors``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.engine.commands import Arg, action_id, command, route
from bot.engine.context import Deps, Member, UserError
from bot.engine.replies import Action, Kind, Reply
from bot.engine.setup import setup_of
from bot.render import render, user_text

if TYPE_CHECKING:
    from bot.storage.repo.inbox import InboxItem

SHOWN = 10  # entries listed
WITH_BUTTONS = 5  # entries with buttons (Discord: 25 buttons a message)
TEACH_CHOICES = 5  # one row of buttons


class InboxFlow:
    def __init__(self, deps: Deps):
        self.deps = deps

    async def _mentor(self, member: Member) -> int:
        """The server, when ``member`` is a mentor there; else a :class:`UserError`."""
        if member.guild_id is None:
            raise UserError("The inbox is per server: use it inside a server "
                            "(operators: `mentorbot kb inbox`).")
        if member.is_admin:
            return member.guild_id
        role = (await setup_of(self.deps, member.guild_id)).mentor_role
        if role is None or role not in member.roles:
            raise UserError("The inbox is for mentors: members with Manage Server or the "
                            "mentor role of `/setup mentors`.")
        return member.guild_id

    def _guess_title(self, item: InboxItem) -> str | None:
        intent = self.deps.intent(item.guess) if item.guess else None
        return intent.title if intent else None

    @command("kb inbox", "questions waiting for a mentor: teach, off-topic, dismiss (mentors)",
             private=True)
    async def inbox(self, member: Member) -> Reply:
        guild = await self._mentor(member)
        items = await self.deps.store.inbox.entries(guild, limit=SHOWN)
        rows = [(item, self._guess_title(item)) for item in items]
        actions: list[Action] = []
        for item in items[:WITH_BUTTONS]:
            if item.status == "proposed_answer":
                label = "confirm the intent" if item.adopt_requested_by else "make it an intent"
                actions.append(Action(action_id(self.adopt, item.id), f"#{item.id}: {label}",
                                      "success"))
            actions.append(Action(action_id(self.teach_menu, item.id), f"#{item.id}: teach as…",
                                  "primary"))
            actions.append(Action(action_id(self.off_topic, item.id), f"#{item.id}: off-topic"))
            actions.append(Action(action_id(self.dismiss, item.id), f"#{item.id}: dismiss"))
        return Reply("Mentor inbox", render("inbox", rows=rows, shown=WITH_BUTTONS),
                     kind=Kind.ADMIN, actions=tuple(actions[:25]), private=True)

    async def _open(self, member: Member, entry: int) -> InboxItem:
        guild = await self._mentor(member)
        item = await self.deps.store.inbox.get(entry)
        if item is None or item.guild_id != guild:
            raise UserError(f"There is no inbox entry #{entry} in this server.")
        if item.resolved:
            raise UserError(f"Inbox entry #{entry} is already done ({item.resolution}).")
        return item

    @route("inbox:teach", Arg("entry", "int"))
    async def teach_menu(self, member: Member, entry: int) -> Reply:
        """The intents to teach the question as: its guess and the closest matches (more
        than a member's "did you mean": a mentor picks, and one row holds five buttons)."""
        item = await self._open(member, entry)
        ids = (item.guess, *self.deps.nearest(item.question, TEACH_CHOICES))
        choices = [i for x in dict.fromkeys(ids) if x and (i := self.deps.intent(x))
                   ][:TEACH_CHOICES]
        return Reply(f"Teach #{entry} as…",
                     render("inbox_teach", question=item.question, choices=choices),
                     kind=Kind.ADMIN, private=True,
                     actions=tuple(Action(action_id(self.teach_as, entry, i.id), i.title,
                                          "primary") for i in choices))

    @route("inbox:as", Arg("entry", "int"), Arg("intent", "intent"))
    async def teach_as(self, member: Member, entry: int, intent: str) -> Reply:
        await self._open(member, entry)
        target = self.deps.intent(intent)
        if target is None:
            raise UserError("That topic no longer exists.")
        item = await self.deps.store.overlay.teach_entry(entry, intent, taught_by=member.name)
        await self.deps.live.refresh(self.deps.store, force=True)
        return Reply("Taught", render("inbox_done", item=item, action="taught",
                                      title=target.title),
                     kind=Kind.ADMIN, private=True, tone="success")

    @route("inbox:off", Arg("entry", "int"))
    async def off_topic(self, member: Member, entry: int) -> Reply:
        await self._open(member, entry)
        item = await self.deps.store.overlay.teach_entry(entry, None, taught_by=member.name)
        await self.deps.live.refresh(self.deps.store, force=True)
        return Reply("Marked off-topic", render("inbox_done", item=item, action="off_topic"),
                     kind=Kind.ADMIN, private=True, tone="success")

    @route("inbox:dismiss", Arg("entry", "int"))
    async def dismiss(self, member: Member, entry: int) -> Reply:
        await self._open(member, entry)
        item = await self.deps.store.inbox.dismiss(entry)
        return Reply("Dismissed", render("inbox_done", item=item, action="dismissed"),
                     kind=Kind.ADMIN, private=True, tone="success")

    @route("inbox:adopt", Arg("entry", "int"))
    async def adopt(self, member: Member, entry: int) -> Reply:
        """A proposed mentor answer becomes a new intent (the question is its title)."""
        item = await self._open(member, entry)
        if item.status != "proposed_answer":
            raise UserError(f"Inbox entry #{entry} is not a proposed answer.")
        if (await setup_of(self.deps, item.guild_id)).confirm_intents:
            if item.adopt_requested_by is None:
                if await self.deps.store.inbox.request_adopt(entry, member.user_id,
                                                             member.name):
                    return Reply("Waiting for a second mentor",
                                 render("inbox_done", item=item, action="awaiting"),
                                 kind=Kind.ADMIN, private=True, tone="success")
                item = await self._open(member, entry)  # another mentor pressed first
            if item.adopt_requested_by == member.user_id:
                raise UserError(f"Inbox entry #{entry} needs a second, different mentor to "
                                "confirm it (this server's `/setup confirmations`).")
        title = item.question.strip().rstrip("?").strip()
        title = title[:1].upper() + title[1:]
        intent = await self.deps.store.overlay.adopt(
            entry, title=title[:120], summary=item.question, taught_by=member.name,
            taken=self.deps.kb.intent_by_id)
        await self.deps.live.refresh(self.deps.store, force=True)
        return Reply("New intent", render("inbox_done", item=item, action="new_intent",
                                          title=user_text(intent.title), intent_id=intent.id),
                     kind=Kind.ADMIN, private=True, tone="success")
