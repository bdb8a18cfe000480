"""Alembic environment for mentorbot (async: the migration runs inside ``run_sync``).

The URL comes from the programmatic config (``bot.storage.migrate``), else from ``alembic.ini``'s
``sqlalchemy.url``, else from the settings (``DATABASE_URL``). The engine is the storage layer's
own :class:`~bot.storage.db.Database`, so SQLite gets the same PRAGMAs and parent-directory
creation as the application.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from bot.storage.db import Database, UTCDateTime
from bot.storage.models import Base

config = context.config
if config.config_file_name is not None:  # run by hand with alembic.ini
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("mentorbot_url") or config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    from bot.config import get_settings

    return get_settings().database_url


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Keep revisions free of ``bot`` imports: UTCDateTime is a plain timestamptz."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite ALTERs via table copies
        render_item=_render_item,
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    """``--sql`` mode: print the SQL instead of running it."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _sqlite_pragma(connection: Connection, pragma: str) -> list[tuple[object, ...]]:
    """Run a PRAGMA on the driver connection itself: SQLAlchemy would open a transaction
    first, and ``foreign_keys`` is a no-op inside one."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA {pragma}")
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _do_run_migrations(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode re-creates a table by copying it; with foreign keys on, dropping the old
        # ``member`` would cascade-delete every row that refers to it. SQLite's procedure for
        # such changes: keys off outside the transaction, checked before the commit.
        _sqlite_pragma(connection, "foreign_keys = OFF")
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left {len(broken)} rows with broken foreign keys")
    if sqlite:
        _sqlite_pragma(connection, "foreign_keys = ON")


async def run_migrations_online() -> None:
    db = Database(_url())
    try:
        async with db.engine.connect() as connection:
            await connection.run_sync(_do_run_migrations)
            await connection.commit()
    finally:
        await db.close()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
