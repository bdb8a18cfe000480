"""A member's data is theirs: export it, delete it, choose whether others see progress."""

from __future__ import annotations

import json

from bot.engine.commands import Arg, Param, action_id, command, route
from bot.engine.context import Deps, Member
from bot.engine.replies import Action, Attachment, Kind, MessageEdit, Reply
from bot.render import render


class PrivacyFlow:
    def __init__(self, deps: Deps):
        self.deps = deps

    @command("privacy export", "everything mentorbot stores about you, as a file",
             private=True, aliases=("export",))
    async def export(self, member: Member) -> Reply:
        data = await self.deps.store.privacy.export(member.user_id)
        blob = json.dumps(data, indent=2, ensure_ascii=False, default=str).encode()
        return Reply(
            "Your data",
            render("privacy", action="export"),
            kind=Kind.PRIVACY,
            private=True,
            attachment=Attachment(f"mentorbot-data-{member.user_id}.json", blob,
                                  "everything mentorbot stores about you"),
        )

    @command("privacy delete", "delete everything mentorbot stores about you (asks first)",
             private=True, aliases=("delete",))
    async def confirm_delete(self, member: Member) -> Reply:
        return Reply(
            "Delete all your data?",
            render("privacy", action="confirm"),
            kind=Kind.PRIVACY,
            actions=(Action(action_id(self.delete, True), "Yes, delete everything", "danger"),
                     Action(action_id(self.delete, False), "Cancel")),
            private=True,
            tone="warning",
            pending=True,
        )

    @route("priv:delete", Arg("confirmed", "yes_no"), updates=True)
    async def delete(self, member: Member, confirmed: bool) -> Reply:
        if not confirmed:
            return Reply("Nothing deleted", render("privacy", action="cancelled"),
                         kind=Kind.PRIVACY, private=True)
        posts = await self.deps.store.escalations.posts_of(member.user_id)
        count = await self.deps.store.privacy.delete(member.user_id)
        # the questions they passed to the mentors leave the mentors' threads too
        note = Reply("Withdrawn", render("escalation_withdrawn", deleted=True),
                     kind=Kind.FEEDBACK)
        return Reply("Your data is deleted", render("privacy", action="deleted", count=count),
                     kind=Kind.PRIVACY, private=True, tone="success",
                     edits=tuple(MessageEdit(t, m, note) for t, m in posts))

    @route("share", Arg("on", "on_off"))
    async def share_button(self, member: Member, on: bool) -> Reply:
        return await self.share(member, state=on)

    @command("privacy share", "let other members see your progress, or not",
             Param("state", "on_off", "on: others can see your progress; off: private",
                   required=True), private=True, aliases=("share",))
    async def share(self, member: Member, state: bool) -> Reply:
        on = state
        await self.deps.store.members.touch(member.user_id, guild_id=member.guild_id)
        await self.deps.store.members.set_sharing(member.user_id, on)
        return Reply("Progress sharing", render("privacy", action="share", sharing=on),
                     kind=Kind.PRIVACY, private=True, tone="success")
