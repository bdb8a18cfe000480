"""``mentorbot reminders run-once [--now ISO-TIME]``: one dispatcher run over Discord's REST API.

For cron and operators: no gateway session, just the bot token. The ``mentorbot`` CLI calls
:func:`run_once_cli` and prints the :class:`~bot.reminders.dispatcher.DispatchReport`;
:class:`ReminderSetupError` carries one clear line for the operator (missing or rejected
token, database unreachable, invalid knowledge base).
"""

from __future__ import annotations

from datetime import datetime

import discord

from bot.config import Settings
from bot.frontends.discord.endpoints import configure_endpoints
from bot.knowledge.loader import KnowledgeError, load_knowledge
from bot.reminders.discord_sender import DiscordSender
from bot.reminders.dispatcher import Dispatcher, DispatchReport
from bot.storage.errors import StorageError
from bot.storage.store import Store


class ReminderSetupError(RuntimeError):
    """The run could not start; the message is one line meant for the operator."""


async def run_once_cli(settings: Settings, now: datetime | None = None) -> DispatchReport:
    """Open the store, load the knowledge base, point discord.py at
    ``settings.discord_api_base``, log in over REST, run the dispatcher once, close all.

    ``now`` (timezone-aware) makes the run behave as if it started then."""
    token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
    if not token:
        raise ReminderSetupError(
            "DISCORD_TOKEN is not set: reminders are sent with the bot token "
            "(set it in the environment or .env)"
        )
    if now is not None and (now.tzinfo is None or now.utcoffset() is None):
        raise ReminderSetupError("--now needs a time zone, e.g. 2025-03-03T09:00:00+00:00")
    try:
        kb = load_knowledge(settings.knowledge_dir)
    except KnowledgeError as exc:
        raise ReminderSetupError(f"knowledge base invalid: {exc}") from None
    if settings.db_upgrade_on_start:
        from bot.storage.migrate import upgrade_async

        try:
            await upgrade_async(settings.database_url)
        except StorageError as exc:
            raise ReminderSetupError(str(exc)) from None
    try:
        store = await Store.open(settings.database_url)
    except StorageError as exc:
        raise ReminderSetupError(str(exc)) from None
    try:
        configure_endpoints(settings)
        try:
            sender = await DiscordSender.login(token)
        except discord.LoginFailure:
            raise ReminderSetupError("Discord rejected DISCORD_TOKEN (401): check the token") \
                from None
        except (discord.HTTPException, OSError) as exc:
            raise ReminderSetupError(
                f"cannot reach Discord at {settings.discord_api_base}: {exc}"
            ) from None
        try:
            dispatcher = Dispatcher(
                store,
                kb,
                sender,
                rate_per_second=settings.reminder_rate_per_second,
                lease_seconds=settings.reminder_lease_seconds,
            )
            # a send must end while the lease is safely ours (see Dispatcher.lease_margin)
            sender.timeout = min(sender.timeout, 0.75 * dispatcher.lease_margin.total_seconds())
            return await dispatcher.run_once(now)
        finally:
            await sender.close()
    finally:
        await store.close()


__all__ = ["ReminderSetupError", "run_once_cli"]
