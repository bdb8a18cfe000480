"""The event loop ``mentorbot run`` runs on.

uvloop (libuv, where it builds: Linux and macOS) when it is installed, which the package's
dependencies arrange on those systems; asyncio's own loop otherwise. Measured together with
orjson (which discord.py then uses for every gateway event and request body) by the load
benchmark, in alternating runs (README, Figures: Load): at 100/s on SQLite the bot's CPU per
interaction was 3.8-5.2 ms (median 4.4) against 4.2-6.2 ms (median 4.8) without them, eight
runs each; on PostgreSQL 4.6-6.6 ms against 5.2-6.8 ms, four each. Only the long-running bot
uses it: the one-shot commands (``ask``, ``chat``, ``db``) do not import it, and the in-process
tests drive the bot on pytest's loop (``mentorbot run`` as a process, tests/e2e, on this one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # Windows, or an install without it: the standard loop
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on :func:`new_event_loop`'s loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
