"""``FakeDiscord``: the test-facing driver that owns the server, the world and the controls."""

from __future__ import annotations

import asyncio
import base64
import math
import secrets
import socket
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from . import perms
from .gateway import Gateway, Session
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionHandle,
    PayloadFactory,
)
from .models import (
    GUILD_TEXT,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGES,
    PUBLIC_THREAD,
    THREAD_TYPES,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
)
from .recording import API_PREFIX, FaultRule, RecordedRequest, template_regex
from .rest import RestApi
from .store import AuditEntry, FakeState, GatewayEvent, SyncCall

MESSAGE_COMMAND = 3  # application command type: a message context-menu command
UserLike = FakeUser | int
GuildLike = FakeGuild | int
ChannelLike = FakeChannel | int


class Choices(list):
    """Autocomplete choices (a list of ``{"name", "value"}``) plus the interaction ``handle``."""

    handle: InteractionHandle


class DiscordPyPatch:
    """Points discord.py at the fake: ``Route.BASE`` (REST) and ``DEFAULT_GATEWAY``.

    A plain ``discord.Client`` never asks ``GET /gateway/bot``: it dials
    ``DiscordWebSocket.DEFAULT_GATEWAY`` first and only later the READY's
    ``resume_gateway_url``, so both have to be redirected (``AutoShardedClient`` does use
    ``/gateway/bot``). ``undo()`` (or leaving the ``with`` block) restores both.
    """

    def __init__(self, api_base: str, gateway_url: str) -> None:
        import discord.gateway
        import discord.http
        import yarl

        self._route = discord.http.Route
        self._ws = discord.gateway.DiscordWebSocket
        self._old = (self._route.BASE, self._ws.DEFAULT_GATEWAY)
        self._route.BASE = api_base
        self._ws.DEFAULT_GATEWAY = yarl.URL(gateway_url)

    def undo(self) -> None:
        self._route.BASE, self._ws.DEFAULT_GATEWAY = self._old

    def __enter__(self) -> DiscordPyPatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.undo()


class FakeDiscord:
    """A loopback Discord (REST + gateway) for end-to-end tests of a real discord.py client.

    ::

        async with FakeDiscord() as fake:
            guild = fake.add_guild("Guild")
            alice = fake.add_user("alice", guild=guild)
            with fake.patch_discord_py():
                ...start the bot with fake.token...
                await fake.wait_ready()
                h = await fake.slash(alice, "ask", {"question": "what is MLOps?"}, guild=guild)
                reply = await h.final_message()
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        application_id: int | None = None,
        bot_name: str = "mentorbot",
        shard_count: int = 1,
        heartbeat_interval: float = 41.25,
        ack_deadline: float = 3.0,
        token_ttl: float = 15 * 60.0,
        privileged_intents: Iterable[str] = ("members", "presences", "message_content"),
    ) -> None:
        self.state = FakeState(token="", application_id=application_id, bot_name=bot_name)
        self.token = token or self._make_token(self.state.application_id)
        self.state.token = self.token
        self.shard_count = shard_count
        self.port: int | None = None
        self.gateway = Gateway(
            self.state,
            heartbeat_interval_ms=int(heartbeat_interval * 1000),
            privileged_intents=set(privileged_intents),
            base_url=lambda: self.base_url,
        )
        self.state.emit = self.gateway.emit
        self.state.message_content_enabled = "message_content" in set(privileged_intents)
        self.rest = RestApi(
            self.state,
            gateway_url=lambda: self.gateway_url,
            shard_count=lambda: self.shard_count,
            ack_deadline=ack_deadline,
            token_ttl=token_ttl,
        )
        self._payloads = PayloadFactory(self.state)
        self._runner: web.AppRunner | None = None

    @staticmethod
    def _make_token(app_id: int) -> str:
        head = base64.b64encode(str(app_id).encode()).decode().rstrip("=")
        return f"{head}.{secrets.token_urlsafe(4)}.{secrets.token_urlsafe(27)}"

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/resume", self.gateway.handle)
        app.router.add_route("*", "/{tail:.*}", self.rest.handle)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        return self

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("FakeDiscord is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def patch_discord_py(self) -> DiscordPyPatch:
        """Point discord.py's REST base and default gateway here (see :class:`DiscordPyPatch`)."""
        return DiscordPyPatch(self.api_base, self.gateway_url)

    # -- world ---------------------------------------------------------------------------------

    @property
    def application_id(self) -> int:
        return self.state.application_id

    @property
    def bot_user(self) -> FakeUser:
        return self.state.bot_user

    def _live(self, guild_id: int | None) -> Session | None:
        if guild_id is not None and guild_id not in self.state.guilds:
            return None
        return self.gateway.session_for(guild_id)

    def add_user(
        self,
        username: str,
        *,
        id: int | None = None,
        global_name: str | None = None,
        dms_closed: bool = False,
        bot: bool = False,
        locale: str = "en-US",
        guild: GuildLike | None = None,
        permissions: int | None = None,
        roles: Iterable[FakeRole] = (),
    ) -> FakeUser:
        """A user; with ``guild=`` also a member there.

        ``permissions`` (e.g. ``perms.MANAGE_GUILD``) are granted through a role made for them.
        """
        user = self.state.add_user(
            username, id=id, global_name=global_name, dms_closed=dms_closed, bot=bot, locale=locale
        )
        if guild is not None:
            self.add_member(guild, user, permissions=permissions, roles=roles)
        return user

    def add_guild(
        self,
        name: str = "Test Guild",
        *,
        id: int | None = None,
        owner: FakeUser | None = None,
        channels: Iterable[str] = ("general",),
        everyone_permissions: int = perms.DEFAULT_EVERYONE,
        bot_permissions: int = perms.DEFAULT_BOT,
        locale: str = "en-US",
        on_shard: int | None = None,
    ) -> FakeGuild:
        """A guild the bot is in. ``on_shard=n`` picks an id that lands on shard ``n`` of
        ``shard_count`` (Discord routes by ``(guild_id >> 22) % shard_count``)."""
        if id is None and on_shard is not None:
            id = self.state.ids.for_shard(on_shard, self.shard_count)
        guild = self.state.add_guild(
            name,
            id=id,
            owner=owner,
            channels=tuple(channels),
            everyone_permissions=everyone_permissions,
            bot_permissions=bot_permissions,
            locale=locale,
        )
        session = self._live(guild.id)
        if session is not None:  # the bot "joins" a guild while connected
            self.state.emit(
                GatewayEvent("GUILD_CREATE", self.gateway.guild_create(session, guild), guild.id)
            )
        return guild

    def add_channel(
        self,
        guild: GuildLike,
        name: str,
        *,
        type: int = GUILD_TEXT,
        tags: Iterable[str] = (),
        parent: ChannelLike | None = None,
        owner: UserLike | None = None,
    ) -> FakeChannel:
        """A channel: text (0, default), voice (2), category (4), forum (``models.GUILD_FORUM``
        = 15, with ``tags`` names as its available tags) — sent as CHANNEL_CREATE when the bot is
        connected and part of GUILD_CREATE otherwise. A thread type (``models.PUBLIC_THREAD``
        11, ``PRIVATE_THREAD`` 12) makes a thread in ``parent`` (default: the first text
        channel) owned by ``owner`` (default: the guild owner), sent as THREAD_CREATE."""
        g = self.state.guild(guild)
        if type in THREAD_TYPES:
            par = self.state.channel(parent) if parent is not None else g.default_channel
            who = self.state.user(owner) if owner is not None else self.state.user(g.owner_id)
            thread = self.state.create_thread(par, name, who, type=type)
            self.state.emit_thread("THREAD_CREATE", thread, newly_created=True)
            self.state.notify()
            return thread
        chan = self.state.add_channel(g, name, type=type, tags=tuple(tags))
        if self._live(g.id):
            self.state.emit(GatewayEvent("CHANNEL_CREATE", chan.payload(), g.id))
        return chan

    def add_role(
        self, guild: GuildLike, name: str, permissions: int = 0, *, position: int | None = None
    ) -> FakeRole:
        """A role at the top of the role list, or at ``position`` (1 = just above @everyone;
        roles at and above it move up, each sent as GUILD_ROLE_UPDATE). The bot's own role
        (:meth:`bot_role`) is made with the guild, at position 1: roles added later without a
        ``position`` sit above it, so the bot cannot give them (Discord's hierarchy rule)."""
        g = self.state.guild(guild)
        before = {r.id: r.position for r in g.roles.values()}
        role = self.state.add_role(g, name, permissions, position=position)
        if self._live(g.id):
            data = {"guild_id": str(g.id), "role": role.payload()}
            self.state.emit(GatewayEvent("GUILD_ROLE_CREATE", data, g.id))
            moved = [r for r in g.roles.values() if r.id in before and r.position != before[r.id]]
            self.state.emit_role_update(g, moved)
        return role

    def bot_role(self, guild: GuildLike) -> FakeRole:
        """The bot's managed role (named after the bot, made with the guild, position 1)."""
        g = self.state.guild(guild)
        for role_id in g.members[self.state.bot_user.id].role_ids:
            role = g.roles[role_id]
            if role.managed:
                return role
        raise LookupError(f"the bot has no managed role in {g.name!r}")

    def move_role(self, guild: GuildLike, role: FakeRole, position: int) -> None:
        """Drag ``role`` to ``position`` (1 = just above @everyone), as an admin would in the
        server settings; every role that moved is sent as GUILD_ROLE_UPDATE."""
        g = self.state.guild(guild)
        self.state.emit_role_update(g, self.state.move_role(g, role, position))
        self.state.notify()

    def give_role(self, guild: GuildLike, user: UserLike, role: FakeRole) -> None:
        """An admin gives ``user`` (the bot too: ``fake.bot_user``) ``role``; sent as
        GUILD_MEMBER_UPDATE to a bot with the members intent."""
        g = self.state.guild(guild)
        member = g.members[self.state.user(user).id]
        if role.id not in member.role_ids:
            self.state.set_member_roles(g, member, [*member.role_ids, role.id])

    def take_role(self, guild: GuildLike, user: UserLike, role: FakeRole) -> None:
        """An admin removes ``role`` from ``user``; sent as GUILD_MEMBER_UPDATE."""
        g = self.state.guild(guild)
        member = g.members[self.state.user(user).id]
        if role.id in member.role_ids:
            self.state.set_member_roles(g, member, [r for r in member.role_ids if r != role.id])

    def member_roles(self, guild: GuildLike, user: UserLike) -> list[FakeRole]:
        """The member's roles (without @everyone), highest first."""
        g = self.state.guild(guild)
        member = g.members[self.state.user(user).id]
        return sorted((g.roles[r] for r in member.role_ids), key=g.role_rank, reverse=True)

    @property
    def audit_log(self) -> list[AuditEntry]:
        """Role changes and thread creations/edits the bot made, with their audit-log reason."""
        return list(self.state.audit_log)

    def add_member(
        self,
        guild: GuildLike,
        user: UserLike,
        *,
        permissions: int | None = None,
        roles: Iterable[FakeRole] = (),
        nick: str | None = None,
    ) -> FakeMember:
        """Make ``user`` a member; ``permissions`` are granted through a role made for them."""
        g = self.state.guild(guild)
        role_list = list(roles)
        if permissions is not None:
            name = f"perms-{permissions:#x}"
            try:
                role = g.role(name)
            except LookupError:
                role = self.add_role(g, name, permissions)
            role_list.append(role)
        member = self.state.add_member(g, self.state.user(user), roles=role_list, nick=nick)
        if self._live(g.id):
            data = dict(member.payload(), guild_id=str(g.id))
            self.state.emit(GatewayEvent("GUILD_MEMBER_ADD", data, g.id, INTENT_GUILD_MEMBERS))
        return member

    def close_dms(self, user: UserLike, closed: bool = True) -> None:
        """The user blocks DMs from the bot: sending to their DM channel → 403 / 50007."""
        self.state.user(user).dms_closed = closed

    def dm_channel(self, user: UserLike) -> FakeChannel:
        return self.state.dm_channel(self.state.user(user))

    # -- fault injection -----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        count: int | None = 1,
    ) -> FaultRule:
        """Answer the next ``count`` requests matching ``METHOD path`` (``{param}``/``*`` match
        one segment; ``method="*"`` any) with ``status``/``body`` instead of the real handler."""
        if body is None and status >= 400:
            from .errors import STATUS_TEXT

            body = {"message": STATUS_TEXT.get(status, f"{status}"), "code": 0}
        rule = FaultRule(
            method.upper(),
            path,
            status,
            body,
            dict(headers or {}),
            count,
            f"{status} on {method.upper()} {path}",
        )
        return self.state.faults.add(rule)

    def rate_limit(
        self,
        method: str,
        path: str,
        *,
        count: int = 1,
        retry_after: float = 0.05,
        global_: bool = False,
        scope: str | None = None,
    ) -> FaultRule:
        """Queue 429s shaped like Discord's (body ``retry_after``/``global``; ``Retry-After``,
        ``X-RateLimit-*`` and ``Via`` headers — discord.py treats a 429 without ``Via`` as a
        Cloudflare ban and raises instead of retrying)."""
        scope = scope or ("global" if global_ else "user")
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Scope": scope,
            "Via": "1.1 google",
        }
        if global_:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update(
                {
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                    "X-RateLimit-Bucket": secrets.token_hex(16),
                }
            )
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": global_,
        }
        return self.fail(method, path, 429, body, headers=headers, count=count)

    def server_error(
        self, method: str, path: str, *, count: int = 1, status: int = 500
    ) -> FaultRule:
        """Queue 5xx. discord.py retries 500/502/504/524 after 1 s, 3 s…; 503 raises at once."""
        return self.fail(method, path, status, count=count)

    def clear_faults(self) -> None:
        self.state.faults.clear()

    # -- commands ------------------------------------------------------------------------------

    @property
    def sync_calls(self) -> list[SyncCall]:
        """Every bulk-overwrite PUT of commands (global: ``guild_id is None``)."""
        return list(self.state.sync_calls)

    @property
    def sync_count(self) -> int:
        return len(self.state.sync_calls)

    def commands(self, guild: GuildLike | None = None) -> list[dict]:
        scope = None if guild is None else self.state.guild(guild).id
        return list(self.state.commands.get(scope, []))

    def register_commands(self, commands: list[dict], guild: GuildLike | None = None) -> list[dict]:
        """Pre-register commands (as if synced in an earlier run); not counted as a sync."""
        scope = None if guild is None else self.state.guild(guild).id
        stored = self.state.put_commands(scope, commands)
        self.state.sync_calls.pop()
        return stored

    async def wait_for_sync(self, count: int = 1, timeout: float = 5.0) -> list[SyncCall]:
        await self.state.wait_for(
            lambda: self.sync_count >= count, timeout, f"{count} command sync(s)"
        )
        return self.sync_calls

    # -- interactions --------------------------------------------------------------------------

    @property
    def interactions(self) -> list[InteractionHandle]:
        return list(self.state.interactions.values())

    def _where(
        self, user: FakeUser, guild: GuildLike | None, channel: ChannelLike | None
    ) -> tuple[FakeGuild | None, FakeChannel]:
        chan = self.state.channel(channel) if channel is not None else None
        if guild is None and chan is not None and chan.guild_id is not None:
            guild = chan.guild_id
        g = self.state.guild(guild) if guild is not None else None
        if chan is None:
            chan = g.default_channel if g is not None else self.state.dm_channel(user)
        if g is not None and chan.guild_id != g.id:
            raise ValueError(f"channel {chan.id} is not in guild {g.name!r}")
        return g, chan

    async def _dispatch(self, handle: InteractionHandle) -> InteractionHandle:
        def sent(at: float) -> None:
            if handle.dispatched_at is None:
                handle.dispatched_at = at

        self.state.interactions[handle.id] = handle
        guild_id = handle.guild.id if handle.guild else None
        event = GatewayEvent("INTERACTION_CREATE", handle.payload, guild_id, on_sent=sent)
        if not self.state.emit(event):
            del self.state.interactions[handle.id]
            raise RuntimeError(
                "no gateway session would receive this interaction — is the bot connected? "
                "(await fake.wait_ready())"
            )
        await asyncio.sleep(0)
        return handle

    def _handle(self, itype: int, data: dict, user: FakeUser, guild, chan, locale, source=None):
        iid, token, payload = self._payloads.base(
            itype, data, user=user, guild=guild, channel=chan, locale=locale or user.locale
        )
        if source is not None:
            payload["message"] = source.payload()
        return InteractionHandle(
            state=self.state,
            id=iid,
            token=token,
            type=itype,
            payload=payload,
            user=user,
            guild=guild,
            channel=chan,
            source_message=source,
            created_at=self.state.now(),
        )

    async def slash(
        self,
        user: UserLike,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        guild: GuildLike | None = None,
        channel: ChannelLike | None = None,
        locale: str | None = None,
        strict: bool = True,
        check_permissions: bool = True,
    ) -> InteractionHandle:
        """Send an APPLICATION_COMMAND interaction as Discord would.

        ``command`` may name a sub-command: ``"config set"`` or ``"admin faq add"``. Without
        ``guild``/``channel`` it is used in the user's DM with the bot. With ``strict`` the
        command must be registered (synced) and options are typed/checked against its schema;
        with ``check_permissions`` a command hidden by ``default_member_permissions`` or its
        contexts raises PermissionError, as Discord's client would not offer it.
        """
        u = self.state.user(user)
        g, chan = self._where(u, guild, channel)
        data = self._payloads.command_data(
            command,
            dict(options or {}),
            guild=g,
            user=u,
            strict=strict,
            check_permissions=check_permissions,
        )
        return await self._dispatch(self._handle(APPLICATION_COMMAND, data, u, g, chan, locale))

    async def message_command(
        self,
        user: UserLike,
        name: str,
        message: FakeMessage | int,
        *,
        locale: str | None = None,
        check_permissions: bool = True,
    ) -> InteractionHandle:
        """Use the message context-menu command ``name`` (Apps → name) on ``message``.

        As Discord does, the interaction carries the target message, content included, in
        ``data.resolved.messages``: no Message Content intent is needed to read it."""
        u = self.state.user(user)
        msg = message if isinstance(message, FakeMessage) else self.state.messages[int(message)]
        g = self.state.guilds[msg.guild_id] if msg.guild_id is not None else None
        chan = self.state.channels[msg.channel_id]
        cmd = self.state.find_command(name, g.id if g else None, type=MESSAGE_COMMAND)
        if cmd is None:
            raise LookupError(f"no message command {name!r} is registered with the fake")
        if check_permissions:
            self._payloads._check_visible(cmd, g, u)
        data = {"id": cmd["id"], "name": cmd["name"], "type": MESSAGE_COMMAND,
                "target_id": str(msg.id),
                "resolved": {"messages": {str(msg.id): msg.payload()}}}
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return await self._dispatch(self._handle(APPLICATION_COMMAND, data, u, g, chan, locale))

    async def autocomplete(
        self,
        user: UserLike,
        command: str,
        focused: str,
        value: str,
        *,
        options: dict[str, Any] | None = None,
        guild: GuildLike | None = None,
        channel: ChannelLike | None = None,
        locale: str | None = None,
        timeout: float = 3.0,
        strict: bool = True,
    ) -> Choices:
        """Type ``value`` into option ``focused``; returns the choices the bot answered with."""
        u = self.state.user(user)
        g, chan = self._where(u, guild, channel)
        opts = dict(options or {})
        opts[focused] = value
        data = self._payloads.command_data(
            command, opts, guild=g, user=u, focused=focused, strict=strict, check_permissions=False
        )
        handle = await self._dispatch(self._handle(AUTOCOMPLETE, data, u, g, chan, locale))
        callback = await handle.response(timeout)
        if handle.choices is None:
            raise RuntimeError(f"autocomplete answered with callback type {callback.type}, not 8")
        choices = Choices(handle.choices)
        choices.handle = handle
        return choices

    async def click(
        self,
        user: UserLike,
        message: FakeMessage | int,
        custom_id: str,
        *,
        values: list[str] | None = None,
        locale: str | None = None,
        check: bool = True,
    ) -> InteractionHandle:
        """Press a button (or pick ``values`` in a select) on a message the bot sent."""
        u = self.state.user(user)
        msg = message if isinstance(message, FakeMessage) else self.state.messages[int(message)]
        if check and msg.deleted:
            raise LookupError(f"message {msg.id} was deleted")
        g = self.state.guilds[msg.guild_id] if msg.guild_id is not None else None
        chan = self.state.channels[msg.channel_id]
        data = self._payloads.component_data(msg, custom_id, values, check=check)
        handle = self._handle(MESSAGE_COMPONENT, data, u, g, chan, locale, source=msg)
        return await self._dispatch(handle)

    async def submit_modal(
        self,
        opened_by: InteractionHandle,
        values: dict[str, Any],
        *,
        user: UserLike | None = None,
        locale: str | None = None,
    ) -> InteractionHandle:
        """Fill in and submit the modal the bot opened (callback type 9) on ``opened_by``.

        ``values`` maps each input's custom_id to its text (or a list for selects)."""
        modal = opened_by.modal
        if modal is None:
            raise LookupError(f"{opened_by!r} was not answered with a modal")
        u = self.state.user(user) if user is not None else opened_by.user
        data = self._payloads.modal_data(modal, values)
        handle = self._handle(
            MODAL_SUBMIT,
            data,
            u,
            opened_by.guild,
            opened_by.channel,
            locale,
            source=opened_by.source_message,
        )
        return await self._dispatch(handle)

    # -- messages ------------------------------------------------------------------------------

    @property
    def messages(self) -> list[FakeMessage]:
        return list(self.state.messages.values())

    def message(self, message_id: int) -> FakeMessage:
        return self.state.messages[int(message_id)]

    def channel_messages(
        self, channel: ChannelLike, *, include_ephemeral: bool = False
    ) -> list[FakeMessage]:
        return self.state.channel_messages(
            self.state.channel(channel), include_ephemeral=include_ephemeral
        )

    def dm_messages(self, user: UserLike) -> list[FakeMessage]:
        """Messages the bot got into ``user``'s DMs (a 403'd send leaves nothing here)."""
        u = self.state.user(user)
        chan = self.state.dm_channels.get(u.id)
        if chan is None:
            return []
        return [
            m
            for m in self.state.channel_messages(chan, include_ephemeral=True)
            if m.author is self.state.bot_user
        ]

    async def wait_for_dm(
        self, user: UserLike, count: int = 1, timeout: float = 3.0
    ) -> list[FakeMessage]:
        return await self.state.wait_for(
            lambda: (lambda ms: ms if len(ms) >= count else None)(self.dm_messages(user)),
            timeout,
            f"{count} DM(s) to user {user}",
        )

    async def wait_for_message(
        self, predicate: Callable[[FakeMessage], bool], timeout: float = 3.0
    ) -> FakeMessage:
        """The first stored message (oldest first, any channel) satisfying ``predicate``."""

        def find() -> FakeMessage | None:
            return next((m for m in self.state.messages.values() if predicate(m)), None)

        return await self.state.wait_for(find, timeout, "a matching message")

    def user_message(
        self,
        user: UserLike,
        content: str,
        *,
        channel: ChannelLike | None = None,
        guild: GuildLike | None = None,
    ) -> FakeMessage:
        """A user posts ``content`` (DM by default; ``channel=`` a guild channel or a thread):
        dispatches MESSAGE_CREATE. Guild messages reach the bot with empty content unless it has
        MESSAGE_CONTENT or is mentioned. Posting in an archived thread reopens it (THREAD_UPDATE
        first); a locked thread or a private one the user is not in raises PermissionError."""
        u = self.state.user(user)
        g, chan = self._where(u, guild, channel)
        if chan.deleted:
            raise LookupError(f"channel {chan.id} was deleted")
        if chan.is_thread and g is not None:
            if not g.can_see(u.id, chan):
                raise PermissionError(f"{u.username} is not in private thread {chan.name!r}")
            if chan.locked and not g.permissions_for(u.id) & perms.MANAGE_THREADS:
                raise PermissionError(f"thread {chan.name!r} is locked")
        first_post = chan.is_thread and chan.id not in self.state.messages and bool(
            (parent := self.state.channels.get(chan.parent_id or 0)) and parent.is_forum
        )
        msg = self.state.create_message(
            chan,
            u,
            {"content": content},
            dispatch=False,
            id=chan.id if first_post else None,
        )
        member = None
        if g is not None:
            member = g.members[u.id].payload()
            member.pop("user")
        data = msg.payload(gateway=True, member=member)
        mentioned = (
            self.state.bot_user.mention in content or f"<@!{self.state.bot_user.id}>" in content
        )
        if mentioned:
            data["mentions"] = [self.state.bot_user.payload()]
        intent = INTENT_GUILD_MESSAGES if g is not None else INTENT_DIRECT_MESSAGES
        self.state.emit(
            GatewayEvent(
                "MESSAGE_CREATE",
                data,
                g.id if g else None,
                intent,
                privileged_content=g is not None and not mentioned,
            )
        )
        return msg

    # -- threads and forums --------------------------------------------------------------------

    def threads(self, channel: ChannelLike, *, archived: bool = True) -> list[FakeChannel]:
        """Threads under a text channel or forum (forum posts), oldest first; ``archived=False``
        leaves out archived ones."""
        chan = self.state.channel(channel)
        return [t for t in self.state.threads_of(chan) if archived or not t.archived]

    def thread_messages(self, thread: ChannelLike) -> list[FakeMessage]:
        """Messages posted in a thread (for a forum post, its first message comes first)."""
        return self.state.channel_messages(self.state.channel(thread), include_ephemeral=False)

    async def wait_for_threads(
        self, channel: ChannelLike, count: int = 1, timeout: float = 3.0
    ) -> list[FakeChannel]:
        """Until ``channel`` has at least ``count`` threads; returns them all."""
        return await self.state.wait_for(
            lambda: (lambda ts: ts if len(ts) >= count else None)(self.threads(channel)),
            timeout,
            f"{count} thread(s) in channel {channel}",
        )

    def user_forum_post(
        self,
        user: UserLike,
        forum: ChannelLike,
        title: str,
        content: str,
        *,
        tags: Iterable[str] = (),
    ) -> tuple[FakeChannel, FakeMessage]:
        """A member opens a post in a forum: a public thread named ``title`` (the forum's tags
        named in ``tags`` applied) whose first message, with the thread's id, holds ``content``.
        Dispatches THREAD_CREATE (``newly_created``) then MESSAGE_CREATE, whose content reaches
        the bot only with MESSAGE_CONTENT or when it mentions the bot (the title always does)."""
        u = self.state.user(user)
        chan = self.state.channel(forum)
        if not chan.is_forum:
            raise ValueError(f"channel {chan.name!r} is not a forum")
        g = self.state.guild(chan.guild_id)  # type: ignore[arg-type]
        if u.id not in g.members:
            raise LookupError(f"{u.username} is not a member of guild {g.name!r}")
        tag_ids = [int(chan.tag(name)["id"]) for name in tags]
        thread = self.state.create_thread(chan, title, u, type=PUBLIC_THREAD, applied_tags=tag_ids)
        self.state.emit_thread("THREAD_CREATE", thread, newly_created=True)
        msg = self.user_message(u, content, channel=thread)
        return thread, msg

    def archive_thread(
        self, thread: ChannelLike, *, archived: bool = True, locked: bool | None = None
    ) -> None:
        """A moderator (or Discord's inactivity timer) archives/locks a thread: THREAD_UPDATE."""
        changes: dict[str, Any] = {"archived": archived}
        if locked is not None:
            changes["locked"] = locked
        self.state.update_thread(self.state.channel(thread), **changes)

    # -- requests ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self.state.requests)

    @property
    def unknown_requests(self) -> list[RecordedRequest]:
        """Requests to routes the fake does not implement (answered 404/405)."""
        return list(self.rest.unknown)

    @property
    def internal_errors(self) -> list[tuple[RecordedRequest, Exception]]:
        """Exceptions raised inside the fake's own handlers (answered 503): should stay empty."""
        return list(self.rest.internal_errors)

    def find_requests(
        self, method: str | None = None, path: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests by method and path template (``/channels/{id}/messages``)."""
        regex = template_regex(path) if path is not None else None
        return [
            r
            for r in self.state.requests
            if (method is None or r.method == method.upper())
            and (regex is None or regex.match(r.path))
        ]

    # -- gateway -------------------------------------------------------------------------------

    @property
    def identify_count(self) -> int:
        return len(self.gateway.identifies)

    @property
    def resume_count(self) -> int:
        return sum(s.resumes for s in self.gateway.sessions.values())

    @property
    def sessions(self) -> list[Session]:
        return list(self.gateway.sessions.values())

    async def wait_ready(self, timeout: float = 5.0, shards: int | None = None) -> None:
        """Until every shard (``shards`` or ``shard_count``; one for an unsharded client) has an
        identified connection that was sent READY and its GUILD_CREATEs. discord.py fires
        ``on_ready`` ``guild_ready_timeout`` (default 2 s) after the last GUILD_CREATE: await
        ``client.wait_until_ready()`` for that."""

        def ready() -> bool:
            live = self.gateway.live_sessions()
            if not live:
                return False
            newest = live[-1]
            expected = shards or (newest.shard[1] if newest.shard else 1)
            return {s.shard_id for s in live} >= set(range(expected))

        await self.state.wait_for(ready, timeout, "the bot to identify on the gateway")

    async def force_reconnect(
        self,
        *,
        mode: str = "close",
        shard: int | None = None,
        code: int = 4000,
        wait: bool = True,
        timeout: float = 5.0,
    ) -> None:
        """Knock the bot off the gateway and (by default) wait until it is back.

        ``mode="close"`` closes the socket with ``code`` (4000: resumable), ``"reconnect"``
        sends op 7 RECONNECT, ``"invalidate"`` sends op 9 (not resumable → fresh IDENTIFY).
        Events dispatched meanwhile are buffered and replayed on RESUME.
        """
        await self.gateway.force_reconnect(
            mode=mode, shard_id=shard, code=code, wait=wait, timeout=timeout
        )
