"""The bot's process memory settings (bot/ops/memory.py), observed through glibc itself.

Each case runs in a child interpreter: the cap applies to the whole process, and a fresh one has
no arenas yet. ``malloc_info`` reports every arena as a ``<heap nr=…>`` element; threads that
allocate at the same moment each get an arena of their own unless capped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from bot.ops.memory import EXECUTOR_THREADS, MALLOC_ARENAS, bounded_executor, limit_malloc_arenas

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc only")

_CHILD = textwrap.dedent("""
    import ctypes, ctypes.util, os, sys, tempfile, threading
    from bot.ops.memory import limit_malloc_arenas
    print("capped" if (sys.argv[1] == "cap" and limit_malloc_arenas()) else "free")
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    start = threading.Barrier(8)
    def work():
        start.wait()
        blocks = [libc.malloc(4096) for _ in range(20000)]  # concurrently: contention
        for b in blocks:
            libc.free(b)
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
    libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
    libc.fclose.argtypes = (ctypes.c_void_p,)
    path = tempfile.mktemp()
    f = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, f)
    libc.fclose(f)
    print(open(path).read().count("<heap nr="))
    os.unlink(path)
""")


def _arenas(mode: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run([sys.executable, "-c", _CHILD, mode], env=env, capture_output=True,
                         text=True, check=True, timeout=60).stdout.split()
    return out[0], int(out[1])


def test_capped_process_keeps_to_the_arena_limit() -> None:
    state, capped = _arenas("cap")
    assert state == "capped"
    assert capped <= MALLOC_ARENAS
    # The same workload without the cap spreads over more arenas (the test can fail).
    state, free = _arenas("free")
    assert state == "free"
    assert free > MALLOC_ARENAS


def test_operator_setting_wins() -> None:
    # glibc already read MALLOC_ARENA_MAX at start: the bot leaves the operator's value alone
    assert limit_malloc_arenas({"MALLOC_ARENA_MAX": "8"}) is False


def test_default_executor_is_bounded_and_named() -> None:
    pool = bounded_executor()
    try:
        names = {pool.submit(lambda: __import__("threading").current_thread().name).result()
                 for _ in range(50)}
        assert pool._max_workers == EXECUTOR_THREADS
        assert all(n.startswith("mentorbot-worker") for n in names)
    finally:
        pool.shutdown()


def test_young_collections_run_less_often() -> None:
    """In a process of its own (the thresholds are process-wide): after
    ``collect_less_often`` a burst of short-lived cyclic garbage triggers far fewer young
    collections, and the garbage is still collected."""
    code = """
import gc, sys
from bot.ops.memory import GC_THRESHOLDS, collect_less_often
if sys.argv[1] == "less":
    collect_less_often()
    assert gc.get_threshold() == GC_THRESHOLDS
runs = [0]
gc.callbacks.append(lambda phase, info: runs.__setitem__(0, runs[0] + (phase == "start")))
class Node:
    pass
for _ in range(200_000):
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the collector frees it
del a, b
gc.collect()
alive = sum(isinstance(o, Node) for o in gc.get_objects())
print(runs[0], alive)
"""

    def run(mode: str) -> tuple[int, int]:
        out = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                             check=True).stdout.split()
        return int(out[0]), int(out[1])

    default_runs, default_alive = run("default")
    less_runs, less_alive = run("less")
    assert default_alive == less_alive == 0
    assert less_runs * 5 < default_runs
