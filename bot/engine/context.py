"""What every flow gets: who is asking, and the shared dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.engine.overlay import LiveOverlay
from bot.knowledge.loader import KnowledgeBase
from bot.matching.matcher import Matcher

if TYPE_CHECKING:
    from bot.knowledge.schema import Intent, Phase
    from bot.matching.matcher import MatchResult
    from bot.storage.store import Store


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Member:
    """The person a flow acts for. ``guild_id`` is None in DMs and in the console."""

    user_id: int
    guild_id: int | None = None
    name: str = ""
    is_admin: bool = False  # Manage Server in this guild (server stats)
    roles: frozenset[int] = frozenset()  # the member's roles in this guild (the mentor role)


class UserError(Exception):
    """Something the member can fix: the message is shown to them as it is."""


@dataclass
class Deps:
    kb: KnowledgeBase
    matcher: Matcher
    store: Store
    settings: Settings
    clock: Callable[[], datetime] = field(default=utcnow)
    live: LiveOverlay = field(default_factory=LiveOverlay)  # what mentors taught (issue 14)

    def intent(self, intent_id: str) -> Intent | None:
        """An intent of the knowledge base, or a new one made from a mentor's answer."""
        return self.kb.intent_by_id.get(intent_id) or self.live.intents.get(intent_id)

    def match(self, question: str) -> MatchResult:
        """The matcher's verdict with the overlay's taught phrasings in front."""
        return self.live.match(self.matcher, question)

    def nearest(self, question: str, n: int) -> list[str]:
        """The ids of the ``n`` intents closest to ``question`` (the retrained matcher's)."""
        return [c.intent for c in self.live.current(self.matcher).nearest(question, n)]

    def items_by_phase(self) -> dict[int, list[str]]:
        return {p.number: [i.id for i in p.checklist] for p in self.kb.phases.phases}

    @property
    def phase_range(self) -> str:
        """"1-4": the knowledge base's phase numbers, for texts that name them."""
        numbers = sorted(self.kb.phase_by_number)
        return f"{numbers[0]}-{numbers[-1]}"

    def phase(self, number: int) -> Phase:
        """The phase ``number``, or a UserError that names the phases there are."""
        phase = self.kb.phase_by_number.get(number)
        if phase is None:
            lo, _, hi = self.phase_range.partition("-")
            raise UserError(f"Phases are numbered {lo} to {hi}.")
        return phase
