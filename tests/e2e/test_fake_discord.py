"""Smoke test of the fake Discord: a real discord.py client + CommandTree against it."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import discord
import pytest
from discord import app_commands

from .fake_discord import FakeDiscord, perms

FAQ_TOPICS = ["deployment", "dependencies", "docker", "monitoring"]


class FeedbackView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.button(label="Helpful", style=discord.ButtonStyle.success, custom_id="helpful")
    async def helpful(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content="Thanks for the feedback!", view=None)


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    comment = discord.ui.TextInput(label="Comment", custom_id="comment", max_length=200)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Noted: {self.comment.value}", ephemeral=True)


class SmokeBot(discord.Client):
    """A minimal bot: no privileged intents, mentions disabled, global commands synced."""

    def __init__(self, **kwargs) -> None:
        intents = discord.Intents.default()
        intents.members = intents.presences = intents.message_content = False
        super().__init__(
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.05,
            **kwargs,
        )
        self.tree = app_commands.CommandTree(self)
        self.dm_errors: list[discord.HTTPException] = []
        self.late_errors: list[discord.HTTPException] = []
        self.seen: list[str] = []
        self._add_commands()

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def before_identify_hook(self, shard_id, *, initial=False) -> None:
        pass  # discord.py waits 5 s before every re-IDENTIFY; not worth it in a test

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        self.seen.append(message.content)
        if message.content == "ping":
            await message.channel.send("pong")

    def _add_commands(self) -> None:
        tree = self.tree

        @tree.command(description="Ask the mentor a question")
        async def ask(interaction: discord.Interaction, question: str) -> None:
            embed = discord.Embed(title="Answer", description=f"You asked: {question}")
            await interaction.response.send_message(embed=embed, view=FeedbackView())

        @tree.command(description="Think, then answer")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await asyncio.sleep(0.05)
            await interaction.followup.send("done thinking")
            await interaction.followup.send("psst", ephemeral=True)

        @tree.command(description="DM me a reminder")
        async def remind(interaction: discord.Interaction) -> None:
            try:
                await interaction.user.send("Reminder: review your pipeline")
            except discord.HTTPException as exc:
                self.dm_errors.append(exc)
                await interaction.response.send_message("I can't DM you.", ephemeral=True)
            else:
                await interaction.response.send_message("Sent you a DM.", ephemeral=True)

        @tree.command(description="Export my notes")
        async def export(interaction: discord.Interaction) -> None:
            csv = discord.File(io.BytesIO(b"topic,score\ndocker,3\n"), filename="notes.csv")
            await interaction.response.send_message("Your notes:", file=csv)
            log = discord.File(io.BytesIO(b"exported"), filename="export.log")
            await interaction.channel.send("export log", file=log)

        @tree.command(description="Leave feedback")
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(FeedbackModal())

        @tree.command(description="Answers too late")
        async def late(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.3)
            try:
                await interaction.response.send_message("too late")
            except discord.HTTPException as exc:
                self.late_errors.append(exc)

        @tree.command(description="Look up an FAQ entry")
        async def faq(interaction: discord.Interaction, topic: str) -> None:
            await interaction.response.send_message(f"FAQ: {topic}")

        @faq.autocomplete("topic")
        async def faq_topics(interaction: discord.Interaction, current: str):
            return [
                app_commands.Choice(name=t, value=t) for t in FAQ_TOPICS if t.startswith(current)
            ]

        admin = app_commands.Group(
            name="admin",
            description="Admin tools",
            default_permissions=discord.Permissions(manage_guild=True),
            guild_only=True,
        )
        config = app_commands.Group(name="config", description="Settings", parent=admin)

        @config.command(name="set", description="Change a setting")
        async def config_set(interaction: discord.Interaction, key: str, value: int) -> None:
            allowed = interaction.permissions.manage_guild
            await interaction.response.send_message(
                f"{key}={value} (manage_guild={allowed})", ephemeral=True
            )

        tree.add_command(admin)


@pytest.fixture
async def fake():
    async with FakeDiscord() as fake:
        with fake.patch_discord_py():
            yield fake
        assert fake.internal_errors == []


@pytest.fixture
def world(fake: FakeDiscord):
    guild = fake.add_guild("MLOps Learners")
    admin = fake.add_user("ada", guild=guild, permissions=perms.MANAGE_GUILD)
    learner = fake.add_user("lin", guild=guild)
    return guild, admin, learner


async def _run(client: discord.Client, fake: FakeDiscord):
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
    client = SmokeBot()
    task = await _run(client, fake)
    yield client
    await client.close()
    await asyncio.wait_for(task, 5)


async def test_connects_identifies_and_syncs(fake: FakeDiscord, bot: SmokeBot):
    assert bot.user is not None and bot.user.id == fake.application_id
    assert fake.identify_count == 1
    identify = fake.gateway.identifies[0]
    assert identify["intents"] == bot.intents.value
    assert "shard" not in identify
    assert fake.sync_count == 1 and fake.sync_calls[0].guild_id is None
    names = {c["name"] for c in fake.commands()}
    assert names == {"ask", "slow", "remind", "export", "feedback", "late", "faq", "admin"}
    me = fake.find_requests("GET", "/users/@me")[0]
    assert me.headers["Authorization"] == f"Bot {fake.token}"
    assert fake.unknown_requests == []
    assert [g.name for g in bot.guilds] == ["MLOps Learners"]


async def test_slash_reply_embed_button_then_click_edits(fake: FakeDiscord, bot, world):
    guild, _, learner = world
    h = await fake.slash(learner, "ask", {"question": "What is MLOps?"}, guild=guild)
    cb = await h.response(timeout=3)
    assert cb.type == 4 and cb.with_response
    assert h.ack_latency is not None and h.ack_latency < 3.0
    msg = await h.final_message(timeout=3)
    assert msg.embeds[0]["title"] == "Answer"
    assert "What is MLOps?" in msg.text
    assert msg.custom_ids == ["helpful"]
    callback_req = fake.find_requests("POST", "/interactions/{id}/{token}/callback")[0]
    assert callback_req.json["data"]["allowed_mentions"] == {"parse": []}

    click = await fake.click(learner, msg, "helpful")
    assert (await click.response()).type == 7
    edited = await click.final_message()
    assert edited.id == msg.id
    assert edited.content == "Thanks for the feedback!"
    assert edited.components == []


async def test_defer_then_followup_fills_thinking_message(fake: FakeDiscord, bot, world):
    guild, _, learner = world
    h = await fake.slash(learner, "slow", guild=guild)
    assert (await h.response()).type == 5
    first, second = await h.wait_followups(2, timeout=3)
    assert first is h.original and first.content == "done thinking"
    assert not first.loading and not first.ephemeral
    assert second.content == "psst" and second.ephemeral
    assert (await h.final_message()).content == "psst"  # the most recent one


async def test_closed_dms_surface_as_forbidden_50007(fake: FakeDiscord, bot, world):
    guild, admin, learner = world
    fake.close_dms(learner)
    h = await fake.slash(learner, "remind", guild=guild)
    reply = await h.final_message()
    assert reply.ephemeral and reply.content == "I can't DM you."
    assert [(e.status, e.code) for e in bot.dm_errors] == [(403, 50007)]
    assert fake.dm_messages(learner) == []

    h = await fake.slash(admin, "remind", guild=guild)
    assert (await h.final_message()).content == "Sent you a DM."
    assert [m.content for m in fake.dm_messages(admin)] == ["Reminder: review your pipeline"]


async def test_server_error_surfaces_as_discord_server_error(fake: FakeDiscord, bot, world):
    guild, admin, _ = world
    fake.server_error("POST", "/channels/{channel_id}/messages", status=503)
    h = await fake.slash(admin, "remind", guild=guild)
    assert (await h.final_message()).content == "I can't DM you."
    assert isinstance(bot.dm_errors[0], discord.DiscordServerError)
    assert bot.dm_errors[0].status == 503


async def test_slash_in_dm_and_guild_only_commands(fake: FakeDiscord, bot, world):
    _, _, learner = world
    h = await fake.slash(learner, "ask", {"question": "in a DM?"})
    assert "user" in h.payload and "member" not in h.payload and h.payload["context"] == 1
    reply = await h.final_message()
    assert reply.channel_id == fake.dm_channel(learner).id
    with pytest.raises(PermissionError):
        await fake.slash(learner, "admin config set", {"key": "k", "value": 1})


async def test_files_are_recorded_from_multipart(fake: FakeDiscord, bot, world):
    guild, _, learner = world
    h = await fake.slash(learner, "export", guild=guild)
    reply = await h.final_message()
    assert reply.files == [("notes.csv", b"topic,score\ndocker,3\n")]
    callback = fake.find_requests("POST", "/interactions/{id}/{token}/callback")[-1]
    assert [(p.name, p.filename) for p in callback.files] == [("files[0]", "notes.csv")]
    assert callback.json["data"]["attachments"][0]["filename"] == "notes.csv"
    log = await fake.wait_for_message(lambda m: m.content == "export log")
    assert log.files == [("export.log", b"exported")]
    assert fake.channel_messages(guild.default_channel) == [reply, log]


async def test_modal_open_and_submit(fake: FakeDiscord, bot, world):
    guild, _, learner = world
    opened = await fake.slash(learner, "feedback", guild=guild)
    assert (await opened.response()).type == 9
    assert opened.modal["title"] == "Feedback"
    submitted = await fake.submit_modal(opened, {"comment": "great bot"})
    reply = await submitted.final_message()
    assert reply.content == "Noted: great bot" and reply.ephemeral


async def test_user_messages_respect_message_content_intent(fake: FakeDiscord, bot, world):
    guild, _, learner = world
    fake.user_message(learner, "ping")  # a DM: content always visible
    assert [m.content for m in await fake.wait_for_dm(learner)] == ["pong"]
    fake.user_message(learner, "ping", guild=guild)  # no MESSAGE_CONTENT intent: blanked
    fake.user_message(learner, f"{fake.bot_user.mention} hi", guild=guild)  # mentions: kept
    await fake.state.wait_for(lambda: len(bot.seen) == 3, 3, "three messages")
    assert bot.seen == ["ping", "", f"{fake.bot_user.mention} hi"]
    channel = bot.get_channel(guild.default_channel.id)
    history = [m.content async for m in channel.history(limit=10)]
    assert history == [f"{fake.bot_user.mention} hi", "ping"]


async def test_429_is_retried_after_retry_after(fake: FakeDiscord, bot, world):
    guild, admin, _ = world
    fake.rate_limit("POST", "/channels/{channel_id}/messages", count=1, retry_after=0.05)
    h = await fake.slash(admin, "remind", guild=guild)
    await h.final_message()
    assert len(fake.dm_messages(admin)) == 1
    sends = fake.find_requests("POST", "/channels/{channel_id}/messages")
    assert [r.status for r in sends] == [429, 200]
    assert sends[1].at - sends[0].at >= 0.05


@pytest.mark.parametrize("mode", ["close", "reconnect"])
async def test_resumes_after_forced_reconnect(fake: FakeDiscord, bot, world, mode):
    guild, _, learner = world
    await fake.force_reconnect(mode=mode)
    assert fake.resume_count == 1 and fake.identify_count == 1
    assert fake.gateway.connections[-1].path == "/resume"  # READY's resume_gateway_url
    h = await fake.slash(learner, "ask", {"question": "still there?"}, guild=guild)
    assert "still there?" in (await h.final_message()).text


async def test_invalidated_session_reidentifies(fake: FakeDiscord, bot, world):
    guild, _, learner = world
    await fake.force_reconnect(mode="invalidate")
    assert fake.identify_count == 2 and fake.resume_count == 0
    h = await fake.slash(learner, "ask", {"question": "fresh session?"}, guild=guild)
    assert "fresh session?" in (await h.final_message()).text


async def test_events_missed_while_disconnected_are_replayed(fake: FakeDiscord, bot, world):
    guild, _, learner = world
    await fake.force_reconnect(wait=False)
    h = await fake.slash(learner, "ask", {"question": "buffered"}, guild=guild)
    assert "buffered" in (await h.final_message(timeout=5)).text
    assert fake.resume_count == 1


async def test_autocomplete_returns_bot_choices(fake: FakeDiscord, bot, world):
    guild, _, learner = world
    choices = await fake.autocomplete(learner, "faq", "topic", "d", guild=guild)
    assert [c["value"] for c in choices] == ["deployment", "dependencies", "docker"]
    assert choices.handle.first_callback.type == 8


async def test_subcommand_group_and_member_permissions(fake: FakeDiscord, bot, world):
    guild, admin, learner = world
    h = await fake.slash(admin, "admin config set", {"key": "threshold", "value": 3}, guild=guild)
    reply = await h.final_message()
    assert reply.content == "threshold=3 (manage_guild=True)"
    sent = h.payload["data"]["options"][0]
    assert sent["type"] == 2 and sent["options"][0]["type"] == 1
    with pytest.raises(PermissionError):
        await fake.slash(learner, "admin config set", {"key": "k", "value": 1}, guild=guild)
    h = await fake.slash(
        learner, "admin config set", {"key": "k", "value": 1}, guild=guild, check_permissions=False
    )
    assert (await h.final_message()).content == "k=1 (manage_guild=False)"


async def test_late_acknowledgement_is_rejected(fake: FakeDiscord, bot, world):
    guild, _, learner = world
    fake.rest.ack_deadline = 0.1
    h = await fake.slash(learner, "late", guild=guild)
    await fake.state.wait_for(lambda: bot.late_errors, 3, "the late reply to fail")
    assert [(e.status, e.code) for e in bot.late_errors] == [(404, 10062)]
    assert not h.responded and len(h.rejected) == 1


async def test_rest_auth_and_unknown_routes(fake: FakeDiscord):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.api_base}/users/@me") as resp:
            assert resp.status == 401
        headers = {"Authorization": f"Bot {fake.token}"}
        async with http.get(f"{fake.api_base}/voice/regions", headers=headers) as resp:
            assert resp.status == 404
            assert (await resp.json())["code"] == 0
    assert [r.path for r in fake.unknown_requests] == ["/voice/regions"]


async def test_members_intent_and_member_chunks(fake: FakeDiscord, world):
    guild, _, _ = world
    intents = discord.Intents.default()
    intents.members = True
    client = discord.Client(intents=intents, guild_ready_timeout=0.05)
    task = await _run(client, fake)
    try:
        cached = client.get_guild(guild.id)
        assert cached.chunked and {m.name for m in cached.members} >= {"ada", "lin"}
        found = await cached.query_members("ad")
        assert [m.name for m in found] == ["ada"]
        assert fake.gateway.chunk_requests[-1]["query"] == "ad"
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


async def test_disallowed_privileged_intent_is_refused():
    async with FakeDiscord(privileged_intents=()) as fake:
        fake.add_guild()
        intents = discord.Intents.default()
        intents.members = True
        with fake.patch_discord_py():
            client = discord.Client(intents=intents)
            with pytest.raises(discord.PrivilegedIntentsRequired):
                await asyncio.wait_for(client.start(fake.token), 5)
            await client.close()


async def test_sharded_client_gets_its_guilds_and_interactions():
    async with FakeDiscord(shard_count=2) as fake:
        g0 = fake.add_guild("shard zero", on_shard=0)
        g1 = fake.add_guild("shard one", on_shard=1)
        user = fake.add_user("sam", guild=g0)
        fake.add_member(g1, user)

        class ShardedBot(discord.AutoShardedClient):
            def __init__(self) -> None:
                super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
                self.tree = app_commands.CommandTree(self)

                @self.tree.command(description="Which shard?")
                async def where(interaction: discord.Interaction) -> None:
                    await interaction.response.send_message(f"shard {interaction.guild.shard_id}")

            async def setup_hook(self) -> None:
                await self.tree.sync()

            async def before_identify_hook(self, shard_id, *, initial=False) -> None:
                pass  # skip discord.py's 5 s pause between shard IDENTIFYs

        with fake.patch_discord_py():
            client = ShardedBot()
            task = await _run(client, fake)
            try:
                assert sorted(tuple(i["shard"]) for i in fake.gateway.identifies) == [
                    (0, 2),
                    (1, 2),
                ]
                for guild, shard in ((g0, 0), (g1, 1)):
                    h = await fake.slash(user, "where", guild=guild)
                    assert (await h.final_message()).content == f"shard {shard}"
            finally:
                await client.close()
                await asyncio.wait_for(task, 5)
