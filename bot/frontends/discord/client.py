"""The Discord bot: cogs over the engine, persistent buttons, sync only when the tree changed.

``mentorbot run`` → :func:`run`. No privileged intent is needed: everything arrives as
interactions, and DMs are sent, not read. The engine, store and metrics come from
:class:`bot.app.App` (:func:`create_bot`); SIGTERM / SIGINT stop the bot cleanly at any moment
(:class:`~bot.frontends.discord.ops.StopSignals`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.config import OperatorError, Settings, discord_token
from bot.engine.core import Engine
from bot.frontends.discord.background import purge_loop, reminder_loop
from bot.frontends.discord.cogs.admin import AdminCog
from bot.frontends.discord.cogs.answer import AnswerCog
from bot.frontends.discord.cogs.ask import AskCog
from bot.frontends.discord.cogs.browse import BrowseCog
from bot.frontends.discord.cogs.checkin import CheckInCog
from bot.frontends.discord.cogs.checklist import ChecklistCog
from bot.frontends.discord.cogs.community import CommunityCog
from bot.frontends.discord.cogs.forum import ForumCog
from bot.frontends.discord.cogs.mentors import MentorsCog
from bot.frontends.discord.cogs.privacy import PrivacyCog
from bot.frontends.discord.cogs.progress import ProgressCog
from bot.frontends.discord.cogs.quiz import QuizCog
from bot.frontends.discord.cogs.reminders import RemindersCog
from bot.frontends.discord.cogs.setup import SetupCog
from bot.frontends.discord.cogs.stats import StatsCog
from bot.frontends.discord.components import (
    EngineButton,
    FormButton,
    is_check_in,
    submit_check_in,
)
from bot.frontends.discord.endpoints import configure_endpoints
from bot.frontends.discord.handling import MAX_IN_FLIGHT, Undelivered
from bot.frontends.discord.ops import StopSignals, operations
from bot.frontends.discord.present import NO_MENTIONS, send_error
from bot.ops.logging import setup_logging
from bot.ops.memory import bounded_executor, collect_less_often, limit_malloc_arenas
from bot.ops.metrics import Metrics

log = logging.getLogger(__name__)

COGS = (AskCog, BrowseCog, QuizCog, ChecklistCog, ProgressCog, RemindersCog, PrivacyCog,
        StatsCog, SetupCog, CommunityCog, CheckInCog, AdminCog, AnswerCog, ForumCog,
        MentorsCog)
SYNC_STATE_KEY = "command_tree_hash"
STOP_TIMEOUT = 10.0  # seconds the gateway (and the background jobs) get to close
JOB_GRACE = 5.0  # seconds a background job gets to end its current step when the bot stops


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
            shard_ids=settings.shard_ids,  # type: ignore[arg-type]  # None: all (discord.py)
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
        self._closing: list[Callable[[], None]] = []

    async def setup_hook(self) -> None:
        for cog in COGS:
            await self.add_cog(cog(self))
        self.add_dynamic_items(EngineButton, FormButton)
        self.synced = await self.sync_if_changed()
        if self.settings.reminders_enabled:
            self._spawn(reminder_loop(self), "reminders")
        self._spawn(purge_loop(self), "question-log purge")

    def spawn(self, job: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``job`` beside the gateway; :meth:`close` waits for it (then cancels it)."""
        self._spawn(job, name)

    def _spawn(self, job: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(job, name=name)
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

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A submitted check-in form (read from the submission: no form is kept in memory)."""
        if is_check_in(interaction):
            await submit_check_in(interaction)

    async def on_ready(self) -> None:
        log.info("connected as %s to %d guild(s), shards %s", self.user, len(self.guilds),
                 self.shard_ids or "all")

    def on_close(self, stop: Callable[[], None]) -> None:
        """``stop()`` is called first thing in :meth:`close` (a background job's stop)."""
        self._closing.append(stop)

    async def close(self) -> None:
        """Stop the background jobs and wait for them — they use the database, which the
        caller closes next; a job is asked to stop and given JOB_GRACE seconds to finish its
        database call before it is cancelled — then close the gateway."""
        for stop in self._closing:
            stop()
        jobs = list(self._background)
        if jobs:
            _, late = await asyncio.wait(jobs, timeout=JOB_GRACE)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=STOP_TIMEOUT)
        await super().close()


async def create_bot(settings: Settings, app: App | None = None) -> MentorBot:
    """Everything ``mentorbot run`` starts, before it connects: the app's engine (knowledge,
    database upgraded, store) and metrics, the bot. The caller closes the store
    (``bot.engine.deps.store``, or ``app``)."""
    app = app or App(settings)
    discord_token(settings)
    configure_endpoints(settings)
    engine = await app.engine()
    return MentorBot(engine, settings, app.metrics)


T = TypeVar("T")


async def unless_stopped(job: Awaitable[T], stopping: asyncio.Event) -> T | None:
    """``await job``, unless ``stopping`` is set first: then cancel it and return None."""
    task = asyncio.ensure_future(job)
    waiter = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return None


async def run(settings: Settings, signals: StopSignals | None = None) -> int:
    """``mentorbot run``: assemble the app, connect to Discord, serve until SIGTERM / SIGINT
    (or cancellation), then close the gateway and the database. Returns the exit code (0)."""
    token = discord_token(settings)
    setup_logging(settings)  # LOG_LEVEL / LOG_FORMAT; the token is redacted from every record
    limit_malloc_arenas()  # before the first worker thread: each would add a 2 MiB arena
    collect_less_often()
    loop = asyncio.get_running_loop()
    loop.set_default_executor(bounded_executor())
    signals = signals or StopSignals()
    signals.install()
    assert signals.stopping is not None
    try:
        async with App(settings) as app:  # closes the database last, whatever happens
            bot = await unless_stopped(create_bot(settings, app), signals.stopping)
            if bot is None:
                log.info("stopped before connecting")
                return 0
            # once the database answered: a failed start stays one line on stderr
            log.info("event loop: %s", type(loop).__module__.split(".")[0])  # uvloop|asyncio
            try:
                async with operations(bot), bot:  # HTTP_PORT: /healthz + /metrics; SIGHUP
                    await serve(bot, token, signals.stopping)
            except discord.LoginFailure:
                raise OperatorError("Discord rejected the token (DISCORD_TOKEN): check it in "
                                    "the developer portal") from None
    finally:
        signals.remove()
    log.info("stopped")
    return 0


async def serve(bot: MentorBot, token: str, stopping: asyncio.Event) -> None:
    """Run the gateway until ``stopping`` is set, then close it (at most STOP_TIMEOUT)."""
    start = asyncio.create_task(bot.start(token), name="gateway")
    waiter = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({start, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if not start.done():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bot.close(), STOP_TIMEOUT)
        done, _ = await asyncio.wait({start}, timeout=STOP_TIMEOUT)
        if not done:
            start.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await start
        await _close_late_shards(bot)
        return
    await start  # ended by itself: raise what it raised (a rejected token)


async def _close_late_shards(bot: MentorBot) -> None:
    """A stop that lands while a shard is identifying: discord.py's ``close`` only closes the
    shards it has registered, and this one registers just after. Close it too (code 1000), so
    Discord ends the session now instead of waiting for a dropped connection to time out."""
    for info in list(bot.shards.values()):
        with contextlib.suppress(Exception):
            if not info.is_closed():
                await asyncio.wait_for(info.disconnect(), STOP_TIMEOUT)


async def sync(settings: Settings) -> int:
    """``mentorbot sync``: push the command tree to Discord now (global, or DEV_GUILD_ID)."""
    token = discord_token(settings)
    async with App(settings) as app:
        bot = await create_bot(settings, app)
        bot.force_sync = True
        try:
            async with bot:
                await bot.login(token)  # runs setup_hook, which syncs
        except discord.LoginFailure:
            raise OperatorError("Discord rejected the token (DISCORD_TOKEN): check it in the "
                                "developer portal") from None
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
