"""``mentorbot run`` with its own work taken out: the load benchmark's ``--floor``.

    python -m benchmarks.floor        (started by ``python -m benchmarks.load --floor``)

The same process as ``python -m bot run`` (settings, start-up, database, /metrics, discord.py
client and command tree), except that every slash command is answered at once with one fixed
embed, sent the way the bot sends its first response (:func:`present._callback`): no engine,
no database, no rendering, no metrics per interaction. What it costs per interaction is what
discord.py and aiohttp cost to read an interaction from the gateway, find its command and send
one callback on this machine at this moment: the part of the bot's CPU per interaction its own
code cannot remove. Buttons are not answered (a quiz click times out), so compare it with the
real bot on mixes of slash commands (``--mix browse=1``, ``ask=1``).
"""

from __future__ import annotations

import sys

import discord
from discord import InteractionResponseType

from bot import cli
from bot.frontends.discord.client import MentorTree
from bot.frontends.discord.present import _callback

TITLE = "Floor"
_EMBED = discord.Embed(title=TITLE, description="One fixed answer, whatever was asked.")


async def _fixed_answer(self: MentorTree, interaction: discord.Interaction) -> None:
    await _callback(interaction, InteractionResponseType.channel_message, embeds=[_EMBED])


def main() -> int:
    MentorTree._call = _fixed_answer  # type: ignore[method-assign, assignment]  # this process only
    sys.argv = [sys.argv[0], "run"]
    return cli.entry()


if __name__ == "__main__":
    raise SystemExit(main())
