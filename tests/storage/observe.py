"""Observers for tests: plain SELECTs for stored facts without a repository method only tests
use, and what a store sends its database (statements, transactions, server commands)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, event, select

from bot.storage import Store
from bot.storage.models import ChecklistEvent, QuizAttempt, ReminderDelivery


async def _rows(store: Store, stmt: Any) -> list[Row[Any]]:
    async with store.db.session() as s:
        return list((await s.execute(stmt)).all())


async def deliveries(store: Store, user_id: int) -> list[Row[Any]]:
    """The member's ``reminder_delivery`` rows, oldest claim first."""
    rd = ReminderDelivery.__table__
    return await _rows(
        store, select(rd).where(rd.c.member_id == user_id).order_by(rd.c.claimed_at, rd.c.id)
    )


async def delivery(store: Store, delivery_id: int) -> Row[Any] | None:
    rd = ReminderDelivery.__table__
    rows = await _rows(store, select(rd).where(rd.c.id == delivery_id))
    return rows[0] if rows else None


async def attempt_ids(store: Store, user_id: int, status: str | None = None) -> list[int]:
    """The member's quiz attempt ids (``status`` filters), newest first."""
    qa = QuizAttempt.__table__
    stmt = select(qa.c.id).where(qa.c.member_id == user_id)
    if status is not None:
        stmt = stmt.where(qa.c.status == status)
    rows = await _rows(store, stmt.order_by(qa.c.started_at.desc(), qa.c.id.desc()))
    return [r[0] for r in rows]


async def events(store: Store, user_id: int, limit: int | None = None) -> list[tuple[str, str]]:
    """The member's checklist events ``(item_id, action)``, newest first."""
    ev = ChecklistEvent.__table__
    stmt = (
        select(ev.c.item_id, ev.c.action, ev.c.at)
        .where(ev.c.member_id == user_id)
        .order_by(ev.c.at.desc(), ev.c.id.desc())
        .limit(limit)
    )
    return [(r[0], r[1]) for r in await _rows(store, stmt)]


def statements(store: Store) -> list[str]:
    """The SQL of every statement ``store`` runs from now on (updated in place)."""
    seen: list[str] = []
    for engine in store.db.sync_engines:
        event.listen(engine, "before_cursor_execute",
                     lambda conn, cursor, sql, *rest: seen.append(sql))
    return seen


def transactions(store: Store) -> list[int]:
    """How many transactions ``store`` begins from now on (``[n]``, updated in place)."""
    begun = [0]

    def on_begin(conn: object) -> None:
        begun[0] += 1

    for engine in store.db.sync_engines:
        event.listen(engine, "begin", on_begin)
    return begun


def server_commands(store: Store) -> list[str]:
    """PostgreSQL: the simple-protocol commands (``BEGIN``, ``COMMIT`` …) the server receives
    from now on, on every pooled connection (asyncpg's query logger; statements are prepared,
    so they do not show)."""
    seen: list[str] = []

    def on_checkout(dbapi_connection: Any, record: object, proxy: object) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda r: seen.append(r.query))

    event.listen(store.db.engine.sync_engine.pool, "checkout", on_checkout)
    return seen
