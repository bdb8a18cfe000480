from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.storage import InvalidInput, Store
from bot.storage.repo.checklist import validate_evidence_url

if TYPE_CHECKING:
    from tests.conftest import FakeClock

ALICE = 5001
BOB = 5002
KB = {1: ["p1-git", "p1-python", "p1-linux"], 2: ["p2-docker", "p2-ci"]}


async def test_mark_unmark_with_timestamps_and_events(store: Store, clock: FakeClock) -> None:
    st1 = await store.checklist.mark(ALICE, "p1-git")
    assert st1.done and st1.done_at is not None and st1.undone_at is None
    assert st1.evidence_url is None

    clock.advance(minutes=5)
    again = await store.checklist.mark(ALICE, "p1-git")  # already done: no new transition
    assert again.done and again.done_at == st1.done_at

    with_link = await store.checklist.mark(ALICE, "p1-git", "https://github.com/alice/dotfiles")
    assert with_link.evidence_url == "https://github.com/alice/dotfiles"
    assert with_link.done_at == st1.done_at and with_link.updated_at > st1.updated_at
    keep = await store.checklist.mark(ALICE, "p1-git")  # no link given: the old one stays
    assert keep.evidence_url == "https://github.com/alice/dotfiles"

    clock.advance(minutes=5)
    off = await store.checklist.unmark(ALICE, "p1-git")
    assert not off.done and off.undone_at is not None and off.undone_at > st1.done_at  # type: ignore[operator]
    assert off.evidence_url is None and off.done_at == st1.done_at
    await store.checklist.unmark(ALICE, "p1-git")  # already undone: no event
    await store.checklist.unmark(ALICE, "never-marked")  # unmarking an unknown item is harmless

    kb = {1: ["p1-git"]}
    events = (await store.checklist.summary(ALICE, kb, recent_limit=10)).recent
    assert [(e.item_id, e.action) for e in events] == [("p1-git", "undone"), ("p1-git", "done")]
    assert events[0].at == off.undone_at and events[1].at == st1.done_at

    states = await store.checklist.states(ALICE)
    assert states["p1-git"] == off
    assert states["never-marked"].done is False
    assert await store.checklist.states(BOB) == {}
    member = await store.members.get(ALICE)  # progress creates the member if needed
    assert member is not None


async def test_recent_is_newest_first_and_limited(store: Store) -> None:
    for item in ["a", "b", "c", "d", "e", "f"]:
        await store.checklist.mark(ALICE, item)
    await store.checklist.unmark(ALICE, "b")
    kb = {1: ["a", "b", "c", "d", "e", "f"]}
    recent = (await store.checklist.summary(ALICE, kb)).recent
    assert [(e.item_id, e.action) for e in recent] == [
        ("b", "undone"),
        ("f", "done"),
        ("e", "done"),
        ("d", "done"),
        ("c", "done"),
    ]
    assert len((await store.checklist.summary(ALICE, kb, recent_limit=2)).recent) == 2
    assert (await store.checklist.summary(BOB, kb)).recent == ()


async def test_done_since(store: Store, clock: FakeClock) -> None:
    await store.checklist.mark(ALICE, "old")
    await store.checklist.mark(ALICE, "flip")
    clock.advance(days=7)
    since = clock()
    await store.checklist.mark(ALICE, "new1")
    await store.checklist.mark(ALICE, "new2")
    await store.checklist.mark(ALICE, "gone")
    await store.checklist.unmark(ALICE, "gone")  # done then undone after `since`: not listed
    await store.checklist.unmark(ALICE, "flip")
    await store.checklist.mark(ALICE, "flip")  # re-done after `since`: listed
    assert await store.checklist.done_since(ALICE, since) == ["new1", "new2", "flip"]
    assert await store.checklist.done_since(ALICE, clock()) == []


async def test_summary_counts_only_items_in_the_knowledge_base(store: Store) -> None:
    await store.members.set_phase(ALICE, 2)
    for item in ["p1-git", "p1-linux", "p2-ci", "renamed-away"]:
        await store.checklist.mark(ALICE, item)
    await store.checklist.mark(ALICE, "p2-docker")
    await store.checklist.unmark(ALICE, "p2-docker")

    s = await store.checklist.summary(ALICE, KB)
    assert s.user_id == ALICE and s.current_phase == 2
    assert dict(s.per_phase) == {1: (2, 3), 2: (1, 2)}
    assert s.per_phase[1].done == 2 and s.per_phase[1].total == 3
    assert s.overall == (3, 5) and s.overall.percent == 60
    done, total = s.overall  # unpacks like a tuple
    assert (done, total) == (3, 5)
    # the orphaned item keeps its history but is not counted nor shown
    assert "renamed-away" in await store.checklist.states(ALICE)
    assert all(e.item_id != "renamed-away" for e in s.recent)
    assert [(e.item_id, e.action) for e in s.recent] == [
        ("p2-docker", "undone"),
        ("p2-docker", "done"),
        ("p2-ci", "done"),
        ("p1-linux", "done"),
        ("p1-git", "done"),
    ]

    # read in the same transaction: the member, and every done id (stored ones included)
    assert s.member == await store.members.get(ALICE)
    assert s.done_ids == {"p1-git", "p1-linux", "p2-ci", "renamed-away"}

    empty = await store.checklist.summary(BOB, KB)
    assert empty.current_phase is None and empty.overall == (0, 5) and empty.recent == ()
    assert empty.member is None and empty.done_ids == frozenset()
    assert (await store.checklist.summary(ALICE, {})).overall == (0, 0)


async def test_orphaned_item_ids(store: Store) -> None:
    await store.checklist.mark(ALICE, "p1-git")
    await store.checklist.mark(ALICE, "old-name")
    await store.checklist.mark(BOB, "old-name")
    await store.checklist.mark(BOB, "undone-old")
    await store.checklist.unmark(BOB, "undone-old")
    valid = {i for ids in KB.values() for i in ids}
    assert await store.checklist.orphaned_item_ids(valid) == {"old-name": 2}
    assert await store.checklist.orphaned_item_ids(valid | {"old-name"}) == {}


GOOD_URLS = [
    "https://github.com/alice/mlops-zoomcamp",
    "http://example.com",
    "https://sub.example.co.uk:8443/a/b?c=d&e=f#frag",
    "HTTPS://EXAMPLE.COM/x",
    "https://[2001:db8::1]/report",
    "https://192.168.0.10/x",
]
BAD_URLS = [
    "",
    "   ",
    "github.com/alice",
    "ftp://example.com/file",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "https://",
    "https:///path-only",
    "http://localhost/x",
    "https://exa mple.com",
    "https://example.com/\nnext",
    "https://user:secret@example.com/",
    "https://example.com:99999/",
    "https://-bad-.com/",
    "https://example.com/" + "a" * 500,
]


@pytest.mark.parametrize("url", GOOD_URLS)
def test_valid_evidence_urls(url: str) -> None:
    assert validate_evidence_url(f"  {url} ") == url


@pytest.mark.parametrize("url", BAD_URLS)
def test_invalid_evidence_urls(url: str) -> None:
    with pytest.raises(InvalidInput):
        validate_evidence_url(url)


@given(st.text(max_size=600))
def test_evidence_validation_never_crashes_and_only_accepts_http(text: str) -> None:
    try:
        url = validate_evidence_url(text)
    except InvalidInput:
        return
    assert url.lower().startswith(("http://", "https://"))
    assert len(url) <= 500 and not any(c.isspace() for c in url)


async def test_bad_evidence_writes_nothing(store: Store) -> None:
    with pytest.raises(InvalidInput):
        await store.checklist.mark(ALICE, "p1-git", "not a link")
    with pytest.raises(InvalidInput):
        await store.checklist.mark(ALICE, "", None)
    with pytest.raises(InvalidInput):
        await store.checklist.mark(ALICE, "x" * 101, None)
    assert await store.checklist.states(ALICE) == {}
    assert await store.members.get(ALICE) is None
