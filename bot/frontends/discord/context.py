"""Who is acting: a Discord interaction → the engine's :class:`~bot.engine.context.Member`."""

from __future__ import annotations

import discord

from bot.engine.context import Member


def member_from(interaction: discord.Interaction) -> Member:
    perms = interaction.permissions
    return Member(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        name=interaction.user.display_name,
        is_admin=bool(interaction.guild_id and perms.manage_guild),
        roles=frozenset(r.id for r in getattr(interaction.user, "roles", ())),
    )
