"""Log set-up for every ``mentorbot`` command: text or JSON lines, and secrets redacted.

:func:`setup_logging` is called by the CLI at start (``bot.cli.main``) and again by
``mentorbot run`` once its settings are known (``LOG_LEVEL``, ``LOG_FORMAT``, the token).

Redaction happens when a record is *created* (a wrapped :func:`logging.setLogRecordFactory`),
so every record is clean before any handler sees it — ours, a library's, or a test's. The
configured ``DISCORD_TOKEN`` and anything shaped like a Discord token (three dot-separated
base64 segments) are replaced by ``[REDACTED]`` in the message, its arguments, the exception
text and the stack text. :class:`RedactingFilter` applies the same to one handler or logger.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Settings

REDACTED = "[REDACTED]"
# A bot token: base64(user id) "." base64(timestamp) "." HMAC — e.g. "MTIz…NzA.GhIj4k.abc…".
# The bounds keep ordinary dotted words (module.name.attr, hostnames, versions) untouched.
TOKEN_SHAPE = re.compile(
    r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{18,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])"
)
MIN_SECRET_LENGTH = 8  # shorter "secrets" would redact ordinary words
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HANDLER_NAME = "mentorbot"


class Redactor:
    """Replaces known secrets and token-shaped strings in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            extra = {s.strip() for s in secrets if s and len(s.strip()) >= MIN_SECRET_LENGTH}
            self._secrets = self._secrets | extra

    def clear(self) -> None:
        with self._lock:
            self._secrets = frozenset()

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return TOKEN_SHAPE.sub(REDACTED, text)


def redact_record(record: logging.LogRecord, redact: Callable[[str], str]) -> logging.LogRecord:
    """Redact ``record`` in place: message (with its arguments merged in), exception and stack
    text. The exception is formatted here once (``exc_text``), which formatters then reuse."""
    try:
        message = record.getMessage()
    except Exception:  # bad %-arguments: keep both, readable, for the handler to show
        message = f"{record.msg!s} (arguments {record.args!r})"
    record.msg = redact(message)
    record.args = ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record it sees (and lets it through)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.redactor)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, ``exc_info``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc_info"] = record.exc_text
        if record.stack_info:
            out["stack_info"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=str)


# --- process-wide state ---------------------------------------------------------------------------

REDACTOR = Redactor()
_state: dict[str, Any] = {"factory": None, "verbose": False, "root_level": None}


def install_redaction(*secrets: str | None) -> Redactor:
    """Redact ``secrets`` (and token shapes) from every log record created from now on."""
    REDACTOR.add(*secrets)
    if _state["factory"] is None:
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                return redact_record(record, REDACTOR)
            except Exception:  # never let logging raise at the call site, nor leak
                record.msg, record.args = "[log record could not be redacted]", ()
                record.exc_info = record.exc_text = record.stack_info = None
                return record

        factory.previous = previous  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
        _state["factory"] = factory
    return REDACTOR


def _token(settings: Settings | None) -> str | None:
    from bot.config import token_text

    return token_text(settings) or None


#: loggers whose INFO records are noise at INFO: Alembic lists its plugins at every upgrade
CHATTY = ("alembic.runtime.plugins",)


def _env_settings() -> Settings | None:
    """The settings from the environment / .env, or None when they are invalid (the command
    that needs them reports that as one line)."""
    from bot.config import Settings

    try:
        return Settings()
    except Exception:
        return None


def setup_logging(
    settings: Settings | None = None,
    *,
    verbose: bool = False,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """(Re)configure the root logger: one handler (text or JSON lines) on ``stream`` (stderr).

    With ``settings`` (``mentorbot run``) the level is ``LOG_LEVEL``; without (every other
    command, at start) it is WARNING, and the format and token come from the environment when
    the settings there are valid. ``verbose`` (``mentorbot -v``) means DEBUG, and is remembered
    for the later call. Calling it again replaces the handler it installed before.
    """
    if verbose:
        _state["verbose"] = True
    source = settings if settings is not None else _env_settings()
    install_redaction(_token(source))
    if _state["verbose"]:
        level = logging.DEBUG
    elif settings is not None:
        level = logging.getLevelName(settings.log_level)
    else:
        level = logging.WARNING
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(HANDLER_NAME)
    if source is not None and source.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter(REDACTOR))  # records made before the factory was set
    root.addHandler(handler)
    _no_voice_warnings()
    for name in CHATTY:  # INFO lines an operator has no use for (kept at DEBUG)
        logging.getLogger(name).setLevel(logging.NOTSET if level <= logging.DEBUG
                                         else logging.WARNING)
    if _state["root_level"] is None:
        _state["root_level"] = root.level
    root.setLevel(level)
    return handler


def _no_voice_warnings() -> None:
    """mentorbot never joins voice: discord.py's "PyNaCl/davey is not installed, voice will NOT
    be supported" warnings at every start are noise (only matters once discord is imported)."""
    voice = sys.modules.get("discord.voice_client")
    if voice is not None:
        voice.VoiceClient.warn_nacl = False
        voice.VoiceClient.warn_dave = False


def reset_logging() -> None:
    """Undo :func:`setup_logging` / :func:`install_redaction` (tests)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    if _state["root_level"] is not None:
        root.setLevel(_state["root_level"])
    factory = _state["factory"]
    if factory is not None and logging.getLogRecordFactory() is factory:
        logging.setLogRecordFactory(getattr(factory, "previous"))  # noqa: B009 (set above)
    REDACTOR.clear()
    _state.update(factory=None, verbose=False, root_level=None)
