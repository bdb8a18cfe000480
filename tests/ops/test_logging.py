"""bot.ops.logging: secrets redacted from every record, text or JSON lines, re-configurable."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.config import Settings
from bot.ops.logging import (
    REDACTED,
    JsonFormatter,
    RedactingFilter,
    Redactor,
    reset_logging,
    setup_logging,
)

TOKEN = "MTE5ODc2NTQzMjEwOTg3NjU0MzI.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"


@pytest.fixture(autouse=True)
def clean_logging() -> Iterator[None]:
    reset_logging()
    yield
    reset_logging()


def settings(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[arg-type]


def test_redactor_replaces_secrets_and_token_shapes_but_not_dotted_words():
    r = Redactor(["s3cr3t-value-1234", "short"])
    assert r("the s3cr3t-value-1234 here") == f"the {REDACTED} here"
    assert r("a short word") == "a short word", "too short to be treated as a secret"
    assert r(f"Bot {TOKEN}") == f"Bot {REDACTED}"
    assert r(f"'{TOKEN}',") == f"'{REDACTED}',"
    for harmless in ("bot.frontends.discord.client", "sqlite+aiosqlite:///data/mentorbot.db",
                     "version 2.4.0.dev1", "user@example.com", "a.b.c"):
        assert r(harmless) == harmless


def test_filter_redacts_message_args_exception_and_stack():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "login with %s failed", (TOKEN,),
                               None)
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    record.stack_info = f"Stack (most recent call last):\n  token={TOKEN}"
    assert RedactingFilter(Redactor()).filter(record) is True
    formatted = logging.Formatter("%(message)s").format(record)
    assert TOKEN not in formatted and TOKEN not in record.getMessage()
    assert record.getMessage() == f"login with {REDACTED} failed"
    assert f"ValueError: bad token {REDACTED}" in formatted
    assert record.args == ()


def test_a_configured_token_of_any_shape_is_redacted_everywhere_after_setup():
    out = io.StringIO()
    odd = "not-a-discord-shape-but-secret"
    setup_logging(settings(discord_token=odd, log_level="DEBUG"), stream=out)
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):  # a handler that is not ours (a library's, a test's)
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    logging.getLogger().addHandler(keep)
    try:
        log = logging.getLogger("some.library")
        log.debug("token=%s", odd)
        log.info({"Authorization": f"Bot {odd}"})
        log.warning("%s and %d%%", TOKEN, 5)
        log.error("bad %s %s", "format")  # wrong number of args: still logged, no exception
    finally:
        logging.getLogger().removeHandler(keep)
    text = out.getvalue()
    assert odd not in text and TOKEN not in text
    assert f"token={REDACTED}" in text and f"{REDACTED} and 5%" in text
    assert "bad %s %s" in text
    assert all(odd not in r.getMessage() and TOKEN not in r.getMessage() for r in seen)
    assert len(seen) == 4


def test_json_lines_have_time_level_logger_message_and_exc_info():
    out = io.StringIO()
    setup_logging(settings(log_format="json", log_level="INFO"), stream=out)
    log = logging.getLogger("mentorbot.test")
    log.debug("not shown at INFO")
    log.info("hello %s", "world")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.exception("it broke\non two lines")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "INFO" and first["logger"] == "mentorbot.test"
    assert first["message"] == "hello world" and first["time"].endswith("+00:00")
    assert second["message"] == "it broke\non two lines"
    assert "ZeroDivisionError" in second["exc_info"]


def test_json_formatter_alone_formats_an_unredacted_record():
    record = logging.LogRecord("a", logging.WARNING, __file__, 1, "x=%d", (3,), None)
    assert json.loads(JsonFormatter().format(record))["message"] == "x=3"


def test_setup_again_replaces_its_handler_and_cli_defaults():
    root = logging.getLogger()
    setup_logging(stream=io.StringIO())  # the CLI at start: WARNING, no settings needed
    assert root.level == logging.WARNING
    setup_logging(settings(log_level="error"), stream=io.StringIO())
    ours = [h for h in root.handlers if h.get_name() == "mentorbot"]
    assert len(ours) == 1 and root.level == logging.ERROR
    setup_logging(verbose=True, stream=io.StringIO())  # mentorbot -v …
    setup_logging(settings(log_level="ERROR"), stream=io.StringIO())  # … run: -v wins
    assert root.level == logging.DEBUG


def test_reset_restores_the_record_factory():
    before = logging.getLogRecordFactory()
    setup_logging(settings(), stream=io.StringIO())
    assert logging.getLogRecordFactory() is not before
    reset_logging()
    assert logging.getLogRecordFactory() is before
    assert not [h for h in logging.getLogger().handlers if h.get_name() == "mentorbot"]
