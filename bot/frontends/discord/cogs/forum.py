"""The help-forum first responder: in the forums a server chose (``/setup forum``), a new post
whose title the bot is sure it can answer gets that answer once, with *Solved* and *Still need
help*. Only the title is read (no privileged intent needed). Unsure: the bot stays quiet."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.engine.context import Member
from bot.engine.setup import setup_of
from bot.frontends.discord.cogs._base import EngineCog
from bot.frontends.discord.present import send_to

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot

log = logging.getLogger(__name__)

REMEMBERED = 10_000  # posts answered by this process (Discord sends THREAD_CREATE once)


class ForumCog(EngineCog):
    def __init__(self, bot: MentorBot) -> None:
        super().__init__(bot)
        self._answered: OrderedDict[int, None] = OrderedDict()

    @commands.Cog.listener()
    async def on_thread_create(self, thread: discord.Thread) -> None:
        if thread.guild is None or thread.parent_id is None or thread.id in self._answered:
            return
        try:
            setup = await setup_of(self.engine.deps, thread.guild.id)
            if thread.parent_id not in setup.forums:
                return
            self._answered[thread.id] = None
            while len(self._answered) > REMEMBERED:
                self._answered.popitem(last=False)
            member = Member(thread.owner_id or 0, guild_id=thread.guild.id)
            reply = await self.engine.asking.first_response(member, thread.name)
            if reply is None:
                self.bot.metrics.interaction("forum", "unsure")
                return
            await send_to(thread, reply)
            self.bot.metrics.interaction("forum", "answered")
        except discord.HTTPException as exc:  # no permission in that forum, a deleted post …
            self.bot.metrics.interaction("forum", "error")
            log.warning("could not answer forum post %s: %s", thread.id, exc)
        except Exception:
            self.bot.metrics.interaction("forum", "error")
            log.exception("forum post %s", thread.id)
