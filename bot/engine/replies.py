"""The structured reply every flow returns; front ends turn it into an embed or terminal text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Tone = Literal["info", "success", "warning", "error"]
Style = Literal["primary", "secondary", "success", "danger"]


@dataclass(frozen=True)
class Action:
    """A button / choice. ``id`` is stable and carries its state ("quiz:a:12:3:y"): a front end
    hands it back to :meth:`bot.engine.core.Engine.act` unchanged, even after a restart."""

    id: str
    label: str
    style: Style = "secondary"


@dataclass(frozen=True)
class ReplyField:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    description: str = ""


@dataclass(frozen=True)
class Reply:
    title: str
    body: str  # markdown
    kind: str = "info"  # which flow made it: ask, quiz, checklist, ... (metrics, tests)
    fields: tuple[ReplyField, ...] = ()
    actions: tuple[Action, ...] = ()
    private: bool = False  # only the member should see it (ephemeral / DM)
    tone: Tone = "info"
    footer: str | None = None
    attachment: Attachment | None = None
    meta: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def action_ids(self) -> list[str]:
        return [a.id for a in self.actions]
