"""The storage facade: ``store = Store.open(url)``; ``await store.check()``; ``store.quiz...``."""

from __future__ import annotations

from collections.abc import Generator
from types import TracebackType
from typing import Any

from sqlalchemy.engine import URL

from bot.storage.db import Database, utcnow
from bot.storage.repo import (
    ChecklistRepo,
    MembersRepo,
    PrivacyRepo,
    QuestionsRepo,
    QuizRepo,
    RemindersRepo,
    StatsRepo,
)
from bot.storage.repo._base import Clock
from bot.storage.repo.checkins import CheckInsRepo
from bot.storage.repo.community import CommunityRepo
from bot.storage.repo.digests import DigestsRepo
from bot.storage.repo.escalations import EscalationsRepo
from bot.storage.repo.guilds import GuildsRepo
from bot.storage.repo.inbox import InboxRepo
from bot.storage.repo.overlay import OverlayRepo
from bot.storage.repo.state import StateRepo


class Store:
    r"""All repositories over one :class:`Database`.

    ``store = Store.open(url)`` only builds the engine (no I/O; connections open lazily).
    ``store = await Store.open(url)`` does the same and then :meth:`check`\ s the connection,
    raising :class:`~bot.storage.errors.DatabaseUnavailable` (one line) if it is unreachable.
    The schema is created by the migrations (``bot.storage.migrate.upgrade``), not here.
    """

    def __init__(self, db: Database, clock: Clock = utcnow) -> None:
        self.db = db
        self.members = MembersRepo(db, clock)
        self.quiz = QuizRepo(db, clock)
        self.checklist = ChecklistRepo(db, clock)
        self.reminders = RemindersRepo(db, clock)
        self.questions = QuestionsRepo(db, clock)
        self.privacy = PrivacyRepo(db, clock)
        self.stats = StatsRepo(db, clock)
        self.state = StateRepo(db, clock)
        self.guilds = GuildsRepo(db, clock)
        self.community = CommunityRepo(db, clock)
        self.checkins = CheckInsRepo(db, clock)
        self.inbox = InboxRepo(db, clock)
        self.overlay = OverlayRepo(db, clock)
        self.escalations = EscalationsRepo(db, clock)
        self.digests = DigestsRepo(db, clock)

    @classmethod
    def open(cls, url: str | URL, *, clock: Clock = utcnow, **engine_options: Any) -> Store:
        """Build a store for ``url`` (extra keyword arguments go to :class:`Database`)."""
        return cls(Database(url, **engine_options), clock)

    def __await__(self) -> Generator[Any, None, Store]:
        """``await Store.open(url)``: check the connection, then return the store itself."""
        yield from self.check().__await__()
        return self

    async def check(self) -> None:
        """Raise :class:`~bot.storage.errors.DatabaseUnavailable` unless the database answers."""
        await self.db.check()

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
