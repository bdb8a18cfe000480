"""Typed storage errors: front ends turn these into friendly messages.

Every repository call raises only these (never a driver exception):

* :class:`DatabaseUnavailable` — the database cannot be reached or the connection was lost
  mid-operation. The transaction was rolled back, so nothing is half-written.
* :class:`NotFound` — the addressed row does not exist.
* :class:`InvalidInput` — a value was rejected before touching the database (bad evidence URL,
  phase out of range, unknown time zone, ...).
* :class:`Conflict` — the request contradicts the stored state (answering a finished quiz,
  someone else's attempt, a question out of order, ...).
* :class:`Busy` — the database stayed locked (another writer, a deadlock, a lock or statement
  timeout) past the bounded wait; nothing was changed. Word it as "try again".
* :class:`CapacityExceeded` — no database connection was free within the pool timeout: load is
  shed; nothing was changed. Not a reachability problem (that is ``DatabaseUnavailable``).
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every error raised by ``bot.storage``."""


class DatabaseUnavailable(StorageError):
    """The database is unreachable or the connection was lost; nothing was written."""


class NotFound(StorageError):
    """The requested row does not exist."""


class InvalidInput(StorageError, ValueError):
    """A value was rejected by validation."""


class Conflict(StorageError):
    """The request contradicts the stored state."""


class Busy(StorageError):
    """The database stayed busy past the bounded wait (locks, deadlock retries exhausted,
    statement/lock timeout); the transaction was rolled back — try again."""


class CapacityExceeded(StorageError):
    """No database connection became free within the pool timeout; nothing was written."""


class SchemaMissing(StorageError):
    """The database answers but has no (or an old) schema: run ``mentorbot db upgrade``."""


__all__ = [
    "Busy",
    "CapacityExceeded",
    "Conflict",
    "DatabaseUnavailable",
    "InvalidInput",
    "NotFound",
    "SchemaMissing",
    "StorageError",
]
