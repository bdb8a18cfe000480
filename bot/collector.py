"""Pausing Python's cyclic garbage collector while a burst of long-lived objects is made.

Start-up (the imports, the knowledge base, the matcher) and a matcher's build make hundreds of
thousands to millions of objects that form no garbage cycles; the collector would only walk
them, again and again: 5-15% of a 5,000-intent build's CPU, more the bigger the process
already is. Reference counting still frees everything else at once while it is paused.

One pause for the whole process: the collector is process-wide, so pauses that overlap (a
build inside start-up, or in a worker thread) turn it back on only when the last one ends,
and only if it was on when the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_resume = False  # the collector was on when the outermost pause began


@contextmanager
def paused() -> Iterator[bool]:
    """The cyclic collector off for the block (also usable as a decorator). Yields ``True``
    to the outermost pause that will turn it back on: the one that may freeze what was made."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
        owner = _depth == 1 and _resume
    try:
        yield owner
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()
