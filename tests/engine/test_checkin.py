"""The weekly check-in on the real database (SQLite and PostgreSQL): stored per ISO week, the
blocker answered at once, a private streak that a snoozed week doesn't break."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.engine.checkin import OPEN_FORM, streak, week_of
from bot.engine.context import Member
from bot.storage.repo.checkins import CheckInRecord

ALICE = Member(1001, name="alice")
T = datetime(2026, 1, 1, tzinfo=UTC)


def weeks(**kinds: str) -> list[CheckInRecord]:
    return [CheckInRecord(w.replace("_", "-"), k, None, None, None, None, T)  # type: ignore[arg-type]
            for w, k in kinds.items()]


def test_streak_counts_weeks_in_a_row_skipping_snoozed_ones():
    assert streak([], "2026-W10") == 0
    assert streak(weeks(**{"2026_W10": "checkin"}), "2026-W10") == 1
    # this week is still open: last week's streak stands
    assert streak(weeks(**{"2026_W09": "checkin", "2026_W08": "checkin"}), "2026-W10") == 2
    # a snoozed week is skipped, not a break
    assert streak(weeks(**{"2026_W10": "checkin", "2026_W09": "snoozed",
                           "2026_W08": "checkin"}), "2026-W10") == 2
    # a week with nothing is
    assert streak(weeks(**{"2026_W10": "checkin", "2026_W08": "checkin"}), "2026-W10") == 1
    assert streak(weeks(**{"2026_W08": "checkin"}), "2026-W10") == 0
    # across the new year (2025 has 52 ISO weeks)
    assert streak(weeks(**{"2026_W01": "checkin", "2025_W52": "checkin"}), "2026-W01") == 2


def test_the_week_is_the_members_own():
    late_sunday = datetime(2026, 3, 8, 23, 30, tzinfo=UTC)  # a Sunday in UTC
    assert week_of(late_sunday) == "2026-W10"
    assert week_of(late_sunday, "Asia/Tokyo") == "2026-W11"  # already Monday there


async def test_a_check_in_answers_the_blocker_and_counts_the_streak(engine, kb, store, clock):
    reply = await engine.run("checkin", ALICE, done="shipped the drift alerts",
                             next_step="retraining", blocker="I know MLflow but never get "
                             "promoted")
    assert reply.kind == "checkin" and reply.private
    assert reply.checkin is not None and reply.checkin.streak == 1
    fits = reply.checkin.blocker_intent
    assert fits is not None and fits in kb.intent_by_id
    assert kb.intent_by_id[fits].title in reply.body
    assert "shipped the drift alerts" in reply.body and "1 week in a row" in reply.body
    assert reply.actions, "the answer's buttons come with it"
    [stored] = await store.checkins.history(ALICE.user_id)
    assert stored.blocker_intent == fits and stored.next_step == "retraining"

    # next week: snoozed; the week after: a check-in without a blocker → 2 in a row
    await engine.run("reminders on", ALICE, weekday="monday", hour=9, timezone="UTC")
    clock.advance(days=7)
    snoozed = await engine.run("reminders snooze", ALICE)
    assert snoozed.title == "Snoozed for a week"
    clock.advance(days=7)
    again = await engine.run("checkin", ALICE, done="the ADR")
    assert again.checkin is not None and again.checkin.streak == 2
    assert again.checkin.blocker_intent is None and again.match is None
    # a week with nothing breaks it
    clock.advance(days=14)
    assert (await engine.run("checkin", ALICE, done="back")).checkin.streak == 1  # type: ignore[union-attr]


async def test_an_unknown_blocker_is_an_honest_i_dont_know_and_member_text_is_escaped(engine):
    reply = await engine.run("checkin", ALICE, blocker="@everyone my cat ate the **keyboard**")
    assert reply.checkin is not None and reply.checkin.blocker_intent is None
    assert "I don't know that one" in reply.body
    assert "@everyone" not in reply.body and "\\*\\*keyboard\\*\\*" in reply.body


async def test_an_empty_check_in_is_refused_and_the_form_route_says_how(engine):
    empty = await engine.run("checkin", ALICE, done="  ", blocker=None)
    assert empty.kind == "error" and empty.tone == "warning"
    prompt = await engine.act(ALICE, OPEN_FORM)
    assert prompt.kind == "checkin" and "/checkin" in prompt.body


async def test_a_check_in_is_posted_only_for_members_who_share_never_the_blocker(engine, kb):
    admin = Member(1003, guild_id=77, name="admin", is_admin=True)
    member = Member(1001, guild_id=77, name="alice")
    saved = await engine.run("setup progress-channel", admin, channel=555)
    assert "<#555>" in saved.body
    private = await engine.run("checkin", member, done="the ADR", blocker="no prod access")
    assert private.announce == ()  # not sharing
    await engine.run("privacy share", member, state=True)
    shared = await engine.run("checkin", member, done="the **ADR**", next_step="alerts",
                              blocker="no prod access")
    [post] = shared.announce
    assert (post.guild_id, post.channel_id, post.what) == (77, 555, "checkin")
    assert "\\*\\*ADR\\*\\*" in post.body and "alerts" in post.body
    assert "prod access" not in post.body and "<@1001>" in post.body
    assert "<#555>" in shared.body
    # only a blocker: nothing to post; from DMs: the member's servers with a channel
    assert (await engine.run("checkin", member, blocker="stuck")).announce == ()
    from_dm = await engine.run("checkin", Member(1001, name="alice"), done="more")
    assert [p.guild_id for p in from_dm.announce] == [77]
    await engine.run("setup sharing", admin, policy="nobody")
    assert (await engine.run("checkin", member, done="x")).announce == ()
