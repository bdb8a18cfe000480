"""The cyclic collector's pause (bot/collector.py): overlapping pauses, and a matcher build
that the collector never interrupts."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from bot import collector
from bot.matching.matcher import MatchDoc, Matcher


def docs(n: int) -> list[MatchDoc]:
    return [MatchDoc(id=f"t.intent-{i}", title=f"topic {i} pipelines",
                     texts=tuple(f"how do I ship model {i} number {k} to production"
                                 for k in range(5)), keywords=(f"word{i}",))
            for i in range(n)]


def test_a_matcher_is_built_with_the_collector_off_then_turns_it_back_on():
    states: list[bool] = []

    def fed() -> Iterator[MatchDoc]:  # read by the build, inside it
        states.append(gc.isenabled())
        yield from docs(30)

    assert gc.isenabled()
    matcher = Matcher(fed(), train=False)
    assert states == [False]
    assert gc.isenabled()
    assert matcher.match("ship model 7 to production").intent == "t.intent-7"


def test_overlapping_pauses_resume_only_when_the_last_one_ends():
    entered, release = threading.Event(), threading.Event()
    owners: list[bool] = []

    def worker() -> None:
        with collector.paused() as owner:
            owners.append(owner)
            entered.set()
            release.wait(5)

    with collector.paused() as owner:
        assert owner is True and not gc.isenabled()
        thread = threading.Thread(target=worker)
        thread.start()
        assert entered.wait(5)
    assert not gc.isenabled()  # the worker's pause is still on
    release.set()
    thread.join(5)
    assert owners == [False]  # the main thread's pause began first: it owns the collector
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    try:
        with collector.paused() as owner:
            assert owner is False and not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_failing_block_still_turns_the_collector_back_on():
    with pytest.raises(ValueError, match="boom"), collector.paused():
        raise ValueError("boom")
    assert gc.isenabled()
