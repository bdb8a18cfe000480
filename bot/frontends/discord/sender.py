"""A :class:`~bot.reminders.sender.Sender` over Discord's REST API only (no gateway session).

Built on discord.py's :class:`discord.http.HTTPClient`: ``static_login(token)``, then per
reminder ``start_private_message(user_id)`` (the DM channel id is cached, so later reminders
cost one request) and ``send_message(channel_id, params=...)`` with one embed, the Reply's
actions as real buttons (their ``custom_id`` is the action id — ``rem:snooze``, ``rem:off``,
``chk:view:N`` — which the Discord front end hands to ``Engine.act``) and
``allowed_mentions`` set to none.

The API base is discord.py's class attribute ``discord.http.Route.BASE``, set from
``Settings.discord_api_base`` by :func:`~bot.frontends.discord.endpoints.configure_endpoints`
(:func:`rest_sender` calls it; so does the bot).

:func:`run_reminders_once` is ``mentorbot reminders run-once``: the app's dispatcher over a
REST-only login (no gateway session).

:meth:`DiscordSender.send_channel` posts the mentors' weekly blocker digest in a server's
channel and the reminder in an unclaimed *Ask a mentor* thread (403 → ``ChannelRefused``,
404 → ``ChannelGone``).

A send is bounded by the dispatcher (``Dispatcher.send_timeout``, derived from the lease), not
here.

Errors are mapped to the dispatcher's types:

* 403 with code 50007 (cannot send messages to this user) → :class:`DMsClosed`
* 404 (unknown user / channel), or an invalid recipient when opening the DM → :class:`MemberGone`
* 429 → :class:`RateLimited` with Discord's ``retry_after``. discord.py itself sleeps and
  retries a 429 (up to 5 tries per request); with ``max_ratelimit_timeout`` (30 s, its
  minimum) a longer wait raises at once instead, so a send never hangs on a long rate limit.
* 5xx, network errors, timeouts, 401 → :class:`TransientError` (discord.py already retried
  500/502/504/524 a few times before giving up)
* any other 4xx → :class:`Rejected`
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord.http import HTTPClient, MultipartParameters, handle_message_parameters

from bot.config import OperatorError, Settings, discord_token
from bot.engine.replies import Reply
from bot.frontends.discord.endpoints import configure_endpoints
from bot.frontends.discord.present import NO_MENTIONS, render
from bot.reminders.sender import (
    ChannelGone,
    ChannelRefused,
    DMsClosed,
    MemberGone,
    RateLimited,
    Rejected,
    SendError,
    TransientError,
)

if TYPE_CHECKING:
    from bot.app import App
    from bot.reminders.dispatcher import DispatchReport

CANNOT_DM = 50007
UNKNOWN_CHANNEL = 10003
UNKNOWN_USER = 10013
INVALID_RECIPIENT = 50033
INVALID_FORM_BODY = 50035

def message_params(reply: Reply, *, thread: dict[str, Any] | None = None,
                   editing: bool = False) -> MultipartParameters:
    """What ``HTTPClient.send_message`` posts for ``reply`` (``.payload`` is the JSON body):
    rendered exactly as the bot renders any reply (a reminder fits one message). ``thread``:
    the forum post's fields (name …) around the message; ``editing``: an edit, whose buttons
    go when the reply has none."""
    rendered = render(reply)
    view: Any = rendered.view if rendered.view is not None else (
        None if editing else discord.utils.MISSING)
    return handle_message_parameters(
        embeds=rendered.pages[0],
        view=view,
        allowed_mentions=NO_MENTIONS,
        channel_payload=thread if thread is not None else discord.utils.MISSING,
    )


def _retry_after(exc: discord.HTTPException, default: float = 5.0) -> float:
    headers = getattr(exc.response, "headers", None) or {}
    for name in ("Retry-After", "X-RateLimit-Reset-After"):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return default


def classify(exc: BaseException, *, opening: bool = False) -> SendError | None:
    """The dispatcher's error for a discord.py / network exception (``None``: not ours).

    ``opening``: the error came from opening the DM channel (``POST /users/@me/channels``),
    where a bad recipient means the user does not exist."""
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, discord.RateLimited):
        return RateLimited(exc.retry_after, f"Discord rate limit: retry after {exc.retry_after}s")
    if isinstance(exc, discord.HTTPException):
        status, code = exc.status, exc.code
        text = f"Discord {status} (code {code}): {exc.text[:200]}"
        if status == 403 and code == CANNOT_DM:
            return DMsClosed("your DMs are closed to me (Discord 403/50007)")
        if status == 404 or code in (UNKNOWN_USER, INVALID_RECIPIENT):
            return MemberGone(text)
        if opening and status == 400 and code == INVALID_FORM_BODY:
            return MemberGone(text)
        if status == 429:
            return RateLimited(_retry_after(exc), text)
        if status >= 500 or status == 401:
            return TransientError(text)
        return Rejected(text)
    if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
        return TransientError(f"network: {type(exc).__name__}: {exc}")
    return None


class DiscordSender:
    """Sends reminders as DMs over REST. ``await DiscordSender.login(token)``, then
    :meth:`send_dm` any number of times, then :meth:`close`. The bot passes its own
    ``bot.http``. How long a send may take is the dispatcher's business (it cancels it)."""

    def __init__(self, http: HTTPClient, *, dm_cache_size: int = 50_000) -> None:
        self.http = http
        self._dm_cache_size = dm_cache_size
        self._channels: OrderedDict[int, int] = OrderedDict()

    @classmethod
    async def login(
        cls, token: str, *, max_ratelimit_timeout: float = 30.0, **kwargs: Any
    ) -> DiscordSender:
        """Log in over REST (``GET /users/@me``); raises :class:`discord.LoginFailure` for a
        bad token. Uses whatever ``discord.http.Route.BASE`` is set to."""
        http = HTTPClient(asyncio.get_running_loop(), max_ratelimit_timeout=max_ratelimit_timeout)
        try:
            await http.static_login(token)
        except BaseException:
            await http.close()
            raise
        return cls(http, **kwargs)

    async def close(self) -> None:
        await self.http.close()

    async def __aenter__(self) -> DiscordSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _channel_id(self, user_id: int) -> tuple[int, bool]:
        cached = self._channels.get(user_id)
        if cached is not None:
            self._channels.move_to_end(user_id)
            return cached, True
        try:
            data = await self.http.start_private_message(user_id)
        except Exception as exc:
            mapped = classify(exc, opening=True)
            if mapped is None:
                raise
            raise mapped from exc
        channel_id = int(data["id"])
        self._channels[user_id] = channel_id
        if len(self._channels) > self._dm_cache_size:
            self._channels.popitem(last=False)
        return channel_id, False

    async def send_dm(self, user_id: int, reply: Reply) -> None:
        for _ in range(2):
            channel_id, cached = await self._channel_id(user_id)
            try:
                await self.http.send_message(channel_id, params=message_params(reply))
                return
            except discord.NotFound as exc:
                self._channels.pop(user_id, None)
                if cached and exc.code == UNKNOWN_CHANNEL:
                    continue  # a stale cached DM channel: open it again, once
                raise MemberGone(f"Discord 404 (code {exc.code}): {exc.text[:200]}") from exc
            except Exception as exc:
                mapped = classify(exc)
                if mapped is None:
                    raise
                raise mapped from exc
        raise MemberGone("the DM channel keeps disappearing")

    async def send_channel(self, channel_id: int, reply: Reply) -> None:
        """Post ``reply`` in a server's channel or thread (the mentors' blocker digest, an
        unclaimed *Ask a mentor* thread's reminder), mentions disabled: 403 →
        :class:`ChannelRefused`, 404 → :class:`ChannelGone`, the rest as for a DM."""
        try:
            await self.http.send_message(channel_id, params=message_params(reply))
        except discord.Forbidden as exc:
            raise ChannelRefused(f"Discord 403 (code {exc.code}): {exc.text[:200]}",
                                 exc.code) from exc
        except discord.NotFound as exc:
            raise ChannelGone(f"Discord 404 (code {exc.code}): {exc.text[:200]}") from exc
        except Exception as exc:
            mapped = classify(exc)
            if mapped is None:
                raise
            raise mapped from exc


@contextlib.asynccontextmanager
async def rest_sender(settings: Settings) -> AsyncIterator[DiscordSender]:
    """A :class:`DiscordSender` logged in over REST with ``DISCORD_TOKEN`` at
    ``DISCORD_API_BASE``; a missing or rejected token or an unreachable API is one
    :class:`~bot.config.OperatorError`."""
    token = discord_token(settings)
    configure_endpoints(settings)
    try:
        sender = await DiscordSender.login(token)
    except discord.LoginFailure:
        raise OperatorError("Discord rejected DISCORD_TOKEN (401): check the token") from None
    except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
        raise OperatorError(
            f"cannot reach Discord at {settings.discord_api_base}: {exc}") from None
    try:
        yield sender
    finally:
        await sender.close()


async def run_reminders_once(app: App, now: datetime | None = None) -> DispatchReport:
    """``mentorbot reminders run-once``: one dispatcher run over REST.

    ``now`` (timezone-aware) makes the run behave as if it started then."""
    discord_token(app.settings)  # before the database: the most likely mistake first
    if now is not None and (now.tzinfo is None or now.utcoffset() is None):
        raise OperatorError("--now needs a time zone, e.g. 2025-03-03T09:00:00+00:00")
    app.kb  # noqa: B018 - an invalid knowledge base stops the run before it logs in
    await app.store()
    async with rest_sender(app.settings) as sender:
        dispatcher = await app.dispatcher(sender)
        return await dispatcher.run_once(now)


__all__ = [
    "DiscordSender",
    "classify",
    "message_params",
    "rest_sender",
    "run_reminders_once",
]
