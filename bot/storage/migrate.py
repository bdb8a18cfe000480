"""Alembic, programmatically: ``upgrade`` / ``downgrade`` / ``current`` and the ``db`` command.

The scripts live in ``migrations/`` at the top of the repository, found relative to the package
(``<repo>/bot/../migrations``) or at ``$MENTORBOT_MIGRATIONS_DIR``; the
Alembic config is built in code, so nothing depends on the working directory or an ini file.

The functions are synchronous (Alembic drives its own event loop in ``migrations/env.py``).
From async code use :func:`upgrade_async` & co, which run them in a worker thread.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from bot.storage.db import Database, normalize_url
from bot.storage.errors import StorageError

ENV_MIGRATIONS_DIR = "MENTORBOT_MIGRATIONS_DIR"


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


def _translate(url: str, exc: Exception) -> Exception:
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


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (creating the schema if empty)."""
    cfg = alembic_config(url)
    _run(url, lambda: command.upgrade(cfg, revision))


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate down to ``revision`` (``base`` drops every mentorbot table)."""
    cfg = alembic_config(url)
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

    return _run(url, lambda: asyncio.run(_current()))  # type: ignore[no-any-return]


async def upgrade_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, url, revision)


async def downgrade_async(url: str, revision: str = "base") -> None:
    await asyncio.to_thread(downgrade, url, revision)


async def current_async(url: str) -> str | None:
    return await asyncio.to_thread(current, url)


# -- the `mentorbot db` command ------------------------------------------------------------------


def _url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    from bot.config import get_settings

    return get_settings().database_url


def _safe(url: str) -> str:
    try:
        return normalize_url(url).render_as_string(hide_password=True)
    except StorageError:
        return "<invalid url>"


def _cmd_upgrade(args: argparse.Namespace) -> int:
    url = _url(args)
    upgrade(url, args.revision)
    print(f"database {_safe(url)} at revision {current(url)}")
    return 0


def _cmd_downgrade(args: argparse.Namespace) -> int:
    url = _url(args)
    downgrade(url, args.revision)
    print(f"database {_safe(url)} at revision {current(url) or 'base (empty)'}")
    return 0


def _cmd_current(args: argparse.Namespace) -> int:
    url = _url(args)
    rev = current(url)
    head = head_revision()
    state = "up to date" if rev == head else f"head is {head}: run `mentorbot db upgrade`"
    print(f"{rev or 'none (empty database)'} ({state})")
    return 0


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except StorageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return run


def add_db_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``db upgrade|downgrade|current`` on an argparse sub-parsers object.

    Handlers are stored as ``func`` (``args.func(args) -> exit code``); a database error is
    printed as one line on stderr with exit code 1.
    """
    db = subparsers.add_parser("db", help="database migrations (Alembic)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="migrate the database up (default: to head)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=_guard(_cmd_upgrade))
    down = db_sub.add_parser(
        "downgrade", help="migrate the database down (revision required, e.g. -1 or base)"
    )
    down.add_argument("revision", help="target revision: -1, a revision id, or base")
    down.set_defaults(func=_guard(_cmd_downgrade))
    cur = db_sub.add_parser("current", help="show the database's revision")
    cur.set_defaults(func=_guard(_cmd_current))
    for p in (up, down, cur):
        p.add_argument(
            "--url", default=None, help="database URL (default: DATABASE_URL from settings)"
        )
    return db


__all__ = [
    "ENV_MIGRATIONS_DIR",
    "add_db_commands",
    "alembic_config",
    "current",
    "current_async",
    "downgrade",
    "downgrade_async",
    "head_revision",
    "migrations_dir",
    "upgrade",
    "upgrade_async",
]
