"""The mentors' weekly blocker digest on the real database (SQLite and PostgreSQL): what it
says (grouped by topic, a member's words only when they share, escaped, within Discord's
limits), when (the server's zone and hour, across DST), and exactly once (repeated runs, two
dispatchers on two stores, downtime, a crash after the claim, a refused channel)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import Settings
from bot.engine.context import Member
from bot.engine.core import Engine
from bot.engine.digest import UNMATCHED, compose_digest, digest_period, titles_of
from bot.engine.replies import Reply
from bot.engine.schedule import period_key
from bot.engine.setup import BlockerDigest, GuildSetup, setup_of
from bot.reminders.digest import GONE, TOPIC
from bot.reminders.dispatcher import Dispatcher
from bot.reminders.ratelimit import Unlimited
from bot.reminders.sender import ChannelGone, ChannelRefused, TransientError
from bot.storage import Store
from tests.conftest import FakeClock

from .conftest import RecordingSender, at

GUILD, OTHER = 7001, 7002
CHANNEL = 8001
ADMIN = Member(1, guild_id=GUILD, name="admin", is_admin=True)
SHARER, PRIVATE, LATER_FIXED, ELSEWHERE = 1001, 1002, 1003, 1004
# Mondays 09:00 in Berlin: 08:00 UTC in winter, 07:00 UTC from 30 March 2025 (DST)
MON_10_MAR = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
MON_31_MAR = datetime(2025, 3, 31, 7, 0, tzinfo=UTC)


@dataclass
class Posted:
    channel_id: int
    reply: Reply
    at: datetime


@dataclass
class ChannelRecorder(RecordingSender):
    """A reminder sender that also posts in channels; ``channel_faults[channel]`` are raised
    one per attempt."""

    posts: list[Posted] = field(default_factory=list)
    channel_faults: dict[int, list[BaseException]] = field(default_factory=dict)

    async def send_channel(self, channel_id: int, reply: Reply) -> None:
        await asyncio.sleep(self.delay or 0)
        queue = self.channel_faults.get(channel_id)
        if queue:
            raise queue.pop(0)
        self.posts.append(Posted(channel_id, reply, self.clock()))


@pytest.fixture
def engine(kb: Any, store: Store, clock: FakeClock) -> Engine:
    return Engine(kb, store, Settings(_env_file=None), clock=clock)


@pytest.fixture
def poster(clock: FakeClock) -> ChannelRecorder:
    return ChannelRecorder(clock)


def make(store: Store, kb: Any, sender: ChannelRecorder, clock: FakeClock,
         **kwargs: Any) -> Dispatcher:
    kwargs.setdefault("limiter", Unlimited())
    return Dispatcher(store, kb, sender, clock=clock, **kwargs)


async def switch_on(engine: Engine, guild_id: int = GUILD, channel: int = CHANNEL,
                    **schedule: Any) -> Reply:
    schedule = {"weekday": "monday", "hour": 9, "timezone": "Europe/Berlin", **schedule}
    admin = Member(1, guild_id=guild_id, name="admin", is_admin=True)
    return await engine.run("setup blocker-digest", admin, state=True, channel=channel,
                            **schedule)


async def check_in(engine: Engine, store: Store, user_id: int, blocker: str | None,
                   guild_id: int = GUILD, sharing: bool = False) -> Reply:
    reply = await engine.run("checkin", Member(user_id, guild_id=guild_id),
                             done="some work", blocker=blocker)
    await store.members.set_sharing(user_id, sharing)
    return reply


# -- what it says -----------------------------------------------------------------------------

async def test_grouped_by_topic_and_a_members_words_only_when_they_share(
    engine: Engine, store: Store, clock: FakeClock, kb: Any
) -> None:
    at(clock, MON_10_MAR - timedelta(days=3))
    shared = await check_in(engine, store, SHARER, "I know MLflow but never get promoted",
                            sharing=True)
    await check_in(engine, store, PRIVATE, "my secret plan: never get promoted with MLflow")
    await check_in(engine, store, 1005, "qwzx vbnm plokij")  # matches nothing
    await check_in(engine, store, LATER_FIXED, "kubernetes is too much for me", sharing=True)
    await check_in(engine, store, ELSEWHERE, "someone else's server blocker", guild_id=OTHER,
                   sharing=True)
    clock.advance(days=1)  # a later check-in without a blocker closes it
    await check_in(engine, store, LATER_FIXED, None, sharing=True)
    await store.members.touch(LATER_FIXED, guild_id=GUILD)
    fits = shared.checkin.blocker_intent if shared.checkin else None
    assert fits is not None

    reply = await compose_digest(store, titles_of(engine.deps), GUILD, GuildSetup(),
                                 MON_10_MAR - timedelta(days=7), MON_10_MAR)
    body = reply.body
    assert reply.kind == "digest" and not reply.private
    assert kb.intent_by_id[fits].title in body
    assert "never get promoted" in body and f"<@{SHARER}>" in body  # shared: quoted
    assert "secret plan" not in body and f"<@{PRIVATE}>" not in body
    assert "1 member, not shared" in body
    assert UNMATCHED in body
    assert "kubernetes" not in body  # closed by the later check-in
    assert "someone else" not in body  # another server's member
    assert reply.title.endswith("3 members")

    # a server where nobody shares: counts only
    nobody = await compose_digest(store, titles_of(engine.deps), GUILD,
                                  GuildSetup(sharing="nobody"),
                                  MON_10_MAR - timedelta(days=7), MON_10_MAR)
    assert "never get promoted" not in nobody.body and f"<@{SHARER}>" not in nobody.body
    assert "2 members, not shared" in nobody.body

    # outside the window: nothing
    empty = await compose_digest(store, titles_of(engine.deps), GUILD, GuildSetup(),
                                 MON_10_MAR, MON_10_MAR + timedelta(days=7))
    assert "No open blockers" in empty.body and empty.title.endswith("0 members")


async def test_member_text_is_escaped_and_the_digest_fits_one_embed(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    at(clock, MON_10_MAR - timedelta(days=2))
    await check_in(engine, store, SHARER, "@everyone <@123> **bold** [x](https://evil.example)",
                   sharing=True)
    body = (await compose_digest(store, titles_of(engine.deps), GUILD, GuildSetup(),
                                 MON_10_MAR - timedelta(days=7), MON_10_MAR)).body
    assert "@everyone" not in body and "<@123>" not in body and "**bold**" not in body
    assert "https://evil" not in body

    # many members, many topics, long texts: still one embed (≤ 4096), with what was left out
    topics = list(engine.kb.intent_by_id)[:30]
    for i in range(90):
        uid = 3000 + i
        await store.members.touch(uid, guild_id=GUILD)
        await store.members.set_sharing(uid, True)
        await store.checkins.check_in(uid, "2025-W10", done=None, next_step=None,
                                      blocker="x" * 450 + f" {i}",
                                      blocker_intent=topics[i % len(topics)])
    reply = await compose_digest(store, titles_of(engine.deps), GUILD, GuildSetup(),
                                 MON_10_MAR - timedelta(days=7), MON_10_MAR)
    assert len(reply.body) <= 4096 and len(reply.title) <= 256
    assert "more topic" in reply.body and reply.title.endswith("91 members")


async def test_setup_switches_it_on_and_off_and_previews_it(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    at(clock, MON_10_MAR - timedelta(days=1))
    missing = await engine.run("setup blocker-digest", ADMIN, state=True)
    assert missing.kind == "error" and "channel" in missing.body
    wrong = await switch_on(engine, timezone="EST")
    assert wrong.kind == "error" and "America/New_York" in wrong.body
    saved = await switch_on(engine, weekday="friday", hour=18)
    assert saved.tone == "success"
    assert "every Friday at 18:00 Europe/Berlin" in saved.body and f"<#{CHANNEL}>" in saved.body
    setup = await setup_of(engine.deps, GUILD)
    assert setup.blocker_digest is not None and setup.blocker_digest.weekday == 4
    # changing only the hour keeps the rest
    await engine.run("setup blocker-digest", ADMIN, state=True, hour=8)
    kept = (await setup_of(engine.deps, GUILD)).blocker_digest
    assert kept is not None and (kept.channel, kept.weekday, kept.hour) == (CHANNEL, 4, 8)
    # another channel, the same schedule: it keeps its start; a new schedule starts now
    clock.advance(hours=1)
    await engine.run("setup blocker-digest", ADMIN, state=True, channel=CHANNEL + 1)
    moved = (await setup_of(engine.deps, GUILD)).blocker_digest
    assert moved is not None and moved.channel == CHANNEL + 1 and moved.since == kept.since
    not_admin = await engine.run("setup blocker-digest", Member(5, guild_id=GUILD),
                                 state=True, channel=CHANNEL)
    assert not_admin.kind == "error"

    await check_in(engine, store, SHARER, "no access to production", sharing=True)
    preview = await engine.run("setup digest-preview", ADMIN)
    assert preview.private and "Preview" in preview.title and "no access" in preview.body

    off = await engine.run("setup blocker-digest", ADMIN, state=False)
    assert "**Blocker digest for mentors:** off" in off.body
    assert (await setup_of(engine.deps, GUILD)).blocker_digest is None
    assert await store.guilds.with_section("blocker_digest") == []


def test_the_period_follows_the_servers_zone_across_dst() -> None:
    digest = BlockerDigest(channel=CHANNEL, weekday=0, hour=9, timezone="Europe/Berlin",
                           since=datetime(2025, 3, 5, tzinfo=UTC))
    assert digest_period(digest, MON_10_MAR - timedelta(seconds=1)) is None  # before the first
    assert digest_period(digest, MON_10_MAR) == (MON_10_MAR, MON_10_MAR + timedelta(days=7))
    # the week of the change is an hour short; 09:00 local stays 09:00
    before = datetime(2025, 3, 24, 8, 0, tzinfo=UTC)
    assert digest_period(digest, MON_31_MAR - timedelta(minutes=1)) == (before, MON_31_MAR)
    assert digest_period(digest, MON_31_MAR) == (MON_31_MAR, MON_31_MAR + timedelta(days=7))


# -- when, and exactly once -----------------------------------------------------------------------

async def test_posted_once_at_the_servers_hour_across_dst(
    engine: Engine, store: Store, clock: FakeClock, kb: Any, poster: ChannelRecorder
) -> None:
    at(clock, MON_10_MAR - timedelta(days=2))
    await switch_on(engine)
    await check_in(engine, store, SHARER, "no access to production", sharing=True)
    d = make(store, kb, poster, clock)
    at(clock, MON_10_MAR - timedelta(minutes=1))
    assert (await d.run_once()).digests_sent == 0
    at(clock, MON_10_MAR)
    report = await d.run_once()
    assert report.digests_sent == 1 and "digests_sent 1" in str(report)
    for minutes in [*range(1, 30), *range(60, 7 * 24 * 60 - 60, 120)]:
        at(clock, MON_10_MAR + timedelta(minutes=minutes))
        assert (await d.run_once()).digests_sent == 0
    [post] = poster.posts
    assert post.channel_id == CHANNEL and "no access to production" in post.reply.body
    state = await store.digests.state(GUILD, period_key(MON_10_MAR))
    assert state is not None and state.status == "sent"
    # every Monday 09:00 Berlin: 08:00 UTC, then 07:00 UTC after the change
    for monday in (MON_10_MAR + timedelta(days=7), MON_10_MAR + timedelta(days=14),
                   MON_31_MAR):
        at(clock, monday - timedelta(minutes=1))
        assert (await d.run_once()).digests_sent == 0
        at(clock, monday)
        assert (await d.run_once()).digests_sent == 1
    assert [p.at.replace(second=0, microsecond=0).hour for p in poster.posts] == [8, 8, 8, 7]
    # older periods' rows are pruned: one row per server
    assert await store.digests.state(GUILD, period_key(MON_10_MAR)) is None


async def test_back_after_downtime_posts_once_not_once_per_missed_week(
    engine: Engine, store: Store, clock: FakeClock, kb: Any, poster: ChannelRecorder
) -> None:
    at(clock, MON_10_MAR - timedelta(days=2))
    await switch_on(engine)
    d = make(store, kb, poster, clock)
    at(clock, MON_10_MAR + timedelta(days=12))  # the bot is down from here
    await check_in(engine, store, SHARER, "stuck on feature stores", sharing=True)
    at(clock, MON_10_MAR + timedelta(days=17, hours=5))  # three Mondays missed
    report = await d.run_once()
    assert report.digests_sent == 1
    assert (await d.run_once()).digests_sent == 0
    [post] = poster.posts
    assert "stuck on feature stores" in post.reply.body  # the week before the missed Monday
    at(clock, MON_31_MAR + timedelta(days=7))
    assert (await d.run_once()).digests_sent == 1


async def test_two_dispatchers_on_two_stores_post_each_digest_once(
    engine: Engine, store: Store, db_url: str, clock: FakeClock, kb: Any
) -> None:
    at(clock, MON_10_MAR - timedelta(days=2))
    guilds = [9000 + i for i in range(25)]
    zones = ["UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York"]
    for i, g in enumerate(guilds):
        await switch_on(engine, guild_id=g, channel=20_000 + i, hour=0, timezone=zones[i % 4])
        await check_in(engine, store, 4000 + i, "no access to production", guild_id=g)
    poster = ChannelRecorder(clock, delay=0.001)
    other = Store.open(db_url, clock=clock)
    try:
        one = make(store, kb, poster, clock)
        two = make(other, kb, poster, clock)
        at(clock, MON_10_MAR + timedelta(days=1))  # every server's digest is due
        reports = []
        for _ in range(3):
            reports += await asyncio.gather(one.run_once(), two.run_once(), one.run_once())
    finally:
        await other.close()
    counts = Counter(p.channel_id for p in poster.posts)
    assert len(poster.posts) == len(guilds) and set(counts.values()) == {1}
    assert sum(r.digests_sent for r in reports) == len(guilds)
    assert sum(1 for r in reports[:3] if r.digests_sent) >= 2  # they really raced
    for p in poster.posts:
        assert "1 member, not shared" in p.reply.body


async def test_a_crash_after_the_claim_is_retried_after_the_lease_only(
    engine: Engine, store: Store, clock: FakeClock, kb: Any, poster: ChannelRecorder
) -> None:
    at(clock, MON_10_MAR - timedelta(days=2))
    await switch_on(engine)
    d = make(store, kb, poster, clock, lease_seconds=300)
    poster.channel_faults[CHANNEL] = [RuntimeError("process died mid-send")]
    at(clock, MON_10_MAR)
    assert (await d.run_once()).digests_failed == 1
    at(clock, MON_10_MAR + timedelta(seconds=200))
    assert (await d.run_once()).digests_sent == 0
    at(clock, MON_10_MAR + timedelta(seconds=301))
    assert (await d.run_once()).digests_sent == 1
    assert len(poster.posts) == 1
    state = await store.digests.state(GUILD, period_key(MON_10_MAR))
    assert state is not None and (state.status, state.attempts) == ("sent", 2)


async def test_a_transient_failure_is_retried_within_the_period(
    engine: Engine, store: Store, clock: FakeClock, kb: Any, poster: ChannelRecorder
) -> None:
    at(clock, MON_10_MAR - timedelta(days=2))
    await switch_on(engine)
    d = make(store, kb, poster, clock, backoff_base=60)
    poster.channel_faults[CHANNEL] = [TransientError("502")]
    at(clock, MON_10_MAR)
    assert (await d.run_once()).retried == 1
    at(clock, MON_10_MAR + timedelta(seconds=30))
    assert (await d.run_once()).digests_sent == 0
    at(clock, MON_10_MAR + timedelta(seconds=61))
    assert (await d.run_once()).digests_sent == 1


async def test_a_refused_or_missing_channel_tells_the_admins_and_never_raises(
    engine: Engine, store: Store, clock: FakeClock, kb: Any, poster: ChannelRecorder
) -> None:
    at(clock, MON_10_MAR - timedelta(days=2))
    await switch_on(engine)
    d = make(store, kb, poster, clock)
    poster.channel_faults[CHANNEL] = [ChannelRefused("Discord 403", 50013)]
    at(clock, MON_10_MAR)
    report = await d.run_once()
    assert (report.digests_sent, report.digests_failed) == (0, 1)
    shown = await engine.run("setup show", ADMIN)
    assert "Needs your attention" in shown.body and "50013" in shown.body
    assert "/setup blocker-digest" in shown.body
    at(clock, MON_10_MAR + timedelta(hours=2))  # closed for this period: no retry storm
    assert (await d.run_once()).digests_failed == 0 and not poster.posts
    # next week it works: the note goes
    at(clock, MON_10_MAR + timedelta(days=7))
    assert (await d.run_once()).digests_sent == 1
    assert [n.topic for n in await store.community.notes(GUILD)] == []
    # the channel is deleted
    poster.channel_faults[CHANNEL] = [ChannelGone("Discord 404")]
    at(clock, MON_10_MAR + timedelta(days=14))
    assert (await d.run_once()).digests_failed == 1
    [note] = await store.community.notes(GUILD)
    assert (note.topic, note.message) == (TOPIC, GONE)


async def test_reminders_still_go_out_with_a_sender_that_cannot_post_in_channels(
    engine: Engine, store: Store, clock: FakeClock, kb: Any
) -> None:
    """A DM-only sender (no ``send_channel``) never claims digests: a process that can post
    in channels sends them."""
    at(clock, MON_10_MAR - timedelta(days=2))
    await switch_on(engine)
    at(clock, MON_10_MAR)
    dm_only = Dispatcher(store, kb, RecordingSender(clock), clock=clock, limiter=Unlimited())
    assert (await dm_only.run_once()).digests_sent == 0
    assert await store.digests.state(GUILD, period_key(MON_10_MAR)) is None


@pytest.mark.backends("sqlite")
async def test_the_cli_prints_the_preview_and_sends_nothing(
    engine: Engine, store: Store, clock: FakeClock, db_url: str
) -> None:
    import subprocess
    import sys

    at(clock, datetime.now(UTC) - timedelta(hours=1))  # the CLI runs on the real clock
    await check_in(engine, store, SHARER, "no access to production", sharing=True)
    await check_in(engine, store, PRIVATE, "a private worry")
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "reminders", "digest-preview",
                         "--guild", str(GUILD), "--db", db_url],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert "Preview: open blockers" in out.stdout and "no access to production" in out.stdout
    assert "a private worry" not in out.stdout and "1 member, not shared" in out.stdout
