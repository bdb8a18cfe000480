"""Jobs the bot runs beside the gateway: weekly reminders every minute, the question-log purge.

Reminders go through the same :class:`~bot.reminders.dispatcher.Dispatcher` as
``mentorbot reminders run-once``, sending over the bot's own REST client. Every process may
run the loop: claims in the database make each reminder go out once, whichever process wins.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from bot.reminders.discord_sender import DiscordSender
from bot.reminders.dispatcher import Dispatcher, DispatchReport
from bot.reminders.ratelimit import TokenBucket

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot

log = logging.getLogger(__name__)

PURGE_INTERVAL = 24 * 3600.0  # the unanswered-question log is trimmed once a day


def count(bot: MentorBot, report: DispatchReport) -> None:
    for outcome in ("sent", "failed", "paused", "retried", "disabled"):
        n = getattr(report, outcome)
        if n:
            bot.metrics.reminders.labels(outcome=outcome).inc(n)


async def reminder_loop(bot: MentorBot) -> None:
    settings = bot.settings
    interval = settings.reminder_interval_seconds
    sender = DiscordSender(bot.http)
    limiter = TokenBucket(settings.reminder_rate_per_second)  # one budget for the process
    store = bot.engine.deps.store
    last_purge = 0.0
    while not bot.is_closed():
        started = time.monotonic()
        try:
            # Built per run so a /kb reload is picked up by the next reminders.
            dispatcher = Dispatcher(store, bot.engine.kb, sender, limiter=limiter,
                                    rate_per_second=settings.reminder_rate_per_second,
                                    lease_seconds=settings.reminder_lease_seconds)
            count(bot, await dispatcher.run_once())
            if started - last_purge >= PURGE_INTERVAL:
                purged = await store.questions.purge(settings.question_log_days)
                last_purge = started
                if purged:
                    log.info("purged %d logged questions older than %d days", purged,
                             settings.question_log_days)
        except asyncio.CancelledError:
            raise
        except Exception:
            bot.metrics.db_errors.inc()
            log.exception("background run failed; retrying in %.0fs", interval)
        await asyncio.sleep(max(1.0, interval - (time.monotonic() - started)))
