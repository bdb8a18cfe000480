"""The gateway websocket: HELLO/IDENTIFY/READY/GUILD_CREATE, heartbeats, RESUME with replay,
RECONNECT, invalid sessions, member chunks, sharding, and dispatch routing by shard."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .models import (
    INTENT_GUILD_MEMBERS,
    INTENT_MESSAGE_CONTENT,
    PRIVILEGED_INTENTS,
)
from .snowflake import shard_for
from .store import FakeState, GatewayEvent

log = logging.getLogger("fake_discord.gateway")

# opcodes
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11

# close codes
UNKNOWN_OPCODE, DECODE_ERROR, NOT_AUTHENTICATED, AUTHENTICATION_FAILED = 4001, 4002, 4003, 4004
ALREADY_AUTHENTICATED, INVALID_SHARD, DISALLOWED_INTENTS = 4005, 4010, 4014


@dataclass
class DispatchRecord:
    seq: int
    name: str
    data: dict
    on_sent: Callable[[float], None] | None = None
    sent: bool = False


class Connection:
    """One websocket connection (a session may see several over its life)."""

    def __init__(self, ws: web.WebSocketResponse, path: str, query: dict[str, str]) -> None:
        self.ws = ws
        self.path = path
        self.query = query
        self.compress = query.get("compress")
        self._zlib = zlib.compressobj() if self.compress == "zlib-stream" else None
        self.session: Session | None = None
        self.received: list[dict] = []
        self.sent: list[dict] = []
        self.close_code: int | None = None
        self._lock = asyncio.Lock()

    async def send(self, payload: dict) -> bool:
        async with self._lock:
            if self.ws.closed:
                return False
            raw = json.dumps(payload, separators=(",", ":"))
            try:
                if self._zlib is not None:
                    # zlib-stream transport compression: one shared context, Z_SYNC_FLUSH per
                    # message, so every frame ends in 00 00 ff ff like Discord's
                    await self.ws.send_bytes(
                        self._zlib.compress(raw.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                    )
                else:
                    await self.ws.send_str(raw)
            except (ConnectionError, RuntimeError):
                return False
            self.sent.append(payload)
            return True


@dataclass(eq=False)
class Session:
    id: str
    shard: tuple[int, int] | None
    intents: int
    identify: dict
    large_threshold: int = 250
    seq: int = 0
    log: list[DispatchRecord] = field(default_factory=list)
    conn: Connection | None = None
    live: bool = False  # attached connection has had READY/RESUMED
    invalidated: bool = False
    generation: int = 0  # bumps each time a connection becomes live
    resumes: int = 0
    presence: dict | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def shard_id(self) -> int:
        return self.shard[0] if self.shard else 0

    def covers(self, guild_id: int | None) -> bool:
        if self.shard is None:
            return True
        if guild_id is None:  # DMs go to shard 0
            return self.shard[0] == 0
        return shard_for(guild_id, self.shard[1]) == self.shard[0]

    def record(self, name: str, data: dict, on_sent=None) -> DispatchRecord:
        self.seq += 1
        rec = DispatchRecord(self.seq, name, data, on_sent)
        self.log.append(rec)
        return rec

    async def send_record(self, conn: Connection, rec: DispatchRecord) -> None:
        ok = await conn.send({"op": DISPATCH, "t": rec.name, "s": rec.seq, "d": rec.data})
        if ok and not rec.sent:
            rec.sent = True
            if rec.on_sent is not None:
                rec.on_sent(asyncio.get_running_loop().time())


class Gateway:
    def __init__(
        self,
        state: FakeState,
        *,
        heartbeat_interval_ms: int,
        privileged_intents: frozenset[str] | set[str],
        base_url: Callable[[], str],
    ) -> None:
        self.state = state
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.privileged_allowed = 0
        for name in privileged_intents:
            self.privileged_allowed |= PRIVILEGED_INTENTS[name]
        self._base_url = base_url
        self.sessions: dict[str, Session] = {}
        self.connections: list[Connection] = []
        self.identifies: list[dict] = []  # IDENTIFY "d" payloads, token removed
        self.resume_requests: list[dict] = []
        self.heartbeats = 0
        self.chunk_requests: list[dict] = []
        self._tasks: set[asyncio.Task] = set()

    # -- routing -------------------------------------------------------------------------------

    def session_for(self, guild_id: int | None) -> Session | None:
        """The newest valid session whose shard owns ``guild_id`` (DMs: shard 0)."""
        for session in reversed(list(self.sessions.values())):
            if not session.invalidated and session.covers(guild_id):
                return session
        return None

    def emit(self, event: GatewayEvent) -> bool:
        session = self.session_for(event.guild_id)
        if session is None:
            return False
        if event.intent is not None and not session.intents & event.intent:
            return False
        data = event.data
        if event.privileged_content and not session.intents & INTENT_MESSAGE_CONTENT:
            data = dict(data, content="", embeds=[], attachments=[], components=[])
        session.record(event.name, data, event.on_sent)
        self._spawn(self._flush(session))
        return True

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, session: Session) -> None:
        async with session.lock:
            conn = session.conn
            if conn is None or not session.live:
                return  # buffered; replayed on RESUME
            for rec in session.log:
                if not rec.sent:
                    await session.send_record(conn, rec)

    # -- websocket handler ---------------------------------------------------------------------

    @property
    def resume_url(self) -> str:
        return self._base_url().replace("http://", "ws://") + "/resume"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(ws, request.path, dict(request.query))
        self.connections.append(conn)
        if request.query.get("encoding", "json") != "json":
            await ws.close(code=DECODE_ERROR, message=b"Error while decoding payload.")
            return ws
        await conn.send(
            {
                "op": HELLO,
                "s": None,
                "t": None,
                "d": {
                    "heartbeat_interval": self.heartbeat_interval_ms,
                    "_trace": ['["gateway-prd-fake",{"micros":0}]'],
                },
            }
        )
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=DECODE_ERROR, message=b"Error while decoding payload.")
                    break
                conn.received.append(_redact(payload))
                await self._on_payload(conn, payload)
        finally:
            conn.close_code = ws.close_code
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                session.live = False
                if ws.close_code in (1000, 1001) and not getattr(conn, "closed_by_fake", False):
                    # a client closing with 1000/1001 ends its session (it cannot be resumed)
                    session.invalidated = True
            self.state.notify()
        return ws

    async def _on_payload(self, conn: Connection, payload: dict) -> None:
        op = payload.get("op")
        data = payload.get("d")
        if op == HEARTBEAT:
            self.heartbeats += 1
            await conn.send({"op": HEARTBEAT_ACK, "s": None, "t": None, "d": None})
        elif op == IDENTIFY:
            await self._identify(conn, data or {})
        elif op == RESUME:
            await self._resume(conn, data or {})
        elif conn.session is None:
            await self._close(conn, NOT_AUTHENTICATED, "Not authenticated.")
        elif op == PRESENCE_UPDATE:
            conn.session.presence = data
        elif op == REQUEST_GUILD_MEMBERS:
            await self._request_members(conn.session, data or {})
        elif op == VOICE_STATE_UPDATE:
            pass
        else:
            await self._close(conn, UNKNOWN_OPCODE, "Unknown opcode.")

    async def _close(self, conn: Connection, code: int, reason: str) -> None:
        conn.closed_by_fake = True  # type: ignore[attr-defined]
        await conn.ws.close(code=code, message=reason.encode())

    async def _identify(self, conn: Connection, data: dict) -> None:
        if conn.session is not None:
            return await self._close(conn, ALREADY_AUTHENTICATED, "Already authenticated.")
        if data.get("token") != self.state.token:
            return await self._close(conn, AUTHENTICATION_FAILED, "Authentication failed.")
        self.identifies.append({k: v for k, v in data.items() if k != "token"})
        shard = data.get("shard")
        if shard is not None:
            if len(shard) != 2 or shard[1] < 1 or not 0 <= shard[0] < shard[1]:
                return await self._close(conn, INVALID_SHARD, "Invalid shard.")
            shard = (int(shard[0]), int(shard[1]))
        intents = int(data.get("intents", 0))
        privileged = intents & sum(PRIVILEGED_INTENTS.values())
        if privileged & ~self.privileged_allowed:
            return await self._close(conn, DISALLOWED_INTENTS, "Disallowed intent(s).")
        session = Session(
            id=secrets.token_hex(16),
            shard=shard,
            intents=intents,
            identify={k: v for k, v in data.items() if k != "token"},
            large_threshold=int(data.get("large_threshold", 50)),
            presence=data.get("presence"),
        )
        self.sessions[session.id] = session
        conn.session = session
        state = self.state
        guilds = [g for g in state.guilds.values() if session.covers(g.id)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": dict(state.bot_user.payload(), verified=True, mfa_enabled=False, email=None),
            "user_settings": {},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_url,
            "application": {"id": str(state.application_id), "flags": self.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east", "us-central", "atlanta", "us-south", "us-west"],
            "auth": {},
            "_trace": ['["gateway-prd-fake",{"micros":0}]'],
        }
        if shard is not None:
            ready["shard"] = list(shard)
        async with session.lock:
            session.conn = conn
            await session.send_record(conn, session.record("READY", ready))
            for guild in guilds:
                await session.send_record(
                    conn, session.record("GUILD_CREATE", self.guild_create(session, guild))
                )
            session.live = True
            session.generation += 1
        state.notify()

    application_flags = (1 << 15) | (1 << 19) | (1 << 23)  # *_LIMITED intents, COMMAND_BADGE

    def guild_create(self, session: Session, guild) -> dict:
        return guild.gateway_payload(
            include_all_members=bool(session.intents & INTENT_GUILD_MEMBERS),
            bot_id=self.state.bot_user.id,
            large_threshold=session.large_threshold,
        )

    async def _resume(self, conn: Connection, data: dict) -> None:
        if conn.session is not None:
            return await self._close(conn, ALREADY_AUTHENTICATED, "Already authenticated.")
        self.resume_requests.append({k: v for k, v in data.items() if k != "token"})
        if data.get("token") != self.state.token:
            return await self._close(conn, AUTHENTICATION_FAILED, "Authentication failed.")
        session = self.sessions.get(data.get("session_id") or "")
        if session is None or session.invalidated:
            await conn.send({"op": INVALID_SESSION, "s": None, "t": None, "d": False})
            return
        old = session.conn
        if old is not None and old is not conn:
            session.conn = None
            self._spawn(self._close(old, 4000, "Session resumed elsewhere."))
        conn.session = session
        client_seq = data.get("seq") or 0
        async with session.lock:
            session.conn = conn
            for rec in session.log:
                if rec.seq > client_seq:
                    await session.send_record(conn, rec)
            resumed = session.record("RESUMED", {"_trace": ['["gateway-prd-fake",{"micros":0}]']})
            await session.send_record(conn, resumed)
            session.live = True
            session.generation += 1
            session.resumes += 1
        self.state.notify()

    async def _request_members(self, session: Session, data: dict) -> None:
        self.chunk_requests.append(data)
        guild = self.state.guilds.get(int(data.get("guild_id", 0)))
        if guild is None:
            return
        members = list(guild.members.values())
        query = data.get("query")
        user_ids = {int(u) for u in data.get("user_ids") or []}
        if user_ids:
            members = [m for m in members if m.user.id in user_ids]
        elif query:
            q = query.lower()
            members = [
                m
                for m in members
                if m.user.username.lower().startswith(q) or (m.nick or "").lower().startswith(q)
            ]
        limit = int(data.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if user_ids:
            chunk["not_found"] = [str(u) for u in user_ids - {m.user.id for m in members}]
        if data.get("presences"):
            chunk["presences"] = []
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        session.record("GUILD_MEMBERS_CHUNK", chunk)
        await self._flush(session)

    # -- test controls -------------------------------------------------------------------------

    def live_sessions(self, shard_id: int | None = None) -> list[Session]:
        return [
            s
            for s in self.sessions.values()
            if s.live and not s.invalidated and (shard_id is None or s.shard_id == shard_id)
        ]

    async def force_reconnect(
        self, *, mode: str, shard_id: int | None, code: int, wait: bool, timeout: float
    ) -> None:
        targets = self.live_sessions(shard_id)
        if not targets:
            raise RuntimeError("no live gateway session to disconnect")
        before = {s.id: s.generation for s in targets}
        shard_ids = {s.shard_id for s in targets}
        for session in targets:
            conn = session.conn
            assert conn is not None
            if mode == "reconnect":
                await conn.send({"op": RECONNECT, "s": None, "t": None, "d": None})
            elif mode == "close":
                session.live = False
                await self._close(conn, code, "Fake gateway closed the connection.")
            elif mode == "invalidate":
                session.invalidated = True
                await conn.send({"op": INVALID_SESSION, "s": None, "t": None, "d": False})
            else:
                raise ValueError(f"unknown mode {mode!r}: use 'close', 'reconnect' or 'invalidate'")
        if not wait:
            return

        def back() -> bool:
            if mode == "invalidate":
                return all(self.live_sessions(sid) for sid in shard_ids)
            return all(s.live and s.generation > before[s.id] for s in targets)

        await self.state.wait_for(back, timeout, f"the bot to come back after {mode}")

    async def close_all(self) -> None:
        for conn in self.connections:
            if not conn.ws.closed:
                conn.closed_by_fake = True  # type: ignore[attr-defined]
                await conn.ws.close(code=1001, message=b"Fake Discord shutting down.")
        for task in list(self._tasks):
            task.cancel()


def _redact(payload: dict) -> dict:
    d = payload.get("d")
    if isinstance(d, dict) and "token" in d:
        return dict(payload, d=dict(d, token="<redacted>"))
    return payload
