"""Storage layer: async SQLAlchemy models, Alembic migrations and repositories.

No Discord import here. Front ends use :class:`Store` and catch :class:`StorageError`
subclasses (``DatabaseUnavailable`` -> "try again later").

The errors are plain classes; :class:`Store` and :class:`Database` (and SQLAlchemy with them)
are imported on first use, so code that only catches storage errors (``mentorbot ask``) starts
without the database layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.storage.errors import (
    Busy,
    CapacityExceeded,
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
    SchemaMissing,
    StorageError,
)

if TYPE_CHECKING:
    from bot.storage.db import Database
    from bot.storage.store import Store


def __getattr__(name: str) -> Any:
    if name == "Store":
        from bot.storage.store import Store

        return Store
    if name == "Database":
        from bot.storage.db import Database

        return Database
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Busy",
    "CapacityExceeded",
    "Conflict",
    "Database",
    "DatabaseUnavailable",
    "InvalidInput",
    "NotFound",
    "SchemaMissing",
    "StorageError",
    "Store",
]
