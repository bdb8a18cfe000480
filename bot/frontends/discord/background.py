"""Jobs the bot runs beside the gateway: the weekly reminders (and the mentors' weekly blocker
digests, posted by the same loop) and the daily question-log purge.

Reminders go through the same :class:`~bot.reminders.dispatcher.Dispatcher` as
``mentorbot reminders run-once`` (:meth:`~bot.reminders.dispatcher.Dispatcher.from_settings`:
rate, lease and send timeout from the settings), running its loop
(:meth:`~bot.reminders.dispatcher.Dispatcher.run_forever`) and sending over the bot's own REST
client. Every process may run the loop: claims in the database make each reminder go out once,
whichever process wins.

The purge of old logged questions (``QUESTION_LOG_DAYS``) is its own daily task, so it also
runs with ``REMINDERS_ENABLED=false``; ``mentorbot db purge`` does the same once (for cron).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from bot.frontends.discord.sender import DiscordSender
from bot.reminders.dispatcher import Dispatcher, DispatchReport

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot

log = logging.getLogger(__name__)

PURGE_INTERVAL = 24 * 3600.0  # the unanswered-question log is trimmed once a day
PURGE_FIRST_DELAY = 60.0  # ... the first time a minute after start
PURGE_RETRY = 300.0  # after a failed purge (database down), try again in 5 minutes


def count(bot: MentorBot, report: DispatchReport) -> None:
    for outcome in ("sent", "failed", "paused", "retried", "disabled", "mentor_reminders"):
        n = getattr(report, outcome)
        if n:
            bot.metrics.reminders.labels(outcome=outcome).inc(n)
    for outcome in ("digest_sent", "digest_failed"):  # the mentors' blocker digests
        n = getattr(report, outcome.replace("digest_", "digests_"))
        if n:
            bot.metrics.reminders.labels(outcome=outcome).inc(n)


def reminder_dispatcher(bot: MentorBot) -> Dispatcher:
    """The bot's one dispatcher (one rate budget for the process), sending over its client."""
    engine = bot.engine
    return Dispatcher.from_settings(engine.deps.store, engine.kb, DiscordSender(bot.http),
                                    bot.settings, titles=lambda i: title_of(bot, i))


def title_of(bot: MentorBot, intent_id: str) -> str | None:
    """A topic's title for the blocker digest: the knowledge base's or one mentors taught."""
    topic = bot.engine.deps.intent(intent_id)
    return None if topic is None else topic.title


async def reminder_loop(bot: MentorBot) -> None:
    """Due reminders every ``REMINDER_INTERVAL_SECONDS`` until the bot closes (``close()``
    stops the dispatcher first, so a run ends between two database calls)."""
    dispatcher = reminder_dispatcher(bot)
    bot.on_close(dispatcher.stop)

    def failed(exc: BaseException) -> None:
        bot.metrics.db_errors.inc()

    await dispatcher.run_forever(bot.settings.reminder_interval_seconds,
                                 knowledge=lambda: bot.engine.kb,
                                 on_report=lambda report: count(bot, report),
                                 on_error=failed)


async def purge_questions(bot: MentorBot) -> int:
    """One purge of logged questions older than ``QUESTION_LOG_DAYS``; returns the count."""
    days = bot.settings.question_log_days
    purged = await bot.engine.deps.store.questions.purge(days)
    if purged:
        log.info("purged %d logged questions older than %d days", purged, days)
    return purged


async def purge_loop(bot: MentorBot, interval: float = PURGE_INTERVAL) -> None:
    """:func:`purge_questions` ``PURGE_FIRST_DELAY`` after start (not in the busy first
    seconds) and then every ``interval`` seconds, until the bot closes."""
    stopping = asyncio.Event()
    bot.on_close(stopping.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), PURGE_FIRST_DELAY)
    while not stopping.is_set():
        started = time.monotonic()
        wait = interval
        try:
            await purge_questions(bot)
        except asyncio.CancelledError:
            raise
        except Exception:
            bot.metrics.db_errors.inc()
            log.exception("purging the question log failed; retrying in %.0fs", PURGE_RETRY)
            wait = min(interval, PURGE_RETRY)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(),
                                   max(1.0, wait - (time.monotonic() - started)))
