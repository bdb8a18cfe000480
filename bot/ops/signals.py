"""SIGTERM and SIGINT → a clean stop of ``mentorbot run`` (see ``bot.frontends.discord.ops``).

Standard library only, so the CLI can install :meth:`StopSignals.early` before it imports
anything heavy: from then on a stop signal is never lost, even as PID 1 (where the kernel
drops a signal that has no handler).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """SIGTERM and SIGINT ask ``mentorbot run`` to stop; a second one exits at once.

    :meth:`early` (plain ``signal.signal``, before the event loop exists) only records a
    signal, so one that arrives while Python is still importing is not lost — as PID 1 a
    signal without a handler is dropped by the kernel. :meth:`install` moves the handling to
    ``loop.add_signal_handler`` and replays a recorded signal. :attr:`stopping` is set by the
    first signal; :attr:`received` names it."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def early(self) -> None:
        for sig in STOP_SIGNALS:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                signal.signal(sig, self._record)

    def _record(self, signum: int, frame: types.FrameType | None) -> None:
        if self.received is not None:
            os._exit(128 + signum)
        self.received = signum

    def install(self) -> None:
        """Handle the signals on the running loop (call from inside it)."""
        import asyncio

        self._loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        for sig in STOP_SIGNALS:
            try:
                self._loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError) as exc:
                log.warning("cannot handle %s here: %s", signal.Signals(sig).name, exc)
        if self.received is not None:  # arrived before the loop ran
            self._stop(self.received)

    def _on_signal(self, signum: int) -> None:
        if self.stopping is not None and self.stopping.is_set():
            log.warning("%s again while stopping: exiting now", signal.Signals(signum).name)
            logging.shutdown()
            os._exit(128 + signum)
        self.received = signum
        self._stop(signum)

    def _stop(self, signum: int) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        assert self.stopping is not None
        self.stopping.set()

    def remove(self) -> None:
        """Back to the default handlers (Python's for SIGINT)."""
        for sig in STOP_SIGNALS:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_signal_handler(sig)
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT
                              else signal.SIG_DFL)



__all__ = ["STOP_SIGNALS", "StopSignals"]
