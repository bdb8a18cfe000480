"""Shared fixtures: a database URL per backend and a migrated :class:`Store` on it.

``db_url`` is parametrised over ``sqlite`` (a file in ``tmp_path``) and, when
``MENTORBOT_TEST_POSTGRES_URL`` is set, ``postgres``: every PostgreSQL test gets its own
fresh schema (``mb_test_<random>``, selected with ``?search_path=``), dropped afterwards.
If the variable is set but the server is unreachable, those tests fail (never skip).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.storage import Store
from bot.storage.migrate import upgrade_async

PG_ENV = "MENTORBOT_TEST_POSTGRES_URL"


def postgres_test_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _backends() -> list[str]:
    return ["sqlite", "postgres"] if postgres_test_url() else ["sqlite"]


def pytest_configure(config: pytest.Config) -> None:
    # One matcher cache for the whole run (and the processes it starts): the learned scorer is
    # trained once per knowledge base, not again in every subprocess with a temporary HOME.
    if not os.environ.get("MENTORBOT_CACHE_DIR"):
        import tempfile

        os.environ["MENTORBOT_CACHE_DIR"] = tempfile.mkdtemp(prefix="mentorbot-test-cache-")
    config.addinivalue_line(
        "markers", "backends(*names): run a db_url test only on these backends (sqlite, postgres)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) ``@pytest.mark.backends(...)`` tests on other backends."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("backends")
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("db_url") if callspec is not None else None
        if marker is not None and backend is not None and backend not in marker.args:
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


async def _pg_admin_connect(url: str) -> asyncpg.Connection:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        return await asyncpg.connect(dsn, timeout=10)
    except Exception as exc:  # unreachable must FAIL, never skip
        pytest.fail(f"{PG_ENV}={url} is set but PostgreSQL is unreachable: {exc!r}", pytrace=False)


@pytest.fixture(params=_backends())
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema per test.

    On PostgreSQL each test gets its own schema ``mb_test_<random>`` in the database of
    ``MENTORBOT_TEST_POSTGRES_URL``, selected with ``?search_path=`` (so every table and the
    ``alembic_version`` row live there) and dropped with everything in it afterwards.
    """
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'mentorbot.db'}"
        return
    base = postgres_test_url()
    assert base is not None
    schema = f"mb_test_{uuid.uuid4().hex[:16]}"
    admin = await _pg_admin_connect(base)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.close()
    try:
        url = make_url(base).set(drivername="postgresql+asyncpg")
        url = url.update_query_dict({"search_path": schema})
        yield url.render_as_string(hide_password=False)
    finally:
        admin = await _pg_admin_connect(base)
        try:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await admin.close()


class FakeClock:
    """A deterministic UTC clock: every reading advances by one millisecond."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current

    def advance(self, **kwargs: float) -> datetime:
        self.current += timedelta(**kwargs)
        return self.current


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(db_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    """A :class:`bot.storage.Store` on a database migrated with ``alembic upgrade head``."""
    await upgrade_async(db_url)
    s = Store.open(db_url, clock=clock)
    try:
        yield s
    finally:
        await s.close()
