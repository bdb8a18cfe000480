"""The one place that assembles mentorbot, for every command of the CLI and the bot.

    settings → knowledge → database (upgrade) → store → engine → metrics

Each part is built the first time a command asks for it, so ``mentorbot ask`` and
``mentorbot kb list`` load the knowledge base and never import SQLAlchemy, Alembic or
discord.py; ``mentorbot db current`` needs no knowledge base; ``mentorbot run`` gets all of it.

Every problem the operator must fix comes out as one :class:`~bot.config.OperatorError`
(one line): an invalid setting (:func:`load_settings`), an invalid knowledge base, an unknown
database dialect, a database that cannot be reached or written, a missing token.

    app = App(load_settings(database_url=...))
    async with app:                      # closes the store (if one was opened)
        engine = await app.engine()      # kb + store (upgraded when DB_UPGRADE_ON_START) + engine
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.config import OperatorError, Settings

if TYPE_CHECKING:
    from bot.engine.core import Engine
    from bot.knowledge.loader import KnowledgeBase
    from bot.ops.metrics import Metrics
    from bot.reminders.dispatcher import Dispatcher
    from bot.reminders.sender import Sender
    from bot.storage.store import Store


def load_settings(flags: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from the environment / ``.env`` with ``overrides`` (command-line options) on
    top; an invalid value is an :class:`OperatorError` naming the setting. ``flags`` maps a
    field to the option it came from (``{"database_url": "--db"}``), named in the message."""
    values = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        name = field.upper()
        if flags and field in flags and field in values:
            name = f"{name} ({flags[field]})"
        raise OperatorError(f"invalid setting {name}: {err['msg']}") from None


def running_as() -> str:
    """``uid 10001 (mentorbot)``: who this process runs as, for permission hints."""
    uid = os.getuid() if hasattr(os, "getuid") else -1
    try:
        import pwd

        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def sqlite_write_problem(path: Path) -> str | None:
    """Why this process could not create or write the SQLite file at ``path`` (``None``: it
    can). SQLite itself only says "unable to open database file"."""
    path = path.expanduser()
    target = path if path.exists() else None
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if target is not None and not os.access(target, os.R_OK | os.W_OK):
        where = f"the file {target}"
    elif not os.access(folder, os.W_OK | os.X_OK):
        where = f"the directory {folder}"
    else:
        return None
    return (f"cannot write the SQLite database {path}: {where} is not writable by "
            f"{running_as()}, the user mentorbot runs as (or it is mounted read-only). Make it "
            "writable for that user "
            f"(e.g. `chown -R {os.getuid() if hasattr(os, 'getuid') else 'UID'} {folder}`, or "
            "mount a volume it owns at /data) or set DATABASE_URL to a writable place")


class App:
    """The parts of mentorbot for one command, each built on first use (see the module)."""

    def __init__(self, settings: Settings, *, kb: KnowledgeBase | None = None) -> None:
        self.settings = settings
        self._kb = kb
        self._store: Store | None = None
        self._engine: Engine | None = None
        self._metrics: Metrics | None = None

    # --- knowledge -----------------------------------------------------------------------------

    @property
    def kb(self) -> KnowledgeBase:
        """The knowledge base of ``KNOWLEDGE_DIR`` (or the bundled one), validated (once per
        content: :func:`~bot.knowledge.loader.load_knowledge_cached`)."""
        if self._kb is None:
            from bot.knowledge.loader import KnowledgeError, load_knowledge_cached

            try:
                self._kb = load_knowledge_cached(self.settings.knowledge_dir)
            except KnowledgeError as exc:
                raise OperatorError("knowledge base invalid:\n" + str(exc)) from None
        return self._kb

    # --- database ------------------------------------------------------------------------------

    def database_url(self) -> str:
        """``DATABASE_URL``, parsed (an unknown dialect or a malformed URL: one line)."""
        from bot.storage.db import normalize_url
        from bot.storage.errors import StorageError

        url = self.settings.database_url
        try:
            parsed = normalize_url(url)
        except StorageError as exc:
            raise OperatorError(str(exc)) from None
        database = parsed.database or ""
        if parsed.get_backend_name() == "sqlite" and database and database != ":memory:" \
                and not database.startswith("file::memory:"):
            problem = sqlite_write_problem(Path(database.removeprefix("file:").split("?")[0]))
            if problem:
                raise OperatorError(problem)
        return url

    async def upgrade(self) -> None:
        """Alembic upgrade to head (one line on failure)."""
        from bot.storage.errors import StorageError
        from bot.storage.migrate import upgrade_async

        url = self.database_url()
        try:
            await upgrade_async(url)
        except StorageError as exc:
            raise OperatorError(str(exc)) from None

    async def store(self, *, upgrade: bool | None = None) -> Store:
        """The store, checked to answer; migrated first when ``upgrade`` (default:
        ``DB_UPGRADE_ON_START``)."""
        if self._store is None:
            from bot.storage.errors import StorageError
            from bot.storage.store import Store

            url = self.database_url()
            if self.settings.db_upgrade_on_start if upgrade is None else upgrade:
                await self.upgrade()
            store = Store.open(url)
            try:
                await store.check()
            except BaseException as exc:
                await store.close()
                if isinstance(exc, StorageError):
                    raise OperatorError(str(exc)) from None
                raise
            self._store = store
        return self._store

    # --- engine, metrics, reminders ------------------------------------------------------------

    async def engine(self) -> Engine:
        if self._engine is None:
            from bot.engine.core import Engine

            kb = self.kb
            self._engine = Engine(kb, await self.store(), self.settings)
        return self._engine

    @property
    def metrics(self) -> Metrics:
        if self._metrics is None:
            from bot.ops.metrics import Metrics

            self._metrics = Metrics()
        return self._metrics

    async def dispatcher(self, sender: Sender, **options: Any) -> Dispatcher:
        """The reminder dispatcher over this app's store and knowledge base (its timing —
        rate, lease, send timeout — from the settings, in :meth:`Dispatcher.from_settings`)."""
        from bot.reminders.dispatcher import Dispatcher

        kb = self.kb
        return Dispatcher.from_settings(await self.store(), kb, sender, self.settings, **options)

    # --- lifetime ------------------------------------------------------------------------------

    async def close(self) -> None:
        store, self._store, self._engine = self._store, None, None
        if store is not None:
            await store.close()

    async def __aenter__(self) -> App:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


__all__ = ["App", "OperatorError", "load_settings", "running_as", "sqlite_write_problem"]
