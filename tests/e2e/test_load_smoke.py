"""The load generator of ``benchmarks.load`` works: a few seconds at a low rate against
``mentorbot run`` (a real process) on the loopback fake Discord. Not a timed test: it asserts
that every interaction sent was acknowledged and answered, that nothing was lost, and that the
checklist changes members were told about are the ones stored."""

from __future__ import annotations

from collections import Counter

from benchmarks._loadgen import LATE, LOST, STUCK, BotProcess, LoadGenerator

from .fake_discord import FakeDiscord


async def test_every_interaction_of_a_short_low_rate_run_is_answered(db_url, tmp_path):
    async with FakeDiscord() as fake:
        bot = BotProcess(fake, db_url, tmp_path)
        gen = LoadGenerator(fake, bot, members=40, max_in_flight=100, seed=3)
        await bot.start()
        try:
            await gen.warm_up()
            result = await gen.run_phase(rate=8, seconds=4)
        finally:
            await bot.stop()
        writes = await gen.check_writes(db_url)
    records = result.records
    assert len(records) == 32 and result.skipped == 0
    outcomes = Counter(r.outcome for r in records)
    assert outcomes[LOST] == outcomes[LATE] == outcomes[STUCK] == 0, outcomes
    assert all(r.first is not None and r.final is not None for r in records)
    assert all(r.title for r in records), [r.kind for r in records if not r.title]
    # the mix reached the bot: questions, quiz and checklist traffic, not one command only
    kinds = Counter(r.kind.split()[0] for r in records)
    assert {"ask", "checklist"} <= set(kinds) and ("quiz" in kinds or "/quiz" in kinds), kinds
    # measured from outside the bot's process
    assert result.cpu_seconds > 0 and result.rss_end > 0
    _, errors, sample = bot.log_summary()
    assert errors == 0, sample
    # what members were told about their checklist matches the database
    assert writes["reported, not stored"] == writes["unreported"] == 0, writes


async def test_the_floor_answers_every_command_with_its_fixed_embed_and_stores_nothing(
        db_url, tmp_path):
    """``--floor`` (benchmarks.floor): the same process, every slash command answered at once
    with one fixed embed, no engine or database work: what discord.py and aiohttp cost alone."""
    from benchmarks.floor import TITLE
    from bot.storage import Store

    async with FakeDiscord() as fake:
        bot = BotProcess(fake, db_url, tmp_path, module="benchmarks.floor")
        gen = LoadGenerator(fake, bot, members=20, max_in_flight=100, seed=5,
                            mix={"ask": 1.0, "browse": 1.0})
        await bot.start()
        try:
            await gen.warm_up(n=4)
            result = await gen.run_phase(rate=8, seconds=2)
        finally:
            code = await bot.stop()
    records = result.records
    assert len(records) == 16 and code == 0
    assert {r.kind.split()[0] for r in records} >= {"ask"}
    assert all(r.first is not None and r.title == TITLE for r in records), \
        Counter((r.kind, r.title) for r in records)
    store = Store.open(db_url)
    try:  # the real bot stores every member who asks (tests above); the floor, nobody
        asked = {r.member.user.id for r in records if r.kind == "ask"}
        assert asked and all([await store.members.get(u) is None for u in asked])
    finally:
        await store.close()
