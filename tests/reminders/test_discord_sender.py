"""The Discord sender: the message payload, error mapping, and end to end against the fake
Discord (REST only, no gateway) through ``run_reminders_once`` (``mentorbot reminders
run-once``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import discord
import discord.http
import pytest

from bot.app import App
from bot.config import OperatorError, Settings
from bot.engine.replies import Action, Reply, ReplyField
from bot.engine.schedule import next_occurrence
from bot.frontends.discord.sender import (
    DiscordSender,
    classify,
    message_params,
    run_reminders_once,
)
from bot.reminders.sender import DMsClosed, MemberGone, RateLimited, Rejected, TransientError
from bot.storage import Store
from bot.storage.migrate import upgrade_async
from tests.e2e.fake_discord import FakeDiscord

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)

REPLY = Reply(
    "Your weekly check-in · phase 2",
    "**Phase 2**\n@everyone <@123> should not ping",
    kind="reminder",
    fields=(ReplyField("f", "v"),),
    actions=(
        Action("chk:view:2", "Open checklist", "primary"),
        Action("rem:snooze", "Snooze a week"),
        Action("rem:off", "Stop reminders", "danger"),
    ),
    footer="Every Monday at 09:00 (UTC)",
)


def test_payload_has_embed_buttons_and_no_mentions() -> None:
    params = message_params(REPLY)
    payload = params.payload
    assert payload is not None and not params.files
    assert payload["allowed_mentions"] == {"parse": []}
    [embed] = payload["embeds"]
    assert embed["title"] == REPLY.title and embed["description"] == REPLY.body
    assert embed["footer"]["text"] == REPLY.footer
    [row] = payload["components"]
    assert row["type"] == 1
    buttons = row["components"]
    assert [b["custom_id"] for b in buttons] == ["chk:view:2", "rem:snooze", "rem:off"]
    assert [b["label"] for b in buttons] == ["Open checklist", "Snooze a week", "Stop reminders"]
    assert [b["style"] for b in buttons] == [1, 2, 4]  # primary, secondary, danger
    assert all(b["type"] == 2 for b in buttons)
    # no actions: no components key at all
    bare = message_params(Reply("t", "b")).payload
    assert bare is not None and "components" not in bare


def _http_error(cls: type[discord.HTTPException], status: int, code: int,
                headers: dict[str, str] | None = None) -> discord.HTTPException:
    response = SimpleNamespace(status=status, reason="x", headers=headers or {})
    return cls(response, {"code": code, "message": "m"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "opening", "expected"),
    [
        (_http_error(discord.Forbidden, 403, 50007), False, DMsClosed),
        (_http_error(discord.Forbidden, 403, 50001), False, Rejected),
        (_http_error(discord.NotFound, 404, 10013), True, MemberGone),
        (_http_error(discord.HTTPException, 400, 50035), True, MemberGone),
        (_http_error(discord.HTTPException, 400, 50035), False, Rejected),
        (_http_error(discord.HTTPException, 400, 50033), False, MemberGone),
        (_http_error(discord.HTTPException, 429, 0, {"Retry-After": "7"}), False, RateLimited),
        (_http_error(discord.DiscordServerError, 503, 0), False, TransientError),
        (_http_error(discord.HTTPException, 401, 0), False, TransientError),
        (discord.RateLimited(42.0), False, RateLimited),
        (ConnectionResetError("reset"), False, TransientError),
        (TimeoutError(), False, TransientError),
    ],
)
def test_error_mapping(exc: BaseException, opening: bool, expected: type) -> None:
    mapped = classify(exc, opening=opening)
    assert isinstance(mapped, expected)
    if isinstance(exc, discord.RateLimited):
        assert isinstance(mapped, RateLimited) and mapped.retry_after == 42.0
    if expected is RateLimited and isinstance(exc, discord.HTTPException):
        assert isinstance(mapped, RateLimited) and mapped.retry_after == 7.0


def test_unknown_exceptions_are_not_mapped() -> None:
    assert classify(ValueError("bug")) is None


# --- end to end against the fake ---------------------------------------------------------------


@pytest.fixture
def route_base() -> Iterator[None]:
    saved = discord.http.Route.BASE
    try:
        yield
    finally:
        discord.http.Route.BASE = saved


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as f:
        yield f


async def _members(store: Store, due_after: datetime, *ids: int) -> datetime:
    due = next_occurrence(0, 9, "UTC", due_after)
    for uid in ids:
        await store.members.touch(uid)
        await store.reminders.set(uid, enabled=True, weekday=0, hour=9, timezone="UTC",
                                  next_due_utc=due)
    return due


async def run_once_cli(settings: Settings, now: datetime | None) -> Any:
    """What ``mentorbot reminders run-once`` does with these settings."""
    async with App(settings) as app:
        return await run_reminders_once(app, now)


def _settings(db_url: str, fake: FakeDiscord, **kw: Any) -> Settings:
    return Settings(_env_file=None, database_url=db_url, discord_token=fake.token,  # type: ignore[arg-type]
                    discord_api_base=fake.api_base, db_upgrade_on_start=False, **kw)


async def test_run_once_cli_sends_dms_over_rest_and_pauses_closed_dms(
    db_url: str, fake: FakeDiscord, route_base: None
) -> None:
    await upgrade_async(db_url)
    guild = fake.add_guild("MLOps")
    alice = fake.add_user("alice", guild=guild)
    bob = fake.add_user("bob", guild=guild, dms_closed=True)
    store = Store.open(db_url)
    try:
        due = await _members(store, T0, alice.id, bob.id)
        await store.members.set_phase(alice.id, 2, source="chosen")
        report = await run_once_cli(_settings(db_url, fake), now=due + timedelta(minutes=1))
        assert (report.due, report.claimed, report.sent, report.paused) == (2, 2, 1, 1)
        [dm] = fake.dm_messages(alice)
        assert dm.allowed_mentions == {"parse": []}
        assert dm.custom_ids == ["form:checkin", "chk:view:2", "rem:snooze", "rem:off"]
        assert dm.embeds and "Phase 2" in dm.embeds[0]["description"]
        assert fake.dm_messages(bob) == []
        bob_pref = await store.reminders.get(bob.id)
        assert bob_pref is not None and bob_pref.paused_reason
        assert "DMs are closed" in bob_pref.paused_reason
        assert fake.identify_count == 0  # REST only: no gateway session
        # run again in the same period: nothing more, and Bob is not retried
        posts = len(fake.find_requests("POST", "/channels/{channel_id}/messages"))
        again = await run_once_cli(_settings(db_url, fake), now=due + timedelta(minutes=2))
        assert (again.due, again.sent) == (0, 0)
        assert len(fake.find_requests("POST", "/channels/{channel_id}/messages")) == posts
        assert len(fake.dm_messages(alice)) == 1
    finally:
        await store.close()


async def test_sender_against_the_fake_429_5xx_and_unknown_user(
    fake: FakeDiscord, route_base: None
) -> None:
    alice = fake.add_user("alice")
    discord.http.Route.BASE = fake.api_base
    sender = await DiscordSender.login(fake.token)
    try:
        # a short 429: discord.py waits retry_after and the DM lands
        fake.rate_limit("POST", "/channels/{channel_id}/messages", retry_after=0.05)
        await sender.send_dm(alice.id, REPLY)
        assert len(fake.dm_messages(alice)) == 1
        statuses = [r.status for r in fake.find_requests("POST", "/channels/{channel_id}/messages")]
        assert statuses == [429, 200]
        # the DM channel is cached: the second reminder is a single request
        opened = len(fake.find_requests("POST", "/users/@me/channels"))
        # 503 is not retried by discord.py: a TransientError for the dispatcher to back off
        fake.server_error("POST", "/channels/{channel_id}/messages", status=503)
        with pytest.raises(TransientError):
            await sender.send_dm(alice.id, REPLY)
        await sender.send_dm(alice.id, REPLY)
        assert len(fake.find_requests("POST", "/users/@me/channels")) == opened
        assert len(fake.dm_messages(alice)) == 2
        # a user Discord does not know
        with pytest.raises(MemberGone):
            await sender.send_dm(987654321987654321, REPLY)
        # a long 429 is not waited out inside discord.py: the dispatcher gets RateLimited
        fake.rate_limit("POST", "/channels/{channel_id}/messages", retry_after=120)
        with pytest.raises(RateLimited) as info:
            await sender.send_dm(alice.id, REPLY)
        assert info.value.retry_after == 120
    finally:
        await sender.close()


async def test_run_once_cli_needs_a_token(db_url: str) -> None:
    settings = Settings(_env_file=None, database_url=db_url, discord_token=None)
    with pytest.raises(OperatorError, match="DISCORD_TOKEN"):
        await run_once_cli(settings, None)


async def test_run_once_cli_rejected_token(
    db_url: str, fake: FakeDiscord, route_base: None
) -> None:
    await upgrade_async(db_url)
    settings = Settings(_env_file=None, database_url=db_url, discord_token="not.a.token",  # type: ignore[arg-type]
                        discord_api_base=fake.api_base, db_upgrade_on_start=False)
    with pytest.raises(OperatorError, match="rejected"):
        await run_once_cli(settings, T0)


async def test_run_once_posts_the_blocker_digest_and_channel_errors_are_typed(
    db_url: str, fake: FakeDiscord, route_base: None
) -> None:
    from bot.reminders.sender import ChannelGone, ChannelRefused

    await upgrade_async(db_url)
    guild = fake.add_guild("MLOps")
    mentors = fake.add_channel(guild, "mentors")
    store = Store.open(db_url, clock=lambda: datetime(2025, 3, 8, 12, 0, tzinfo=UTC))
    try:
        await store.members.touch(4242, guild_id=guild.id)
        await store.checkins.check_in(4242, "2025-W10", done=None, next_step=None,
                                      blocker="@everyone stuck", blocker_intent=None)
        await store.guilds.set(guild.id, {"blocker_digest": {
            "channel": mentors.id, "weekday": 0, "hour": 9, "timezone": "UTC",
            "since": "2025-03-01T00:00:00+00:00"}})
        monday = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)  # the check-in came two days before
        report = await run_once_cli(_settings(db_url, fake), now=monday + timedelta(hours=1))
        assert report.digests_sent == 1
        [post] = fake.channel_messages(mentors)
        assert post.allowed_mentions == {"parse": []}
        assert "1 member, not shared" in post.embeds[0]["description"]
        assert "stuck" not in post.embeds[0]["description"]
        again = await run_once_cli(_settings(db_url, fake), now=monday + timedelta(hours=2))
        assert again.digests_sent == 0 and len(fake.channel_messages(mentors)) == 1
    finally:
        await store.close()

    discord.http.Route.BASE = fake.api_base
    sender = await DiscordSender.login(fake.token)
    try:
        fake.fail("POST", f"/channels/{mentors.id}/messages", 403,
                  {"message": "Missing Permissions", "code": 50013})
        with pytest.raises(ChannelRefused) as refused:
            await sender.send_channel(mentors.id, REPLY)
        assert refused.value.code == 50013
        with pytest.raises(ChannelGone):
            await sender.send_channel(987654321987654321, REPLY)
    finally:
        await sender.close()
