"""Process-level memory settings of the long-running bot (``mentorbot run``).

Measured in the 30-minute soak (README, Figures: Soak): the bot's RSS stepped up by 2.2-2.4 MiB
each time it started a thread, because glibc gives every new thread its own malloc arena (up to
eight per core). The threads are the default executor behind ``asyncio.to_thread`` (pictures,
checkpoints, reloads) and the offload pool's SQLite connections. Two settings bound that:

- :func:`limit_malloc_arenas`: at most :data:`MALLOC_ARENAS` arenas, as ``MALLOC_ARENA_MAX``
  would, unless the operator set that variable (glibc then already obeys it);
- :func:`bounded_executor`: the loop's default executor with :data:`EXECUTOR_THREADS` threads
  (Python's default is ``min(32, cores + 4)``), named so a stack dump says whose they are.

And one CPU setting: :func:`collect_less_often` (the cyclic garbage collector's thresholds).

No Discord or database import here.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

#: glibc's ``M_ARENA_MAX`` parameter of ``mallopt`` (malloc.h)
_M_ARENA_MAX = -8
#: arenas the bot's threads share; the main heap is one of them
MALLOC_ARENAS = 2
#: threads of the default executor: a retrain waits on its child in one, a picture or a
#: checkpoint each take one for a few milliseconds
EXECUTOR_THREADS = 4


def limit_malloc_arenas(environ: Mapping[str, str] | None = None) -> bool:
    """Cap glibc's malloc arenas at :data:`MALLOC_ARENAS` for the threads started from now on.

    Returns True when the cap was set here; False where it does not apply (not Linux with
    glibc, or ``MALLOC_ARENA_MAX`` already in the environment, which glibc read at start)."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    if "MALLOC_ARENA_MAX" in env or not sys.platform.startswith("linux"):
        return False
    try:  # the process's own symbols: libc is loaded already (no ldconfig subprocess to find it)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl (Alpine) has no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if mallopt(_M_ARENA_MAX, MALLOC_ARENAS) != 1:
        log.debug("mallopt(M_ARENA_MAX) refused; malloc arenas stay unbounded")
        return False
    return True


#: the cyclic collector's thresholds for the bot (Python's default: 700, 10, 10)
GC_THRESHOLDS = (10_000, 10, 10)


def collect_less_often() -> None:
    """Run the cyclic garbage collector's young collections ~14x less often.

    An interaction allocates thousands of short-lived containers (SQLAlchemy's execution
    objects, discord.py's models, aiohttp's requests), nearly all freed by reference counting;
    at Python's default (a young collection per 700 net allocations) the bot ran ~18 of them a
    second at 100 interactions/s, 0.24 s of CPU in a 30 s load run against 0.13 s here (same
    run length, load 1.5-2). What start-up built is frozen (``gc.freeze``) and not walked
    either way; garbage cycles still go at the next collection, only in larger batches."""
    gc.set_threshold(*GC_THRESHOLDS)


def bounded_executor() -> ThreadPoolExecutor:
    """The default executor for the bot's loop (``loop.set_default_executor``)."""
    return ThreadPoolExecutor(max_workers=EXECUTOR_THREADS, thread_name_prefix="mentorbot-worker")
