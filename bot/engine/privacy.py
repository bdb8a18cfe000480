"""A member's data is theirs: export it, delete it, choose whether others see progress."""

from __future__ import annotations

import json

from bot.engine.context import Deps, Member
from bot.engine.replies import Action, Attachment, Reply
from bot.render import render


class PrivacyFlow:
    def __init__(self, deps: Deps):
        self.deps = deps

    async def export(self, member: Member) -> Reply:
        data = await self.deps.store.privacy.export(member.user_id)
        blob = json.dumps(data, indent=2, ensure_ascii=False, default=str).encode()
        return Reply(
            "Your data",
            render("privacy", action="export"),
            kind="privacy",
            private=True,
            attachment=Attachment(f"mentorbot-data-{member.user_id}.json", blob,
                                  "everything mentorbot stores about you"),
        )

    def confirm_delete(self) -> Reply:
        return Reply(
            "Delete all your data?",
            render("privacy", action="confirm"),
            kind="privacy",
            actions=(Action("priv:delete:yes", "Yes, delete everything", "danger"),
                     Action("priv:delete:no", "Cancel")),
            private=True,
            tone="warning",
        )

    async def delete(self, member: Member, confirmed: bool) -> Reply:
        if not confirmed:
            return Reply("Nothing deleted", render("privacy", action="cancelled"),
                         kind="privacy", private=True)
        count = await self.deps.store.privacy.delete(member.user_id)
        return Reply("Your data is deleted", render("privacy", action="deleted", count=count),
                     kind="privacy", private=True, tone="success")

    async def share(self, member: Member, on: bool) -> Reply:
        await self.deps.store.members.touch(member.user_id, guild_id=member.guild_id)
        await self.deps.store.members.set_sharing(member.user_id, on)
        return Reply("Progress sharing", render("privacy", action="share", sharing=on),
                     kind="privacy", private=True, tone="success")
