"""The fake Discord's forums, threads, member roles and DM modals, driven by a real discord.py
client (no privileged intents, like mentorbot)."""

from __future__ import annotations

import asyncio
import io

import discord
import pytest
from discord import app_commands

from .fake_discord import GUILD_FORUM, PRIVATE_THREAD, PUBLIC_THREAD, FakeDiscord, perms


class CheckInModal(discord.ui.Modal, title="Weekly check-in"):
    done = discord.ui.TextInput(label="Done", custom_id="done")
    blocker = discord.ui.TextInput(label="Blocker", custom_id="blocker", required=False)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            f"done={self.done.value} blocker={self.blocker.value}"
        )


class CheckInView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.button(label="Check in", custom_id="checkin")
    async def checkin(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_modal(CheckInModal())


class ThreadBot(discord.Client):
    def __init__(self, *, members: bool = False) -> None:
        intents = discord.Intents.default()
        intents.members = members
        intents.presences = intents.message_content = False
        super().__init__(
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.05,
        )
        self.new_threads: list[discord.Thread] = []
        self.thread_updates: list[tuple[discord.Thread, discord.Thread]] = []
        self.seen: list[discord.Message] = []
        self.member_updates: list[discord.Member] = []
        self.deleted_threads: list[int] = []
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(description="Where am I?")
        async def where(interaction: discord.Interaction) -> None:
            channel = interaction.channel
            await interaction.response.send_message(
                f"{type(channel).__name__} {channel.type.name} parent={channel.parent_id}"
            )

        @self.tree.command(description="Pick the mentors' channel")
        async def mentors(
            interaction: discord.Interaction,
            channel: discord.TextChannel | discord.ForumChannel,
        ) -> None:
            await interaction.response.send_message(f"{type(channel).__name__} {channel.name}")

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def before_identify_hook(self, shard_id, *, initial=False) -> None:
        pass

    async def on_thread_create(self, thread: discord.Thread) -> None:
        self.new_threads.append(thread)

    async def on_thread_delete(self, thread: discord.Thread) -> None:
        self.deleted_threads.append(thread.id)

    async def on_thread_update(self, before: discord.Thread, after: discord.Thread) -> None:
        self.thread_updates.append((before, after))

    async def on_message(self, message: discord.Message) -> None:
        self.seen.append(message)

    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        self.member_updates.append(after)


@pytest.fixture
async def fake():
    async with FakeDiscord() as fake:
        with fake.patch_discord_py():
            yield fake
        assert fake.internal_errors == []
        assert fake.unknown_requests == []


@pytest.fixture
def world(fake: FakeDiscord):
    guild = fake.add_guild("MLOps Learners", channels=("general", "mentors"))
    forum = fake.add_channel(guild, "help", type=GUILD_FORUM, tags=("docker", "ci"))
    learner = fake.add_user("lin", guild=guild)
    return guild, forum, learner


async def _start(fake: FakeDiscord, client: ThreadBot):
    task = asyncio.create_task(client.start(fake.token))
    try:
        await fake.wait_ready(timeout=5)
        await asyncio.wait_for(client.wait_until_ready(), 5)
    except BaseException:
        await client.close()
        raise
    return task


@pytest.fixture
async def bot(fake: FakeDiscord, world):
    client = ThreadBot()
    task = await _start(fake, client)
    yield client
    await client.close()
    await asyncio.wait_for(task, 5)


async def _until(fake: FakeDiscord, predicate, what: str):
    return await fake.state.wait_for(predicate, 3, what)


async def test_forum_channel_and_tags_arrive_in_guild_create(fake: FakeDiscord, bot, world):
    guild, forum, _ = world
    channel = bot.get_channel(forum.id)
    assert isinstance(channel, discord.ForumChannel)
    assert [t.name for t in channel.available_tags] == ["docker", "ci"]
    assert channel.default_auto_archive_duration == 1440
    assert bot.get_guild(guild.id).get_channel(forum.id) is channel


async def test_a_members_forum_post_reaches_the_bot(fake: FakeDiscord, bot, world):
    guild, forum, learner = world
    thread, first = fake.user_forum_post(
        learner, forum, "How do I version datasets?", "with DVC?", tags=["ci"]
    )
    assert first.id == thread.id and first.channel_id == thread.id
    assert fake.threads(forum) == [thread] and fake.thread_messages(thread) == [first]
    await _until(fake, lambda: bot.new_threads and bot.seen, "thread_create and message")
    created = bot.new_threads[0]
    assert created.id == thread.id and created.name == "How do I version datasets?"
    assert created.parent_id == forum.id and created.owner_id == learner.id
    assert [t.name for t in created.applied_tags] == ["ci"]
    assert bot.get_guild(guild.id).get_thread(thread.id) is created
    message = bot.seen[0]
    assert message.channel is created and message.id == thread.id
    assert message.content == ""  # no MESSAGE_CONTENT intent: the title is what the bot gets
    # over REST the text depends on the app's portal setting (enabled by default in the fake)
    assert (await created.fetch_message(thread.id)).content == "with DVC?"

    reply = fake.user_message(learner, f"{fake.bot_user.mention} still stuck", channel=thread)
    await _until(fake, lambda: len(bot.seen) == 2, "the reply in the thread")
    assert bot.seen[1].channel is created and bot.seen[1].content == reply.content
    assert fake.thread_messages(thread) == [first, reply]


async def test_bot_opens_a_forum_post_and_posts_in_it(fake: FakeDiscord, bot, world):
    _, forum, _ = world
    channel = bot.get_channel(forum.id)
    docker = next(t for t in channel.available_tags if t.name == "docker")
    made = await channel.create_thread(
        name="Unanswered: what is a feature store?",
        content="Asked by a member",
        applied_tags=[docker],
        auto_archive_duration=4320,
        file=discord.File(io.BytesIO(b"context"), filename="context.txt"),
    )
    assert made.thread.id == made.message.id
    (thread,) = fake.threads(forum)
    assert thread.id == made.thread.id and thread.owner_id == fake.bot_user.id
    assert thread.auto_archive_duration == 4320 and thread.applied_tags == [
        int(forum.tag("docker")["id"])
    ]
    (first,) = fake.thread_messages(thread)
    assert first.content == "Asked by a member" and first.files == [("context.txt", b"context")]
    request = fake.find_requests("POST", "/channels/{id}/threads")[0]
    assert request.json["message"]["allowed_mentions"] == {"parse": []}
    await _until(fake, lambda: bot.new_threads, "thread_create for the bot's own post")
    assert bot.new_threads[0].id == thread.id

    await made.thread.send("A mentor will answer here.")
    assert [m.content for m in fake.thread_messages(thread)] == [
        "Asked by a member",
        "A mentor will answer here.",
    ]
    assert thread.message_count == 1  # a forum post's first message is not counted
    with pytest.raises(discord.HTTPException) as err:
        await channel.create_thread(name="x" * 101, content="too long a title")
    assert err.value.status == 400 and err.value.code == 50035


async def test_bot_opens_threads_in_a_text_channel(fake: FakeDiscord, bot, world):
    guild, _, learner = world
    mentors = guild.channel("mentors")
    channel = bot.get_channel(mentors.id)
    public = await channel.create_thread(
        name="Escalation #1", type=discord.ChannelType.public_thread, auto_archive_duration=60
    )
    assert isinstance(public, discord.Thread) and public.type is discord.ChannelType.public_thread
    private = await channel.create_thread(name="Escalation #2")  # discord.py: private by default
    assert private.type is discord.ChannelType.private_thread
    assert [t.type for t in fake.threads(mentors)] == [PUBLIC_THREAD, PRIVATE_THREAD]
    # Discord announces a public thread in its channel (message type 18), not a private one
    (announce,) = fake.channel_messages(mentors)
    assert announce.type == 18 and announce.content == "Escalation #1"

    await public.send("Question: how do I roll back a model?")
    fake.user_message(learner, "here is how", channel=fake.threads(mentors)[0])
    await _until(
        fake,
        lambda: any(m.channel.id == public.id for m in bot.seen if m.author.id == learner.id),
        "the mentor's reply",
    )
    fetched = await bot.fetch_channel(public.id)
    assert isinstance(fetched, discord.Thread) and fetched.message_count == 2

    sent = await channel.send("Pinned question")
    from_message = await sent.create_thread(name="Discuss")
    assert from_message.id == sent.id and fake.message(sent.id).flags & (1 << 5)
    with pytest.raises(discord.HTTPException) as err:
        await sent.create_thread(name="again")
    assert err.value.code == 160004


async def test_archive_lock_and_membership(fake: FakeDiscord, bot, world):
    guild, _, learner = world
    channel = bot.get_channel(guild.channel("mentors").id)
    thread = await channel.create_thread(name="Claim me", type=discord.ChannelType.public_thread)
    fake_thread = fake.threads(guild.channel("mentors"))[0]
    await _until(fake, lambda: bot.get_guild(guild.id).get_thread(thread.id), "thread cached")

    archived = await thread.edit(archived=True)
    assert archived.archived and fake_thread.archived
    await _until(fake, lambda: bot.thread_updates, "thread_update")
    assert bot.thread_updates[-1][1].archived
    await thread.send("reopening")  # a message reopens an archived, unlocked thread
    assert not fake_thread.archived

    await thread.leave()
    assert fake.bot_user.id not in fake_thread.thread_members
    await thread.join()
    assert fake.bot_user.id in fake_thread.thread_members

    with pytest.raises(discord.Forbidden) as err:  # locking takes Manage Threads
        await thread.edit(locked=True)
    assert err.value.code == 50013
    fake.archive_thread(fake_thread, locked=True)  # a moderator locks it
    with pytest.raises(discord.Forbidden):
        await thread.send("no")
    with pytest.raises(PermissionError):
        fake.user_message(learner, "no", channel=fake_thread)
    with pytest.raises(discord.HTTPException) as err:  # archived: no joining or leaving
        await thread.leave()
    assert err.value.code == 50083


async def test_thread_permissions_are_checked(fake: FakeDiscord, world):
    _, forum, _ = world
    strict = fake.add_guild(
        "Strict", everyone_permissions=perms.VIEW_CHANNEL, bot_permissions=perms.VIEW_CHANNEL
    )
    strict_forum = fake.add_channel(strict, "help", type=GUILD_FORUM)
    client = ThreadBot()
    task = await _start(fake, client)
    try:
        text = client.get_channel(strict.default_channel.id)
        for attempt in (
            text.create_thread(name="t", type=discord.ChannelType.public_thread),
            text.create_thread(name="t"),
            client.get_channel(strict_forum.id).create_thread(name="t", content="c"),
        ):
            with pytest.raises(discord.Forbidden) as err:
                await attempt
            assert err.value.code == 50013
        assert fake.threads(strict.default_channel) == [] and fake.threads(strict_forum) == []
        with pytest.raises(discord.HTTPException) as err:  # a forum takes posts, not messages
            await client.get_partial_messageable(forum.id).send("hi")
        assert err.value.code == 50024
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


async def test_private_thread_events_reach_only_members(fake: FakeDiscord, bot, world):
    guild, _, learner = world
    hidden = fake.add_channel(guild, "between-users", type=PRIVATE_THREAD, owner=learner)
    shown = fake.add_channel(guild, "open", type=PUBLIC_THREAD, owner=learner)
    await _until(fake, lambda: bot.new_threads, "the public thread")
    await asyncio.sleep(0.05)
    assert [t.id for t in bot.new_threads] == [shown.id]
    with pytest.raises(discord.Forbidden):
        await bot.fetch_channel(hidden.id)


async def test_roles_follow_discords_hierarchy(fake: FakeDiscord, world):
    guild, _, learner = world
    admin = fake.add_role(guild, "Admin", perms.ADMINISTRATOR)  # above the bot's role
    phase = fake.add_role(guild, "Phase 2", position=1)  # below it
    bot_role = fake.bot_role(guild)
    assert phase.position < bot_role.position < admin.position
    client = ThreadBot()
    task = await _start(fake, client)
    try:
        g = client.get_guild(guild.id)
        member = await g.fetch_member(learner.id)
        # the bot's invite did not grant Manage Roles
        with pytest.raises(discord.Forbidden) as err:
            await member.add_roles(g.get_role(phase.id))
        assert err.value.code == 50013 and fake.member_roles(guild, learner) == []

        fake.give_role(
            guild, fake.bot_user, fake.add_role(guild, "bot-perms", perms.MANAGE_ROLES, position=1)
        )
        await member.add_roles(g.get_role(phase.id), reason="quiz: phase 2")
        assert fake.member_roles(guild, learner) == [phase]
        entry = fake.audit_log[-1]
        assert (entry.action, entry.target_id, entry.reason) == (
            "member_role_add",
            learner.id,
            "quiz: phase 2",
        )
        for too_high in (admin, bot_role):  # above, or at, the bot's highest role
            with pytest.raises(discord.Forbidden) as err:
                await member.add_roles(discord.Object(too_high.id))
            assert err.value.code == 50013
        await member.remove_roles(g.get_role(phase.id))
        assert fake.member_roles(guild, learner) == []
        edited = await member.edit(roles=[g.get_role(phase.id)], reason="swap")  # PATCH member
        assert [r.id for r in edited.roles if not r.is_default()] == [phase.id]
        assert fake.member_roles(guild, learner) == [phase]
        with pytest.raises(discord.Forbidden):
            await edited.edit(roles=[g.get_role(phase.id), g.get_role(admin.id)])
        assert fake.member_roles(guild, learner) == [phase]

        fake.move_role(guild, bot_role, len(guild.roles) - 1)  # an admin drags the bot's role up
        await _until(fake, lambda: g.get_role(bot_role.id).position == bot_role.position, "update")
        assert g.me.top_role.id == bot_role.id
        await member.add_roles(discord.Object(admin.id))
        assert admin in fake.member_roles(guild, learner)
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


async def test_member_updates_reach_a_bot_with_the_members_intent(fake: FakeDiscord, world):
    guild, _, learner = world
    role = fake.add_role(guild, "Mentor")
    client = ThreadBot(members=True)
    task = await _start(fake, client)
    try:
        fake.give_role(guild, learner, role)
        await _until(fake, lambda: client.member_updates, "member_update")
        assert [r.id for r in client.member_updates[0].roles if not r.is_default()] == [role.id]
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


async def test_modal_from_a_button_in_a_dm(fake: FakeDiscord, bot, world):
    _, _, learner = world
    user = await bot.fetch_user(learner.id)
    await user.send("Time for your weekly check-in", view=CheckInView())
    (dm,) = await fake.wait_for_dm(learner)
    opened = await fake.click(learner, dm, "checkin")
    assert (await opened.response()).type == 9 and opened.guild is None
    assert opened.modal["title"] == "Weekly check-in"
    submitted = await fake.submit_modal(opened, {"done": "trained a model", "blocker": "GPUs"})
    reply = await submitted.final_message()
    assert reply.content == "done=trained a model blocker=GPUs"
    assert reply.channel_id == fake.dm_channel(learner).id
    assert "user" in submitted.payload and "member" not in submitted.payload


async def test_slash_command_in_a_forum_post(fake: FakeDiscord, bot, world):
    _, forum, learner = world
    await fake.wait_for_sync()
    thread, _ = fake.user_forum_post(learner, forum, "Where?", "here")
    h = await fake.slash(learner, "where", channel=thread)
    reply = await h.final_message()
    assert reply.content == f"Thread public_thread parent={forum.id}"
    assert reply.channel_id == thread.id and reply in fake.thread_messages(thread)


async def test_active_threads_arrive_in_guild_create(fake: FakeDiscord, world):
    guild, forum, learner = world
    post, _ = fake.user_forum_post(learner, forum, "Open post", "text")
    closed, _ = fake.user_forum_post(learner, forum, "Closed post", "text")
    fake.archive_thread(closed)
    hidden = fake.add_channel(guild, "private", type=PRIVATE_THREAD, owner=learner)
    client = ThreadBot()
    task = await _start(fake, client)
    try:
        g = client.get_guild(guild.id)
        assert [t.id for t in g.threads] == [post.id]  # not archived, not someone's private one
        assert g.get_thread(post.id).parent_id == forum.id
        assert [t.id for t in await g.active_threads()] == [post.id]
        assert {t.id for t in fake.threads(forum)} == {post.id, closed.id}
        assert fake.threads(forum, archived=False) == [post] and hidden.id not in {
            t.id for t in g.threads
        }
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


async def test_deleting_a_thread_takes_manage_threads(fake: FakeDiscord, bot, world):
    guild, forum, learner = world
    post, _ = fake.user_forum_post(learner, forum, "Withdrawn question", "never mind")
    await _until(fake, lambda: bot.get_guild(guild.id).get_thread(post.id), "thread cached")
    thread = bot.get_guild(guild.id).get_thread(post.id)
    with pytest.raises(discord.Forbidden) as err:
        await thread.delete()
    assert err.value.code == 50013 and fake.threads(forum) == [post]
    fake.give_role(guild, fake.bot_user, fake.add_role(guild, "mods", perms.MANAGE_THREADS))
    await thread.delete()
    assert fake.threads(forum) == [] and fake.thread_messages(post) == []
    await _until(fake, lambda: bot.deleted_threads == [post.id], "thread_delete")


async def test_a_forum_or_text_channel_as_a_command_option(fake: FakeDiscord, bot, world):
    guild, forum, learner = world
    await fake.wait_for_sync()
    (option,) = next(c for c in fake.commands() if c["name"] == "mentors")["options"]
    assert {0, 15} <= set(option["channel_types"])
    for chan, expected in ((forum, "ForumChannel help"), (guild.channel("mentors"), "TextChannel")):
        h = await fake.slash(learner, "mentors", {"channel": chan}, guild=guild)
        assert (await h.final_message()).content.startswith(expected)
    thread, _ = fake.user_forum_post(learner, forum, "a post", "text")
    with pytest.raises(ValueError, match="channel types"):  # Discord would not offer a thread
        await fake.slash(learner, "mentors", {"channel": thread}, guild=guild)
