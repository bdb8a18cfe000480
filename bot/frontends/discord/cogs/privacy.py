"""/privacy export|delete|share: a member's data is theirs."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands

from bot.frontends.discord.cogs._base import EngineCog


class PrivacyCog(EngineCog):
    privacy = app_commands.Group(name="privacy", description="Your data: export, delete, share")

    @privacy.command(name="export", description="Download everything the mentor stores about you")
    async def export(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "privacy export")

    @privacy.command(name="delete", description="Delete everything the mentor stores about you")
    async def delete(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "privacy delete")

    @privacy.command(name="share", description="Let other members see your progress, or not")
    @app_commands.describe(state="on: others can use /progress on you; off: private")
    async def share(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        await self.run(interaction, "privacy share", state=state == "on")
