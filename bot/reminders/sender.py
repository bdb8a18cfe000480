"""How the dispatcher hands a reminder to a chat platform, and the failures it understands.

A :class:`Sender` delivers one :class:`~bot.engine.replies.Reply` as a direct message and
either returns (delivered) or raises one of the typed :class:`SendError`\\ s below; the
dispatcher decides what each means for the member's schedule. A sender that is also a
:class:`ChannelSender` posts the mentors' weekly blocker digests in servers' channels. Any
other exception is treated like a crash between claim and send: the delivery is retried once
its lease expires.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.engine.replies import Reply


class SendError(Exception):
    """A delivery failure the platform told us about."""


class DMsClosed(SendError):
    """The member does not accept DMs from the bot (Discord 403 / 50007).

    The dispatcher pauses the member's reminders with this reason (shown by
    ``/reminders status``) and does not retry."""

    def __init__(self, reason: str = "your DMs are closed to me") -> None:
        super().__init__(reason)
        self.reason = reason


class MemberGone(SendError):
    """The user no longer exists (Discord 404 unknown user): reminders are disabled."""


class RateLimited(SendError):
    """Slow down (Discord 429): nothing may be sent for ``retry_after`` seconds."""

    def __init__(self, retry_after: float, message: str = "") -> None:
        self.retry_after = max(0.0, float(retry_after))
        super().__init__(message or f"rate limited, retry after {self.retry_after:.2f}s")


class TransientError(SendError):
    """A failure worth retrying later (5xx, network): retried with backoff within the period."""


class Rejected(SendError):
    """The platform refused this message for good (another 4xx): retrying will not help, so
    this period's reminder is given up and the next one is scheduled."""


class ChannelRefused(SendError):
    """The server's channel refuses the bot's post (Discord 403: no permission to send or
    to embed links there): the admins are told; retrying will not help."""

    def __init__(self, message: str = "", code: int | None = None) -> None:
        super().__init__(message or "the channel refused the post")
        self.code = code


class ChannelGone(SendError):
    """The channel no longer exists (Discord 404): the admins are told."""


@runtime_checkable
class ChannelSender(Protocol):
    async def send_channel(self, channel_id: int, reply: Reply) -> None:
        """Post ``reply`` in a server's channel or thread (mentions off): the mentors' blocker
        digest, the reminder in an unclaimed *Ask a mentor* thread. Raises a
        :class:`SendError` (:class:`ChannelRefused`, :class:`ChannelGone`, ...)."""
        ...


@runtime_checkable
class Sender(Protocol):
    async def send_dm(self, user_id: int, reply: Reply) -> None:
        """Deliver ``reply`` to ``user_id``'s DMs, or raise a :class:`SendError`."""
        ...


__all__ = [
    "ChannelGone",
    "ChannelRefused",
    "ChannelSender",
    "DMsClosed",
    "MemberGone",
    "RateLimited",
    "Rejected",
    "SendError",
    "Sender",
    "TransientError",
]
