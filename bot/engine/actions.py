"""Stable action ids: ``flow:verb[:arg…]``, at most 100 characters (Discord's custom_id limit).

The state a button needs lives in its id, so a button pressed after a restart still works.
Intent ids are shortened (``faq.salary`` → ``f.salary``) so three of them fit in one id.
"""

from __future__ import annotations

MAX_LEN = 100

_SHORT = {"roadblock": "r", "faq": "f", "phase": "p", "topic": "t"}
_LONG = {v: k for k, v in _SHORT.items()}


def short_intent(intent_id: str) -> str:
    kind, _, rest = intent_id.partition(".")
    return f"{_SHORT.get(kind, kind)}.{rest}"


def long_intent(short: str) -> str:
    kind, _, rest = short.partition(".")
    return f"{_LONG.get(kind, kind)}.{rest}"


def make(*parts: object) -> str:
    action = ":".join(str(p) for p in parts)
    if len(action) > MAX_LEN:
        raise ValueError(f"action id longer than {MAX_LEN} characters: {action!r}")
    return action


def intents_arg(intent_ids: list[str], budget: int) -> str:
    """As many short intent ids, comma-joined, as fit in ``budget`` characters."""
    out: list[str] = []
    for i in intent_ids:
        candidate = ",".join([*out, short_intent(i)])
        if len(candidate) > budget:
            break
        out.append(short_intent(i))
    return ",".join(out)


def parse(action: str) -> list[str]:
    return action.split(":")
