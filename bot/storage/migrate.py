"""Alembic, programmatically: ``upgrade`` / ``downgrade`` / ``current``, and what a downgrade
would delete (``downgrade_losses``).

The scripts live in ``migrations/`` at the top of the repository, found relative to the package
(``<repo>/bot/../migrations``) or at ``$MENTORBOT_MIGRATIONS_DIR``; the
Alembic config is built in code, so nothing depends on the working directory or an ini file.

The ``mentorbot db`` command is in ``bot.cli`` (through ``bot.app``, like every command).

The functions are synchronous (Alembic drives its own event loop in ``migrations/env.py``).
From async code use :func:`upgrade_async` & co, which run them in a worker thread.

Two processes that start on one SQLite file at the same moment (two consoles, a bot and a
``mentorbot db upgrade``) would both try to create the schema, and the second would fail on the
first's lock: upgrades and downgrades of a SQLite file take an exclusive lock on
``<file>.migrate.lock`` first (``flock``; waiting at most :data:`MIGRATION_LOCK_WAIT_S`), so the
second waits and then finds the schema current. PostgreSQL needs no such lock: Alembic's DDL
runs in one transaction there.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from bot.storage.db import Database, normalize_url
from bot.storage.errors import StorageError

ENV_MIGRATIONS_DIR = "MENTORBOT_MIGRATIONS_DIR"
#: how long an upgrade waits for another process's upgrade of the same SQLite file
MIGRATION_LOCK_WAIT_S = 60.0


def migrations_dir() -> Path:
    """Where the Alembic scripts are (``$MENTORBOT_MIGRATIONS_DIR`` overrides)."""
    override = os.environ.get(ENV_MIGRATIONS_DIR)
    if override:
        return Path(override).expanduser().resolve()
    # == Path(bot.__file__).parents[1]; computed from this module because an editable
    # install can expose ``bot`` as a namespace package whose ``__file__`` is None.
    return Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic :class:`Config` for ``url`` with ``script_location`` set (no ini file)."""
    location = migrations_dir()
    if not (location / "env.py").is_file():
        raise StorageError(
            f"migrations not found at {location} (set {ENV_MIGRATIONS_DIR} to the migrations/ "
            "directory)"
        )
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    # ConfigParser interpolation: a literal "%" (e.g. in a password) must be doubled.
    rendered = normalize_url(url).render_as_string(hide_password=False)
    cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    cfg.attributes["mentorbot_url"] = url
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_current_head()


def _translate(url: str, exc: Exception) -> BaseException:
    if isinstance(exc, StorageError):
        return exc
    return Database(url).translate(exc)


def _run(url: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except CommandError as exc:  # e.g. an unknown revision
        raise StorageError(f"migration failed: {exc}") from exc
    except Exception as exc:
        translated = _translate(url, exc)
        if translated is exc:
            raise
        raise translated from exc


@contextlib.contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """Hold ``<file>.migrate.lock`` (a SQLite file only; elsewhere nothing)."""
    u = normalize_url(url)
    database = (u.database or "").removeprefix("file:").split("?")[0]
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock (documented in the README)
        fcntl = None  # type: ignore[assignment]
    if u.get_backend_name() != "sqlite" or database in ("", ":memory:") or fcntl is None:
        yield
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".migrate.lock"), "a") as handle:
        deadline = time.monotonic() + MIGRATION_LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StorageError(
                        f"another process has been migrating {path} for more than "
                        f"{MIGRATION_LOCK_WAIT_S:.0f} s (lock file {handle.name})"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (creating the schema if empty)."""
    cfg = alembic_config(url)
    with _migration_lock(url):
        _run(url, lambda: command.upgrade(cfg, revision))


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate down to ``revision`` (``base`` drops every mentorbot table)."""
    cfg = alembic_config(url)
    with _migration_lock(url):
        _run(url, lambda: command.downgrade(cfg, revision))


def current(url: str) -> str | None:
    """The revision the database is at (``None`` if unversioned/empty)."""
    from alembic.runtime.migration import MigrationContext

    async def _current() -> str | None:
        db = Database(url)
        try:
            async with db.engine.connect() as conn:
                heads = await conn.run_sync(
                    lambda c: MigrationContext.configure(c).get_current_heads()
                )
        finally:
            await db.close()
        return ",".join(sorted(heads)) if heads else None

    return _run(url, lambda: asyncio.run(_current()))


async def upgrade_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, url, revision)


async def downgrade_async(url: str, revision: str = "base") -> None:
    await asyncio.to_thread(downgrade, url, revision)


async def current_async(url: str) -> str | None:
    return await asyncio.to_thread(current, url)


# -- what a downgrade would delete ---------------------------------------------------------------

_DROP_TABLE = re.compile(r"^\s*DROP TABLE (?:IF EXISTS )?[\"`]?(\w+)", re.I | re.M)
_DROP_COLUMN = re.compile(r"^\s*ALTER TABLE [\"`]?(\w+)[\"`]? DROP COLUMN [\"`]?(\w+)",
                          re.I | re.M)


def _target(url: str, revision: str) -> tuple[str | None, str]:
    """(current revision, the absolute target of ``revision``: ``base``, an id, ``-N``)."""
    now = current(url)
    if revision == "base" or now is None:
        return now, "base"
    if revision.startswith("-") and revision[1:].isdigit():
        script = ScriptDirectory.from_config(alembic_config(url))
        rev: str | None = now
        for _ in range(int(revision[1:])):
            found = script.get_revision(rev) if rev else None
            down = found.down_revision if found is not None else None
            rev = down if isinstance(down, str) or down is None else None
        return now, rev or "base"
    return now, revision


def downgrade_losses(url: str, revision: str) -> list[str]:
    """What ``downgrade(url, revision)`` would delete, read from the SQL the migrations emit
    (Alembic's offline mode; nothing is run): ``["table member (12 rows)", "column x.y"]``.
    Empty when nothing is dropped. When the SQL cannot be rendered the answer is the safe
    "everything at risk" line, so the caller still asks."""
    now, target = _target(url, revision)
    if now is None or now == target:
        return []
    # One revision at a time: a step whose SQL can't be rendered offline (SQLite's batch
    # mode needs the live table) is named as such, and the others are still listed.
    script = ScriptDirectory.from_config(alembic_config(url))
    steps = [r for r in script.iterate_revisions(now, target) if r.revision != target]
    sql, unknown = "", []
    for rev in steps:
        down = rev.down_revision if isinstance(rev.down_revision, str) else None
        cfg = alembic_config(url)
        buffer = io.StringIO()
        cfg.output_buffer = buffer
        try:
            _run(url, lambda c=cfg, r=rev.revision, d=down: command.downgrade(  # type: ignore[misc]
                c, f"{r}:{d or 'base'}", sql=True))
        except StorageError:
            unknown.append(rev.revision)
            continue
        sql += buffer.getvalue()
    tables = [t for t in _DROP_TABLE.findall(sql) if t != "alembic_version"]
    counts = _row_counts(url, tables)
    losses = [f"table {t} ({counts[t]} rows)" if t in counts else f"table {t}" for t in tables]
    losses += [f"column {t}.{c}" for t, c in _DROP_COLUMN.findall(sql)]
    losses += [f"whatever revision {r} removes (could not list it)" for r in unknown]
    return losses


def _row_counts(url: str, tables: list[str]) -> dict[str, int]:
    from sqlalchemy import inspect, text

    async def count() -> dict[str, int]:
        db = Database(url)
        try:
            async with db.engine.connect() as conn:
                present = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
                out = {}
                for table in tables:
                    if table in present:
                        n = await conn.scalar(text(f'SELECT count(*) FROM "{table}"'))
                        out[table] = int(n or 0)
                return out
        finally:
            await db.close()

    return _run(url, lambda: asyncio.run(count()))


__all__ = [
    "ENV_MIGRATIONS_DIR",
    "alembic_config",
    "current",
    "current_async",
    "downgrade",
    "downgrade_async",
    "downgrade_losses",
    "head_revision",
    "migrations_dir",
    "upgrade",
    "upgrade_async",
]
