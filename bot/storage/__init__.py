"""Storage layer: async SQLAlchemy models, Alembic migrations and repositories.

No Discord import here. Front ends use :class:`Store` and catch :class:`StorageError`
subclasses (``DatabaseUnavailable`` -> "try again later").
"""

from bot.storage.db import Database
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
from bot.storage.store import Store

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
