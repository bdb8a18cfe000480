"""/setup show|mentors|mentor-reminder|confirmations|phase-role|announcements|
progress-channel|answer-role|sharing|forum|blocker-digest|digest-preview|reset (Manage Server)."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands

from bot.engine.setup import MAX_REMINDER_MINUTES
from bot.frontends.discord.cogs._base import EngineCog, PhaseOption
from bot.frontends.discord.cogs.reminders import WEEKDAY_CHOICES, timezone_choices
from bot.frontends.discord.effects import (
    MISSING_PERMISSIONS,
    ROLES_FORBIDDEN,
    ROLES_TOPIC,
    note_for_admins,
)

Channel = discord.TextChannel | discord.ForumChannel


class SetupCog(EngineCog):
    setup = app_commands.Group(
        name="setup", description="This server's mentorbot setup (Manage Server)",
        guild_only=True, default_permissions=discord.Permissions(manage_guild=True))

    @setup.command(name="show", description="This server's setup")
    async def show(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "setup show")

    @setup.command(name="mentors", description="The mentor role and where questions reach them")
    @app_commands.describe(role="The mentors' role",
                           channel="A forum or text channel for their threads")
    async def mentors(self, interaction: discord.Interaction, role: discord.Role | None = None,
                      channel: Channel | None = None) -> None:
        await self.run(interaction, "setup mentors", role=role.id if role else None,
                       channel=channel.id if channel else None)

    @setup.command(name="mentor-reminder",
                   description="Minutes before an unclaimed question reminds the mentors once")
    @app_commands.describe(minutes="1 to 10080 (leave out: the bot's default)")
    async def mentor_reminder(self, interaction: discord.Interaction,
                              minutes: app_commands.Range[int, 1, MAX_REMINDER_MINUTES] | None
                              = None) -> None:
        await self.run(interaction, "setup mentor-reminder",
                       minutes=str(minutes) if minutes is not None else None)

    @setup.command(name="confirmations",
                   description="Does a new intent from a mentor's answer need a second mentor?")
    async def confirmations(self, interaction: discord.Interaction,
                            state: Literal["on", "off"]) -> None:
        await self.run(interaction, "setup confirmations", state=state == "on")

    @setup.command(name="phase-role", description="The role for members in a phase")
    @app_commands.describe(phase="The phase", role="The role (leave out to clear)")
    async def phase_role(self, interaction: discord.Interaction, phase: PhaseOption,
                         role: discord.Role | None = None) -> None:
        if role is not None and interaction.guild_id is not None and \
                not interaction.app_permissions.manage_roles:
            # said now, in the reply's "Needs your attention", not after a member's role fails
            await note_for_admins(self.bot, interaction.guild_id, ROLES_TOPIC,
                                  ROLES_FORBIDDEN.format(code=MISSING_PERMISSIONS))
        await self.run(interaction, "setup phase-role", phase=phase,
                       role=role.id if role else None)

    @setup.command(name="announcements", description="Where milestones are announced")
    @app_commands.describe(channel="A text channel (leave out to switch off)")
    async def announcements(self, interaction: discord.Interaction,
                            channel: discord.TextChannel | None = None) -> None:
        await self.run(interaction, "setup announcements",
                       channel=channel.id if channel else None)

    @setup.command(name="progress-channel",
                   description="Where check-ins of members who share are posted")
    @app_commands.describe(channel="A text channel (leave out to switch off)")
    async def progress_channel(self, interaction: discord.Interaction,
                               channel: discord.TextChannel | None = None) -> None:
        await self.run(interaction, "setup progress-channel",
                       channel=channel.id if channel else None)

    @setup.command(name="answer-role", description="Who may use Answer with mentorbot")
    @app_commands.describe(role="The role allowed to use it (leave out: everyone)")
    async def answer_role(self, interaction: discord.Interaction,
                          role: discord.Role | None = None) -> None:
        await self.run(interaction, "setup answer-role", role=role.id if role else None)

    @setup.command(name="sharing", description="May members share their progress?")
    async def sharing(self, interaction: discord.Interaction,
                      policy: Literal["members", "nobody"]) -> None:
        await self.run(interaction, "setup sharing", policy=policy)

    @setup.command(name="forum", description="Answer new posts in a forum first, when sure")
    async def forum(self, interaction: discord.Interaction, channel: discord.ForumChannel,
                    state: Literal["on", "off"]) -> None:
        await self.run(interaction, "setup forum", channel=channel.id, state=state == "on")

    @setup.command(name="blocker-digest",
                   description="A weekly digest of members' open blockers for mentors")
    @app_commands.describe(state="on or off", channel="A text channel for the digest",
                           weekday="Day of the week (default Monday)",
                           hour="Hour 0-23 in the time zone (default 9)",
                           timezone="An IANA time zone, e.g. Europe/Berlin (default UTC)")
    @app_commands.choices(weekday=WEEKDAY_CHOICES)
    async def blocker_digest(self, interaction: discord.Interaction,
                             state: Literal["on", "off"],
                             channel: discord.TextChannel | None = None,
                             weekday: int | None = None,
                             hour: app_commands.Range[int, 0, 23] | None = None,
                             timezone: str | None = None) -> None:
        await self.run(interaction, "setup blocker-digest", state=state == "on",
                       channel=channel.id if channel else None, weekday=weekday, hour=hour,
                       timezone=timezone)

    @blocker_digest.autocomplete("timezone")
    async def _timezones(self, interaction: discord.Interaction,
                         current: str) -> list[app_commands.Choice[str]]:
        return timezone_choices(current)

    @setup.command(name="digest-preview",
                   description="The mentors' blocker digest as it would be posted now")
    async def digest_preview(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "setup digest-preview")

    @setup.command(name="reset", description="Forget this server's setup")
    async def reset(self, interaction: discord.Interaction) -> None:
        await self.run(interaction, "setup reset")

    phase_role.autocomplete("phase")(EngineCog.phase_choices)
