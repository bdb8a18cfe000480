"""One lock order for every write to a member (issue 11 point 2).

On PostgreSQL a deletion that raced writes for the same member used to take row locks in the
opposite order (children first, member last) and deadlocked; now every write takes the member
row first (``FOR KEY SHARE``; the deletion ``FOR UPDATE``), so they queue instead.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from bot.storage import Store
from bot.storage import db as db_module

MEMBER = 8_100
T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)


async def _writes(store: Store, i: int) -> list[object]:
    async def quiz() -> None:
        att = await store.quiz.start(MEMBER)
        await store.quiz.answer(att.id, MEMBER, len(att.answers), True)

    return await asyncio.gather(
        store.checklist.mark(MEMBER, f"item-{i % 3}"),
        store.checklist.unmark(MEMBER, f"item-{(i + 1) % 3}"),
        store.privacy.delete(MEMBER),
        store.checklist.mark(MEMBER, "p1-git", "https://github.com/me/repo"),
        quiz(),
        store.reminders.set(MEMBER, enabled=True, weekday=1, hour=9, timezone="UTC",
                            next_due_utc=T0),
        store.questions.feedback(MEMBER, "deploy", True),
        store.members.set_phase(MEMBER, 2),
        store.privacy.delete(MEMBER),
        return_exceptions=True,
    )


@pytest.mark.backends("postgres")
async def test_delete_racing_writes_never_deadlocks(
    db_url: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    retries: list[str] = []
    real = db_module.Database._is_retryable

    def counting(self: db_module.Database, exc: BaseException) -> bool:
        ok = real(self, exc)
        if ok:
            retries.append(str(exc).splitlines()[0])
        return ok

    monkeypatch.setattr(db_module.Database, "_is_retryable", counting)
    other = Store.open(db_url)  # a second process
    started = time.monotonic()
    try:
        for i in range(15):
            await store.members.touch(MEMBER)
            results = [*await _writes(store, i), *await _writes(other, i + 1)]
            errors = [r for r in results if isinstance(r, BaseException)]
            # a quiz answer may find its attempt deleted meanwhile (NotFound/Conflict); every
            # other outcome is success: no Busy, no deadlock
            assert all(type(e).__name__ in ("NotFound", "Conflict") for e in errors), errors
    finally:
        await other.close()
    deadlocks = [r for r in retries if "deadlock" in r.lower()]
    assert not deadlocks, deadlocks
    assert time.monotonic() - started < 60
