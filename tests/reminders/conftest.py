"""Helpers for the reminder tests: a recording fake Sender, a fake sleep on the FakeClock, and
members opted in the way ``/reminders on`` does it (next occurrence after the clock's now)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.engine.replies import Reply
from bot.engine.schedule import next_occurrence
from bot.knowledge.loader import KnowledgeBase, load_knowledge
from bot.reminders.dispatcher import Dispatcher
from bot.reminders.ratelimit import Unlimited
from bot.storage import Store
from bot.storage.records import ReminderPrefRecord
from tests.conftest import FakeClock

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class Sent:
    user_id: int
    reply: Reply
    at: datetime


@dataclass
class RecordingSender:
    """Records every delivered DM. ``faults[user_id]`` is a list of exceptions (or callables
    run before delivering) consumed one per attempt; ``delay`` yields to other tasks."""

    clock: Callable[[], datetime]
    sent: list[Sent] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    faults: dict[int, list[Any]] = field(default_factory=dict)
    delay: float = 0.0

    async def send_dm(self, user_id: int, reply: Reply) -> None:
        self.attempts.append(user_id)
        if self.delay:
            await asyncio.sleep(self.delay)
        else:
            await asyncio.sleep(0)
        queue = self.faults.get(user_id)
        if queue:
            fault = queue.pop(0)
            if isinstance(fault, BaseException):
                raise fault
            await fault()
        self.sent.append(Sent(user_id, reply, self.clock()))

    def to(self, user_id: int) -> list[Sent]:
        return [s for s in self.sent if s.user_id == user_id]


class FakeSleep:
    """``sleep`` for the dispatcher: records the waits and moves the FakeClock on."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(microseconds=math.ceil(seconds * 1e6))  # never a zero step
        await asyncio.sleep(0)

    def monotonic(self) -> float:
        """Seconds on the fake clock (for a TokenBucket on fake time)."""
        return (self.clock.current - EPOCH).total_seconds()


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture
def sender(clock: FakeClock) -> RecordingSender:
    return RecordingSender(clock)


@pytest.fixture
def fake_sleep(clock: FakeClock) -> FakeSleep:
    return FakeSleep(clock)


@pytest.fixture
def make_dispatcher(
    store: Store, kb: KnowledgeBase, sender: RecordingSender, clock: FakeClock,
    fake_sleep: FakeSleep,
) -> Callable[..., Dispatcher]:
    def make(**kwargs: Any) -> Dispatcher:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("sleep", fake_sleep)
        kwargs.setdefault("limiter", Unlimited())
        return Dispatcher(
            kwargs.pop("store", store), kb, kwargs.pop("sender", sender), **kwargs
        )

    return make


@pytest.fixture
def dispatcher(make_dispatcher: Callable[..., Dispatcher]) -> Dispatcher:
    return make_dispatcher()


async def opt_in(
    store: Store,
    user_id: int,
    *,
    weekday: int = 0,
    hour: int = 9,
    tz: str = "UTC",
    now: datetime,
    phase: int | None = None,
) -> ReminderPrefRecord:
    """What ``/reminders on`` stores: the schedule and its next occurrence after ``now``."""
    await store.members.touch(user_id)
    if phase is not None:
        await store.members.set_phase(user_id, phase, source="chosen")
    return await store.reminders.set(
        user_id, enabled=True, weekday=weekday, hour=hour, timezone=tz,
        next_due_utc=next_occurrence(weekday, hour, tz, now),
    )


def at(clock: FakeClock, moment: datetime) -> datetime:
    """Set the fake clock to ``moment``."""
    clock.current = moment
    return moment
