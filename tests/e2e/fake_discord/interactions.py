"""Interaction payloads as Discord sends them, and the handle tests use to watch the bot respond."""

from __future__ import annotations

import asyncio
import base64
import copy
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import perms
from .models import FakeChannel, FakeGuild, FakeMessage, FakeUser, walk_components
from .recording import Part

if TYPE_CHECKING:
    from .store import FakeState

# Interaction types
PING = 1
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Callback (response) types
PONG = 1
CHANNEL_MESSAGE_WITH_SOURCE = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
MODAL = 9
LAUNCH_ACTIVITY = 12

#: callback types Discord accepts for each interaction type
ALLOWED_CALLBACKS = {
    PING: {PONG},
    APPLICATION_COMMAND: {4, 5, 9, 12},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9, 12},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}

# Application command option types
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
INTEGER = 4
BOOLEAN = 5
USER = 6
CHANNEL = 7
ROLE = 8
MENTIONABLE = 9
NUMBER = 10
ATTACHMENT = 11

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


@dataclass
class Callback:
    """One POST /interactions/{id}/{token}/callback the bot made."""

    type: int
    data: dict | None
    files: list[Part]
    at: float  # event-loop time the request arrived
    with_response: bool

    @property
    def ephemeral(self) -> bool:
        return bool(((self.data or {}).get("flags") or 0) & 64)


@dataclass(eq=False)
class InteractionHandle:
    """What a test holds after ``fake.slash(...)`` / ``fake.click(...)``."""

    state: FakeState
    id: int
    token: str
    type: int
    payload: dict
    user: FakeUser
    guild: FakeGuild | None
    channel: FakeChannel
    source_message: FakeMessage | None = None  # the message a component sat on
    created_at: float = 0.0
    dispatched_at: float | None = None  # event-loop time the gateway frame went out
    callbacks: list[Callback] = field(default_factory=list)
    original: FakeMessage | None = None
    followups: list[FakeMessage] = field(default_factory=list)
    #: after a type-5 deferral, the first followup fills in the "thinking…" message
    pending_deferred: bool = False
    original_deleted: bool = False
    touched: list[FakeMessage] = field(default_factory=list)
    #: callbacks Discord refused (late, second ack, invalid body): (body, DiscordError)
    rejected: list[tuple[dict, Exception]] = field(default_factory=list)

    # -- status --------------------------------------------------------------------------------

    @property
    def responded(self) -> bool:
        return bool(self.callbacks)

    @property
    def first_callback(self) -> Callback | None:
        return self.callbacks[0] if self.callbacks else None

    @property
    def ack_latency(self) -> float | None:
        """Seconds from the INTERACTION_CREATE frame leaving the fake to the first callback."""
        if not self.callbacks or self.dispatched_at is None:
            return None
        return self.callbacks[0].at - self.dispatched_at

    @property
    def choices(self) -> list[dict] | None:
        """Autocomplete choices the bot returned (type 8), else None."""
        cb = self.first_callback
        if cb is None or cb.type != APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            return None
        return list((cb.data or {}).get("choices", []))

    @property
    def modal(self) -> dict | None:
        cb = self.first_callback
        return cb.data if cb is not None and cb.type == MODAL else None

    @property
    def messages(self) -> list[FakeMessage]:
        out = [self.original] if self.original is not None else []
        return out + [m for m in self.followups if m is not self.original]

    @property
    def last_message(self) -> FakeMessage | None:
        return self.touched[-1] if self.touched else None

    def touch(self, msg: FakeMessage) -> None:
        self.touched.append(msg)
        self.state.notify()

    # -- waiting -------------------------------------------------------------------------------

    async def response(self, timeout: float = 3.0) -> Callback:
        """The first callback (type + data), waiting up to ``timeout`` seconds for it."""
        try:
            return await self.state.wait_for(
                lambda: self.first_callback, timeout, f"a response to interaction {self.id}"
            )
        except TimeoutError as exc:
            if self.rejected:
                reasons = "; ".join(f"{body.get('type')}: {err}" for body, err in self.rejected)
                raise TimeoutError(f"{exc} (rejected callbacks: {reasons})") from None
            raise

    async def wait_followups(self, count: int = 1, timeout: float = 5.0) -> list[FakeMessage]:
        await self.state.wait_for(
            lambda: len(self.followups) >= count, timeout, f"{count} followup(s) on {self.id}"
        )
        return list(self.followups)

    async def final_message(self, timeout: float = 5.0, settle: float = 0.1) -> FakeMessage:
        """The message this interaction ended up producing, after deferrals/edits/followups.

        Waits until there is a non-loading result (the reply; the filled-in "thinking…" message;
        the component message after an UPDATE_MESSAGE, or after a DEFERRED_UPDATE_MESSAGE
        followed by an edit; or a followup), then until nothing changed for ``settle`` seconds,
        and returns the most recently created or edited one.
        """
        state = self.state

        def settled_result() -> FakeMessage | None:
            cb = self.first_callback
            if cb is None:
                return None
            if cb.type in (APPLICATION_COMMAND_AUTOCOMPLETE_RESULT, MODAL, PONG):
                raise RuntimeError(
                    f"interaction {self.id} was answered with type {cb.type}, no message"
                )
            candidates = [m for m in self.touched if not m.loading]
            if cb.type == DEFERRED_UPDATE_MESSAGE:
                candidates = [m for m in candidates if m.updated_at > cb.at or m in self.followups]
            if not candidates:
                return None
            last = candidates[-1]
            latest_change = max(m.updated_at for m in self.touched)
            if state.now() - latest_change < settle:
                return None
            return last

        deadline = state.now() + timeout
        while True:
            result = settled_result()
            if result is not None:
                return result
            if state.now() >= deadline:
                have = [(m.id, m.loading, m.content[:30]) for m in self.touched]
                raise TimeoutError(
                    f"no final message for interaction {self.id} after {timeout}s "
                    f"(callbacks={[c.type for c in self.callbacks]}, messages={have})"
                )
            await asyncio.sleep(min(0.02, settle / 2))

    def __repr__(self) -> str:
        kind = {2: "command", 3: "component", 4: "autocomplete", 5: "modal"}.get(
            self.type, self.type
        )
        types = [c.type for c in self.callbacks]
        n = len(self.followups)
        return f"<InteractionHandle {kind} id={self.id} callbacks={types} followups={n}>"


# -- payload building -------------------------------------------------------------------------


def _token(interaction_id: int) -> str:
    prefix = base64.b64encode(f"interaction:{interaction_id}:".encode()).decode().rstrip("=")
    return prefix + secrets.token_urlsafe(96)


def _checked_value(opt: dict | None, typ: int, value: Any, where: str) -> Any:
    """Coerce like Discord's client does and refuse what its client would not let one send."""
    try:
        if typ == INTEGER:
            value = int(value)
        elif typ == NUMBER:
            value = float(value)
        elif typ == BOOLEAN and not isinstance(value, bool):
            raise ValueError
        elif typ == STRING:
            value = str(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {value!r} is not valid for option type {typ}") from None
    if opt is None:
        return value
    choices = opt.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise ValueError(f"{where}: {value!r} is not one of {[c['value'] for c in choices]}")
    lo, hi = opt.get("min_value"), opt.get("max_value")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{where}: {value!r} is outside [{lo}, {hi}]")
    lo, hi = opt.get("min_length"), opt.get("max_length")
    if typ == STRING and (
        (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi)
    ):
        raise ValueError(f"{where}: length {len(value)} is outside [{lo}, {hi}]")
    return value


def _infer_type(value: Any) -> int:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, FakeUser):
        return USER
    if isinstance(value, FakeChannel):
        return CHANNEL
    return STRING


class PayloadFactory:
    """Builds INTERACTION_CREATE payloads with the fields Discord includes (API v10)."""

    def __init__(self, state: FakeState) -> None:
        self.state = state

    def base(
        self,
        type: int,
        data: dict,
        *,
        user: FakeUser,
        guild: FakeGuild | None,
        channel: FakeChannel,
        locale: str,
    ) -> tuple[int, str, dict]:
        state = self.state
        iid = state.ids.next()
        token = _token(iid)
        chan = channel.payload()
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(state.application_id),
            "type": type,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "app_permissions": str(state.app_permissions(channel)),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "channel_id": str(channel.id),
            "channel": chan,
        }
        if guild is not None:
            member = guild.members.get(user.id)
            if member is None:
                raise LookupError(f"{user.username} is not a member of guild {guild.name!r}")
            permissions = guild.permissions_for(user.id)
            chan["permissions"] = str(permissions)
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": guild.locale, "features": []},
                guild_locale=guild.locale,
                member=member.payload(permissions=permissions),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,  # GUILD
            )
        else:
            payload.update(
                user=user.payload(),
                authorizing_integration_owners={"0": "0"},
                context=1,  # BOT_DM
            )
        return iid, token, payload

    # options ----------------------------------------------------------------------------------

    def _resolve(self, resolved: dict, typ: int, value: Any, guild: FakeGuild | None) -> str:
        state = self.state
        if typ in (USER, MENTIONABLE) and not isinstance(value, FakeChannel):
            user = state.user(value)
            resolved.setdefault("users", {})[str(user.id)] = user.payload()
            if guild is not None and user.id in guild.members:
                member = guild.members[user.id].payload(permissions=guild.permissions_for(user.id))
                member.pop("user")
                resolved.setdefault("members", {})[str(user.id)] = member
            return str(user.id)
        if typ == CHANNEL:
            chan = state.channel(value)
            data = chan.payload()
            data["permissions"] = str(guild.permissions_for(self._current_user.id) if guild else 0)
            resolved.setdefault("channels", {})[str(chan.id)] = data
            return str(chan.id)
        if typ == ROLE:
            role_id = getattr(value, "id", value)
            if guild is None or int(role_id) not in guild.roles:
                raise LookupError(f"unknown role {value!r}")
            resolved.setdefault("roles", {})[str(role_id)] = guild.roles[int(role_id)].payload()
            return str(role_id)
        raise NotImplementedError(f"option type {typ} is not supported by the fake")

    def build_options(
        self,
        schema: list[dict] | None,
        values: dict[str, Any],
        resolved: dict,
        guild: FakeGuild | None,
        *,
        focused: str | None,
        where: str,
    ) -> list[dict]:
        by_name = {o["name"]: o for o in (schema or [])}
        out = []
        for name, value in values.items():
            opt = by_name.get(name)
            if schema is not None and opt is None:
                raise ValueError(f"{where} has no option {name!r}; it has {sorted(by_name)}")
            typ = opt["type"] if opt else _infer_type(value)
            item: dict[str, Any] = {"name": name, "type": typ}
            if name == focused:
                # while typing, Discord sends the partial text, whatever the option type
                item["value"] = value if isinstance(value, str) else str(value)
                item["focused"] = True
            elif typ in (USER, CHANNEL, ROLE, MENTIONABLE):
                allowed = (opt or {}).get("channel_types")
                if typ == CHANNEL and allowed and self.state.channel(value).type not in allowed:
                    raise ValueError(
                        f"{where} {name}: Discord offers only channel types {allowed}, not "
                        f"{self.state.channel(value).type}"
                    )
                item["value"] = self._resolve(resolved, typ, value, guild)
            else:
                item["value"] = _checked_value(opt, typ, value, f"{where} {name}")
            out.append(item)
        if schema is not None and focused is None:
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
            if missing:
                raise ValueError(f"{where}: required option(s) {missing} missing")
        return out

    def command_data(
        self,
        command: str,
        options: dict[str, Any],
        *,
        guild: FakeGuild | None,
        user: FakeUser,
        focused: str | None = None,
        strict: bool = True,
        check_permissions: bool = True,
    ) -> dict:
        self._current_user = user
        path = command.strip().lstrip("/").split()
        if not 1 <= len(path) <= 3:
            raise ValueError(f"bad command path {command!r}")
        top = self.state.find_command(path[0], guild.id if guild else None)
        if top is None:
            if strict:
                raise LookupError(
                    f"/{path[0]} is not registered with the fake Discord (did the bot sync its "
                    f"command tree?) — registered: {self._registered_names(guild)}"
                )
            top = {"id": str(self.state.ids.next()), "name": path[0], "type": 1}
        if check_permissions:
            self._check_visible(top, guild, user)
        resolved: dict = {}
        # without a registered schema (strict=False) option types are inferred from the values
        schema: list[dict] | None = (top.get("options") or []) if "version" in top else None
        chain: list[tuple[str, int]] = []
        for depth, name in enumerate(path[1:], start=1):
            opt = None
            if schema is not None:
                opt = next((o for o in schema if o["name"] == name and o["type"] in (1, 2)), None)
                if opt is None:
                    raise LookupError(f"/{' '.join(path[:depth])} has no sub-command {name!r}")
                schema = opt.get("options") or []
            last = depth == len(path) - 1
            typ = opt["type"] if opt else (SUB_COMMAND if last else SUB_COMMAND_GROUP)
            chain.append((name, typ))
        if schema is not None and any(o["type"] in (1, 2) for o in schema):
            raise ValueError(f"/{command} is a group; name a sub-command")
        opts = self.build_options(
            schema, options, resolved, guild, focused=focused, where=f"/{' '.join(path)}"
        )
        for name, typ in reversed(chain):
            wrapped: dict[str, Any] = {"name": name, "type": typ}
            if opts:
                wrapped["options"] = opts
            opts = [wrapped]
        data: dict[str, Any] = {"id": top["id"], "name": top["name"], "type": top.get("type", 1)}
        if opts:
            data["options"] = opts
        if resolved:
            data["resolved"] = resolved
        if top.get("guild_id"):
            data["guild_id"] = top["guild_id"]
        return data

    def _registered_names(self, guild: FakeGuild | None) -> list[str]:
        scopes = [None] + ([guild.id] if guild else [])
        return sorted({c["name"] for s in scopes for c in self.state.commands.get(s, [])})

    def _check_visible(self, cmd: dict, guild: FakeGuild | None, user: FakeUser) -> None:
        """Discord's client does not offer a command the user may not run there."""
        if guild is None:
            contexts = cmd.get("contexts")
            if (
                cmd.get("guild_id")
                or cmd.get("dm_permission") is False
                or (contexts is not None and 1 not in contexts)
            ):
                raise PermissionError(f"/{cmd['name']} is not available in DMs")
            return
        contexts = cmd.get("contexts")
        if contexts is not None and 0 not in contexts:
            raise PermissionError(f"/{cmd['name']} is not available in guilds")
        required = cmd.get("default_member_permissions")
        if required is not None:
            need = int(required)
            have = guild.permissions_for(user.id)
            hidden = have != perms.ALL if need == 0 else have & need != need  # "0": admins only
            if hidden:
                raise PermissionError(
                    f"Discord would not show /{cmd['name']} to {user.username}: needs "
                    f"{need:#x}, has {have:#x} (pass check_permissions=False to send it anyway)"
                )

    def component_data(
        self, message: FakeMessage, custom_id: str, values: list[str] | None, *, check: bool
    ) -> dict:
        comp: dict | None = None
        for c in walk_components(message.components):
            if c.get("custom_id") == custom_id:
                comp = c
        if comp is None and check:
            raise LookupError(
                f"message {message.id} has no component {custom_id!r}; it has {message.custom_ids}"
            )
        if comp is not None and check and comp.get("disabled"):
            raise PermissionError(f"component {custom_id!r} is disabled; Discord would not send it")
        ctype = comp.get("type", 2) if comp else (3 if values is not None else 2)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
        if ctype != 2:
            data["values"] = list(values or [])
        return data

    @staticmethod
    def modal_data(modal: dict, values: dict[str, Any]) -> dict:
        """MODAL_SUBMIT data mirroring the modal's layout (action rows or labels)."""
        unknown = set(values) - {c.get("custom_id") for c in walk_components(_modal_inner(modal))}
        if unknown:
            raise LookupError(f"modal {modal.get('custom_id')!r} has no input(s) {sorted(unknown)}")

        def submitted(comp: dict) -> dict:
            ctype = comp.get("type")
            out: dict[str, Any] = {"type": ctype}
            if "id" in comp:
                out["id"] = comp["id"]
            if ctype == 1:
                out["components"] = [submitted(c) for c in comp.get("components", [])]
            elif ctype == 18:
                out["component"] = submitted(comp["component"])
            elif ctype == 4:
                cid = comp["custom_id"]
                value = values.get(cid, comp.get("value") or "")
                if comp.get("required", True) and not value:
                    raise ValueError(f"text input {cid!r} is required")
                _check_len(cid, value, comp)
                out.update(custom_id=cid, value=value)
            elif "custom_id" in comp:  # selects inside labels
                out.update(
                    custom_id=comp["custom_id"], values=list(values.get(comp["custom_id"], []))
                )
            return out

        return {
            "custom_id": modal["custom_id"],
            "components": [submitted(c) for c in modal.get("components", [])],
        }

    @staticmethod
    def message_payload(message: FakeMessage) -> dict:
        return copy.deepcopy(message.payload())


def _modal_inner(modal: dict) -> list[dict]:
    out = []
    for comp in walk_components(modal.get("components")):
        if comp.get("type") == 18 and isinstance(comp.get("component"), dict):
            out.append(comp["component"])
    return list(modal.get("components", [])) + out


def _check_len(custom_id: str, value: str, comp: dict) -> None:
    lo, hi = comp.get("min_length"), comp.get("max_length")
    if (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi):
        raise ValueError(f"text input {custom_id!r} must be {lo}..{hi} characters")
