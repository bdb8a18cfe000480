"""In-memory Discord objects (users, guilds, channels, members, messages) and their JSON payloads.

Payload builders mirror the field sets Discord sends today (API v10); fields discord.py reads with
``data[...]`` are always present.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from . import perms
from .snowflake import iso_from_snowflake, iso_now

# Channel types
GUILD_TEXT = 0
DM = 1
GUILD_VOICE = 2
GUILD_CATEGORY = 4
ANNOUNCEMENT_THREAD = 10
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
GUILD_FORUM = 15
THREAD_TYPES = frozenset({ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})
#: auto_archive_duration values Discord accepts (minutes)
ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)

# Message flags
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_HAS_THREAD = 1 << 5
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_IS_COMPONENTS_V2 = 1 << 15

# Gateway intents
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1  # privileged
INTENT_GUILD_PRESENCES = 1 << 8  # privileged
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15  # privileged
PRIVILEGED_INTENTS = {
    "members": INTENT_GUILD_MEMBERS,
    "presences": INTENT_GUILD_PRESENCES,
    "message_content": INTENT_MESSAGE_CONTENT,
}

# Message types
MSG_DEFAULT = 0
MSG_THREAD_CREATED = 18
MSG_REPLY = 19
MSG_CHAT_INPUT_COMMAND = 20


@dataclass(eq=False)
class FakeUser:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    dms_closed: bool = False
    locale: str = "en-US"

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "avatar": None,
            "discriminator": "0",
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass(eq=False)
class FakeRole:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False
    color: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "description": None,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": False,
            "managed": self.managed,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass(eq=False)
class FakeChannel:
    """A guild channel, a DM, a forum (type 15) or a thread (types 10-12).

    Threads have a ``parent_id`` (their text channel or forum), an ``owner_id``, thread metadata
    (``archived``, ``locked``, ``auto_archive_duration``...) and their ``thread_members``.
    Forums have ``available_tags`` (``{"id", "name", "moderated", "emoji_id", "emoji_name"}``).
    """

    id: int
    type: int
    name: str | None = None
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    recipients: list[FakeUser] = field(default_factory=list)
    last_message_id: int | None = None
    rate_limit_per_user: int = 0
    default_auto_archive_duration: int = 1440
    # forums
    available_tags: list[dict] = field(default_factory=list)
    # threads
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    auto_archive_duration: int = 1440
    archive_timestamp: str = field(default_factory=iso_now)
    create_timestamp: str = field(default_factory=iso_now)
    applied_tags: list[int] = field(default_factory=list)
    message_count: int = 0
    total_message_sent: int = 0
    #: user id -> join timestamp
    thread_members: dict[int, str] = field(default_factory=dict)
    deleted: bool = False

    @property
    def is_dm(self) -> bool:
        return self.type == DM

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    @property
    def is_forum(self) -> bool:
        return self.type == GUILD_FORUM

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def tag(self, name: str) -> dict:
        """A forum's available tag by name."""
        for tag in self.available_tags:
            if tag["name"] == name:
                return tag
        raise LookupError(f"channel {self.name!r} has no tag {name!r}")

    def thread_member_payload(self, user_id: int) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "user_id": str(user_id),
            "join_timestamp": self.thread_members[user_id],
            "flags": 0,
        }

    def payload(self, *, me: int | None = None) -> dict[str, Any]:
        """The channel object; for a thread, ``me`` (the bot's id) adds its ``member`` object
        when it has joined."""
        last = str(self.last_message_id) if self.last_message_id else None
        if self.type == DM:
            return {
                "id": str(self.id),
                "type": DM,
                "last_message_id": last,
                "flags": 0,
                "recipients": [u.payload() for u in self.recipients],
            }
        if self.is_thread:
            return self._thread_payload(last, me)
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [],
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "flags": 0,
        }
        if self.type == GUILD_TEXT:
            data.update(
                topic=self.topic,
                nsfw=False,
                rate_limit_per_user=self.rate_limit_per_user,
                last_message_id=last,
                default_auto_archive_duration=self.default_auto_archive_duration,
                default_thread_rate_limit_per_user=0,
            )
        elif self.type == GUILD_FORUM:
            data.update(
                topic=self.topic,
                nsfw=False,
                rate_limit_per_user=self.rate_limit_per_user,
                last_message_id=last,
                default_auto_archive_duration=self.default_auto_archive_duration,
                default_thread_rate_limit_per_user=0,
                available_tags=copy.deepcopy(self.available_tags),
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
                template="",
            )
        elif self.type == GUILD_VOICE:
            data.update(bitrate=64000, user_limit=0, rtc_region=None, nsfw=False)
        return data

    def _thread_payload(self, last: str | None, me: int | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "archived": self.archived,
            "auto_archive_duration": self.auto_archive_duration,
            "archive_timestamp": self.archive_timestamp,
            "locked": self.locked,
            "create_timestamp": self.create_timestamp,
        }
        if self.type == PRIVATE_THREAD:
            metadata["invitable"] = self.invitable
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "parent_id": str(self.parent_id),
            "owner_id": str(self.owner_id),
            "name": self.name,
            "last_message_id": last,
            "rate_limit_per_user": self.rate_limit_per_user,
            "message_count": self.message_count,
            "member_count": min(len(self.thread_members), 50),
            "total_message_sent": self.total_message_sent,
            "flags": 0,
            "applied_tags": [str(t) for t in self.applied_tags],
            "thread_metadata": metadata,
        }
        if me is not None and me in self.thread_members:
            data["member"] = self.thread_member_payload(me)
        return data


@dataclass(eq=False)
class FakeMember:
    user: FakeUser
    guild_id: int
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)

    def payload(self, *, permissions: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user": self.user.payload(),
            "roles": [str(r) for r in self.role_ids],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
        }
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass(eq=False)
class FakeGuild:
    id: int
    name: str
    owner_id: int
    everyone_role: FakeRole
    locale: str = "en-US"
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    #: threads (active and archived); not in ``channels``, as in Discord's payloads
    threads: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    joined_at: str = field(default_factory=iso_now)

    @property
    def text_channels(self) -> list[FakeChannel]:
        return [c for c in self.channels.values() if c.type == GUILD_TEXT]

    @property
    def default_channel(self) -> FakeChannel:
        chans = self.text_channels
        if not chans:
            raise LookupError(f"guild {self.name!r} has no text channel")
        return chans[0]

    def channel(self, name: str) -> FakeChannel:
        for chan in self.channels.values():
            if chan.name == name:
                return chan
        raise LookupError(f"guild {self.name!r} has no channel named {name!r}")

    def thread(self, name: str) -> FakeChannel:
        for chan in self.threads.values():
            if chan.name == name:
                return chan
        raise LookupError(f"guild {self.name!r} has no thread named {name!r}")

    @property
    def active_threads(self) -> list[FakeChannel]:
        return [t for t in self.threads.values() if not t.archived]

    def can_see(self, user_id: int, thread: FakeChannel) -> bool:
        """A private thread is visible to its members and to those with Manage Threads."""
        if thread.type != PRIVATE_THREAD or user_id in thread.thread_members:
            return True
        return bool(self.permissions_for(user_id) & perms.MANAGE_THREADS)

    def role_rank(self, role: FakeRole) -> tuple[int, int]:
        """Sort key of Discord's role hierarchy: position, then the older (lower id) role
        above on a tie; @everyone always at the bottom."""
        if role.id == self.id:
            return (-1, 0)
        return (role.position, -role.id)

    def top_role(self, user_id: int) -> FakeRole:
        """The member's highest role (@everyone when they have none)."""
        member = self.members.get(user_id)
        roles = [self.roles[r] for r in member.role_ids] if member is not None else []
        return max([self.everyone_role, *roles], key=self.role_rank)

    def role(self, name: str) -> FakeRole:
        for role in self.roles.values():
            if role.name == name:
                return role
        raise LookupError(f"guild {self.name!r} has no role named {name!r}")

    def permissions_for(self, user_id: int) -> int:
        member = self.members.get(user_id)
        roles = [] if member is None else [self.roles[r].permissions for r in member.role_ids]
        return perms.compute_base(
            is_owner=user_id == self.owner_id,
            everyone=self.everyone_role.permissions,
            role_permissions=roles,
        )

    def rest_payload(self) -> dict[str, Any]:
        """GET /guilds/{id} (no channels/members, like the REST API)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_presences": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.locale,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw": False,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "incidents_data": None,
        }

    def gateway_payload(
        self, *, include_all_members: bool, bot_id: int, large_threshold: int
    ) -> dict:
        """GUILD_CREATE: full guild with channels; members only as the intents allow."""
        data = self.rest_payload()
        members = [
            m.payload() for m in self.members.values() if include_all_members or m.user.id == bot_id
        ]
        data.update(
            unavailable=False,
            joined_at=self.joined_at,
            large=len(self.members) >= large_threshold,
            member_count=len(self.members),
            lazy=True,
            channels=[c.payload() for c in self.channels.values()],
            threads=[t.payload(me=bot_id) for t in self.active_threads if self.can_see(bot_id, t)],
            members=members,
            presences=[],
            voice_states=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
            embedded_activities=[],
            application_command_counts={},
        )
        for chan in data["channels"]:
            chan.pop("guild_id", None)  # GUILD_CREATE channels omit guild_id
        return data


@dataclass(eq=False)
class FakeAttachment:
    id: int
    filename: str
    data: bytes
    content_type: str | None = None
    description: str | None = None

    def payload(self, channel_id: int) -> dict[str, Any]:
        url = f"https://cdn.discordapp.com/attachments/{channel_id}/{self.id}/{self.filename}"
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": url,
            "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
        }
        if self.content_type:
            data["content_type"] = self.content_type
        if self.description:
            data["description"] = self.description
        return data


def walk_components(components: list[dict] | None):
    """Yield every component dict, depth first (action rows, containers, sections, accessories)."""
    for comp in components or []:
        yield comp
        yield from walk_components(comp.get("components"))
        accessory = comp.get("accessory")
        if isinstance(accessory, dict):
            yield from walk_components([accessory])


@dataclass(eq=False)
class FakeMessage:
    """A message as the fake stores it. Tests read ``content``, ``embeds``, ``components``..."""

    id: int
    channel_id: int
    author: FakeUser
    guild_id: int | None = None
    content: str = ""
    embeds: list[dict] = field(default_factory=list)
    components: list[dict] = field(default_factory=list)
    attachments: list[FakeAttachment] = field(default_factory=list)
    flags: int = 0
    type: int = MSG_DEFAULT
    tts: bool = False
    allowed_mentions: dict | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: dict | None = None
    message_reference: dict | None = None
    nonce: str | None = None
    edited_timestamp: str | None = None
    deleted: bool = False
    #: every payload that created or edited this message, oldest first
    history: list[dict] = field(default_factory=list)
    #: event-loop time of the last change
    updated_at: float = 0.0

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & FLAG_LOADING)

    @property
    def edits(self) -> int:
        return max(0, len(self.history) - 1)

    @property
    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in walk_components(self.components) if "custom_id" in c]

    @property
    def buttons(self) -> list[dict]:
        return [c for c in walk_components(self.components) if c.get("type") == 2]

    def component(self, custom_id: str) -> dict:
        for comp in walk_components(self.components):
            if comp.get("custom_id") == custom_id:
                return comp
        raise LookupError(
            f"message {self.id} has no component with custom_id={custom_id!r}; "
            f"it has {self.custom_ids!r}"
        )

    def button(self, label: str) -> dict:
        for comp in self.buttons:
            if comp.get("label") == label:
                return comp
        labels = [b.get("label") for b in self.buttons]
        raise LookupError(f"message {self.id} has no button labelled {label!r}; it has {labels!r}")

    @property
    def files(self) -> list[tuple[str, bytes]]:
        return [(a.filename, a.data) for a in self.attachments]

    @property
    def text(self) -> str:
        """Content plus embed titles/descriptions/fields: handy for substring assertions."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [embed.get("title", ""), embed.get("description", "")]
            for fld in embed.get("fields", []):
                parts += [fld.get("name", ""), fld.get("value", "")]
            parts.append((embed.get("footer") or {}).get("text", ""))
        for comp in walk_components(self.components):
            if comp.get("type") == 10:  # components-v2 text display
                parts.append(comp.get("content", ""))
        return "\n".join(p for p in parts if p)

    def payload(self, *, gateway: bool = False, member: dict | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "content": self.content,
            "channel_id": str(self.channel_id),
            "author": self.author.payload(),
            "attachments": [a.payload(self.channel_id) for a in self.attachments],
            "embeds": copy.deepcopy(self.embeds),
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": False,
            "tts": self.tts,
            "timestamp": iso_from_snowflake(self.id),
            "edited_timestamp": self.edited_timestamp,
            "flags": self.flags,
            "components": copy.deepcopy(self.components),
        }
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            data["application_id"] = str(self.application_id)
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = copy.deepcopy(self.interaction_metadata)
        if self.message_reference is not None:
            data["message_reference"] = copy.deepcopy(self.message_reference)
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if gateway and self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
            if member is not None:
                data["member"] = member
        return data

    def __repr__(self) -> str:
        return (
            f"<FakeMessage id={self.id} channel={self.channel_id} flags={self.flags} "
            f"content={self.content[:40]!r} embeds={len(self.embeds)} custom_ids={self.custom_ids}>"
        )
