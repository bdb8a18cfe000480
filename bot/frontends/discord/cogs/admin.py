"""/kb reload: swap in the edited knowledge base without a restart (bot owners only);
/kb inbox: what needs a mentor (the engine's :mod:`bot.engine.inbox`)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.utils import escape_markdown

from bot.engine.context import Member
from bot.engine.replies import ErrorCause, Kind, Reply
from bot.frontends.discord.cogs._base import EngineCog
from bot.ops.reload import fit_embed, reload_knowledge

log = logging.getLogger(__name__)


async def is_bot_owner(bot: discord.Client, user: discord.abc.User) -> bool:
    """``OWNER_IDS`` when set; otherwise the application's owner (or its team's members),
    as Discord reports them (``application_info``, cached by discord.py)."""
    owner_ids = bot.settings.owner_ids  # type: ignore[attr-defined]
    if owner_ids:
        return user.id in owner_ids
    try:
        return await bot.is_owner(user)  # type: ignore[attr-defined]
    except discord.HTTPException:
        log.warning("could not fetch the application owner; refusing /kb reload", exc_info=True)
        return False


def refused(message: str) -> Reply:
    return Reply("Not allowed", message, kind=Kind.ERROR, private=True, tone="error",
                 error=ErrorCause.MEMBER)


class AdminCog(EngineCog):
    kb = app_commands.Group(
        name="kb", description="The mentor's knowledge base (mentors, bot owners)",
        guild_only=True, default_permissions=discord.Permissions(manage_guild=True))

    @kb.command(name="inbox", description="Questions waiting for a mentor: teach, off-topic, "
                "dismiss (mentors)")
    async def inbox(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "kb inbox")

    @kb.command(name="reload", description="Reload the knowledge base from disk (bot owners)")
    async def reload(self, interaction: discord.Interaction) -> None:
        async def work(member: Member) -> Reply:
            # Discord hides the command from members without Manage Server; a stale client
            # or changed role settings must still be refused here.
            if not member.is_admin:
                return refused("This needs the **Manage Server** permission.")
            if not await is_bot_owner(self.bot, interaction.user):
                log.warning("/kb reload refused: user %s is not a bot owner", member.user_id)
                return refused("Only the bot's owners can reload the knowledge base.")
            log.info("/kb reload by user %s", member.user_id)
            ok, report = await reload_knowledge(self.bot)
            if ok:
                return Reply("Knowledge base reloaded", fit_embed(escape_markdown(report)),
                             kind=Kind.ADMIN, private=True, tone="success")
            return Reply("Reload failed: kept the current knowledge base",
                         fit_embed(escape_markdown(report)), kind=Kind.ERROR, private=True,
                         tone="error")

        await self.answer(interaction, work, ephemeral=True)
