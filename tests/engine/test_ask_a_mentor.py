"""*Ask a mentor* through the engine on the real database (SQLite and PostgreSQL): the button
only where a mentors' channel is set, a private confirmation, one escalation per member and
question, the claim race, *Mark as answer* into the inbox and the asker's DM, the withdrawal,
the time to the first human answer, the member's export and deletion."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.engine.context import Member
from bot.engine.core import Engine
from bot.engine.replies import Reply
from bot.storage import Store
from tests.conftest import FakeClock

G = 77
CHANNEL = 880
THREAD = 990
POST = 991
MENTOR_ROLE = 4242
ALICE = Member(1001, guild_id=G, name="alice")
BOB = Member(1002, guild_id=G, name="bob")
ADMIN = Member(1003, guild_id=G, name="admin", is_admin=True)
ADA = Member(1004, guild_id=G, name="ada", roles=frozenset({MENTOR_ROLE}))
MAX = Member(1005, guild_id=G, name="max", roles=frozenset({MENTOR_ROLE}))

NONSENSE = "@everyone best pizza in naples"  # unanswered


def labels(reply: Reply) -> list[str]:
    return [a.label for a in reply.actions]


def action(reply: Reply, label: str) -> str:
    for a in reply.actions:
        if a.label == label:
            return a.id
    raise AssertionError(f"no action {label!r} in {labels(reply)}")


async def set_up_mentors(engine: Engine) -> None:
    reply = await engine.run("setup mentors", ADMIN, role=MENTOR_ROLE, channel=CHANNEL)
    assert reply.title == "Setup saved", reply.body


async def escalate(engine: Engine, member: Member = ALICE, question: str = NONSENSE,
                   share: str = "Yes, just the question") -> Reply:
    miss = await engine.run("ask", member, question=question)
    confirm = await engine.act(member, action(miss, "Ask a mentor"))
    assert confirm.title == "Ask a mentor?" and confirm.private
    return await engine.act(member, action(confirm, share))


async def test_no_button_without_a_mentors_channel_and_none_outside_a_server(
        engine: Engine) -> None:
    miss = await engine.run("ask", ALICE, question=NONSENSE)
    assert miss.title == "I don't know that one" and "Ask a mentor" not in labels(miss)
    await set_up_mentors(engine)
    miss = await engine.run("ask", ALICE, question=NONSENSE)
    assert labels(miss)[0] == "Ask a mentor"
    dm = await engine.run("ask", Member(1001), question=NONSENSE)
    assert "Ask a mentor" not in labels(dm)


async def test_yes_opens_a_thread_post_once_per_question(engine: Engine, store: Store,
                                                         kb) -> None:
    await set_up_mentors(engine)
    await engine.run("quiz", ALICE)  # no phase yet: only "just the question" is offered
    miss = await engine.run("ask", ALICE, question=NONSENSE)
    confirm = await engine.act(ALICE, action(miss, "Ask a mentor"))
    assert labels(confirm) == ["Yes, just the question", "No, thanks"]
    assert "@\u200beveryone" in confirm.body  # the member's words escaped

    # someone else can't pass Alice's question on
    stolen = await engine.act(BOB, action(miss, "Ask a mentor"))
    assert stolen.title == "Hmm" and "Only the member who asked" in stolen.body

    done = await engine.act(ALICE, action(confirm, "Yes, just the question"))
    assert done.title == "Passed to the mentors" and done.escalate is not None
    post = done.escalate
    assert (post.guild_id, post.channel_id) == (G, CHANNEL)
    assert post.name.startswith("@everyone best pizza")  # a thread name pings nobody
    assert f"<@{ALICE.user_id}>" in post.message.body
    assert "@\u200beveryone" in post.message.body and "Where they are" not in post.message.body
    assert labels(post.message) == ["Claim"]
    await store.escalations.posted(post.escalation_id, THREAD, POST)

    # a second press, or a second confirmation: already with the mentors, with a link
    again = await engine.act(ALICE, action(miss, "Ask a mentor"))
    assert again.title == "Already with the mentors"
    assert f"https://discord.com/channels/{G}/{THREAD}" in again.body
    twice = await engine.act(ALICE, action(confirm, "Yes, just the question"))
    assert twice.title == "Already with the mentors" and twice.escalate is None


async def test_progress_is_shared_only_when_chosen(engine: Engine, store: Store) -> None:
    await set_up_mentors(engine)
    await store.members.set_phase(ALICE.user_id, 2, source="chosen")
    done = await escalate(engine, share="Yes, with my phase and progress")
    assert done.escalate is not None and "Phase 2" in done.escalate.message.body
    other = await escalate(engine, question="which pasta goes with pesto",
                           share="Yes, just the question")
    assert other.escalate is not None and "Phase 2" not in other.escalate.message.body
    no = await engine.run("ask", ALICE, question="which wine goes with fish")
    confirm = await engine.act(ALICE, action(no, "Ask a mentor"))
    declined = await engine.act(ALICE, action(confirm, "No, thanks"))
    assert declined.title == "Not passed on" and declined.escalate is None


async def test_claim_is_for_mentors_and_exactly_one_of_two_wins(engine: Engine,
                                                                store: Store) -> None:
    await set_up_mentors(engine)
    post = (await escalate(engine)).escalate
    assert post is not None
    claim = action(post.message, "Claim")
    refused = await engine.act(BOB, claim)
    assert refused.title == "Hmm" and "for mentors" in refused.body
    first, second = await asyncio.gather(engine.act(ADA, claim), engine.act(MAX, claim))
    winners = [r for r in (first, second) if r.title == "A member asks the mentors"]
    losers = [r for r in (first, second) if r.title == "Hmm"]
    assert len(winners) == 1 and len(losers) == 1, (first, second)
    assert winners[0].actions == () and "Claimed by" in winners[0].body
    assert "<t:" in winners[0].body
    assert "claimed it already" in losers[0].body
    esc = await store.escalations.get(post.escalation_id)
    assert esc is not None and esc.claimed_by in (ADA.user_id, MAX.user_id)


async def test_mark_as_answer_proposes_it_and_dms_the_asker(engine: Engine, store: Store,
                                                            clock: FakeClock) -> None:
    await set_up_mentors(engine)
    post = (await escalate(engine)).escalate
    assert post is not None
    await store.escalations.posted(post.escalation_id, THREAD, POST)
    refused = await engine.mark_answer(BOB, THREAD, "x", BOB.user_id, "bob")
    assert refused.title == "Hmm" and "for mentors" in refused.body
    elsewhere = await engine.mark_answer(ADA, 12345, "x", ADA.user_id, "ada")
    assert "inside a question thread" in elsewhere.body

    clock.advance(minutes=30)
    answer = "Try **Da Michele** <@&1> — @everyone loves it"
    marked = await engine.mark_answer(ADA, THREAD, answer, ADA.user_id, "ada",
                                                  message_id=555)
    assert marked.title == "Marked as the answer" and marked.private
    assert marked.dm is not None and marked.dm.user_id == ALICE.user_id
    dm = marked.dm.message
    assert "Da Michele" in dm.body and "<@&1>" not in dm.body and "@everyone" not in dm.body
    assert f"https://discord.com/channels/{G}/{THREAD}/555" in dm.body
    shown = engine.escalations.delivered(marked, False)
    assert "couldn't DM" in shown.body and shown.tone == "warning"

    inbox = await engine.run("kb inbox", ADA)
    assert "proposed answer" in inbox.body and "Da Michele" in inbox.body
    assert [round(x) for x in await store.escalations.answer_seconds(G)] == [1800]
    stats = await engine.run("stats", ADMIN)
    assert "first human answer" in stats.body and "30 min" in stats.body


async def test_withdrawing_the_question_withdraws_the_escalation(engine: Engine,
                                                                 store: Store) -> None:
    await set_up_mentors(engine)
    miss = await engine.run("ask", ALICE, question=NONSENSE)
    confirm = await engine.act(ALICE, action(miss, "Ask a mentor"))
    post = (await engine.act(ALICE, action(confirm, "Yes, just the question"))).escalate
    assert post is not None
    await store.escalations.posted(post.escalation_id, THREAD, POST)
    withdrawn = await engine.act(ALICE, action(miss, "Withdraw my question"))
    assert withdrawn.title == "Question withdrawn"
    [edit] = withdrawn.edits
    assert (edit.channel_id, edit.message_id) == (THREAD, POST)
    assert "pizza" not in edit.message.body and "withdrew" in edit.message.body
    assert await store.escalations.get(post.escalation_id) is None


async def test_export_and_delete(engine: Engine, store: Store) -> None:
    await set_up_mentors(engine)
    post = (await escalate(engine)).escalate
    assert post is not None
    await store.escalations.posted(post.escalation_id, THREAD, POST)
    data = await store.privacy.export(ALICE.user_id)
    assert [e["question"] for e in data["escalations"]] == [NONSENSE]
    confirm = await engine.run("privacy delete", ALICE)
    deleted = await engine.act(ALICE, action(confirm, "Yes, delete everything"))
    assert deleted.title == "Your data is deleted"
    [edit] = deleted.edits  # the thread's post loses their words too
    assert (edit.channel_id, edit.message_id) == (THREAD, POST)
    assert "deleted their data" in edit.message.body and "pizza" not in edit.message.body
    assert (await store.privacy.export(ALICE.user_id))["escalations"] == []


async def test_not_helpful_and_not_what_i_asked_offer_it_to_the_asker(engine: Engine) -> None:
    await set_up_mentors(engine)
    answer = await engine.run("ask", ALICE, question="how long until senior")
    assert answer.title != "I don't know that one"
    nope = await engine.act(ALICE, action(answer, "Not helpful"))
    assert "Ask a mentor" in labels(nope)
    other = await engine.act(BOB, action(answer, "Not helpful"))
    assert "Ask a mentor" not in labels(other)
    nwia = await engine.act(ALICE, action(answer, "Not what I asked"))
    assert labels(nwia)[0] == "Ask a mentor"
    confirm = await engine.act(ALICE, action(nwia, "Ask a mentor"))
    done = await engine.act(ALICE, action(confirm, "Yes, just the question"))
    assert done.escalate is not None
    assert "how long until senior" in done.escalate.message.body


async def test_reminder_delay_is_the_setting(engine: Engine, store: Store,
                                             clock: FakeClock) -> None:
    await set_up_mentors(engine)
    post = (await escalate(engine)).escalate
    assert post is not None
    esc = await store.escalations.get(post.escalation_id)
    expected = clock.current + timedelta(minutes=engine.deps.settings.mentor_reminder_minutes)
    assert esc is not None and esc.remind_at is not None
    assert abs(esc.remind_at - expected) < timedelta(seconds=1)


async def test_metrics_expose_the_time_to_the_first_human_answer(store: Store,
                                                                 clock: FakeClock) -> None:
    from bot.ops.metrics import Metrics

    metrics = Metrics()
    metrics.watch_quality(store)
    ids = []
    for i, question in enumerate(["one?", "two?", "three?"]):
        esc, _ = await store.escalations.open(member_id=3000 + i, guild_id=G, question=question,
                                              guesses=[], context=None, channel_id=CHANNEL,
                                              remind_at=None)
        ids.append(esc.id)
    for esc_id, minutes in zip(ids[:2], (10, 50), strict=True):
        clock.advance(minutes=minutes)
        await store.escalations.answered(esc_id)
    await metrics.refresh()
    text = metrics.exposition().decode()
    assert "mentorbot_escalations_answered 2.0" in text
    assert "mentorbot_escalations_open 1.0" in text
    p50 = next(line for line in text.splitlines()
               if line.startswith('mentorbot_time_to_first_human_answer_seconds{quantile="0.5"}'))
    assert 600 <= float(p50.split()[-1]) < 601
    p90 = next(line for line in text.splitlines()
               if line.startswith('mentorbot_time_to_first_human_answer_seconds{quantile="0.9"}'))
    assert 3600 <= float(p90.split()[-1]) < 3601


async def test_a_server_sets_its_own_reminder_delay(engine: Engine, store: Store,
                                                    clock: FakeClock) -> None:
    await set_up_mentors(engine)
    bad = await engine.run("setup mentor-reminder", ADMIN, minutes="soon")
    assert bad.title == "Hmm" and "number of minutes" in bad.body
    member = await engine.run("setup mentor-reminder", ALICE, minutes="30")
    assert member.title == "Hmm"
    saved = await engine.run("setup mentor-reminder", ADMIN, minutes="30")
    assert saved.title == "Setup saved" and "after 30 minutes" in saved.body
    post = (await escalate(engine)).escalate
    assert post is not None
    esc = await store.escalations.get(post.escalation_id)
    assert esc is not None and esc.remind_at is not None
    assert abs(esc.remind_at - clock.current - timedelta(minutes=30)) < timedelta(seconds=1)
    back = await engine.run("setup mentor-reminder", ADMIN)
    assert "(the bot's default)" in back.body


async def test_a_second_different_mentor_confirms_a_new_intent(engine: Engine,
                                                               store: Store) -> None:
    await set_up_mentors(engine)
    on = await engine.run("setup confirmations", ADMIN, state=True)
    assert "needs a second mentor's confirmation" in on.body
    post = (await escalate(engine)).escalate
    assert post is not None
    await store.escalations.posted(post.escalation_id, THREAD, POST)
    await engine.mark_answer(ADA, THREAD, "Da Michele, every time.", ADA.user_id, "ada")
    inbox = await engine.run("kb inbox", ADA)
    first = await engine.act(ADA, action(inbox, next(a.label for a in inbox.actions
                                                     if a.label.endswith("make it an intent"))))
    assert first.title == "Waiting for a second mentor"
    inbox = await engine.run("kb inbox", ADA)
    confirm = next(a.id for a in inbox.actions if a.label.endswith("confirm the intent"))
    assert "waiting for a second mentor" in inbox.body
    again = await engine.act(ADA, confirm)
    assert again.title == "Hmm" and "second, different mentor" in again.body
    made = await engine.act(MAX, confirm)
    assert made.title == "New intent", made.body
    answered = await engine.run("ask", BOB, question=NONSENSE)
    assert "Da Michele" in answered.body


async def test_the_passed_on_reply_can_take_it_back(engine: Engine, store: Store) -> None:
    await set_up_mentors(engine)
    done = await escalate(engine)
    assert done.escalate is not None
    await store.escalations.posted(done.escalate.escalation_id, THREAD, POST)
    stranger = await engine.act(BOB, action(done, "Withdraw my question"))
    assert stranger.title == "Nothing to withdraw" and stranger.edits == ()
    back = await engine.act(ALICE, action(done, "Withdraw my question"))
    assert back.title == "Question withdrawn" and [e.message_id for e in back.edits] == [POST]
    assert await store.escalations.get(done.escalate.escalation_id) is None
    inbox = await engine.run("kb inbox", ADA)
    assert "pizza" not in inbox.body  # her part in the inbox went too


async def test_answering_someone_elses_message_offers_no_ask_a_mentor(engine: Engine) -> None:
    await set_up_mentors(engine)
    reply = await engine.asking.answer_for(ALICE, NONSENSE, "bob")
    assert reply.title == "I don't know that one"
    assert "Ask a mentor" not in labels(reply)
