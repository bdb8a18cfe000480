"""The one reminder of an unclaimed *Ask a mentor* thread: sent by the dispatcher's run after
the delay, naming the mentor role (mentions are off on every message), never for a claimed or
answered question, retried after a transient failure, and exactly once with two dispatchers on
two stores (two processes) — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.engine.replies import Reply
from bot.reminders.dispatcher import Dispatcher
from bot.reminders.ratelimit import Unlimited
from bot.reminders.sender import TransientError
from bot.storage import Store
from tests.conftest import FakeClock

from .conftest import RecordingSender, at

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
G = 77
ROLE = 4242
DELAY = timedelta(minutes=120)


@dataclass
class ChannelRecorder(RecordingSender):
    """Records posts in channels too; ``channel_faults`` are raised one per attempt."""

    posts: list[tuple[int, Reply]] = field(default_factory=list)
    channel_faults: list[BaseException] = field(default_factory=list)

    async def send_channel(self, channel_id: int, reply: Reply) -> None:
        await asyncio.sleep(0.001)
        if self.channel_faults:
            raise self.channel_faults.pop(0)
        self.posts.append((channel_id, reply))


async def escalation(store: Store, user: int, thread: int, question: str = "who pays for GPUs"
                     ) -> int:
    esc, new = await store.escalations.open(
        member_id=user, guild_id=G, question=question, guesses=[], context=None,
        channel_id=9, remind_at=T0 + DELAY)
    assert new
    await store.escalations.posted(esc.id, thread, thread)
    return esc.id


def dispatcher(store: Store, kb, sender: ChannelRecorder, clock: FakeClock) -> Dispatcher:
    return Dispatcher(store, kb, sender, clock=clock, limiter=Unlimited())


async def test_one_reminder_after_the_delay_naming_the_role(store: Store, kb,
                                                            clock: FakeClock) -> None:
    at(clock, T0)
    await store.guilds.set(G, {"mentor_role": ROLE, "mentor_channel": 9})
    await escalation(store, 1001, 501)
    claimed = await escalation(store, 1002, 502)
    answered = await escalation(store, 1003, 503)
    await store.escalations.claim(claimed, 2001, "ada")
    await store.escalations.answered(answered)
    sender = ChannelRecorder(clock)
    d = dispatcher(store, kb, sender, clock)
    at(clock, T0 + DELAY - timedelta(minutes=1))
    assert (await d.run_once()).mentor_reminders == 0
    at(clock, T0 + DELAY + timedelta(seconds=1))
    assert (await d.run_once()).mentor_reminders == 1
    for minutes in range(1, 600, 7):
        at(clock, T0 + DELAY + timedelta(minutes=minutes))
        assert (await d.run_once()).mentor_reminders == 0
    [(thread, reply)] = sender.posts
    assert thread == 501 and f"<@&{ROLE}>" in reply.body
    esc = await store.escalations.get((await store.escalations.by_thread(501)).id)  # type: ignore[union-attr]
    assert esc is not None and esc.reminded_at is not None


async def test_a_transient_failure_is_retried_later_once(store: Store, kb,
                                                         clock: FakeClock) -> None:
    at(clock, T0)
    await escalation(store, 1001, 501)
    sender = ChannelRecorder(clock, channel_faults=[TransientError("503")])
    d = dispatcher(store, kb, sender, clock)
    at(clock, T0 + DELAY)
    assert (await d.run_once()).mentor_reminders == 0
    assert (await d.run_once()).mentor_reminders == 0  # waits for its retry
    at(clock, T0 + DELAY + d.backoff(1) + timedelta(seconds=1))
    assert (await d.run_once()).mentor_reminders == 1
    at(clock, T0 + DELAY + timedelta(hours=5))
    assert (await d.run_once()).mentor_reminders == 0
    assert [t for t, _ in sender.posts] == [501]


async def test_a_crash_after_the_claim_is_retried_only_after_the_lease(
        store: Store, kb, clock: FakeClock) -> None:
    at(clock, T0)
    await escalation(store, 1001, 501)
    sender = ChannelRecorder(clock, channel_faults=[RuntimeError("process died")])
    d = Dispatcher(store, kb, sender, clock=clock, limiter=Unlimited(), lease_seconds=300)
    at(clock, T0 + DELAY)
    assert (await d.run_once()).mentor_reminders == 0
    at(clock, T0 + DELAY + timedelta(seconds=200))  # still leased
    assert (await d.run_once()).mentor_reminders == 0
    at(clock, T0 + DELAY + timedelta(seconds=301))
    assert (await d.run_once()).mentor_reminders == 1


async def test_two_dispatchers_on_two_stores_remind_each_thread_once(
        store: Store, db_url: str, kb, clock: FakeClock) -> None:
    at(clock, T0)
    threads = 60
    for i in range(threads):
        await escalation(store, 5000 + i, 7000 + i)
    sender = ChannelRecorder(clock)
    other = Store.open(db_url, clock=clock)
    try:
        one = Dispatcher(store, kb, sender, clock=clock, limiter=Unlimited(), batch_size=7)
        two = Dispatcher(other, kb, sender, clock=clock, limiter=Unlimited(), batch_size=11)
        at(clock, T0 + DELAY + timedelta(minutes=1))
        reports = []
        for _ in range(3):
            reports += await asyncio.gather(one.run_once(), two.run_once(), one.run_once())
    finally:
        await other.close()
    counts = Counter(t for t, _ in sender.posts)
    assert len(sender.posts) == threads and set(counts.values()) == {1}
    assert sum(r.mentor_reminders for r in reports) == threads
    # they really raced: the concurrent first round split the work
    assert sum(1 for r in reports[:3] if r.mentor_reminders) >= 2, reports[:3]
