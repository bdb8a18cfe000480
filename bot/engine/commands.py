"""The table of commands and button routes, declared next to the flows that serve them.

A flow method becomes a command with :func:`command` and a button family with :func:`route`::

    class BrowseFlow:
        @command("roadmap", "a month-by-month plan for the first year")
        async def roadmap(self, member: Member) -> Reply: ...

        @route("phase:set", Arg("number", "int"), updates=True)
        async def set_phase(self, member: Member, number: int) -> Reply: ...

:class:`~bot.engine.core.Engine` collects both into one :class:`Table`. Everything else is
derived from it: the help text, the console's commands and Tab completion, the prefixes of the
Discord buttons and whether a button edits the message it sits on. A test checks that every
command has a Discord command and every route a button handler.

Action ids are ``family:verb[:arg…]`` (at most 100 characters, Discord's custom_id limit); they
are built with :func:`action_id` from the route's own spec and parsed only by :meth:`Table.act`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

MAX_ACTION_LEN = 100
MAX_ID = 2**63 - 1  # every numeric id is a 64-bit database key

#: How a command's parameter is read from text (the console) and checked (every front end).
ParamKind = Literal[
    "text",  # free text: the rest of the line
    "phase",  # a phase number of the knowledge base
    "item",  # a checklist item: its id, a few words of its title
    "link",  # an evidence link
    "member",  # another member's id
    "role",  # a role of the server (its id)
    "channel",  # a channel of the server (its id)
    "on_off",  # on | off
    "flag",  # a word that is there or not ("/quiz restart")
    "weekday",
    "hour",
    "timezone",
]
#: How a route's argument is written in an action id.
ArgKind = Literal["int", "flag", "yn", "yes_no", "on_off", "intent", "intents", "intents_opt",
                  "item"]

_INT = re.compile(r"[0-9]{1,19}")  # ASCII digits only ("²".isdigit() is True)
_ITEM = re.compile(r"p[0-9]{1,2}\.[a-z0-9][a-z0-9-]{0,80}")
_INTENT = re.compile(r"[a-z]{1,12}\.[a-z0-9][a-z0-9-]{0,80}")

# Intent ids are shortened in action ids (faq.salary → f.salary) so three of them fit in one.
_SHORT = {"roadblock": "r", "faq": "f", "phase": "p", "topic": "t"}
_LONG = {v: k for k, v in _SHORT.items()}


def short_intent(intent_id: str) -> str:
    kind, _, rest = intent_id.partition(".")
    return f"{_SHORT.get(kind, kind)}.{rest}"


def long_intent(short: str) -> str:
    kind, _, rest = short.partition(".")
    return f"{_LONG.get(kind, kind)}.{rest}"


@dataclass(frozen=True)
class Param:
    name: str
    kind: ParamKind
    help: str = ""
    required: bool = False

    @property
    def usage(self) -> str:
        word = self.name if self.kind == "flag" else self.name.upper()
        return word if self.required else f"[{word}]"


@dataclass(frozen=True)
class CommandSpec:
    """A command every front end offers: ``name`` is its Discord name ("checklist done")."""

    name: str
    help: str
    params: tuple[Param, ...] = ()
    private: bool = False  # the reply is only for the member (ephemeral)
    aliases: tuple[str, ...] = ()  # console shortcuts: "done" for "checklist done"
    admin: bool = False  # Manage Server (Discord hides it from others)
    default: bool = False  # what the group's name alone runs ("/reminders" → status)

    @property
    def group(self) -> str | None:
        return self.name.split(" ", 1)[0] if " " in self.name else None

    @property
    def usage(self) -> str:
        return " ".join(["/" + self.name, *(p.usage for p in self.params)])


@dataclass(frozen=True)
class Arg:
    name: str
    kind: ArgKind


def _parse_arg(kind: ArgKind, text: str) -> object:
    """An action-id argument as its value; ValueError when it is not one."""
    if kind == "int":
        if not _INT.fullmatch(text) or int(text) > MAX_ID:
            raise ValueError(text)
        return int(text)
    if kind == "flag":
        if text not in ("1", "0"):
            raise ValueError(text)
        return text == "1"
    if kind == "yn":
        if text not in ("y", "n"):
            raise ValueError(text)
        return text == "y"
    if kind == "yes_no":
        if text not in ("yes", "no"):
            raise ValueError(text)
        return text == "yes"
    if kind == "on_off":
        if text not in ("on", "off"):
            raise ValueError(text)
        return text == "on"
    if kind == "intent":
        if not _INTENT.fullmatch(text):
            raise ValueError(text)
        return long_intent(text)
    if kind == "intents_opt" and not text:  # a list that may be empty
        return []
    if kind in ("intents", "intents_opt"):
        parts = text.split(",")
        if not all(_INTENT.fullmatch(p) for p in parts):
            raise ValueError(text)
        return [long_intent(p) for p in parts]
    if not _ITEM.fullmatch(text):  # item
        raise ValueError(text)
    return text


def _write_arg(kind: ArgKind, value: object) -> str:
    if kind == "flag":
        return "1" if value else "0"
    if kind == "yn":
        return "y" if value else "n"
    if kind == "yes_no":
        return "yes" if value else "no"
    if kind == "on_off":
        return "on" if value else "off"
    if kind == "intent":
        return short_intent(str(value))
    if kind in ("intents", "intents_opt"):
        assert isinstance(value, list | tuple)
        return ",".join(short_intent(str(v)) for v in value)
    return str(value)


@dataclass(frozen=True)
class RouteSpec:
    """A button family: ``prefix`` ("quiz:ans"), its arguments, and whether the reply replaces
    the message the button sits on (a quiz advancing, a checklist ticking)."""

    prefix: str
    args: tuple[Arg, ...] = ()
    updates: bool = False

    @property
    def family(self) -> str:
        return self.prefix.split(":", 1)[0]

    def make(self, *values: object) -> str:
        if len(values) != len(self.args):
            raise TypeError(f"{self.prefix} takes {len(self.args)} arguments")
        action = ":".join([self.prefix, *(_write_arg(a.kind, v)
                                          for a, v in zip(self.args, values, strict=True))])
        if len(action) > MAX_ACTION_LEN:
            raise ValueError(f"action id longer than {MAX_ACTION_LEN} characters: {action!r}")
        return action

    def parse(self, action: str) -> dict[str, object] | None:
        """The arguments of ``action`` when it belongs to this route, else None."""
        if action != self.prefix and not action.startswith(self.prefix + ":"):
            return None
        rest = action[len(self.prefix) + 1:]
        parts = rest.split(":") if rest else []
        if len(parts) != len(self.args):
            return None
        try:
            return {a.name: _parse_arg(a.kind, p) for a, p in zip(self.args, parts, strict=True)}
        except ValueError:
            return None


F = TypeVar("F", bound=Callable[..., Any])


def command(name: str, help: str, *params: Param, private: bool = False,
            aliases: tuple[str, ...] = (), admin: bool = False,
            default: bool = False) -> Callable[[F], F]:
    """Declare a flow method as the command ``name`` (its handler takes the member and the
    params by name)."""
    spec = CommandSpec(name, help, params, private, aliases, admin, default)

    def mark(fn: F) -> F:
        fn.__dict__.setdefault("__commands__", []).append(spec)
        return fn

    return mark


def route(prefix: str, *args: Arg, updates: bool = False) -> Callable[[F], F]:
    """Declare a flow method as the handler of the buttons ``prefix[:arg…]``."""
    spec = RouteSpec(prefix, args, updates)

    def mark(fn: F) -> F:
        fn.__dict__["__route__"] = spec
        return fn

    return mark


def action_id(handler: Callable[..., Any], *values: object) -> str:
    """The id of a button that calls ``handler`` (a route-decorated flow method) with
    ``values``: ``action_id(self.answer, attempt, 3, True)`` → ``quiz:ans:12:3:y``."""
    spec: RouteSpec | None = getattr(handler, "__route__", None)
    if spec is None:
        raise TypeError(f"{handler!r} is not a route")
    return spec.make(*values)


def declared_routes(classes: Iterable[type]) -> list[RouteSpec]:
    """The routes the flow classes declare (known before any engine exists: the Discord
    button handler's id pattern is built from them at import)."""
    return [spec for cls in classes for fn in vars(cls).values()
            if (spec := getattr(fn, "__route__", None)) is not None]


@dataclass(frozen=True)
class Entry:
    """A command or route bound to the flow object that serves it."""

    handler: Callable[..., Any]
    name: str


@dataclass
class Table:
    """Every command and route of a set of flow objects."""

    commands: dict[str, CommandSpec] = field(default_factory=dict)
    routes: list[RouteSpec] = field(default_factory=list)
    _handlers: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def collect(cls, flows: Iterable[object]) -> Table:
        table = cls()
        for flow in flows:
            for attr, fn in vars(type(flow)).items():  # in the order they are declared
                for spec in getattr(fn, "__commands__", ()):
                    if spec.name in table.commands:
                        raise ValueError(f"command {spec.name!r} declared twice")
                    table.commands[spec.name] = spec
                    table._handlers["cmd:" + spec.name] = Entry(getattr(flow, attr),
                                                                spec.name)
                rspec: RouteSpec | None = getattr(fn, "__route__", None)
                if rspec is not None:
                    if any(r.prefix == rspec.prefix for r in table.routes):
                        raise ValueError(f"route {rspec.prefix!r} declared twice")
                    table.routes.append(rspec)
                    table._handlers["route:" + rspec.prefix] = Entry(getattr(flow, attr),
                                                                     rspec.prefix)
        table.routes.sort(key=lambda r: -len(r.prefix))  # "chk:view" before "chk"
        return table

    def handler(self, name: str) -> Entry | None:
        return self._handlers.get("cmd:" + name)

    def route_of(self, action: str) -> tuple[RouteSpec, dict[str, object]] | None:
        for spec in self.routes:
            args = spec.parse(action)
            if args is not None:
                return spec, args
        return None

    def route_handler(self, spec: RouteSpec) -> Entry:
        return self._handlers["route:" + spec.prefix]

    def by_alias(self) -> dict[str, str]:
        """Typed names → command names: "checklist done", its alias "done", and a group's
        name alone for its default ("reminders" → "reminders status")."""
        names = {c: c for c in self.commands}
        for spec in self.commands.values():
            for alias in spec.aliases:
                names[alias] = spec.name
            if spec.default and spec.group:
                names[spec.group] = spec.name
        return names

    @property
    def groups(self) -> set[str]:
        return {g for spec in self.commands.values() if (g := spec.group)}
