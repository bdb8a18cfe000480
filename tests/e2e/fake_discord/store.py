"""The fake's world: users, guilds, channels, messages, commands, plus change notification."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from . import perms
from .models import (
    DM,
    FLAG_EPHEMERAL,
    FLAG_IS_COMPONENTS_V2,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    FLAG_SUPPRESS_NOTIFICATIONS,
    GUILD_FORUM,
    GUILD_TEXT,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILDS,
    MSG_DEFAULT,
    PUBLIC_THREAD,
    THREAD_TYPES,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
)
from .recording import Faults, Part, RecordedRequest
from .snowflake import Snowflakes, iso_now

if TYPE_CHECKING:
    from .interactions import InteractionHandle

T = TypeVar("T")

#: Flags a bot may set when sending; Discord ignores/strips others.
SENDABLE_FLAGS = (
    FLAG_SUPPRESS_EMBEDS | FLAG_EPHEMERAL | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_IS_COMPONENTS_V2
)


@dataclass
class SyncCall:
    """One bulk-overwrite (PUT) of application commands."""

    guild_id: int | None
    commands: list[dict]
    at: float = 0.0


@dataclass
class GatewayEvent:
    name: str
    data: dict
    guild_id: int | None  # for shard routing; None = shard 0
    intent: int | None = None  # required intent bit, None = always delivered
    #: a user's guild message: content/embeds/attachments stripped without MESSAGE_CONTENT
    privileged_content: bool = False
    #: called with the event-loop time the frame actually went out on a socket
    on_sent: Callable[[float], None] | None = None


@dataclass
class AuditEntry:
    """A change the bot made that Discord writes to the audit log (with its reason header)."""

    action: str  # "member_role_add", "member_role_remove", "thread_create", "thread_update"
    guild_id: int
    target_id: int  # the member, or the thread
    changes: dict
    reason: str | None = None


class FakeState:
    def __init__(self, *, token: str, application_id: int | None, bot_name: str) -> None:
        self.ids = Snowflakes()
        self.token = token
        self.application_id = application_id or self.ids.next()
        self.bot_user = FakeUser(id=self.application_id, username=bot_name, bot=True)
        self.users: dict[int, FakeUser] = {self.bot_user.id: self.bot_user}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.dm_channels: dict[int, FakeChannel] = {}  # recipient user id -> DM channel
        self.messages: dict[int, FakeMessage] = {}
        self.commands: dict[int | None, list[dict]] = {None: []}
        self.sync_calls: list[SyncCall] = []
        self.interactions: dict[int, InteractionHandle] = {}
        self.requests: list[RecordedRequest] = []
        self.faults = Faults()
        self.audit_log: list[AuditEntry] = []
        self.verify_key = secrets.token_hex(32)
        #: the app's MESSAGE_CONTENT privileged intent is enabled (in the developer portal)
        self.message_content_enabled = True
        #: set by the gateway: deliver a dispatch to the session that owns ``guild_id``
        self.emit: Callable[[GatewayEvent], bool] = lambda event: False
        self._pulse = asyncio.Event()

    # -- change notification ------------------------------------------------------------------

    def notify(self) -> None:
        self._pulse.set()
        self._pulse = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float, what: str) -> T:
        """Re-check ``predicate`` on every change (and every 20 ms, for predicates on outside
        state such as the bot's own) until it returns something truthy."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            pulse = self._pulse
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pulse.wait(), min(remaining, 0.02))

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- directory -----------------------------------------------------------------------------

    def user(self, user: FakeUser | int) -> FakeUser:
        uid = user.id if isinstance(user, FakeUser) else int(user)
        return self.users[uid]

    def guild(self, guild: FakeGuild | int) -> FakeGuild:
        gid = guild.id if isinstance(guild, FakeGuild) else int(guild)
        return self.guilds[gid]

    def channel(self, channel: FakeChannel | int) -> FakeChannel:
        cid = channel.id if isinstance(channel, FakeChannel) else int(channel)
        return self.channels[cid]

    def add_user(self, username: str, *, id: int | None = None, **kwargs: Any) -> FakeUser:
        user = FakeUser(id=id or self.ids.next(), username=username, **kwargs)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        id: int | None,
        owner: FakeUser | None,
        channels: tuple[str, ...] | list[str],
        everyone_permissions: int,
        bot_permissions: int,
        locale: str,
    ) -> FakeGuild:
        gid = id or self.ids.next()
        if owner is None:
            owner = self.add_user(f"{name.lower().replace(' ', '-')}-owner")
        everyone = FakeRole(
            id=gid, guild_id=gid, name="@everyone", permissions=everyone_permissions
        )
        guild = FakeGuild(
            id=gid, name=name, owner_id=owner.id, everyone_role=everyone, locale=locale
        )
        guild.roles[everyone.id] = everyone
        for pos, chan_name in enumerate(channels):
            self.add_channel(guild, chan_name, position=pos)
        self.add_member(guild, owner)
        bot_role = self.add_role(guild, self.bot_user.username, bot_permissions, managed=True)
        self.add_member(guild, self.bot_user, roles=[bot_role])
        self.guilds[gid] = guild
        return guild

    def add_channel(
        self,
        guild: FakeGuild,
        name: str,
        *,
        type: int = GUILD_TEXT,
        position: int | None = None,
        tags: tuple[str, ...] | list[str] = (),
    ) -> FakeChannel:
        if type in THREAD_TYPES:
            raise ValueError("threads are made with create_thread (they need a parent and owner)")
        chan = FakeChannel(
            id=self.ids.next(),
            type=type,
            name=name,
            guild_id=guild.id,
            position=len(guild.channels) if position is None else position,
        )
        if type == GUILD_FORUM:
            chan.available_tags = [self.new_tag(t) for t in tags]
        elif tags:
            raise ValueError("only forum channels have tags")
        guild.channels[chan.id] = chan
        self.channels[chan.id] = chan
        return chan

    def new_tag(self, name: str, *, moderated: bool = False) -> dict:
        return {
            "id": str(self.ids.next()),
            "name": name,
            "moderated": moderated,
            "emoji_id": None,
            "emoji_name": None,
        }

    # -- threads -------------------------------------------------------------------------------

    def create_thread(
        self,
        parent: FakeChannel,
        name: str,
        owner: FakeUser,
        *,
        type: int = PUBLIC_THREAD,
        auto_archive_duration: int | None = None,
        applied_tags: list[int] | tuple[int, ...] = (),
        invitable: bool = True,
        rate_limit_per_user: int = 0,
        id: int | None = None,
    ) -> FakeChannel:
        """A thread under ``parent`` (a text channel or forum) owned by ``owner``, who joins it.
        Nothing is dispatched: see :meth:`emit_thread`."""
        if parent.guild_id is None or parent.is_thread:
            raise ValueError(f"channel {parent.id} cannot have threads")
        guild = self.guilds[parent.guild_id]
        now = iso_now()
        thread = FakeChannel(
            id=id or self.ids.next(),
            type=type,
            name=name,
            guild_id=guild.id,
            parent_id=parent.id,
            owner_id=owner.id,
            invitable=invitable,
            auto_archive_duration=auto_archive_duration or parent.default_auto_archive_duration,
            applied_tags=list(applied_tags),
            rate_limit_per_user=rate_limit_per_user or 0,
            archive_timestamp=now,
            create_timestamp=now,
        )
        thread.thread_members[owner.id] = now
        guild.threads[thread.id] = thread
        self.channels[thread.id] = thread
        return thread

    def emit_thread(self, name: str, thread: FakeChannel, *, newly_created: bool = False) -> None:
        """THREAD_CREATE / THREAD_UPDATE (GUILDS intent); a private thread only reaches a bot
        that is in it or has Manage Threads."""
        guild = self.guilds[thread.guild_id]  # type: ignore[index]
        if not guild.can_see(self.bot_user.id, thread):
            return
        data = thread.payload(me=self.bot_user.id)
        if newly_created:
            data["newly_created"] = True
        self.emit(GatewayEvent(name, data, guild.id, INTENT_GUILDS))

    def update_thread(self, thread: FakeChannel, **changes: Any) -> None:
        """Apply ``archived``/``locked``/``name``/... and dispatch THREAD_UPDATE."""
        for key, value in changes.items():
            if not hasattr(thread, key):
                raise AttributeError(f"threads have no field {key!r}")
            setattr(thread, key, value)
        if "archived" in changes:
            thread.archive_timestamp = iso_now()
        self.emit_thread("THREAD_UPDATE", thread)
        self.notify()

    def delete_channel(self, chan: FakeChannel) -> None:
        """Delete a guild channel (with its threads) or a thread: CHANNEL_DELETE/THREAD_DELETE;
        their messages are marked deleted."""
        guild = self.guilds[chan.guild_id]  # type: ignore[index]
        doomed = [chan] if chan.is_thread else [*self.threads_of(chan), chan]
        for c in doomed:
            c.deleted = True  # still found by id (for assertions); REST answers Unknown Channel
            guild.threads.pop(c.id, None)
            guild.channels.pop(c.id, None)
            for msg in self.messages.values():
                if msg.channel_id == c.id:
                    msg.deleted = True
        if chan.is_thread:
            if guild.can_see(self.bot_user.id, chan):
                data = {
                    "id": str(chan.id),
                    "guild_id": str(guild.id),
                    "parent_id": str(chan.parent_id),
                    "type": chan.type,
                }
                self.emit(GatewayEvent("THREAD_DELETE", data, guild.id, INTENT_GUILDS))
        else:
            self.emit(GatewayEvent("CHANNEL_DELETE", chan.payload(), guild.id, INTENT_GUILDS))
        self.notify()

    def threads_of(self, parent: FakeChannel) -> list[FakeChannel]:
        if parent.guild_id is None:
            return []
        guild = self.guilds[parent.guild_id]
        return [t for t in guild.threads.values() if t.parent_id == parent.id]

    # -- roles ---------------------------------------------------------------------------------

    def add_role(
        self,
        guild: FakeGuild,
        name: str,
        permissions: int = 0,
        *,
        managed: bool = False,
        position: int | None = None,
    ) -> FakeRole:
        """A role at the top of the list, or at ``position`` (1 = just above @everyone; the
        roles at and above it move up one)."""
        role = FakeRole(
            id=self.ids.next(),
            guild_id=guild.id,
            name=name,
            permissions=permissions,
            position=len(guild.roles),
            managed=managed,
        )
        guild.roles[role.id] = role
        if position is not None:
            self.move_role(guild, role, position)
        return role

    def move_role(self, guild: FakeGuild, role: FakeRole, position: int) -> list[FakeRole]:
        """Put ``role`` at ``position`` (>= 1) and renumber the others 1..n keeping their order,
        as Discord does; returns every role whose position changed."""
        if role.id == guild.id:
            raise ValueError("@everyone stays at position 0")
        if position < 1:
            raise ValueError("role positions start at 1 (0 is @everyone)")
        others = sorted(
            (r for r in guild.roles.values() if r.id not in (guild.id, role.id)),
            key=guild.role_rank,
        )
        others.insert(min(position, len(others) + 1) - 1, role)
        changed = []
        for pos, r in enumerate(others, start=1):
            if r.position != pos:
                r.position = pos
                changed.append(r)
        if role not in changed:
            changed.append(role)
        return changed

    def emit_role_update(self, guild: FakeGuild, roles: list[FakeRole]) -> None:
        for role in roles:
            data = {"guild_id": str(guild.id), "role": role.payload()}
            self.emit(GatewayEvent("GUILD_ROLE_UPDATE", data, guild.id, INTENT_GUILDS))

    def set_member_roles(self, guild: FakeGuild, member: FakeMember, role_ids: list[int]) -> None:
        """Change a member's roles and dispatch GUILD_MEMBER_UPDATE (GUILD_MEMBERS intent)."""
        member.role_ids = list(role_ids)
        data = dict(member.payload(), guild_id=str(guild.id))
        self.emit(GatewayEvent("GUILD_MEMBER_UPDATE", data, guild.id, INTENT_GUILD_MEMBERS))
        self.notify()

    def add_member(
        self,
        guild: FakeGuild,
        user: FakeUser,
        *,
        roles: list[FakeRole] | tuple[FakeRole, ...] = (),
        nick: str | None = None,
    ) -> FakeMember:
        member = FakeMember(user=user, guild_id=guild.id, role_ids=[r.id for r in roles], nick=nick)
        guild.members[user.id] = member
        return member

    def dm_channel(self, user: FakeUser) -> FakeChannel:
        """The (single, stable) DM channel between the bot and ``user``."""
        chan = self.dm_channels.get(user.id)
        if chan is None:
            chan = FakeChannel(id=self.ids.next(), type=DM, recipients=[user])
            self.dm_channels[user.id] = chan
            self.channels[chan.id] = chan
        return chan

    def app_permissions(self, channel: FakeChannel) -> int:
        if channel.guild_id is None:
            # in the bot's DMs Discord reports a fixed set (attach, embed, mention everyone,
            # external emojis on top of the basics)
            return (
                perms.DEFAULT_BOT
                | perms.ADD_REACTIONS
                | perms.USE_EXTERNAL_EMOJIS
                | perms.MENTION_EVERYONE
            )
        return self.guilds[channel.guild_id].permissions_for(self.bot_user.id)

    # -- messages ------------------------------------------------------------------------------

    def _attachments_from(
        self, data: dict, parts: list[Part], existing: list[FakeAttachment] | None
    ) -> list[FakeAttachment]:
        files = {p.name: p for p in parts if p.filename is not None}
        result: list[FakeAttachment] = []
        wanted = data.get("attachments")
        keep_ids = set()
        if wanted is not None:
            for att in wanted:
                part = files.pop(f"files[{att.get('id')}]", None)
                if part is not None:
                    result.append(
                        FakeAttachment(
                            id=self.ids.next(),
                            filename=att.get("filename") or part.filename or "file",
                            data=part.data,
                            content_type=part.content_type,
                            description=att.get("description"),
                        )
                    )
                else:
                    keep_ids.add(str(att.get("id")))
            kept = [a for a in (existing or []) if str(a.id) in keep_ids]
            result = kept + result
        else:
            result = list(existing or [])
        for part in files.values():  # files not referenced from "attachments"
            result.append(
                FakeAttachment(
                    id=self.ids.next(),
                    filename=part.filename or "file",
                    data=part.data,
                    content_type=part.content_type,
                )
            )
        return result

    def create_message(
        self,
        channel: FakeChannel,
        author: FakeUser,
        data: dict,
        parts: list[Part] | None = None,
        *,
        type: int = MSG_DEFAULT,
        extra_flags: int = 0,
        webhook_id: int | None = None,
        interaction_metadata: dict | None = None,
        dispatch: bool = True,
        id: int | None = None,
    ) -> FakeMessage:
        flags = ((data.get("flags") or 0) & SENDABLE_FLAGS) | extra_flags
        msg = FakeMessage(
            id=id or self.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            content=data.get("content") or "",
            embeds=copy.deepcopy(data.get("embeds") or []),
            components=copy.deepcopy(data.get("components") or []),
            attachments=self._attachments_from(data, parts or [], None),
            flags=flags,
            type=type,
            tts=bool(data.get("tts")),
            allowed_mentions=copy.deepcopy(data.get("allowed_mentions")),
            webhook_id=webhook_id,
            application_id=self.application_id if webhook_id else None,
            interaction_metadata=interaction_metadata,
            message_reference=copy.deepcopy(data.get("message_reference")),
            nonce=data.get("nonce"),
            history=[copy.deepcopy(data)],
            updated_at=self.now(),
        )
        self.messages[msg.id] = msg
        if not msg.ephemeral:
            channel.last_message_id = msg.id
            if channel.is_thread:
                self._thread_message(channel, msg)
        if dispatch:
            self._emit_message("MESSAGE_CREATE", msg)
        self.notify()
        return msg

    def _thread_message(self, thread: FakeChannel, msg: FakeMessage) -> None:
        # message_count leaves out a forum post's first message (its id is the thread's)
        if msg.id != thread.id:
            thread.message_count += 1
        thread.total_message_sent += 1
        thread.thread_members.setdefault(msg.author.id, iso_now())  # posting joins the thread
        if thread.archived and not thread.locked:  # a new message unarchives the thread
            self.update_thread(thread, archived=False)
        guild = self.guilds[thread.guild_id]  # type: ignore[index]
        parent = guild.channels.get(thread.parent_id)  # type: ignore[arg-type]
        if parent is not None and parent.is_forum:
            parent.last_message_id = thread.id  # a forum's last "message" is its newest post

    def edit_message(
        self, msg: FakeMessage, data: dict, parts: list[Part] | None = None, *, clear_loading=False
    ) -> FakeMessage:
        if "content" in data:
            msg.content = data["content"] or ""
        if "embeds" in data:
            msg.embeds = copy.deepcopy(data["embeds"] or [])
        if "components" in data:
            msg.components = copy.deepcopy(data["components"] or [])
        if "allowed_mentions" in data:
            msg.allowed_mentions = copy.deepcopy(data["allowed_mentions"])
        if "flags" in data and data["flags"] is not None:
            # only SUPPRESS_EMBEDS can be toggled on edit; v2 can be turned on
            keep = msg.flags & ~(FLAG_SUPPRESS_EMBEDS)
            msg.flags = keep | (data["flags"] & (FLAG_SUPPRESS_EMBEDS | FLAG_IS_COMPONENTS_V2))
        if "attachments" in data or parts:
            msg.attachments = self._attachments_from(data, parts or [], msg.attachments)
        was_loading = msg.loading
        if clear_loading:
            msg.flags &= ~FLAG_LOADING
        if not was_loading:
            msg.edited_timestamp = iso_now()
        msg.history.append(copy.deepcopy(data))
        msg.updated_at = self.now()
        self._emit_message("MESSAGE_UPDATE", msg)
        self.notify()
        return msg

    def delete_message(self, msg: FakeMessage) -> None:
        msg.deleted = True
        msg.updated_at = self.now()
        if not msg.ephemeral:
            data = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id:
                data["guild_id"] = str(msg.guild_id)
            intent = INTENT_GUILD_MESSAGES if msg.guild_id else INTENT_DIRECT_MESSAGES
            self.emit(GatewayEvent("MESSAGE_DELETE", data, msg.guild_id, intent))
        self.notify()

    def _emit_message(self, name: str, msg: FakeMessage) -> None:
        if msg.ephemeral:
            return  # ephemeral messages never reach the gateway
        chan = self.channels.get(msg.channel_id)
        guild = self.guilds.get(msg.guild_id) if msg.guild_id is not None else None
        if chan is not None and guild is not None and not guild.can_see(self.bot_user.id, chan):
            return  # a private thread the bot is not in
        member = None
        if msg.guild_id is not None:
            m = self.guilds[msg.guild_id].members.get(msg.author.id)
            if m is not None:
                member = m.payload()
                member.pop("user")
        data = msg.payload(gateway=True, member=member)
        intent = INTENT_GUILD_MESSAGES if msg.guild_id else INTENT_DIRECT_MESSAGES
        self.emit(GatewayEvent(name, data, msg.guild_id, intent))

    def channel_messages(
        self, channel: FakeChannel, *, include_ephemeral: bool
    ) -> list[FakeMessage]:
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel.id
            and not m.deleted
            and (include_ephemeral or not m.ephemeral)
        ]

    # -- application commands ------------------------------------------------------------------

    def put_commands(self, guild_id: int | None, payload: list[dict]) -> list[dict]:
        """Bulk overwrite; like Discord, a command keeps its id while (name, type) is unchanged."""
        old = {(c["name"], c.get("type", 1)): c for c in self.commands.get(guild_id, [])}
        stored = []
        for cmd in payload:
            prev = old.get((cmd["name"], cmd.get("type", 1)))
            stored.append(self._command_payload(cmd, guild_id, prev))
        self.commands[guild_id] = stored
        self.sync_calls.append(SyncCall(guild_id, copy.deepcopy(payload), self.now()))
        self.notify()
        return copy.deepcopy(stored)

    def _command_payload(self, cmd: dict, guild_id: int | None, prev: dict | None) -> dict:
        data = {
            "id": prev["id"] if prev else str(self.ids.next()),
            "application_id": str(self.application_id),
            "version": str(self.ids.next()),
            "type": cmd.get("type", 1),
            "name": cmd["name"],
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description", ""),
            "description_localizations": cmd.get("description_localizations"),
            "default_member_permissions": cmd.get("default_member_permissions"),
            "dm_permission": cmd.get("dm_permission", True),
            "nsfw": cmd.get("nsfw", False),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types", [0]),
            "options": copy.deepcopy(cmd.get("options") or []),
        }
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            data.pop("dm_permission")
            data.pop("contexts")
        if not data["options"]:
            data.pop("options")
        return data

    def find_command(self, name: str, guild_id: int | None, type: int = 1) -> dict | None:
        """Guild commands shadow global ones, as in Discord's client."""
        scopes = ([guild_id] if guild_id is not None else []) + [None]
        for scope in scopes:
            for cmd in self.commands.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == type:
                    return cmd
        return None
