"""The command table is the one list of what mentorbot can do: every front end is checked
against it, so a command without a Discord command or a route without a button handler fails
here instead of failing silently in front of a member."""

from __future__ import annotations

import re

import pytest

from bot.config import Settings
from bot.engine.commands import Arg, RouteSpec, declared_routes
from bot.engine.core import FLOW_CLASSES, Engine
from bot.frontends.console import Console
from bot.frontends.discord.client import COGS, MentorBot
from bot.frontends.discord.components import EngineButton, FormButton
from bot.knowledge.loader import load_knowledge

# Commands that only make sense in Discord (they act on the running bot, not on a member).
DISCORD_ONLY = {"kb reload"}


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


@pytest.fixture
def engine(kb, store) -> Engine:
    return Engine(kb, store, Settings(_env_file=None))


@pytest.fixture
async def tree_names(engine) -> set[str]:
    bot = MentorBot(engine, Settings(_env_file=None))
    for cog in COGS:
        await bot.add_cog(cog(bot))
    return {c.qualified_name for c in bot.tree.walk_commands()
            if not getattr(c, "commands", None)}  # leaves, not groups


async def test_every_command_has_a_discord_command_and_back(engine, tree_names):
    table = set(engine.table.commands)
    assert table - tree_names == set(), "commands with no Discord command"
    assert tree_names - table == DISCORD_ONLY, "Discord commands the table doesn't know"


async def test_every_discord_option_is_a_parameter_of_its_command(engine):
    bot = MentorBot(engine, Settings(_env_file=None))
    for cog in COGS:
        await bot.add_cog(cog(bot))
    renamed = {("privacy share", "state"): "state", ("progress", "member"): "member_id"}
    for command in bot.tree.walk_commands():
        if getattr(command, "commands", None) or command.qualified_name in DISCORD_ONLY:
            continue
        spec = engine.command(command.qualified_name)
        params = {p.name for p in spec.params}
        for option in command.parameters:
            if option.name == "private" and command.qualified_name == "ask":
                continue  # /ask's "only I see it" is Discord's ephemeral flag
            name = renamed.get((command.qualified_name, option.name), option.name)
            assert name in params, f"/{command.qualified_name} {option.name}"


def test_every_route_family_reaches_the_button_handler():
    pattern = re.compile(EngineButton.__discord_ui_compiled_template__.pattern)
    forms = re.compile(FormButton.__discord_ui_compiled_template__.pattern)
    routes = declared_routes(FLOW_CLASSES)
    assert routes, "no routes declared"
    samples = {"int": 12, "flag": True, "yn": False, "yes_no": True, "on_off": False,
               "intent": "faq.salary-by-level", "intents": ["faq.salary-by-level", "phase.2"],
               "intents_opt": [], "item": "p1.drift-event"}
    for spec in routes:
        action = spec.make(*(samples[a.kind] for a in spec.args))
        handler = forms if spec.family == "form" else pattern  # a form opens at once
        assert handler.fullmatch(action), f"{action} is not routed to the button handler"
        assert not (pattern.fullmatch(action) and forms.fullmatch(action)), action
        assert spec.parse(action) == {a.name: samples[a.kind] for a in spec.args}


async def test_every_route_has_a_handler_and_answers(engine):
    from bot.engine.context import Member

    member = Member(4242, guild_id=7)
    for spec in engine.table.routes:
        assert engine.table.route_handler(spec).handler is not None
    # a button id nobody declared, or with a bad argument, is a polite warning
    for bad in ("nope:x", "quiz:ans:1:2:maybe", "quiz:ans:²:1:y", "chk:view:" + "9" * 30,
                "ask:show:../etc", "share:sideways"):
        reply = await engine.act(member, bad)
        assert reply.kind == "error" and reply.tone == "warning", bad


def test_routes_build_ids_within_discords_limit():
    spec = RouteSpec("ask:alts", (Arg("intents", "intents"),))
    with pytest.raises(ValueError):
        spec.make(["faq.a-very-long-intent-identifier-that-goes-on"] * 5)


async def test_help_and_console_come_from_the_table(engine, store):
    help_reply = await engine.run("help", Console(engine, member_for_console()).member)
    for spec in engine.table.commands.values():
        assert f"`{spec.usage}`: {spec.help}" in help_reply.body
    names = Console(engine, member_for_console()).command_names()
    for spec in engine.table.commands.values():
        assert "/" + spec.name.split(" ")[0] in names
        for alias in spec.aliases:
            assert "/" + alias in names


def member_for_console():
    from bot.engine.context import Member

    return Member(1, name="you")


def test_a_command_declared_twice_is_refused():
    from bot.engine.commands import Table, command

    class One:
        @command("x", "one")
        async def a(self, member: object) -> None: ...

    class Two:
        @command("x", "two")
        async def b(self, member: object) -> None: ...

    with pytest.raises(ValueError, match="declared twice"):
        Table.collect([One(), Two()])
