"""The mentors' weekly blocker digests, sent by the reminder dispatcher's loop — once.

Every run of the :class:`~bot.reminders.dispatcher.Dispatcher` (whose sender can post in
channels, a :class:`~bot.reminders.sender.ChannelSender`) ends with :func:`send_digests`:

1. **due** — the servers whose setup has a blocker digest
   (:meth:`~bot.storage.repo.guilds.GuildsRepo.with_section`); for each, the period under way
   (:func:`~bot.engine.digest.digest_period`: from the latest weekly occurrence at or before
   now, in the server's zone, to the next). A digest missed while the bot was down goes out
   once when it is back within the period; whole weeks missed are skipped.
2. **claim** — a ``bot_state`` row per server and period
   (:class:`~bot.storage.repo.digests.DigestsRepo`): only the process that wrote it (or
   re-claimed it after its lease) composes and sends; a row marked sent is never claimed again.
3. **compose, send** — the blockers of the week before the occurrence
   (:func:`~bot.engine.digest.compose_digest`), through the same rate limiter and the same
   lease rules as the reminders (sent only with ``lease_margin`` left, cut off after
   ``send_timeout``), then **mark sent**.

Failures: a channel that refuses the post (403) or is gone (404) closes the period and leaves
the admins a note in ``/setup show`` (cleared by the next digest that goes out); a rate limit
or a transient failure is retried (after ``retry_after`` or with backoff) within the period; an
unexpected exception leaves the claim to its lease (retried by whoever claims it next).
Nothing here raises into the loop for one server's trouble.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot.engine.digest import WINDOW, Titles, compose_digest, digest_period
from bot.engine.schedule import period_key
from bot.engine.setup import GuildSetup
from bot.reminders.sender import (
    ChannelGone,
    ChannelRefused,
    ChannelSender,
    RateLimited,
    SendError,
    TransientError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.reminders.dispatcher import Dispatcher, DispatchReport
    from bot.storage.repo.digests import DigestClaim

log = logging.getLogger(__name__)

SECTION = "blocker_digest"
TOPIC = "digest"  # the admins' note in /setup show
REFUSED = ("I couldn't post the mentors' blocker digest in <#{channel}>: it was refused "
           "(error {code}). Let me send messages and embed links there, or choose another "
           "channel with `/setup blocker-digest`.")
GONE = ("The channel of the mentors' blocker digest is gone, so the digest isn't posted: "
        "choose one with `/setup blocker-digest`.")
REJECTED = ("I couldn't post the mentors' blocker digest in <#{channel}> ({error}): check the "
            "channel with `/setup blocker-digest`.")


@dataclass(frozen=True)
class _Due:
    guild_id: int
    setup: GuildSetup
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return period_key(self.start)

    @property
    def channel(self) -> int:
        assert self.setup.blocker_digest is not None
        return self.setup.blocker_digest.channel


async def due_digests(d: Dispatcher, ref: datetime) -> list[_Due]:
    """The servers whose digest period under way at ``ref`` is not sent (nor leased, nor
    waiting for a retry) — read in two queries, whatever the number of servers."""
    due = []
    for guild_id, raw in await d.store.guilds.with_section(SECTION):
        try:
            setup = GuildSetup.model_validate(raw)
        except ValidationError:
            log.warning("guild %s: its blocker digest setup is unreadable", guild_id)
            continue
        if setup.blocker_digest is None:
            continue
        period = digest_period(setup.blocker_digest, ref)
        if period is not None:
            due.append(_Due(guild_id, setup, *period))
    states = await d.store.digests.states([(x.guild_id, x.key) for x in due])
    waiting = []
    for x in due:
        state = states.get((x.guild_id, x.key))
        if state is None or (state.status != "sent" and state.at is not None
                             and state.at <= ref):
            waiting.append(x)
    return waiting


async def send_digests(d: Dispatcher, ref: datetime, at: Callable[[], datetime],
                       titles: Titles, report: DispatchReport) -> None:
    """Claim and send every digest due at ``ref`` (see the module documentation)."""
    if not isinstance(d.sender, ChannelSender):
        return
    for due in await due_digests(d, ref):
        if d.stopping:
            return
        claim = await d.store.digests.claim(due.guild_id, due.key, at(), d.lease_seconds)
        if claim is None:
            continue
        try:
            await _deliver(d, d.sender, claim, due, at, titles, report)
        except asyncio.CancelledError:
            raise
        except Exception:  # like a crash between claim and send: the lease hands it on
            log.exception("guild %s: the blocker digest failed; retried after the lease",
                          due.guild_id)
            report.digests_failed += 1


async def _note(d: Dispatcher, guild_id: int, message: str | None) -> None:
    try:
        if message is None:
            await d.store.community.clear_note(guild_id, TOPIC)
        else:
            await d.store.community.note(guild_id, TOPIC, message)
    except Exception:
        log.warning("guild %s: could not record the digest note", guild_id, exc_info=True)


async def _deliver(d: Dispatcher, sender: ChannelSender, claim: DigestClaim, due: _Due,
                   at: Callable[[], datetime], titles: Titles, report: DispatchReport) -> None:
    digests = d.store.digests
    if claim.attempts > d.max_attempts:
        await digests.mark_failed(claim, f"gave up after {claim.attempts - 1} attempts", None)
        report.digests_failed += 1
        return
    reply = await compose_digest(d.store, titles, due.guild_id, due.setup,
                                 due.start - WINDOW, due.start)
    deadline = claim.lease_until - d.lease_margin
    await d.limiter.acquire()
    if at() >= deadline:  # whoever claims it after the lease sends it
        log.warning("guild %s: blocker digest not sent: lease nearly over", due.guild_id)
        return
    try:
        await d.send_bounded(sender.send_channel(due.channel, reply))
    except RateLimited as exc:
        d.limiter.hold(exc.retry_after)
        await _retry(d, claim, due, f"rate limited: {exc}",
                     at() + timedelta(seconds=max(1.0, exc.retry_after)), report)
        return
    except TransientError as exc:
        await _retry(d, claim, due, f"transient: {exc}", at() + d.backoff(claim.attempts),
                     report)
        return
    except ChannelRefused as exc:
        await digests.mark_failed(claim, f"refused: {exc}", None)
        await _note(d, due.guild_id, REFUSED.format(channel=due.channel, code=exc.code or 403))
        report.digests_failed += 1
        return
    except ChannelGone as exc:
        await digests.mark_failed(claim, f"channel gone: {exc}", None)
        await _note(d, due.guild_id, GONE)
        report.digests_failed += 1
        return
    except SendError as exc:
        await digests.mark_failed(claim, f"rejected: {exc}", None)
        await _note(d, due.guild_id, REJECTED.format(channel=due.channel,
                                                     error=str(exc)[:120]))
        report.digests_failed += 1
        return
    for attempt in range(4):  # the database may hiccup right after the post
        try:
            await digests.mark_sent(claim, at())
            break
        except Exception:
            if attempt == 3:
                raise
            await asyncio.sleep(0.5 * 2**attempt)
    report.digests_sent += 1
    await _note(d, due.guild_id, None)


async def _retry(d: Dispatcher, claim: DigestClaim, due: _Due, error: str,
                 retry_at: datetime, report: DispatchReport) -> None:
    if retry_at < due.end and claim.attempts < d.max_attempts:
        await d.store.digests.mark_failed(claim, error, retry_at)
        report.retried += 1
    else:
        log.warning("guild %s: blocker digest of %s given up: %s", due.guild_id, due.key, error)
        with contextlib.suppress(Exception):
            await d.store.digests.mark_failed(claim, f"{error} (no retry left)", None)
        report.digests_failed += 1


__all__ = ["GONE", "REFUSED", "SECTION", "TOPIC", "due_digests", "send_digests"]
