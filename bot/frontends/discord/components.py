"""Every button the engine offers, as one persistent ``DynamicItem``.

The button's custom_id is the engine's stable action id (``quiz:ans:12:3:y``, ``chk:done:…``),
so all the state a click needs is in the id and in the database: buttons keep working after a
restart, on any shard or process, with no view held in memory. The id families it accepts and
whether a press edits the message it sits on both come from the engine's route table.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.engine.checkin import FIELDS, FORM_FAMILY, FORM_TITLE, MAX_FIELD, OPEN_FORM
from bot.engine.commands import declared_routes
from bot.engine.core import FLOW_CLASSES
from bot.frontends.discord.handling import handle

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot

#: Button families the engine answers; a form button (``form:…``) opens its form instead.
log = logging.getLogger(__name__)

FAMILIES = sorted({spec.family for spec in declared_routes(FLOW_CLASSES)} - {FORM_FAMILY})


class EngineButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                   template=rf"^(?P<action>(?:{'|'.join(FAMILIES)}):[^\s]{{1,95}})$"):
    def __init__(self, action: str) -> None:
        super().__init__(discord.ui.Button(label="…", custom_id=action))
        self.action = action

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> EngineButton:
        return cls(match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: MentorBot = interaction.client  # type: ignore[assignment]
        route = bot.engine.route(self.action)
        # In a server the answer is only for the presser; in DMs nobody else sees it anyway.
        await handle(bot, interaction, "button:" + self.action.split(":")[0],
                     lambda member: bot.engine.act(member, self.action),
                     ephemeral=interaction.guild_id is not None,
                     update=route is not None and route.updates)


class CheckInModal(discord.ui.Modal):
    """The weekly check-in form's layout (done / next / blocker, all optional). It is never
    kept in memory: its answers are read from the submission itself
    (:func:`submit_check_in`), so a form filled in across a restart still counts and two
    members' forms can't be mixed up (discord.py keys open modals by custom_id alone)."""

    def __init__(self) -> None:
        super().__init__(title=FORM_TITLE, timeout=None, custom_id=OPEN_FORM)
        for spec in FIELDS:
            self.add_item(discord.ui.TextInput(
                label=spec.label, placeholder=spec.placeholder, custom_id=spec.name,
                style=discord.TextStyle.paragraph if spec.long else discord.TextStyle.short,
                required=False, max_length=MAX_FIELD))


async def open_check_in(interaction: discord.Interaction) -> None:
    """Answer with the check-in form at once (a form must be the first answer: no engine call
    before it, so it never waits on the database)."""
    bot: MentorBot = interaction.client  # type: ignore[assignment]
    modal = CheckInModal()
    modal.stop()  # not kept: the submission is handled by submit_check_in
    try:
        await interaction.response.send_modal(modal)
        bot.metrics.interaction("form:checkin", "ok")
    except discord.HTTPException as exc:
        bot.metrics.interaction("form:checkin", "undelivered")
        log.warning("form:checkin: Discord refused the form (%s %s)", exc.status, exc.code)


def _values(components: Any) -> dict[str, str]:
    """Every text input's value in a submitted form, by custom_id (rows or labels)."""
    found: dict[str, str] = {}
    for comp in components or ():
        if not isinstance(comp, dict):
            continue
        if "value" in comp and "custom_id" in comp:
            found[str(comp["custom_id"])] = str(comp["value"] or "")
        found.update(_values(comp.get("components")))
        if isinstance(comp.get("component"), dict):
            found.update(_values([comp["component"]]))
    return found


def is_check_in(interaction: discord.Interaction) -> bool:
    data: dict[str, Any] = dict(interaction.data or {})
    return (interaction.type == discord.InteractionType.modal_submit
            and data.get("custom_id") == OPEN_FORM)


async def submit_check_in(interaction: discord.Interaction) -> None:
    """A submitted check-in form → the engine's ``checkin`` command, answered in time."""
    bot: MentorBot = interaction.client  # type: ignore[assignment]
    data: dict[str, Any] = dict(interaction.data or {})
    given = _values(data.get("components"))
    values = {spec.name: given.get(spec.name) or None for spec in FIELDS}
    await handle(bot, interaction, "form:checkin:submit",
                 lambda member: bot.engine.run("checkin", member, **values),
                 ephemeral=interaction.guild_id is not None)


class FormButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                 template=rf"^(?P<action>{OPEN_FORM})$"):
    """*Check in* on the reminder DM: opens the check-in form, after a restart too."""

    def __init__(self, action: str = OPEN_FORM) -> None:
        super().__init__(discord.ui.Button(label="Check in", custom_id=action))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> FormButton:
        return cls(match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await open_check_in(interaction)
