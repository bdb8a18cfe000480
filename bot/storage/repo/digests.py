"""Claims of the mentors' weekly blocker digest: one ``bot_state`` row per server and period.

The row's key is ``digest:<guild id>:<period key>`` (the period key is the digest's scheduled
UTC minute, :func:`bot.engine.schedule.period_key`) and its value says where the delivery
stands::

    claimed <lease until> <attempts>
    failed <retry at | -> <attempts> <reason>
    sent <sent at> <attempts>

A dispatcher sends a digest only after it wrote the ``claimed`` row (``INSERT .. ON CONFLICT
DO NOTHING``) or replaced an expired one by compare-and-set (``UPDATE .. WHERE value =
<what it read>``): of any number of processes, one wins. Marking it sent or failed is a
compare-and-set on the winner's own value, so a process whose lease ran out cannot overwrite
the row of the one that took over. The row holds no member data (a server and a time), and
once a period is sent the rows of that server's older periods are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from bot.storage.models import BotState
from bot.storage.repo._base import Repo, check_aware, check_id, check_text_id
from bot.storage.tx import Tx

PREFIX = "digest:"


@dataclass(frozen=True, slots=True)
class DigestClaim:
    """A digest this process may send until ``lease_until``; ``token`` is the row's value."""

    guild_id: int
    period_key: str
    token: str
    lease_until: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class DigestState:
    status: str  # claimed | failed | sent
    at: datetime | None  # lease end, retry time or sent time
    attempts: int
    reason: str | None = None


def digest_key(guild_id: int, period_key: str) -> str:
    return f"{PREFIX}{check_id(guild_id, 'guild id')}:{check_text_id(period_key, 'period', 24)}"


def parse_state(value: str) -> DigestState | None:
    parts = value.split(" ", 3)
    if len(parts) < 3 or parts[0] not in ("claimed", "failed", "sent"):
        return None
    try:
        at = None if parts[1] == "-" else datetime.fromisoformat(parts[1])
        attempts = int(parts[2])
    except ValueError:
        return None
    return DigestState(parts[0], at, attempts, parts[3] if len(parts) > 3 else None)


def _stamp(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat()


class DigestsRepo(Repo):
    async def claim(self, guild_id: int, period_key: str, now: datetime,
                    lease_seconds: float) -> DigestClaim | None:
        """Claim the digest of ``guild_id`` for ``period_key`` (None: sent already, leased by
        another process, closed, or waiting for its retry time)."""
        key = digest_key(guild_id, period_key)
        check_aware(now, "now")
        lease_until = now + timedelta(seconds=lease_seconds)

        async def tx(s: Tx) -> DigestClaim | None:
            token = f"claimed {_stamp(lease_until)} 1"
            inserted = await s.scalar(
                self.insert(BotState).values(key=key, value=token, updated_at=now)
                .on_conflict_do_nothing(index_elements=[BotState.key])
                .returning(BotState.key))
            if inserted is not None:
                return DigestClaim(guild_id, period_key, token, lease_until, 1)
            old = await s.scalar(select(BotState.value).where(BotState.key == key))
            state = parse_state(old) if old is not None else None
            if state is None or state.status == "sent" or state.at is None or state.at > now:
                return None  # sent, closed for good (failed with no retry), or not yet
            token = f"claimed {_stamp(lease_until)} {state.attempts + 1}"
            changed = await s.execute(update(BotState)
                                      .where(BotState.key == key, BotState.value == old)
                                      .values(value=token, updated_at=now))
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                return None  # another process re-claimed it first
            return DigestClaim(guild_id, period_key, token, lease_until, state.attempts + 1)

        return await self._db.run(tx)

    async def _finish(self, claim: DigestClaim, value: str, now: datetime,
                      prune: bool = False) -> bool:
        key = digest_key(claim.guild_id, claim.period_key)

        async def tx(s: Tx) -> bool:
            changed = await s.execute(update(BotState)
                                      .where(BotState.key == key, BotState.value == claim.token)
                                      .values(value=value[:500], updated_at=now))
            if prune:  # older periods of this server are never looked at again
                prefix = f"{PREFIX}{claim.guild_id}:"
                await s.execute(delete(BotState).where(BotState.key.startswith(prefix),
                                                       BotState.key < key))
            return bool(changed.rowcount == 1)  # type: ignore[attr-defined]

        return await self._db.run(tx)

    async def mark_sent(self, claim: DigestClaim, now: datetime) -> bool:
        """The digest went out (False: the claim was no longer ours)."""
        return await self._finish(claim, f"sent {_stamp(now)} {claim.attempts}", now, True)

    async def mark_failed(self, claim: DigestClaim, reason: str,
                          retry_at: datetime | None) -> bool:
        """Not sent: retried from ``retry_at``, or never in this period (None)."""
        reason = " ".join(reason.split())[:300] or "failed"
        return await self._finish(
            claim, f"failed {_stamp(retry_at)} {claim.attempts} {reason}", self.now())

    async def state(self, guild_id: int, period_key: str) -> DigestState | None:
        key = digest_key(guild_id, period_key)

        async def tx(s: Tx) -> DigestState | None:
            value = await s.scalar(select(BotState.value).where(BotState.key == key))
            return None if value is None else parse_state(value)

        return await self._db.run(tx, readonly=True)

    async def states(self, keys: list[tuple[int, str]]) -> dict[tuple[int, str], DigestState]:
        """The state of each (guild, period) that has a row (one query)."""
        by_key = {digest_key(g, p): (g, p) for g, p in keys}
        if not by_key:
            return {}

        async def tx(s: Tx) -> dict[tuple[int, str], DigestState]:
            rows = await s.execute(select(BotState.key, BotState.value)
                                   .where(BotState.key.in_(list(by_key))))
            found = {}
            for key, value in rows:
                state = parse_state(value)
                if state is not None:
                    found[by_key[key]] = state
            return found

        return await self._db.run(tx, readonly=True)
