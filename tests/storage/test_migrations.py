"""Alembic: upgrade from empty, downgrade to base, upgrade again, no drift; the `db` command."""

from __future__ import annotations

import argparse
import asyncio
import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from bot.storage import Database, StorageError
from bot.storage import migrate as m
from bot.storage.models import Base

TABLES = {t.name for t in Base.metadata.sorted_tables}


async def _tables(url: str) -> set[str]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await db.close()


async def _drift(url: str) -> list[object]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await db.close()


async def test_upgrade_downgrade_upgrade_without_drift(db_url: str) -> None:
    head = m.head_revision()
    assert head is not None
    assert await m.current_async(db_url) is None  # empty database

    await m.upgrade_async(db_url)
    assert await m.current_async(db_url) == head
    assert await _tables(db_url) == TABLES | {"alembic_version"}
    assert await _drift(db_url) == []  # models and migrations agree

    await m.downgrade_async(db_url, "base")
    assert await m.current_async(db_url) is None
    assert await _tables(db_url) - {"alembic_version"} == set()

    await m.upgrade_async(db_url, "head")
    assert await m.current_async(db_url) == head
    assert await _drift(db_url) == []
    await m.upgrade_async(db_url)  # already at head: a no-op


async def test_drift_is_detected(db_url: str) -> None:
    """The no-drift check is not vacuous: a model change the migrations lack shows up."""
    from sqlalchemy import Column, Integer, MetaData, Table

    await m.upgrade_async(db_url)
    extra = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(extra)
    Table("not_migrated", extra, Column("id", Integer, primary_key=True))
    db = Database(db_url)
    try:
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), extra)
            )
    finally:
        await db.close()
    assert [d[0] for d in diff] == ["add_table"]


def test_migrations_dir_defaults_to_the_repository() -> None:
    here = Path(__file__).resolve().parents[2] / "migrations"
    assert m.migrations_dir() == here
    assert (here / "env.py").is_file()
    cfg = m.alembic_config("sqlite:///x.db")
    assert cfg.get_main_option("script_location") == str(here)
    assert cfg.config_file_name is None  # no ini file involved


async def test_env_override_and_no_cwd_dependency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "elsewhere" / "migrations"
    shutil.copytree(m.migrations_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv(m.ENV_MIGRATIONS_DIR, str(copy))
    monkeypatch.chdir(tmp_path)  # not the repository
    assert m.migrations_dir() == copy.resolve()
    url = f"sqlite+aiosqlite:///{tmp_path / 'db' / 'x.db'}"
    await m.upgrade_async(url)
    assert await m.current_async(url) == m.head_revision()

    monkeypatch.setenv(m.ENV_MIGRATIONS_DIR, str(tmp_path / "nope"))
    with pytest.raises(StorageError, match="migrations not found"):
        m.alembic_config(url)


def _parser() -> argparse.ArgumentParser:
    from bot.cli import build_parser

    return build_parser()


async def _cli(*argv: str) -> int:
    from bot.cli import main

    return await asyncio.to_thread(main, list(argv))


async def test_db_command(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    head = m.head_revision()
    assert await _cli("db", "current", "--url", db_url) == 0
    assert "none (empty database)" in capsys.readouterr().out

    assert await _cli("db", "upgrade", "--url", db_url) == 0
    assert f"at revision {head}" in capsys.readouterr().out
    assert await _cli("db", "current", "--url", db_url) == 0
    assert capsys.readouterr().out.strip() == f"{head} (up to date)"

    previous = "0004"  # 0005 added the guild_config table: going back drops it
    at_head = await _tables(db_url)
    assert await _cli("db", "downgrade", previous, "--url", db_url) == 1
    refused = capsys.readouterr().err
    assert await _cli("db", "downgrade", previous, "--yes", "--url", db_url) == 0
    assert f"at revision {previous}" in capsys.readouterr().out
    assert await m.current_async(db_url) == previous
    dropped = at_head - await _tables(db_url)
    assert dropped and all(f"table {t}" in refused for t in dropped)  # each named first

    assert await _cli("db", "downgrade", "base", "--url", db_url) == 1  # drops tables: asks
    refused = capsys.readouterr().err
    assert refused.startswith("mentorbot: downgrading ") and "table member (0 rows)" in refused
    assert "--yes" in refused and await m.current_async(db_url) == previous
    assert await _cli("db", "downgrade", "base", "--yes", "--url", db_url) == 0
    assert "base (empty)" in capsys.readouterr().out
    assert await _tables(db_url) - {"alembic_version"} == set()

    assert await _cli("db", "upgrade", "nosuchrev", "--url", db_url) == 1
    assert capsys.readouterr().err.startswith("mentorbot: migration failed: ")

    with pytest.raises(SystemExit):  # downgrade needs an explicit target
        _parser().parse_args(["db", "downgrade", "--url", db_url])


async def test_db_command_uses_settings_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert await _cli("db", "upgrade") == 0
    assert (tmp_path / "from-env.db").is_file()
    assert await m.current_async(url) == m.head_revision()


async def test_db_command_unreachable_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/test"
    assert await _cli("db", "upgrade", "--url", url) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mentorbot: database unavailable (")
    with pytest.raises(StorageError):
        await m.current_async(url)


def test_two_processes_upgrading_one_new_sqlite_file_both_succeed(tmp_path: Path) -> None:
    """Two upgrades of one fresh file at once (two consoles starting together): the second
    waits for the first's lock file, then finds the schema current — neither fails."""
    import subprocess
    import sys

    url = f"sqlite+aiosqlite:///{tmp_path / 'race.db'}"
    code = "import sys; from bot.storage import migrate; migrate.upgrade(sys.argv[1])"
    for _ in range(3):
        procs = [subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE)
                 for _ in range(3)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], errors
        assert m.current(url) == m.head_revision()
        (tmp_path / "race.db").unlink()


def test_a_stuck_migration_lock_gives_a_clear_error(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl

    monkeypatch.setattr(m, "MIGRATION_LOCK_WAIT_S", 0.2)
    path = tmp_path / "held.db"
    with open(tmp_path / "held.db.migrate.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(StorageError, match="another process has been migrating"):
            m.upgrade(f"sqlite:///{path}")
    m.upgrade(f"sqlite:///{path}")  # released: it goes through
    assert m.current(f"sqlite:///{path}") == m.head_revision()
