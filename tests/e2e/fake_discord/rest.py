"""The REST API under /api/v10: routing, auth, recording, fault injection and the route handlers."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import hdrs, web

from . import perms
from .errors import (
    ALREADY_ACKNOWLEDGED,
    CANNOT_DM_USER,
    CANNOT_EDIT_OTHERS_MESSAGE,
    INVALID_WEBHOOK_TOKEN,
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    THREAD_ALREADY_CREATED,
    THREAD_ARCHIVED,
    UNKNOWN_CHANNEL,
    UNKNOWN_GUILD,
    UNKNOWN_INTERACTION,
    UNKNOWN_MEMBER,
    UNKNOWN_MESSAGE,
    UNKNOWN_ROLE,
    UNKNOWN_USER,
    UNKNOWN_WEBHOOK,
    WRONG_CHANNEL_TYPE,
    DiscordError,
    form_error,
    json_response,
)
from .interactions import (
    ALLOWED_CALLBACKS,
    APPLICATION_COMMAND,
    APPLICATION_COMMAND_AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE_WITH_SOURCE,
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
    DEFERRED_UPDATE_MESSAGE,
    MESSAGE_COMPONENT,
    UPDATE_MESSAGE,
    Callback,
    InteractionHandle,
)
from .models import (
    ARCHIVE_DURATIONS,
    FLAG_EPHEMERAL,
    FLAG_HAS_THREAD,
    FLAG_LOADING,
    GUILD_TEXT,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILDS,
    MSG_CHAT_INPUT_COMMAND,
    MSG_DEFAULT,
    MSG_REPLY,
    MSG_THREAD_CREATED,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
)
from .recording import API_PREFIX, Part, RecordedRequest, template_regex
from .snowflake import iso_now
from .store import AuditEntry, FakeState, GatewayEvent
from .validation import validate_choices, validate_message

log = logging.getLogger("fake_discord.rest")

Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    auth: bool
    regex: re.Pattern[str]


def _json(data: Any, status: int = 200) -> web.Response:
    return json_response(data, status=status)


def _no_content() -> web.Response:
    return web.Response(status=204)


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


class RestApi:
    def __init__(
        self,
        state: FakeState,
        *,
        gateway_url: Callable[[], str],
        shard_count: Callable[[], int],
        ack_deadline: float,
        token_ttl: float,
    ) -> None:
        self.state = state
        self._gateway_url = gateway_url
        self._shard_count = shard_count
        self.ack_deadline = ack_deadline
        self.token_ttl = token_ttl
        self.unknown: list[RecordedRequest] = []
        self.internal_errors: list[tuple[RecordedRequest, Exception]] = []
        self.routes: list[Route] = []
        r = self._add
        r("GET", "/users/@me", self.get_me)
        r("GET", "/users/{user_id}", self.get_user)
        r("GET", "/gateway", self.get_gateway, auth=False)
        r("GET", "/gateway/bot", self.get_gateway_bot)
        r("GET", "/applications/@me", self.get_application)
        r("GET", "/oauth2/applications/@me", self.get_application)
        r("GET", "/applications/{app_id}/commands", self.get_commands)
        r("PUT", "/applications/{app_id}/commands", self.put_commands)
        r("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self.get_commands)
        r("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self.put_commands)
        r("POST", "/interactions/{interaction_id}/{token}/callback", self.callback, auth=False)
        r("GET", "/webhooks/{app_id}/{token}/messages/@original", self.get_original, auth=False)
        r("PATCH", "/webhooks/{app_id}/{token}/messages/@original", self.edit_original, auth=False)
        r(
            "DELETE",
            "/webhooks/{app_id}/{token}/messages/@original",
            self.delete_original,
            auth=False,
        )
        r("POST", "/webhooks/{app_id}/{token}", self.followup, auth=False)
        r(
            "GET",
            "/webhooks/{app_id}/{token}/messages/{message_id}",
            self.get_webhook_msg,
            auth=False,
        )
        r(
            "PATCH",
            "/webhooks/{app_id}/{token}/messages/{message_id}",
            self.edit_webhook_msg,
            auth=False,
        )
        r(
            "DELETE",
            "/webhooks/{app_id}/{token}/messages/{message_id}",
            self.delete_webhook_msg,
            auth=False,
        )
        r("POST", "/users/@me/channels", self.create_dm)
        r("GET", "/channels/{channel_id}", self.get_channel)
        r("PATCH", "/channels/{channel_id}", self.edit_channel)
        r("DELETE", "/channels/{channel_id}", self.delete_channel)
        r("POST", "/channels/{channel_id}/threads", self.start_thread)
        r(
            "POST",
            "/channels/{channel_id}/messages/{message_id}/threads",
            self.start_thread_from_message,
        )
        r("GET", "/channels/{channel_id}/thread-members", self.get_thread_members)
        r("PUT", "/channels/{channel_id}/thread-members/{user_id}", self.add_thread_member)
        r("DELETE", "/channels/{channel_id}/thread-members/{user_id}", self.remove_thread_member)
        r("POST", "/channels/{channel_id}/messages", self.send_message)
        r("GET", "/channels/{channel_id}/messages", self.get_messages)
        r("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message)
        r("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message)
        r("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message)
        r("POST", "/channels/{channel_id}/typing", self.typing)
        r("GET", "/guilds/{guild_id}", self.get_guild)
        r("GET", "/guilds/{guild_id}/channels", self.get_guild_channels)
        r("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member)
        r("PATCH", "/guilds/{guild_id}/members/{user_id}", self.edit_member)
        r("GET", "/guilds/{guild_id}/threads/active", self.get_active_threads)
        r("GET", "/guilds/{guild_id}/roles", self.get_roles)
        r("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.add_member_role)
        r("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.remove_member_role)

    def _add(self, method: str, template: str, handler: Handler, *, auth: bool = True) -> None:
        self.routes.append(Route(method, template, handler, auth, template_regex(template)))

    # -- plumbing ------------------------------------------------------------------------------

    async def _record(self, request: web.Request, path: str) -> RecordedRequest:
        rec = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=dict(request.headers),
        )
        ctype = request.headers.get(hdrs.CONTENT_TYPE, "")
        if ctype.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                data = await part.read(decode=False)  # type: ignore[union-attr]
                rec.parts.append(
                    Part(
                        name=part.name or "",  # type: ignore[union-attr]
                        filename=part.filename,  # type: ignore[union-attr]
                        content_type=part.headers.get(hdrs.CONTENT_TYPE),
                        data=bytes(data),
                    )
                )
                if part.name == "payload_json":  # type: ignore[union-attr]
                    rec.json = json.loads(data)
        else:
            body = await request.read()
            if body:
                try:
                    rec.json = json.loads(body)
                except ValueError:
                    rec.json = body.decode("utf-8", "replace")
        self.state.requests.append(rec)
        return rec

    async def handle(self, request: web.Request) -> web.StreamResponse:
        full = request.path
        path = full[len(API_PREFIX) :] if full.startswith(API_PREFIX + "/") else full
        rec = await self._record(request, path)
        try:
            response = await self._dispatch(
                request, rec, under_api=full.startswith(API_PREFIX + "/")
            )
        except DiscordError as exc:
            response = exc.response()
        except Exception as exc:  # a bug in the fake: make it loud, and not retried
            log.exception("fake Discord failed on %s %s", rec.method, rec.path)
            self.internal_errors.append((rec, exc))
            # 503 (unlike 500) makes discord.py raise DiscordServerError at once, no retries
            message = f"fake Discord internal error: {exc!r}"
            response = json_response({"message": message, "code": 0}, 503)
        rec.status = response.status
        response.headers.setdefault("Via", "1.1 google")
        self.state.notify()
        return response

    async def _dispatch(self, request: web.Request, rec: RecordedRequest, *, under_api: bool):
        route, params, method_mismatch = None, {}, False
        if under_api:
            for candidate in self.routes:
                m = candidate.regex.match(rec.path)
                if m is None:
                    continue
                if candidate.method != rec.method:
                    method_mismatch = True
                    continue
                route, params = candidate, m.groupdict()
                break
        fault = self.state.faults.match(rec.method, rec.path)
        if fault is not None:
            rec.fault = fault.description
            rec.route = f"{route.method} {route.template}" if route else None
            response = fault.consume()
            if route is not None and "X-RateLimit-Bucket" in response.headers:
                response.headers["X-RateLimit-Bucket"] = self._bucket(route)
            return response
        if route is None:
            self.unknown.append(rec)
            if method_mismatch:
                return _json({"message": "405: Method Not Allowed", "code": 0}, 405)
            return _json({"message": "404: Not Found", "code": 0}, 404)
        rec.route = f"{route.method} {route.template}"
        if route.auth and request.headers.get(hdrs.AUTHORIZATION) != f"Bot {self.state.token}":
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        result: web.StreamResponse = await route.handler(rec, **params)
        if result.status < 300:
            result.headers.update(
                {
                    "X-RateLimit-Bucket": self._bucket(route),
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "4",
                    "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
                    "X-RateLimit-Reset-After": "1.000",
                }
            )
        return result

    @staticmethod
    def _bucket(route: Route) -> str:
        return hashlib.sha1(f"{route.method} {route.template}".encode()).hexdigest()[:32]

    # -- users, gateway, application -----------------------------------------------------------

    async def get_me(self, rec: RecordedRequest) -> web.Response:
        me = self.state.bot_user.payload()
        me.update(verified=True, mfa_enabled=False, email=None, locale="en-US", bio="")
        return _json(me)

    async def get_user(self, rec: RecordedRequest, user_id: str) -> web.Response:
        user = self.state.users.get(int(user_id)) if user_id.isdigit() else None
        if user is None:
            raise DiscordError(404, UNKNOWN_USER)
        return _json(user.payload())

    async def get_gateway(self, rec: RecordedRequest) -> web.Response:
        return _json({"url": self._gateway_url()})

    async def get_gateway_bot(self, rec: RecordedRequest) -> web.Response:
        return _json(
            {
                "url": self._gateway_url(),
                "shards": self._shard_count(),
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def get_application(self, rec: RecordedRequest) -> web.Response:
        state = self.state
        owner = next((u for u in state.users.values() if not u.bot), state.bot_user)
        return _json(
            {
                "id": str(state.application_id),
                "name": state.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "hook": True,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": state.verify_key,
                "flags": 1 << 23,
                "owner": owner.payload(),
                "team": None,
                "bot": state.bot_user.payload(),
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "tags": [],
                "approximate_guild_count": len(state.guilds),
                "integration_types_config": {"0": {}},
            }
        )

    # -- application commands ------------------------------------------------------------------

    def _command_scope(self, app_id: str, guild_id: str | None) -> int | None:
        if app_id != str(self.state.application_id):
            raise DiscordError(404, 10002, "Unknown Application")
        if guild_id is None:
            return None
        if not guild_id.isdigit() or int(guild_id) not in self.state.guilds:
            raise DiscordError(403, 50001, "Missing Access")
        return int(guild_id)

    async def get_commands(self, rec: RecordedRequest, app_id: str, guild_id: str | None = None):
        scope = self._command_scope(app_id, guild_id)
        return _json(self.state.commands.get(scope, []))

    async def put_commands(self, rec: RecordedRequest, app_id: str, guild_id: str | None = None):
        scope = self._command_scope(app_id, guild_id)
        if not isinstance(rec.json, list):
            raise form_error("_", "MODEL_TYPE_CONVERT", "Only iterables may be used in a ListType")
        if len(rec.json) > 100:
            raise form_error("_", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        return _json(self.state.put_commands(scope, rec.json))

    # -- interactions --------------------------------------------------------------------------

    async def callback(self, rec: RecordedRequest, interaction_id: str, token: str) -> web.Response:
        state = self.state
        handle = state.interactions.get(int(interaction_id)) if interaction_id.isdigit() else None
        if handle is None or handle.token != token:
            raise DiscordError(404, UNKNOWN_INTERACTION)
        now = state.now()
        body = rec.json if isinstance(rec.json, dict) else {}
        try:
            if handle.callbacks:
                raise DiscordError(400, ALREADY_ACKNOWLEDGED)
            if handle.dispatched_at is None or now - handle.dispatched_at > self.ack_deadline:
                raise DiscordError(404, UNKNOWN_INTERACTION)  # the 3-second window is over
            return self._apply_callback(handle, rec, body, now)
        except DiscordError as exc:
            handle.rejected.append((body, exc))
            raise

    def _apply_callback(
        self, handle: InteractionHandle, rec: RecordedRequest, body: dict, now: float
    ) -> web.Response:
        state = self.state
        ctype = body.get("type")
        data = body.get("data") or {}
        if ctype not in ALLOWED_CALLBACKS.get(handle.type, set()):
            raise form_error(
                "type",
                "BASE_TYPE_CHOICES",
                f"Value must be one of {sorted(ALLOWED_CALLBACKS[handle.type])}.",
            )
        if ctype in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE) and handle.source_message is None:
            raise form_error("type", "INTERACTION_NO_MESSAGE", "This interaction has no message.")
        files = rec.files
        if ctype == CHANNEL_MESSAGE_WITH_SOURCE:
            validate_message(data, creating=True, n_files=len(files))
        elif ctype == UPDATE_MESSAGE:
            validate_message(data, creating=False)
        elif ctype == APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            validate_choices(data)
        with_response = _truthy(rec.query.get("with_response"))
        handle.callbacks.append(Callback(ctype, body.get("data"), files, now, with_response))
        info: dict[str, Any] = {"id": str(handle.id), "type": handle.type}
        resource: dict[str, Any] | None = None
        msg: FakeMessage | None = None
        if ctype == CHANNEL_MESSAGE_WITH_SOURCE:
            msg = self._interaction_message(handle, data, rec.parts, loading=False)
            handle.original = msg
            resource = {"type": ctype, "message": msg.payload()}
        elif ctype == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            msg = self._interaction_message(
                handle, {"flags": data.get("flags", 0)}, [], loading=True
            )
            handle.original = msg
            handle.pending_deferred = True
        elif ctype == DEFERRED_UPDATE_MESSAGE:
            handle.original = handle.source_message
        elif ctype == UPDATE_MESSAGE:
            msg = handle.source_message
            assert msg is not None  # checked above
            state.edit_message(msg, data, rec.parts)
            handle.original = msg
            resource = {"type": ctype, "message": msg.payload()}
        if msg is not None:
            info.update(
                response_message_id=str(msg.id),
                response_message_loading=msg.loading,
                response_message_ephemeral=msg.ephemeral,
            )
            handle.touch(msg)
        state.notify()
        if not with_response:
            return _no_content()
        out: dict[str, Any] = {"interaction": info}
        if resource is not None:
            out["resource"] = resource
        return _json(out)

    def _interaction_message(
        self,
        handle: InteractionHandle,
        data: dict,
        parts: list[Part],
        *,
        loading: bool,
        followup: bool = False,
    ) -> FakeMessage:
        metadata: dict[str, Any] = {
            "id": str(handle.id),
            "type": handle.type,
            "user": handle.user.payload(),
            "authorizing_integration_owners": handle.payload["authorizing_integration_owners"],
        }
        if handle.type == APPLICATION_COMMAND:
            metadata["name"] = handle.payload["data"]["name"]
            metadata["command_type"] = handle.payload["data"].get("type", 1)
        if handle.type == MESSAGE_COMPONENT and handle.source_message is not None:
            metadata["interacted_message_id"] = str(handle.source_message.id)
        if followup and handle.original is not None:
            metadata["original_response_message_id"] = str(handle.original.id)
        if followup:
            mtype = MSG_DEFAULT
        else:
            mtype = MSG_CHAT_INPUT_COMMAND if handle.type == APPLICATION_COMMAND else MSG_REPLY
        return self.state.create_message(
            handle.channel,
            self.state.bot_user,
            data,
            parts,
            type=mtype,
            extra_flags=FLAG_LOADING if loading else 0,
            webhook_id=self.state.application_id,
            interaction_metadata=metadata,
        )

    def _webhook_interaction(self, app_id: str, token: str) -> InteractionHandle:
        state = self.state
        if app_id != str(state.application_id):
            raise DiscordError(404, UNKNOWN_WEBHOOK)
        handle = next((h for h in state.interactions.values() if h.token == token), None)
        if handle is None:
            raise DiscordError(401, INVALID_WEBHOOK_TOKEN)
        if not handle.callbacks:
            raise DiscordError(404, UNKNOWN_WEBHOOK)  # not acknowledged yet
        if handle.dispatched_at is not None and state.now() - handle.dispatched_at > self.token_ttl:
            raise DiscordError(401, INVALID_WEBHOOK_TOKEN)
        return handle

    def _original(self, handle: InteractionHandle) -> FakeMessage:
        msg = handle.original
        if msg is None or msg.deleted:
            raise DiscordError(404, UNKNOWN_MESSAGE)
        return msg

    def _owned_message(self, handle: InteractionHandle, message_id: str) -> FakeMessage:
        for msg in handle.messages:
            if str(msg.id) == message_id and not msg.deleted:
                return msg
        raise DiscordError(404, UNKNOWN_MESSAGE)

    def _edit(
        self, handle: InteractionHandle, msg: FakeMessage, rec: RecordedRequest
    ) -> web.Response:
        data = rec.json if isinstance(rec.json, dict) else {}
        validate_message(data, creating=False)
        if msg.loading:
            validate_message(data, creating=True, n_files=len(rec.files))
        clear = msg.loading
        self.state.edit_message(msg, data, rec.parts, clear_loading=clear)
        if clear and msg is handle.original:
            handle.pending_deferred = False
        handle.touch(msg)
        return _json(msg.payload())

    async def get_original(self, rec: RecordedRequest, app_id: str, token: str) -> web.Response:
        return _json(self._original(self._webhook_interaction(app_id, token)).payload())

    async def edit_original(self, rec: RecordedRequest, app_id: str, token: str) -> web.Response:
        handle = self._webhook_interaction(app_id, token)
        return self._edit(handle, self._original(handle), rec)

    async def delete_original(self, rec: RecordedRequest, app_id: str, token: str) -> web.Response:
        handle = self._webhook_interaction(app_id, token)
        msg = self._original(handle)
        self.state.delete_message(msg)
        handle.original_deleted = True
        handle.pending_deferred = False
        return _no_content()

    async def followup(self, rec: RecordedRequest, app_id: str, token: str) -> web.Response:
        handle = self._webhook_interaction(app_id, token)
        data = rec.json if isinstance(rec.json, dict) else {}
        validate_message(data, creating=True, n_files=len(rec.files))
        original = handle.original
        if handle.pending_deferred and original is not None and not original.deleted:
            # the first followup after a "thinking…" deferral becomes that message; it keeps
            # the ephemeral setting chosen when deferring
            self.state.edit_message(original, data, rec.parts, clear_loading=True)
            handle.pending_deferred = False
            msg = original
        else:
            msg = self._interaction_message(handle, data, rec.parts, loading=False, followup=True)
        handle.followups.append(msg)
        handle.touch(msg)
        if rec.query.get("wait") is not None and not _truthy(rec.query.get("wait")):
            return _no_content()
        return _json(msg.payload())

    async def get_webhook_msg(self, rec, app_id: str, token: str, message_id: str):
        handle = self._webhook_interaction(app_id, token)
        return _json(self._owned_message(handle, message_id).payload())

    async def edit_webhook_msg(self, rec, app_id: str, token: str, message_id: str):
        handle = self._webhook_interaction(app_id, token)
        return self._edit(handle, self._owned_message(handle, message_id), rec)

    async def delete_webhook_msg(self, rec, app_id: str, token: str, message_id: str):
        handle = self._webhook_interaction(app_id, token)
        self.state.delete_message(self._owned_message(handle, message_id))
        return _no_content()

    # -- channels and messages -----------------------------------------------------------------

    def _channel(self, channel_id: str):
        chan = self.state.channels.get(int(channel_id)) if channel_id.isdigit() else None
        if chan is None or chan.deleted:
            raise DiscordError(404, UNKNOWN_CHANNEL)
        return chan

    def _require(self, chan, needed: int) -> None:
        if chan.guild_id is None:
            return
        have = self.state.guilds[chan.guild_id].permissions_for(self.state.bot_user.id)
        if have & needed != needed:
            raise DiscordError(403, MISSING_PERMISSIONS)

    def _has(self, chan: FakeChannel, bits: int) -> bool:
        if chan.guild_id is None:
            return False
        have = self.state.guilds[chan.guild_id].permissions_for(self.state.bot_user.id)
        return have & bits == bits

    def _audit(
        self, rec: RecordedRequest, action: str, guild_id: int, target_id: int, changes: dict
    ) -> None:
        reason = rec.headers.get("X-Audit-Log-Reason")
        if reason is not None:
            reason = urllib.parse.unquote(reason)
        self.state.audit_log.append(AuditEntry(action, guild_id, target_id, changes, reason))

    async def create_dm(self, rec: RecordedRequest) -> web.Response:
        body = rec.json if isinstance(rec.json, dict) else {}
        rid = str(body.get("recipient_id", ""))
        user = self.state.users.get(int(rid)) if rid.isdigit() else None
        if user is None:
            raise form_error(
                "recipient_id", "NUMBER_TYPE_COERCE", f'Value "{rid}" is not snowflake.'
            )
        return _json(self.state.dm_channel(user).payload())

    async def get_channel(self, rec: RecordedRequest, channel_id: str) -> web.Response:
        chan = self._channel(channel_id)
        if chan.is_thread:
            self._require_visible(chan)
        return _json(chan.payload(me=self.state.bot_user.id))

    async def typing(self, rec: RecordedRequest, channel_id: str) -> web.Response:
        self._channel(channel_id)
        return _no_content()

    async def send_message(self, rec: RecordedRequest, channel_id: str) -> web.Response:
        chan = self._channel(channel_id)
        if chan.is_dm:
            recipient = chan.recipients[0]
            if recipient.dms_closed or recipient.bot:
                raise DiscordError(403, CANNOT_DM_USER)
        elif chan.is_thread:
            self._require_postable(chan)
            if rec.files:
                self._require(chan, perms.ATTACH_FILES)
        else:
            if chan.is_forum:
                raise DiscordError(400, WRONG_CHANNEL_TYPE)  # posts are threads: POST …/threads
            self._require(chan, perms.VIEW_CHANNEL | perms.SEND_MESSAGES)
            if rec.files:
                self._require(chan, perms.ATTACH_FILES)
        data = rec.json if isinstance(rec.json, dict) else {}
        validate_message(data, creating=True, n_files=len(rec.files))
        if data.get("flags"):
            data = dict(data, flags=data["flags"] & ~FLAG_EPHEMERAL)  # only interactions may
        mtype = MSG_REPLY if data.get("message_reference") else MSG_DEFAULT
        msg = self.state.create_message(chan, self.state.bot_user, data, rec.parts, type=mtype)
        return _json(msg.payload())

    def _message(self, channel_id: str, message_id: str) -> FakeMessage:
        chan = self._channel(channel_id)
        msg = self.state.messages.get(int(message_id)) if message_id.isdigit() else None
        if msg is None or msg.channel_id != chan.id or msg.deleted or msg.ephemeral:
            raise DiscordError(404, UNKNOWN_MESSAGE)
        return msg

    def _readable(self, msg: FakeMessage) -> dict:
        """A message as the bot may read it over REST: without the MESSAGE_CONTENT privileged
        intent, other users' guild messages that do not mention the bot come back blank."""
        data = msg.payload()
        bot = self.state.bot_user
        if (
            not self.state.message_content_enabled
            and msg.guild_id is not None
            and msg.author is not bot
            and bot.mention not in msg.content
        ):
            data.update(content="", embeds=[], attachments=[], components=[])
        return data

    async def get_messages(self, rec: RecordedRequest, channel_id: str) -> web.Response:
        """History, newest first; ``limit`` (1-100, default 50), ``before``, ``after``."""
        chan = self._channel(channel_id)
        msgs = self.state.channel_messages(chan, include_ephemeral=False)
        q = rec.query
        try:
            limit = int(q.get("limit", 50))
            before = int(q["before"]) if "before" in q else None
            after = int(q["after"]) if "after" in q else None
        except ValueError:
            raise form_error("limit", "NUMBER_TYPE_COERCE", "Value is not int.") from None
        if not 1 <= limit <= 100:
            raise form_error("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")
        if before is not None:
            msgs = [m for m in msgs if m.id < before]
        if after is not None:
            msgs = [m for m in msgs if m.id > after]
            picked = msgs[:limit]  # the oldest ones after the anchor, still sent newest first
        else:
            picked = msgs[-limit:]
        return _json([self._readable(m) for m in reversed(picked)])

    async def get_message(self, rec: RecordedRequest, channel_id: str, message_id: str):
        return _json(self._readable(self._message(channel_id, message_id)))

    async def edit_message(self, rec: RecordedRequest, channel_id: str, message_id: str):
        msg = self._message(channel_id, message_id)
        if msg.author is not self.state.bot_user:
            raise DiscordError(403, CANNOT_EDIT_OTHERS_MESSAGE)
        data = rec.json if isinstance(rec.json, dict) else {}
        validate_message(data, creating=False)
        self.state.edit_message(msg, data, rec.parts)
        for handle in self.state.interactions.values():  # keep interaction views current
            if msg in handle.touched:
                handle.touch(msg)
        return _json(msg.payload())

    async def delete_message(self, rec: RecordedRequest, channel_id: str, message_id: str):
        msg = self._message(channel_id, message_id)
        if msg.author is not self.state.bot_user:
            self._require(self._channel(channel_id), perms.MANAGE_MESSAGES)
        self.state.delete_message(msg)
        return _no_content()

    # -- guilds --------------------------------------------------------------------------------

    def _guild(self, guild_id: str):
        guild = self.state.guilds.get(int(guild_id)) if guild_id.isdigit() else None
        if guild is None:
            raise DiscordError(404, UNKNOWN_GUILD)
        return guild

    async def get_guild(self, rec: RecordedRequest, guild_id: str) -> web.Response:
        guild = self._guild(guild_id)
        data = guild.rest_payload()
        if _truthy(rec.query.get("with_counts")):
            data.update(approximate_member_count=len(guild.members), approximate_presence_count=0)
        return _json(data)

    async def get_guild_channels(self, rec: RecordedRequest, guild_id: str) -> web.Response:
        return _json([c.payload() for c in self._guild(guild_id).channels.values()])

    async def get_member(self, rec: RecordedRequest, guild_id: str, user_id: str) -> web.Response:
        guild = self._guild(guild_id)
        member = guild.members.get(int(user_id)) if user_id.isdigit() else None
        if member is None:
            raise DiscordError(404, UNKNOWN_MEMBER)
        return _json(member.payload())

    # -- threads -------------------------------------------------------------------------------

    def _require_visible(self, thread: FakeChannel) -> None:
        guild = self.state.guilds[thread.guild_id]  # type: ignore[index]
        if not guild.can_see(self.state.bot_user.id, thread):
            raise DiscordError(403, MISSING_ACCESS)

    def _require_postable(self, thread: FakeChannel) -> None:
        """Posting in a thread needs Send Messages in Threads (not Send Messages), the thread in
        sight, and Manage Threads if it is locked; an archived, unlocked one is reopened."""
        self._require(thread, perms.VIEW_CHANNEL | perms.SEND_MESSAGES_IN_THREADS)
        self._require_visible(thread)
        if thread.locked and not self._has(thread, perms.MANAGE_THREADS):
            raise DiscordError(403, MISSING_PERMISSIONS)

    @staticmethod
    def _thread_fields(body: dict) -> tuple[str, int | None, int]:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise form_error("name", "BASE_TYPE_REQUIRED", "This field is required")
        if len(name) > 100:
            raise form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        duration = body.get("auto_archive_duration")
        if duration is not None and duration not in ARCHIVE_DURATIONS:
            raise form_error(
                "auto_archive_duration",
                "BASE_TYPE_CHOICES",
                f"Value must be one of {ARCHIVE_DURATIONS}.",
            )
        rate = body.get("rate_limit_per_user") or 0
        if not isinstance(rate, int) or not 0 <= rate <= 21600:
            raise form_error(
                "rate_limit_per_user", "NUMBER_TYPE_MAX", "int value should be <= 21600."
            )
        return name, duration, rate

    @staticmethod
    def _applied_tags(forum: FakeChannel | None, tags: Any) -> list[int]:
        if tags is None:
            return []
        if forum is None or not forum.is_forum:
            raise DiscordError(400, WRONG_CHANNEL_TYPE)
        if not isinstance(tags, list):
            raise form_error("applied_tags", "BASE_TYPE_BAD_TYPE", "Must be an array.")
        if len(tags) > 5:
            raise form_error(
                "applied_tags", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."
            )
        known = {t["id"] for t in forum.available_tags}
        for i, tag in enumerate(tags):
            if str(tag) not in known:
                raise form_error(f"applied_tags.{i}", "TAG_INVALID", f"Unknown tag {tag}.")
        return [int(t) for t in tags]

    async def start_thread(self, rec: RecordedRequest, channel_id: str) -> web.Response:
        """POST /channels/{id}/threads: a forum post (with its first ``message``), or a thread
        without a message in a text channel (``type`` 11 public / 12 private, default 12)."""
        state = self.state
        bot = state.bot_user
        chan = self._channel(channel_id)
        body = rec.json if isinstance(rec.json, dict) else {}
        guild = state.guilds[chan.guild_id] if chan.guild_id is not None else None
        if guild is None or not (chan.is_forum or chan.type == GUILD_TEXT):
            raise DiscordError(400, WRONG_CHANNEL_TYPE)
        if chan.is_forum:
            self._require(chan, perms.VIEW_CHANNEL | perms.SEND_MESSAGES)
            message = body.get("message")
            if not isinstance(message, dict):
                raise form_error("message", "BASE_TYPE_REQUIRED", "This field is required")
            name, duration, rate = self._thread_fields(body)
            tags = self._applied_tags(chan, body.get("applied_tags"))
            validate_message(message, creating=True, n_files=len(rec.files))
            if rec.files:
                self._require(chan, perms.ATTACH_FILES)
            if message.get("flags"):
                message = dict(message, flags=message["flags"] & ~FLAG_EPHEMERAL)
            thread = state.create_thread(
                chan,
                name,
                bot,
                type=PUBLIC_THREAD,
                auto_archive_duration=duration,
                applied_tags=tags,
                rate_limit_per_user=rate,
            )
            state.emit_thread("THREAD_CREATE", thread, newly_created=True)
            # the first message of a forum post has the thread's id
            msg = state.create_message(thread, bot, message, rec.parts, id=thread.id)
            data = thread.payload(me=bot.id)
            data["message"] = msg.payload()
        else:
            ttype = body.get("type", PRIVATE_THREAD)
            if ttype not in (PUBLIC_THREAD, PRIVATE_THREAD):
                raise form_error(
                    "type", "BASE_TYPE_CHOICES", "Value must be one of (10, 11, 12)."
                )
            need = perms.CREATE_PUBLIC_THREADS if ttype == PUBLIC_THREAD else (
                perms.CREATE_PRIVATE_THREADS
            )
            self._require(chan, perms.VIEW_CHANNEL | need)
            name, duration, rate = self._thread_fields(body)
            if body.get("applied_tags"):
                raise DiscordError(400, WRONG_CHANNEL_TYPE)
            thread = state.create_thread(
                chan,
                name,
                bot,
                type=ttype,
                auto_archive_duration=duration,
                invitable=bool(body.get("invitable", True)),
                rate_limit_per_user=rate,
            )
            state.emit_thread("THREAD_CREATE", thread, newly_created=True)
            if ttype == PUBLIC_THREAD:  # Discord announces a public thread in its channel
                ref = {"channel_id": str(thread.id), "guild_id": str(guild.id)}
                state.create_message(
                    chan,
                    bot,
                    {"content": name, "message_reference": ref},
                    type=MSG_THREAD_CREATED,
                )
            data = thread.payload(me=bot.id)
        self._audit(rec, "thread_create", guild.id, thread.id, {"name": name})
        return _json(data, 201)

    async def start_thread_from_message(
        self, rec: RecordedRequest, channel_id: str, message_id: str
    ) -> web.Response:
        """POST /channels/{id}/messages/{mid}/threads: a public thread whose id is the message's."""
        state = self.state
        bot = state.bot_user
        chan = self._channel(channel_id)
        msg = self._message(channel_id, message_id)
        if chan.type != GUILD_TEXT:
            raise DiscordError(400, WRONG_CHANNEL_TYPE)
        self._require(
            chan, perms.VIEW_CHANNEL | perms.READ_MESSAGE_HISTORY | perms.CREATE_PUBLIC_THREADS
        )
        if msg.id in state.channels:
            raise DiscordError(400, THREAD_ALREADY_CREATED)
        body = rec.json if isinstance(rec.json, dict) else {}
        name, duration, rate = self._thread_fields(body)
        thread = state.create_thread(
            chan,
            name,
            bot,
            type=PUBLIC_THREAD,
            auto_archive_duration=duration,
            rate_limit_per_user=rate,
            id=msg.id,
        )
        msg.flags |= FLAG_HAS_THREAD
        state.emit_thread("THREAD_CREATE", thread, newly_created=True)
        self._audit(rec, "thread_create", thread.guild_id or 0, thread.id, {"name": name})
        return _json(thread.payload(me=bot.id), 201)

    async def edit_channel(self, rec: RecordedRequest, channel_id: str) -> web.Response:
        """PATCH /channels/{id}: a thread's name/archived/locked/auto_archive_duration/
        applied_tags/invitable/rate_limit_per_user; a channel's name/topic (Manage Channels)."""
        state = self.state
        bot = state.bot_user
        chan = self._channel(channel_id)
        body = rec.json if isinstance(rec.json, dict) else {}
        if chan.guild_id is None:
            raise DiscordError(400, WRONG_CHANNEL_TYPE)
        if not chan.is_thread:
            self._require(chan, perms.VIEW_CHANNEL | perms.MANAGE_CHANNELS)
            for key in ("name", "topic"):
                if key in body:
                    setattr(chan, key, body[key])
            data = chan.payload()
            state.emit(GatewayEvent("CHANNEL_UPDATE", data, chan.guild_id, INTENT_GUILDS))
            return _json(data)
        self._require_visible(chan)
        manage = self._has(chan, perms.MANAGE_THREADS)
        mine = chan.owner_id == bot.id
        changes: dict[str, Any] = {}
        if "locked" in body and bool(body["locked"]) != chan.locked:
            if not manage:
                raise DiscordError(403, MISSING_PERMISSIONS)  # locking takes Manage Threads
            changes["locked"] = bool(body["locked"])
        if "archived" in body and bool(body["archived"]) != chan.archived:
            if not (manage or (mine and not chan.locked)):
                raise DiscordError(403, MISSING_PERMISSIONS)
            changes["archived"] = bool(body["archived"])
        if chan.archived and changes.get("archived", True) and set(body) - {"archived", "locked"}:
            raise DiscordError(400, THREAD_ARCHIVED)
        other = {k: body[k] for k in body if k not in ("archived", "locked")}
        if other and not (manage or mine):
            raise DiscordError(403, MISSING_PERMISSIONS)
        if "name" in other or "auto_archive_duration" in other or "rate_limit_per_user" in other:
            fields = {"name": chan.name, **other}
            name, duration, rate = self._thread_fields(fields)
            changes["name"] = name
            if "auto_archive_duration" in other:
                changes["auto_archive_duration"] = duration
            if "rate_limit_per_user" in other:
                changes["rate_limit_per_user"] = rate
        if "applied_tags" in other:
            parent = state.channels.get(chan.parent_id or 0)
            changes["applied_tags"] = self._applied_tags(parent, other["applied_tags"])
        if "invitable" in other and chan.type == PRIVATE_THREAD:
            changes["invitable"] = bool(other["invitable"])
        state.update_thread(chan, **changes)
        self._audit(rec, "thread_update", chan.guild_id, chan.id, changes)
        return _json(chan.payload(me=bot.id))

    async def delete_channel(self, rec: RecordedRequest, channel_id: str) -> web.Response:
        """DELETE /channels/{id}: a thread (Manage Threads; THREAD_DELETE) or a channel
        (Manage Channels; CHANNEL_DELETE, with its threads). Returns the deleted channel."""
        chan = self._channel(channel_id)
        if chan.guild_id is None:
            raise DiscordError(400, WRONG_CHANNEL_TYPE)
        if chan.is_thread:
            self._require_visible(chan)
            self._require(chan, perms.VIEW_CHANNEL | perms.MANAGE_THREADS)
        else:
            self._require(chan, perms.VIEW_CHANNEL | perms.MANAGE_CHANNELS)
        data = chan.payload(me=self.state.bot_user.id)
        self.state.delete_channel(chan)
        self._audit(rec, "channel_delete", chan.guild_id, chan.id, {"name": chan.name})
        return _json(data)

    def _thread_member_target(self, channel_id: str, user_id: str) -> tuple[FakeChannel, int]:
        thread = self._channel(channel_id)
        if not thread.is_thread:
            raise DiscordError(400, WRONG_CHANNEL_TYPE)
        self._require_visible(thread)
        uid = self.state.bot_user.id if user_id == "@me" else None
        if uid is None:
            guild = self.state.guilds[thread.guild_id]
            if not user_id.isdigit() or int(user_id) not in guild.members:
                raise DiscordError(404, UNKNOWN_MEMBER)
            uid = int(user_id)
        return thread, uid

    def _emit_thread_members(
        self, thread: FakeChannel, uid: int, *, added: bool
    ) -> None:
        data: dict[str, Any] = {
            "id": str(thread.id),
            "guild_id": str(thread.guild_id),
            "member_count": min(len(thread.thread_members), 50),
        }
        if added:
            data["added_members"] = [thread.thread_member_payload(uid)]
        else:
            data["removed_member_ids"] = [str(uid)]
        # without GUILD_MEMBERS a bot hears only of its own joins and leaves
        intent = INTENT_GUILDS if uid == self.state.bot_user.id else INTENT_GUILD_MEMBERS
        self.state.emit(GatewayEvent("THREAD_MEMBERS_UPDATE", data, thread.guild_id, intent))

    async def get_thread_members(self, rec: RecordedRequest, channel_id: str) -> web.Response:
        thread = self._channel(channel_id)
        if not thread.is_thread:
            raise DiscordError(400, WRONG_CHANNEL_TYPE)
        self._require_visible(thread)
        return _json([thread.thread_member_payload(uid) for uid in thread.thread_members])

    async def add_thread_member(
        self, rec: RecordedRequest, channel_id: str, user_id: str
    ) -> web.Response:
        """PUT …/thread-members/@me (join) or …/{user_id} (add someone: Send Messages in
        Threads)."""
        thread, uid = self._thread_member_target(channel_id, user_id)
        if thread.archived:
            raise DiscordError(400, THREAD_ARCHIVED)
        if uid != self.state.bot_user.id:
            self._require(thread, perms.SEND_MESSAGES_IN_THREADS)
        if uid not in thread.thread_members:
            thread.thread_members[uid] = iso_now()
            self._emit_thread_members(thread, uid, added=True)
        return _no_content()

    async def remove_thread_member(
        self, rec: RecordedRequest, channel_id: str, user_id: str
    ) -> web.Response:
        """DELETE …/thread-members/@me (leave) or …/{user_id} (Manage Threads, or the owner of
        a private thread)."""
        thread, uid = self._thread_member_target(channel_id, user_id)
        if thread.archived:
            raise DiscordError(400, THREAD_ARCHIVED)
        bot = self.state.bot_user
        owns_private = thread.type == PRIVATE_THREAD and thread.owner_id == bot.id
        if uid != bot.id and not self._has(thread, perms.MANAGE_THREADS) and not owns_private:
            raise DiscordError(403, MISSING_PERMISSIONS)
        if thread.thread_members.pop(uid, None) is not None:
            self._emit_thread_members(thread, uid, added=False)
        return _no_content()

    async def get_active_threads(self, rec: RecordedRequest, guild_id: str) -> web.Response:
        guild = self._guild(guild_id)
        bot_id = self.state.bot_user.id
        threads = [t for t in guild.active_threads if guild.can_see(bot_id, t)]
        return _json(
            {
                "threads": [t.payload() for t in threads],
                "members": [
                    t.thread_member_payload(bot_id) for t in threads if bot_id in t.thread_members
                ],
            }
        )

    # -- roles ---------------------------------------------------------------------------------

    async def get_roles(self, rec: RecordedRequest, guild_id: str) -> web.Response:
        guild = self._guild(guild_id)
        return _json([r.payload() for r in sorted(guild.roles.values(), key=guild.role_rank)])

    def _role_change(
        self, guild_id: str, user_id: str, role_id: str
    ) -> tuple[FakeGuild, FakeMember, FakeRole]:
        """Discord's rule: Manage Roles, and the role strictly below the bot's highest role
        (the guild owner excepted; Administrator does not lift it); managed roles and
        @everyone cannot be given. Anything else: 403 / 50013."""
        guild = self._guild(guild_id)
        member = guild.members.get(int(user_id)) if user_id.isdigit() else None
        if member is None:
            raise DiscordError(404, UNKNOWN_MEMBER)
        role = guild.roles.get(int(role_id)) if role_id.isdigit() else None
        if role is None:
            raise DiscordError(404, UNKNOWN_ROLE)
        bot_id = self.state.bot_user.id
        if not guild.permissions_for(bot_id) & perms.MANAGE_ROLES:
            raise DiscordError(403, MISSING_PERMISSIONS)
        if bot_id != guild.owner_id and guild.role_rank(role) >= guild.role_rank(
            guild.top_role(bot_id)
        ):
            raise DiscordError(403, MISSING_PERMISSIONS)
        if role.managed or role.id == guild.id:
            raise DiscordError(403, MISSING_PERMISSIONS)
        return guild, member, role

    async def edit_member(self, rec: RecordedRequest, guild_id: str, user_id: str):
        """PATCH /guilds/{gid}/members/{uid}: ``roles`` (every role added or removed follows
        the rule below; managed roles can be neither added nor removed) and ``nick`` (Manage
        Nicknames). Other fields are refused (400)."""
        guild = self._guild(guild_id)
        member = guild.members.get(int(user_id)) if user_id.isdigit() else None
        if member is None:
            raise DiscordError(404, UNKNOWN_MEMBER)
        body = rec.json if isinstance(rec.json, dict) else {}
        unsupported = set(body) - {"roles", "nick"}
        if unsupported:
            raise form_error(
                sorted(unsupported)[0], "UNSUPPORTED", "The fake does not model this field."
            )
        bot_id = self.state.bot_user.id
        changes: dict[str, Any] = {}
        if "nick" in body:
            if not guild.permissions_for(bot_id) & perms.MANAGE_NICKNAMES:
                raise DiscordError(403, MISSING_PERMISSIONS)
            member.nick = body["nick"] or None
            changes["nick"] = member.nick
        if "roles" in body:
            wanted = [str(r) for r in body["roles"] or []]
            for rid in wanted:
                if not rid.isdigit() or int(rid) not in guild.roles:
                    raise DiscordError(404, UNKNOWN_ROLE)
            new_ids = list(dict.fromkeys(int(r) for r in wanted if int(r) != guild.id))
            for changed in set(new_ids) ^ set(member.role_ids):
                self._role_change(guild_id, user_id, str(changed))
            changes["roles"] = new_ids
            member.role_ids = new_ids
        if changes:
            self.state.set_member_roles(guild, member, member.role_ids)  # GUILD_MEMBER_UPDATE
            self._audit(rec, "member_update", guild.id, member.user.id, changes)
        return _json(member.payload())

    async def add_member_role(
        self, rec: RecordedRequest, guild_id: str, user_id: str, role_id: str
    ) -> web.Response:
        guild, member, role = self._role_change(guild_id, user_id, role_id)
        if role.id not in member.role_ids:
            self.state.set_member_roles(guild, member, [*member.role_ids, role.id])
            self._audit(rec, "member_role_add", guild.id, member.user.id, {"role_id": role.id})
        return _no_content()

    async def remove_member_role(
        self, rec: RecordedRequest, guild_id: str, user_id: str, role_id: str
    ) -> web.Response:
        guild, member, role = self._role_change(guild_id, user_id, role_id)
        if role.id in member.role_ids:
            self.state.set_member_roles(
                guild, member, [r for r in member.role_ids if r != role.id]
            )
            self._audit(rec, "member_role_remove", guild.id, member.user.id, {"role_id": role.id})
        return _no_content()
