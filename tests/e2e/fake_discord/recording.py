"""What the fake records about each REST request, and the fault rules tests queue."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .errors import json_response

API_PREFIX = "/api/v10"


@dataclass
class Part:
    """One multipart/form-data part (``payload_json`` or ``files[n]``)."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None  # JSON body, or the parsed payload_json of a multipart body
    parts: list[Part] = field(default_factory=list)
    status: int | None = None  # filled in once the response is decided
    route: str | None = None  # matched route template, None when unknown
    fault: str | None = None  # description of the injected fault that answered it
    at: float = field(default_factory=time.monotonic)

    @property
    def files(self) -> list[Part]:
        return [p for p in self.parts if p.filename is not None]

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} -> {self.status} route={self.route} fault={self.fault}>"


def template_regex(template: str) -> re.Pattern[str]:
    """``/channels/{channel_id}/messages`` → regex; ``*`` matches one path segment."""
    out = []
    for piece in re.split(r"(\{[a-zA-Z_]+\}|\*)", template):
        if piece == "*":
            out.append(r"[^/]+")
        elif piece.startswith("{") and piece.endswith("}"):
            out.append(f"(?P<{piece[1:-1]}>[^/]+)")
        else:
            out.append(re.escape(piece))
    return re.compile("^" + "".join(out) + "$")


@dataclass
class FaultRule:
    method: str  # "*" for any
    template: str
    status: int
    body: Any
    headers: dict[str, str]
    remaining: int | None  # None = forever
    description: str
    hits: int = 0

    def __post_init__(self) -> None:
        self._regex = template_regex(self.template)

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.method in ("*", method) and bool(self._regex.match(path))

    def consume(self) -> web.Response:
        self.hits += 1
        if self.remaining is not None:
            self.remaining -= 1
        headers = dict(self.headers)
        if self.status == 429:
            # reset times are relative to *now*, like Discord's
            after = float(headers.get("X-RateLimit-Reset-After", "0"))
            headers["X-RateLimit-Reset"] = f"{time.time() + after:.3f}"
        if self.body is None:
            return web.Response(status=self.status, headers=headers)
        if isinstance(self.body, str | bytes):
            return web.Response(status=self.status, body=self.body, headers=headers)
        return json_response(self.body, status=self.status, headers=headers)


class Faults:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def match(self, method: str, path: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.matches(method, path):
                return rule
        return None

    def clear(self) -> None:
        self.rules.clear()
