"""Every setting in one place: its name, default and environment variable.

Read from the environment and from ``.env`` (pydantic-settings). Invalid values are reported
as one clear line by the CLI at start (:func:`bot.app.load_settings`).

:class:`OperatorError` is the one error type meant for the operator (a message of one line,
printed by the CLI with exit code 1), and :func:`discord_token` the one reader of the token.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///mentorbot.db"
DATABASES = ("sqlite", "postgresql")  # the dialects the storage layer supports
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9.\-]*)(\+[A-Za-z0-9_]+)?://")


class OperatorError(Exception):
    """Something the operator must fix before mentorbot can do what it was asked (a setting,
    the token, the database, a port). The message is one line; the CLI prints it on stderr
    and exits with 1. Every layer raises this one type for such problems."""


def check_database_url(url: str) -> str:
    """The dialect check that needs no database driver: ``sqlite`` or ``postgresql``, and a
    hint when a file path was given instead of a URL. (SQLAlchemy parses the rest.)"""
    match = _URL_SCHEME.match(url)
    if match is None:
        hint = ""
        if url and not any(c.isspace() for c in url) and ":" not in url.split("/")[0]:
            path = url if url.startswith("/") else url.removeprefix("./")
            hint = f" (did you mean sqlite+aiosqlite:///{path}?)"
        raise ValueError(f"invalid database URL: not of the form dialect://...{hint}")
    backend = match.group(1).lower()
    if backend not in DATABASES:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql "
                         "(sqlite+aiosqlite:///file.db, postgresql+asyncpg://user@host/db)")
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # --- storage ---
    database_url: str = Field(
        DEFAULT_SQLITE_URL,
        description="SQLAlchemy async URL: sqlite+aiosqlite:///file.db or "
        "postgresql+asyncpg://user@host/db",
    )
    db_upgrade_on_start: bool = Field(True, description="run Alembic upgrade head at start")
    question_log_days: int = Field(90, ge=1, description="days logged questions are kept")
    log_all_questions: bool = Field(
        False, description="no effect any more: every question is logged (feedback buttons "
        "name it, so the mentors see the question)"
    )

    # --- knowledge ---
    knowledge_dir: Path | None = Field(None, description="knowledge/ directory (default: bundled)")

    # --- Discord ---
    discord_token: SecretStr | None = Field(None, description="bot token (mentorbot run)")
    discord_api_base: str = Field(
        "https://discord.com/api/v10",
        description="REST API base URL (change only for an API proxy or the test fake)",
    )
    discord_gateway_url: str | None = Field(
        None, description="gateway websocket URL (default: Discord's; for a gateway proxy)"
    )
    dev_guild_id: int | None = Field(None, description="sync commands to this guild instantly")
    shard_count: int | None = Field(None, ge=1, description="total shards across processes")
    shard_ids: list[int] | None = Field(None, description="shards this process runs, e.g. [0,1]")
    owner_ids: list[int] = Field(default_factory=list, description="bot owners (/kb reload)")

    # --- reminders ---
    reminders_enabled: bool = Field(True, description="run the weekly reminder loop in the bot")
    reminder_rate_per_second: float = Field(10.0, gt=0, description="global DM sending rate")
    reminder_interval_seconds: float = Field(
        60.0, ge=1, description="how often the bot looks for due reminders"
    )
    reminder_lease_seconds: int = Field(300, ge=10, description="claim lease before a retry")
    mentor_reminder_minutes: int = Field(
        120, ge=1, le=7 * 24 * 60,
        description="minutes before an unclaimed Ask a mentor thread gets its one reminder",
    )

    # --- operations ---
    log_format: Literal["text", "json"] = Field("text", description="log line format")
    log_level: str = Field("INFO", description="logging level")
    http_port: int | None = Field(None, description="serve /healthz and /metrics on this port")
    http_host: str = Field("127.0.0.1", description="address of the health/metrics endpoint")

    @field_validator("database_url")
    @classmethod
    def _database(cls, v: str) -> str:
        return check_database_url(v)

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return v


def token_text(settings: Settings | None) -> str:
    """The one reader of ``DISCORD_TOKEN``: its text, stripped ("" when unset)."""
    secret = settings.discord_token if settings is not None else None
    return secret.get_secret_value().strip() if secret is not None else ""


def discord_token(settings: Settings) -> str:
    """The bot token, or :class:`OperatorError` saying how to set it."""
    token = token_text(settings)
    if not token:
        raise OperatorError(
            "DISCORD_TOKEN is not set: put the bot token in the environment or .env "
            "(README: Operator guide). To try the mentor without Discord: mentorbot chat")
    return token

