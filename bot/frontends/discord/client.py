"""The Discord bot: cogs over the engine, persistent buttons, sync only when the tree changed.

``mentorbot run`` → :func:`run`. No privileged intent is needed: everything arrives as
interactions, and DMs are sent, not read.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.engine.core import Engine
from bot.frontends.discord.background import reminder_loop
from bot.frontends.discord.cogs.admin import AdminCog
from bot.frontends.discord.cogs.answer import AnswerCog
from bot.frontends.discord.cogs.ask import AskCog
from bot.frontends.discord.cogs.browse import BrowseCog
from bot.frontends.discord.cogs.checklist import ChecklistCog
from bot.frontends.discord.cogs.privacy import PrivacyCog
from bot.frontends.discord.cogs.progress import ProgressCog
from bot.frontends.discord.cogs.quiz import QuizCog
from bot.frontends.discord.cogs.reminders import RemindersCog
from bot.frontends.discord.cogs.setup import SetupCog
from bot.frontends.discord.cogs.stats import StatsCog
from bot.frontends.discord.components import EngineButton
from bot.frontends.discord.endpoints import configure_endpoints
from bot.frontends.discord.handling import MAX_IN_FLIGHT, Undelivered
from bot.frontends.discord.present import NO_MENTIONS, send_error
from bot.ops.logging import setup_logging
from bot.ops.metrics import Metrics
from bot.ops.runtime import operations

log = logging.getLogger(__name__)

COGS = (AskCog, BrowseCog, QuizCog, ChecklistCog, ProgressCog, RemindersCog, PrivacyCog,
        StatsCog, SetupCog, AdminCog, AnswerCog)
SYNC_STATE_KEY = "command_tree_hash"


def intents() -> discord.Intents:
    """No privileged intents: commands and buttons come as interactions."""
    value = discord.Intents.none()
    value.guilds = True
    return value


class MentorTree(app_commands.CommandTree["MentorBot"]):
    async def on_error(self, interaction: discord.Interaction,
                       error: app_commands.AppCommandError) -> None:
        bot: MentorBot = interaction.client  # type: ignore[assignment]
        command = interaction.command.qualified_name if interaction.command else "?"
        bot.metrics.interaction(command, "error")
        if isinstance(error, app_commands.CheckFailure):
            await send_error(interaction, "You don't have permission to use that here.")
            return
        if isinstance(error, app_commands.TransformerError | app_commands.CommandSignatureMismatch):
            error_id = await send_error(interaction, "I couldn't read that input. Please try "
                                       "again (commands may have just been updated).")
        else:
            error_id = await send_error(interaction, "Something went wrong on my side.")
        log.error("/%s failed [%s]", command, error_id, exc_info=error)


class MentorBot(commands.AutoShardedBot):
    def __init__(self, engine: Engine, settings: Settings, metrics: Metrics | None = None):
        super().__init__(
            command_prefix=commands.when_mentioned,  # no prefix commands are used
            intents=intents(),
            allowed_mentions=NO_MENTIONS,
            tree_cls=MentorTree,
            help_command=None,
            shard_count=settings.shard_count,
            shard_ids=settings.shard_ids,
            max_messages=None,
            chunk_guilds_at_startup=False,
        )
        self.engine = engine
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.synced: bool | None = None  # set by setup_hook: did this start sync commands?
        self.force_sync = False  # `mentorbot sync`: sync even when the hash is unchanged
        self._background: set[asyncio.Task[None]] = set()
        self.in_flight = 0  # interactions being worked on …
        self.max_in_flight = MAX_IN_FLIGHT  # … at most this many; more are turned away
        self.undelivered = Undelivered()  # saved changes whose reply Discord refused

    async def setup_hook(self) -> None:
        for cog in COGS:
            await self.add_cog(cog(self))
        self.add_dynamic_items(EngineButton)
        self.synced = await self.sync_if_changed()
        if self.settings.reminders_enabled:
            task = asyncio.create_task(reminder_loop(self), name="reminders")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # --- command sync ----------------------------------------------------------------------------

    def tree_payload(self) -> list[dict[str, object]]:
        return sorted((c.to_dict(self.tree) for c in self.tree.get_commands()),
                      key=lambda c: str(c["name"]))

    def tree_hash(self) -> str:
        target = f"guild:{self.settings.dev_guild_id}" if self.settings.dev_guild_id else "global"
        blob = json.dumps({"target": target, "commands": self.tree_payload()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    async def sync_commands(self) -> int:
        if self.settings.dev_guild_id:
            guild = discord.Object(self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        return len(synced)

    async def sync_if_changed(self) -> bool:
        """Sync at start only when the command tree differs from the last synced one (its hash
        is kept in the database, shared by all processes). ``on_ready`` never syncs: it fires
        on every reconnect and would burn Discord's daily limit."""
        if self.settings.shard_ids and 0 not in self.settings.shard_ids:
            return False  # one process (the one with shard 0) owns syncing
        current = self.tree_hash()
        store = self.engine.deps.store
        try:
            previous = await store.state.get(SYNC_STATE_KEY)
        except Exception:
            log.warning("could not read the command hash; syncing to be safe", exc_info=True)
            previous = None
        if previous == current and not self.force_sync:
            log.info("command tree unchanged (%s…): not syncing", current[:12])
            return False
        count = await self.sync_commands()
        await store.state.set(SYNC_STATE_KEY, current)
        log.info("synced %d commands (tree %s…)", count, current[:12])
        return True

    # --- lifecycle -----------------------------------------------------------------------------

    async def on_ready(self) -> None:
        log.info("connected as %s to %d guild(s), shards %s", self.user, len(self.guilds),
                 self.shard_ids or "all")

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        await super().close()


class ConfigError(RuntimeError):
    """A setting that stops the bot from starting; its message is one line for the operator."""


def token_of(settings: Settings) -> str:
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    if not token:
        raise ConfigError(
            "DISCORD_TOKEN is not set: put the bot token in the environment or .env "
            "(README: Operator guide). To try the mentor without Discord: mentorbot chat")
    return token


async def create_bot(settings: Settings) -> MentorBot:
    """Everything ``mentorbot run`` starts, before it connects: engine, database, bot."""
    from bot.engine.core import open_engine

    token_of(settings)
    configure_endpoints(settings)
    engine = await open_engine(settings)
    return MentorBot(engine, settings)


async def run(settings: Settings) -> int:
    """Open the engine, connect to Discord, serve until stopped."""
    token = token_of(settings)
    setup_logging(settings)  # LOG_LEVEL / LOG_FORMAT; the token is redacted from every record
    bot = await create_bot(settings)
    engine = bot.engine
    try:
        async with operations(bot), bot:  # HTTP_PORT: /healthz + /metrics; SIGHUP: kb reload
            await bot.start(token)
    except discord.LoginFailure:
        raise ConfigError("Discord rejected the token (DISCORD_TOKEN): check it in the "
                           "developer portal") from None
    finally:
        await engine.deps.store.close()
    return 0


async def sync(settings: Settings) -> int:
    """``mentorbot sync``: push the command tree to Discord now (global, or DEV_GUILD_ID)."""
    token = token_of(settings)
    bot = await create_bot(settings)
    bot.force_sync = True
    try:
        async with bot:
            await bot.login(token)  # runs setup_hook, which syncs
    finally:
        await bot.engine.deps.store.close()
    return 0


# Send Messages, Embed Links, Attach Files, Read Message History: enough to answer in channels.
INVITE_PERMISSIONS = 0x800 | 0x4000 | 0x8000 | 0x10000


def application_id_from_token(token: str) -> int | None:
    """A bot token starts with the base64 of the bot's user id (= its application id)."""
    import base64
    import binascii

    head = token.split(".", 1)[0]
    try:
        return int(base64.b64decode(head + "=" * (-len(head) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def invite_url(client_id: int) -> str:
    return (f"https://discord.com/oauth2/authorize?client_id={client_id}"
            f"&scope=bot+applications.commands&permissions={INVITE_PERMISSIONS}")
