"""A loopback fake of Discord's REST API and gateway for end-to-end tests of a discord.py bot.

See :class:`FakeDiscord` for the driver API.
"""

from . import perms
from .driver import Choices, DiscordPyPatch, FakeDiscord
from .errors import DiscordError
from .interactions import Callback, InteractionHandle
from .models import (
    GUILD_FORUM,
    GUILD_TEXT,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
)
from .recording import FaultRule, Part, RecordedRequest
from .store import AuditEntry, SyncCall

__all__ = [
    "GUILD_FORUM",
    "GUILD_TEXT",
    "PRIVATE_THREAD",
    "PUBLIC_THREAD",
    "AuditEntry",
    "Callback",
    "Choices",
    "DiscordError",
    "DiscordPyPatch",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeMessage",
    "FakeRole",
    "FakeUser",
    "FaultRule",
    "InteractionHandle",
    "Part",
    "RecordedRequest",
    "SyncCall",
    "perms",
]
