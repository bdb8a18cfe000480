"""The reminder dispatcher: finds who is due, claims, composes, sends — exactly once.

One :class:`Dispatcher` serves the loop inside the bot (:meth:`Dispatcher.run_forever`, every
``REMINDER_INTERVAL_SECONDS``) and ``mentorbot reminders run-once`` (:meth:`Dispatcher.run_once`),
both built by :meth:`Dispatcher.from_settings`. Any number of them may run at once, in one
process or many, on one database.

A run walks the due members in keyset batches (``due_batch``, ``batch_size`` at a time, so
memory stays bounded) and for each member:

After the reminders, each run sends the mentors' weekly blocker digests that are due, with
the same claims, leases and limiter (:mod:`bot.reminders.digest`), when the sender can post
in channels.

1. **period** — the reminder due at ``next_due_utc`` belongs to the period from that weekly
   occurrence to the next (:func:`~bot.engine.schedule.current_period`). A bot that was
   down sends a missed reminder once when it is back within the period; whole periods missed
   are skipped, so it never sends one per missed week (or minute).
2. **claim** — one ``reminder_delivery`` row per member per period, inserted in a transaction
   with a lease (``claim_many``: ``INSERT .. ON CONFLICT DO NOTHING RETURNING``, a batch at a
   time). Only the process that inserted the row (or re-claimed it after its lease expired)
   sends; a row marked sent is never claimed again. That is what makes two dispatchers on
   one database (two processes, two shards) send each reminder once.
3. **re-check** — right before sending, the member's preferences are read again: opted out,
   paused, deleted, or their schedule changed since the claim → the delivery is closed
   without sending.
4. **compose, send** — through the global rate limiter, then **mark sent**, which moves
   ``next_due_utc`` to the end of the period (the next weekly occurrence).

Failures (typed by the :class:`~bot.reminders.sender.Sender`):

* :class:`DMsClosed` — the member's reminders are paused with the reason (``/reminders
  status`` shows it); no retry.
* :class:`RateLimited` — everything waits ``retry_after`` (the limiter is held), then the same
  message is retried, a few times and only while the lease is safe; after that the delivery
  is retried by a later run.
* :class:`TransientError` — the delivery is marked failed with ``retry_at`` (exponential
  backoff from ``backoff_base`` up to ``backoff_cap``) and re-claimed by the first run after
  it; when the next retry would fall past the period (or after ``max_attempts``) the period
  is given up and the next occurrence scheduled.
* :class:`MemberGone` — reminders are disabled. :class:`Rejected` — this period is given up.
* any other exception — treated as a crash between claim and send: the claim is left alone
  and its lease expiry makes a later run (this or another process) retry it. A delivery
  marked sent is never sent again.

**Mentor reminders** (issue 14): each run also sends the one reminder of every *Ask a mentor*
thread left unclaimed past its ``remind_at`` (``MENTOR_REMINDER_MINUTES``), when the sender
can post in channels (:class:`~bot.reminders.sender.ChannelSender`). They are claimed the same
way — a lease in the ``escalation`` row, taken with a compare-and-set
(:meth:`~bot.storage.repo.escalations.EscalationsRepo.claim_reminders`) — and sent only while
the lease is safe, so any number of dispatchers send each once. A 429 or a transient error
retries it later; a thread that is gone or refused gives it up.

The one window left is between a successful send and ``mark_sent``: if the process dies
exactly there (or the database stays unreachable through the retries of ``mark_sent``), the
delivery is sent again after its lease — at least once, never silently lost.

A claimed delivery is sent only while its lease has at least ``lease_margin`` left, and every
send is cut off after ``send_timeout`` (¾ of the margin, whatever the sender does): a send that
started in time therefore ends before the lease does, so a slow run or a hung Discord request
can never overlap with a process that re-claims the row after the lease — at every lease the
settings allow. This is the only place the send timeout is set. Claims are made in chunks small
enough to be sent well within the lease at the configured rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from bot.engine.digest import Titles
from bot.engine.escalate import reminder_message
from bot.engine.schedule import current_period, period_key
from bot.engine.setup import stored_setup
from bot.knowledge.loader import KnowledgeBase
from bot.reminders.compose import ReminderComposer, composer_for
from bot.reminders.digest import send_digests
from bot.reminders.ratelimit import TokenBucket
from bot.reminders.sender import (
    ChannelSender,
    DMsClosed,
    MemberGone,
    RateLimited,
    Sender,
    SendError,
    TransientError,
)
from bot.storage.db import utcnow
from bot.storage.errors import Busy, CapacityExceeded, DatabaseUnavailable, NotFound
from bot.storage.records import DeliveryClaim, ReminderPrefRecord
from bot.storage.repo.reminders import ReminderSnapshot
from bot.storage.store import Store

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
#: the share of ``lease_margin`` a single send may take (the rest is slack for marking it sent)
SEND_TIMEOUT_SHARE = 0.75
#: chunks of mentor reminders one run claims at most (each ``claim_chunk`` long)
MAX_MENTOR_CHUNKS = 20

def dms_closed_reason(when: datetime) -> str:
    """The pause reason stored for closed DMs (``/reminders status`` shows it, followed by
    how to open them)."""
    return f"your DMs are closed to me (Discord refused the reminder of {when:%d %b %Y})"


class Limiter(Protocol):
    async def acquire(self) -> float: ...

    def hold(self, seconds: float) -> None: ...


@dataclass
class DispatchReport:
    """What one run did. ``due``: due members seen; ``claimed``: deliveries this run won;
    ``sent``; ``skipped``: not ours (sent already, leased elsewhere, waiting for a retry) or
    no longer wanted (opted out, paused, deleted, schedule changed); ``paused``: DMs closed;
    ``failed``: given up for the period or crashed (retried after the lease); ``retried``:
    rate-limit retries in this run plus deliveries scheduled for a later retry;
    ``disabled``: the user is gone; ``digests_sent``, ``digests_failed``: the mentors' weekly
    blocker digests posted, and given up or crashed (:mod:`bot.reminders.digest`)."""

    due: int = 0
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    paused: int = 0
    failed: int = 0
    retried: int = 0
    disabled: int = 0
    mentor_reminders: int = 0  # reminders sent in unclaimed Ask a mentor threads
    digests_sent: int = 0
    digests_failed: int = 0
    elapsed: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.2f}s" if k == "elapsed" else f"{k} {v}"
                         for k, v in self.as_dict().items())


@dataclass(frozen=True)
class _Plan:
    pref: ReminderPrefRecord
    start: datetime  # the period's due time (its key)
    end: datetime  # the next occurrence: the period ends, the next reminder is due


class Dispatcher:
    """Sends due weekly reminders exactly once (see the module documentation).

    ``clock`` gives the current UTC time (inject a fake in tests); ``sleep`` is what waits
    out a 429. ``limiter`` defaults to a :class:`~bot.reminders.ratelimit.TokenBucket` of
    ``rate_per_second``; pass one shared bucket to every dispatcher of a process.
    """

    def __init__(
        self,
        store: Store,
        kb: KnowledgeBase,
        sender: Sender,
        *,
        clock: Clock = utcnow,
        rate_per_second: float = 10.0,
        lease_seconds: float = 300.0,
        batch_size: int = 500,
        limiter: Limiter | None = None,
        sleep: Sleep = asyncio.sleep,
        max_in_flight: int = 8,
        backoff_base: float = 60.0,
        backoff_cap: float = 3600.0,
        max_rate_limit_retries: int = 3,
        max_attempts: int = 10,
        composer: ReminderComposer | None = None,
        lease_margin: float | None = None,
        send_timeout: float | None = None,
        titles: Titles | None = None,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        if batch_size < 1 or max_in_flight < 1 or max_attempts < 1:
            raise ValueError("batch_size, max_in_flight and max_attempts must be at least 1")
        self.store = store
        self.kb = kb
        self.sender = sender
        self.clock = clock
        self.rate_per_second = float(rate_per_second)
        self.lease_seconds = float(lease_seconds)
        self.batch_size = batch_size
        self.limiter: Limiter = limiter or TokenBucket(rate_per_second)
        self.sleep = sleep
        self.max_in_flight = max_in_flight
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_rate_limit_retries = max_rate_limit_retries
        self.max_attempts = max_attempts
        self.composer = composer or composer_for(kb)
        #: topic titles for the blocker digests (default: the knowledge base's)
        self.titles = titles
        #: a delivery is sent only while at least this much of its lease is left; a send must
        #: finish within it (keep the sender's own timeout below it)
        self.lease_margin = timedelta(
            seconds=lease_margin if lease_margin is not None else min(60.0, self.lease_seconds / 5)
        )
        if not timedelta(0) < self.lease_margin < timedelta(seconds=self.lease_seconds):
            raise ValueError("lease_margin must be positive and shorter than the lease")
        #: one send (the sender's own retries included) is cancelled after this many seconds,
        #: so a send that started before ``lease_until - lease_margin`` ends inside the lease
        bound = SEND_TIMEOUT_SHARE * self.lease_margin.total_seconds()
        self.send_timeout = bound if send_timeout is None else min(send_timeout, bound)
        if self.send_timeout <= 0:
            raise ValueError("send_timeout must be positive")
        #: members claimed at once: what the rate can send in half the (safe part of the) lease
        safe = self.lease_seconds - self.lease_margin.total_seconds()
        self.claim_chunk = max(1, min(batch_size, int(self.rate_per_second * safe / 2)))
        self._stop = asyncio.Event()

    @classmethod
    def from_settings(
        cls, store: Store, kb: KnowledgeBase, sender: Sender, settings: Settings, **options: Any
    ) -> Dispatcher:
        """The dispatcher the bot and ``reminders run-once`` use: rate and lease from the
        settings (``REMINDER_RATE_PER_SECOND``, ``REMINDER_LEASE_SECONDS``), the send timeout
        derived from the lease. ``options`` go to the constructor (tests: clock, sleep)."""
        return cls(store, kb, sender, rate_per_second=settings.reminder_rate_per_second,
                   lease_seconds=settings.reminder_lease_seconds, **options)

    def _kb_title(self, intent_id: str) -> str | None:
        topic = self.kb.intent_by_id.get(intent_id)
        return None if topic is None else topic.title

    def use(self, kb: KnowledgeBase) -> None:
        """Compose from ``kb`` from the next member on (a reloaded knowledge base)."""
        if kb is not self.kb:
            self.kb = kb
            self.composer = composer_for(kb)

    # -- running --------------------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> DispatchReport:
        """Send every reminder due at ``now`` (default: the clock's now) and return counts.

        With ``now`` given, the run behaves as if it started then (``--now`` of the CLI):
        due members, periods, claims and leases all use ``now`` plus the time elapsed since.
        """
        started = time.perf_counter()
        first = self.clock()
        if now is not None and (now.tzinfo is None or now.utcoffset() is None):
            raise ValueError("now must be timezone-aware")
        offset = (now - first) if now is not None else timedelta(0)
        ref = first + offset

        def at() -> datetime:
            return self.clock() + offset

        report = DispatchReport()
        after: int | None = None
        while not self.stopping:
            prefs = await self.store.reminders.due_batch(ref, self.batch_size, after)
            if not prefs:
                break
            after = prefs[-1].user_id
            report.due += len(prefs)
            for i in range(0, len(prefs), self.claim_chunk):
                if self.stopping:
                    break
                await self._chunk(prefs[i : i + self.claim_chunk], ref, at, report)
            if len(prefs) < self.batch_size:
                break
        if not self.stopping:
            report.mentor_reminders = await self.remind_mentors(at)
            await send_digests(self, ref, at, self.titles or self._kb_title, report)
        report.elapsed = time.perf_counter() - started
        if report.due or report.mentor_reminders or report.digests_sent or report.digests_failed:
            log.info("reminders at %s: %s", ref.isoformat(timespec="seconds"), report)
        return report

    async def run_forever(
        self,
        interval: float = 60.0,
        *,
        knowledge: Callable[[], KnowledgeBase] | None = None,
        on_report: Callable[[DispatchReport], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """:meth:`run_once` every ``interval`` seconds until :meth:`stop` (or cancellation):
        the bot's reminder loop (``bot.frontends.discord.background``).

        ``knowledge`` is asked for the knowledge base before every run (so a ``/kb reload``
        is used by the next reminders); ``on_report`` gets each run's report (metrics) and
        ``on_error`` each failed run's exception. A failed run (database down, ...) is logged
        and retried on the next tick."""
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if knowledge is not None:
                    self.use(knowledge())
                report = await self.run_once()
                if on_report is not None:
                    on_report(report)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("reminder run failed; retrying in %.0fs", interval)
                if on_error is not None:
                    on_error(exc)
            wait = max(0.0, interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=wait)

    def stop(self) -> None:
        """Make :meth:`run_forever` return soon (for good): the current run sends no further
        reminder — those it claimed and did not send go out after their lease, from whichever
        process claims them next — and no new run starts."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- unclaimed Ask a mentor threads ---------------------------------------------------------

    async def remind_mentors(self, at: Clock) -> int:
        """Send the one reminder of every unclaimed escalation that is due; returns how many
        were sent. Only escalations this dispatcher leased are sent, while the lease is safe."""
        sender = self.sender
        if not isinstance(sender, ChannelSender):
            return 0
        escalations = self.store.escalations
        sent = 0
        for _ in range(MAX_MENTOR_CHUNKS):  # a chunk at a time, like the weekly reminders
            if self.stopping:
                break
            claimed_at = at()
            claims = await escalations.claim_reminders(claimed_at, self.lease_seconds,
                                                       limit=self.claim_chunk)
            if not claims:
                break
            deadline = claimed_at + timedelta(seconds=self.lease_seconds) - self.lease_margin
            for esc in claims:
                if self.stopping:
                    break
                if esc.thread_id is not None and await self._remind(esc.id, esc.guild_id,
                                                                   esc.thread_id, sender,
                                                                   deadline, at):
                    sent += 1
        return sent

    async def _remind(self, esc_id: int, guild_id: int, thread_id: int, sender: ChannelSender,
                      deadline: datetime, at: Clock) -> bool:
        """Send one leased mentor reminder; True when it went out."""
        escalations = self.store.escalations
        await self.limiter.acquire()
        if at() >= deadline:  # the lease hands it to whoever claims it next
            log.warning("mentor reminder %s not sent: lease nearly over", esc_id)
            return False
        setup = await stored_setup(self.store, guild_id)
        try:
            await self.send_bounded(sender.send_channel(thread_id, reminder_message(setup)))
        except RateLimited as exc:
            self.limiter.hold(exc.retry_after)
            await escalations.remind_later(
                esc_id, at() + timedelta(seconds=max(1.0, exc.retry_after)))
            return False
        except TransientError as exc:
            log.warning("mentor reminder %s: %s; retried later", esc_id, exc)
            await escalations.remind_later(esc_id, at() + self.backoff(1))
            return False
        except SendError as exc:  # the thread is gone, or Discord refuses: give it up
            log.warning("mentor reminder %s given up: %s", esc_id, exc)
            await escalations.remind_later(esc_id, None)
            return False
        except Exception:
            log.exception("mentor reminder %s failed; retried after the lease", esc_id)
            return False
        await escalations.reminded(esc_id, at())
        return True

    # -- one chunk ------------------------------------------------------------------------------

    async def prepare(
        self, prefs: Sequence[ReminderPrefRecord], ref: datetime, claim_at: datetime
    ) -> tuple[list[tuple[DeliveryClaim, _Plan]], dict[int, ReminderSnapshot]]:
        """Claim the deliveries of ``prefs`` (one batch) and read what they will show."""
        spans: dict[tuple[int, int, str, datetime], tuple[datetime, datetime, str]] = {}
        plans: dict[int, _Plan] = {}
        keys: list[tuple[int, str]] = []
        for p in prefs:
            if p.next_due_utc is None:
                continue
            schedule = (p.weekday, p.hour, p.timezone, p.next_due_utc)
            span = spans.get(schedule)
            if span is None:  # members on the same schedule share the computation
                start, end = current_period(*schedule, ref)
                span = spans[schedule] = (start, end, period_key(start))
            plans[p.user_id] = _Plan(p, span[0], span[1])
            keys.append((p.user_id, span[2]))
        claims = await self.store.reminders.claim_many(keys, claim_at, self.lease_seconds)
        snaps = await self.store.reminders.snapshots([c.user_id for c in claims],
                                                     with_prefs=False)
        return [(c, plans[c.user_id]) for c in claims], snaps

    async def _chunk(
        self,
        prefs: Sequence[ReminderPrefRecord],
        ref: datetime,
        at: Clock,
        report: DispatchReport,
    ) -> None:
        claimed, snaps = await self.prepare(prefs, ref, at())
        report.claimed += len(claimed)
        report.skipped += len(prefs) - len(claimed)
        if not claimed:
            return
        gate = asyncio.Semaphore(self.max_in_flight)

        async def one(claim: DeliveryClaim, plan: _Plan) -> None:
            async with gate:
                await self._deliver(claim, plan, snaps.get(claim.user_id), at, report)

        results = await asyncio.gather(*(one(c, p) for c, p in claimed), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    # -- one member -----------------------------------------------------------------------------

    def backoff(self, attempts: int) -> timedelta:
        """Wait before retry number ``attempts`` (1, 2, ...) of a transient failure."""
        seconds = min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempts - 1))
        return timedelta(seconds=seconds)

    @staticmethod
    def _unwanted(seen: ReminderPrefRecord, fresh: ReminderPrefRecord | None) -> str | None:
        if fresh is None:
            return "member deleted"
        if not fresh.enabled:
            return "opted out"
        if fresh.paused_reason:
            return "paused"
        if (fresh.next_due_utc, fresh.weekday, fresh.hour, fresh.timezone) != (
            seen.next_due_utc, seen.weekday, seen.hour, seen.timezone
        ):
            return "schedule changed"
        return None

    async def _deliver(
        self,
        claim: DeliveryClaim,
        plan: _Plan,
        snap: ReminderSnapshot | None,
        at: Clock,
        report: DispatchReport,
    ) -> None:
        uid = claim.user_id
        reminders = self.store.reminders
        if claim.attempts > self.max_attempts:
            await self._give_up(claim, plan, f"gave up after {claim.attempts - 1} attempts")
            report.failed += 1
            return
        if self.stopping:  # shutting down: the lease hands it to the next claimer
            report.skipped += 1
            return
        await self.limiter.acquire()
        deadline = claim.lease_until - self.lease_margin
        if at() >= deadline:
            # Too close to the end of our lease to send safely: another process may claim it
            # from then on. Leave it; whoever claims it after the lease sends it.
            log.warning("reminder for %s not sent: lease nearly over", uid)
            report.skipped += 1
            return
        fresh = await reminders.get(uid)
        why = self._unwanted(plan.pref, fresh)
        if why or snap is None or fresh is None:
            await self._close(claim, f"not sent: {why or 'member deleted'}")
            report.skipped += 1
            return
        reply = self.composer.render(snap, at(), fresh)
        rate_retries = 0
        while True:
            if at() >= deadline:  # the re-check above took the rest of the safe part
                log.warning("reminder for %s not sent: lease nearly over", uid)
                report.skipped += 1
                return
            try:
                await self.send_bounded(self.sender.send_dm(uid, reply))
            except RateLimited as exc:
                self.limiter.hold(exc.retry_after)
                wait = timedelta(seconds=exc.retry_after)
                if rate_retries < self.max_rate_limit_retries and at() + wait < deadline:
                    rate_retries += 1
                    report.retried += 1
                    await self.sleep(exc.retry_after)
                    await self.limiter.acquire()
                    continue
                retry_at = at() + max(wait, timedelta(seconds=1))
                await self._retry_later(claim, plan, f"rate limited: {exc}", retry_at, report)
                return
            except DMsClosed as exc:
                with contextlib.suppress(NotFound):
                    await reminders.pause(uid, dms_closed_reason(at()))
                await self._close(claim, f"DMs closed: {exc.reason}")
                report.paused += 1
                return
            except MemberGone as exc:
                await reminders.disable(uid)
                await self._close(claim, f"user gone: {exc}")
                report.disabled += 1
                return
            except TransientError as exc:
                retry_at = at() + self.backoff(claim.attempts)
                await self._retry_later(claim, plan, f"transient: {exc}", retry_at, report)
                return
            except SendError as exc:
                await self._give_up(claim, plan, f"rejected: {exc}")
                report.failed += 1
                return
            except Exception:
                # Like a crash between claim and send: leave the claim; once its lease expires
                # a later run (here or in another process) claims it again.
                log.exception("sending the reminder for %s failed; retried after the lease", uid)
                report.failed += 1
                return
            break
        await self._mark_sent(claim, plan, at())
        report.sent += 1

    async def send_bounded(self, send: Awaitable[None]) -> None:
        """One send (a reminder DM, a mentor reminder, a blocker digest), cut off after
        :attr:`send_timeout` (a :class:`TransientError` then)."""
        try:
            async with asyncio.timeout(self.send_timeout) as scope:
                await send
        except TimeoutError as exc:
            if not scope.expired():
                raise
            raise TransientError(
                f"no answer within {self.send_timeout:.1f}s (the lease's send timeout)") from exc

    async def _retry_later(
        self, claim: DeliveryClaim, plan: _Plan, error: str, retry_at: datetime,
        report: DispatchReport,
    ) -> None:
        if retry_at < plan.end and claim.attempts < self.max_attempts:
            with contextlib.suppress(NotFound):
                await self.store.reminders.mark_failed(claim.delivery_id, error, retry_at)
            report.retried += 1
        else:
            await self._give_up(claim, plan, f"{error} (no retry left this period)")
            report.failed += 1

    async def _close(self, claim: DeliveryClaim, error: str) -> None:
        """Close the delivery for good (no retry this period)."""
        with contextlib.suppress(NotFound):  # the member was deleted, deliveries with them
            await self.store.reminders.mark_failed(claim.delivery_id, error, None)

    async def _give_up(self, claim: DeliveryClaim, plan: _Plan, error: str) -> None:
        """Close the delivery and schedule the next occurrence (unless the member changed it)."""
        log.warning("reminder for %s given up for %s: %s", claim.user_id, claim.period_key, error)
        await self._close(claim, error)
        await self.store.reminders.advance(claim.user_id, plan.pref.next_due_utc, plan.end)

    async def _mark_sent(self, claim: DeliveryClaim, plan: _Plan, now: datetime) -> None:
        """Close the delivery and move the schedule on from the due time this send was planned
        from (compare-and-set: a member who changed their schedule while the DM was on its way
        keeps their change). A database that is down, busy or at capacity is retried."""
        for attempt in range(4):
            try:
                await self.store.reminders.mark_sent(
                    claim.delivery_id, now, plan.end, expected_due=plan.pref.next_due_utc)
                return
            except NotFound:  # deleted right after we sent: nothing left to mark
                return
            except (DatabaseUnavailable, Busy, CapacityExceeded):
                if attempt == 3:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)


__all__ = ["DispatchReport", "Dispatcher", "Limiter", "dms_closed_reason"]
