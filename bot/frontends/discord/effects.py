"""What a reply asks to happen besides itself, done after the member has their answer:
phase roles (:class:`~bot.engine.replies.RoleEffect`), milestone posts
(:class:`~bot.engine.replies.Announcement`), the mentors' thread of a question passed on
(:class:`~bot.engine.replies.ThreadPost`) and bot posts changed later
(:class:`~bot.engine.replies.MessageEdit`).

Neither can fail in front of the member: their reply is already sent. When Discord refuses —
no *Manage Roles*, a phase role above the bot's own (403, code 50013), a deleted role, an
announcement channel the bot can't post in — the server's admins get a note in
``/setup show`` ("Needs your attention") and a warning is logged; the note goes when it works
again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Literal

import discord

from bot.engine.replies import (
    Announcement,
    DirectMessage,
    Kind,
    MessageEdit,
    Reply,
    RoleEffect,
    ThreadPost,
)
from bot.frontends.discord.sender import message_params

if TYPE_CHECKING:
    from bot.frontends.discord.client import MentorBot

log = logging.getLogger(__name__)

MISSING_PERMISSIONS = 50013
ROLES_TOPIC = "phase_roles"
MILESTONES_TOPIC = "milestones"
REASON = "mentorbot: the member's phase role (they opted in with /roles on)"

ROLES_FORBIDDEN = (
    "I couldn't give members their phase roles: Discord refused (error {code}). Give my role "
    "the **Manage Roles** permission and drag it above the phase roles in Server Settings → "
    "Roles.")
ROLE_GONE = ("A phase role no longer exists, so I couldn't give it: set the phase roles again "
             "with `/setup phase-role`.")
CHECKINS_TOPIC = "checkins"
ANNOUNCE_FORBIDDEN = (
    "I couldn't post {what} in <#{channel}>: Discord refused (error {code}). Let me send "
    "messages and embed links there, or choose another channel with `/setup {command}`.")
ANNOUNCE_GONE = ("The {channel_name} channel is gone, so {what}s aren't posted: choose one "
                 "with `/setup {command}`.")
#: per kind of post: (the admins' note topic, what it is, its channel, the setup command)
POSTS = {"milestone": (MILESTONES_TOPIC, "a milestone", "announcement", "announcements"),
         "checkin": (CHECKINS_TOPIC, "a check-in", "progress", "progress-channel")}


async def note_for_admins(bot: MentorBot, guild_id: int, topic: str,
                          message: str | None) -> None:
    """Keep (``message``) or clear (None) the admins' note; a database hiccup only logs."""
    community = bot.engine.deps.store.community
    try:
        if message is None:
            await community.clear_note(guild_id, topic)
        else:
            await community.note(guild_id, topic, message)
    except Exception:
        log.warning("guild %s: could not record the note on %s", guild_id, topic, exc_info=True)


async def apply_roles(bot: MentorBot, effect: RoleEffect,
                      has: Collection[int] | None = None) -> bool:
    """Give and take the phase roles ``effect`` names; True when Discord did it all.
    ``has``: the member's role ids as the interaction showed them (None: unknown), so roles
    they already have (or lack) cost no request."""
    add = effect.add if effect.add is not None and (has is None or effect.add not in has) \
        else None
    remove = [r for r in effect.remove if has is None or r in has]
    try:
        for role_id in remove:
            await bot.http.remove_role(effect.guild_id, effect.user_id, role_id, reason=REASON)
        if add is not None:
            await bot.http.add_role(effect.guild_id, effect.user_id, add, reason=REASON)
    except discord.Forbidden as exc:
        log.warning("guild %s: cannot set phase roles (Discord 403, code %s): the bot needs "
                    "Manage Roles and a role above the phase roles", effect.guild_id, exc.code)
        bot.metrics.interaction("effect:roles", "forbidden")
        await note_for_admins(bot, effect.guild_id, ROLES_TOPIC,
                    ROLES_FORBIDDEN.format(code=exc.code or MISSING_PERMISSIONS))
        return False
    except discord.NotFound as exc:
        log.warning("guild %s: a phase role or the member is gone (Discord 404, code %s)",
                    effect.guild_id, exc.code)
        bot.metrics.interaction("effect:roles", "gone")
        if exc.code == 10011:  # Unknown Role (a member who left is not the admins' business)
            await note_for_admins(bot, effect.guild_id, ROLES_TOPIC, ROLE_GONE)
        return False
    except discord.HTTPException as exc:
        log.warning("guild %s: setting phase roles failed (Discord %s, code %s)",
                    effect.guild_id, exc.status, exc.code)
        bot.metrics.interaction("effect:roles", "error")
        return False
    bot.metrics.interaction("effect:roles", "ok")
    if add is not None or remove:
        await note_for_admins(bot, effect.guild_id, ROLES_TOPIC, None)
    return True


async def announce(bot: MentorBot, post: Announcement) -> bool:
    """Post a milestone or a shared check-in in its channel, mentions disabled; True when it
    was posted."""
    topic, what, channel_name, command = POSTS[post.what]
    reply = Reply(post.title, post.body, kind=Kind.PROGRESS, tone="success")
    try:
        await bot.http.send_message(post.channel_id, params=message_params(reply))
    except discord.Forbidden as exc:
        log.warning("guild %s: cannot post %s in channel %s (Discord 403, code %s)",
                    post.guild_id, what, post.channel_id, exc.code)
        bot.metrics.interaction(f"effect:{post.what}", "forbidden")
        await note_for_admins(bot, post.guild_id, topic, ANNOUNCE_FORBIDDEN.format(
            what=what, channel=post.channel_id, code=exc.code, command=command))
        return False
    except discord.NotFound:
        log.warning("guild %s: the %s channel %s is gone", post.guild_id, channel_name,
                    post.channel_id)
        bot.metrics.interaction(f"effect:{post.what}", "gone")
        await note_for_admins(bot, post.guild_id, topic, ANNOUNCE_GONE.format(
            channel_name=channel_name, what=post.what, command=command))
        return False
    except discord.HTTPException as exc:
        log.warning("guild %s: posting %s failed (Discord %s, code %s)",
                    post.guild_id, what, exc.status, exc.code)
        bot.metrics.interaction(f"effect:{post.what}", "error")
        return False
    bot.metrics.interaction(f"effect:{post.what}", "ok")
    await note_for_admins(bot, post.guild_id, topic, None)
    return True


def member_role_ids(interaction: discord.Interaction, reply: Reply) -> dict[int, set[int]]:
    """Per server, the member's role ids as the interaction showed them (only the server it
    came from; elsewhere they are unknown). A phase role the bot's cache doesn't know is
    counted as held, so it is removed by asking Discord."""
    user, guild = interaction.user, interaction.guild
    if not isinstance(user, discord.Member) or guild is None:
        return {}
    here = [e for e in reply.roles if e.guild_id == guild.id]
    unknown = {r for e in here for r in e.remove if guild.get_role(r) is None}
    return {guild.id: {role.id for role in user.roles} | unknown}


#: One lock per member: a member's effects are applied in the order of their replies (a
#: quick second click can't have its role overtaken by the first's).
_member_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()


def _lock(user_id: int) -> asyncio.Lock:
    lock = _member_locks.get(user_id)
    if lock is None:
        lock = _member_locks[user_id] = asyncio.Lock()
    return lock


async def apply_effects(bot: MentorBot, reply: Reply,
                        has: Mapping[int, Collection[int]] | None = None) -> None:
    """Everything ``reply`` asks for besides itself (never raises). ``has``: per server, the
    member's role ids where known."""
    users = [e.user_id for e in reply.roles] + [p.user_id for p in reply.announce]
    if not users:
        return
    lock = _lock(users[0])  # held (strongly) until this reply's effects are done
    async with lock:
        try:
            for effect in reply.roles:
                await apply_roles(bot, effect, (has or {}).get(effect.guild_id))
            for post in reply.announce:
                await announce(bot, post)
        except Exception:
            log.exception("applying a reply's effects failed")



# --- Ask a mentor (issue 14): the mentors' thread, and posts changed later -------------------

ESCALATIONS_TOPIC = "escalations"
THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080  # a week idle before Discord archives it
THREAD_REASON = "mentorbot: a member passed their question to the mentors"
MENTORS_FORBIDDEN = (
    "I couldn't open a thread for a member's question in <#{channel}>: Discord refused (error "
    "{code}). Let me view the channel, send messages, create public threads and send messages "
    "in threads there, or choose another channel with `/setup mentors`.")
MENTORS_GONE = ("The mentors' channel is gone, so members' questions can't reach the mentors: "
                "choose one with `/setup mentors`.")


async def _is_forum(bot: MentorBot, channel_id: int) -> bool:
    channel = bot.get_channel(channel_id)
    if channel is not None:
        return isinstance(channel, discord.ForumChannel)
    data = await bot.http.get_channel(channel_id)
    return int(data.get("type", 0)) == discord.ChannelType.forum.value


async def open_thread(bot: MentorBot, post: ThreadPost) -> bool:
    """Open the mentors' thread for an escalation — a forum post, or a public thread in a text
    channel with the post as its first message — and record it; True when it is open. When
    Discord refuses, the admins get a note in ``/setup show`` and the escalation is forgotten
    (the question stays in the inbox; the member may press *Ask a mentor* again)."""
    store = bot.engine.deps.store
    thread_id: int | None = None
    try:
        if await _is_forum(bot, post.channel_id):
            fields = {"name": post.name, "auto_archive_duration": THREAD_ARCHIVE_MINUTES,
                      "type": discord.ChannelType.public_thread.value}
            data: Any = await bot.http.start_thread_in_forum(
                post.channel_id, params=message_params(post.message, thread=fields),
                reason=THREAD_REASON)
            thread_id = int(data["id"])
            message_id = int((data.get("message") or {}).get("id", thread_id))
        else:
            data = await bot.http.start_thread_without_message(
                post.channel_id, name=post.name, auto_archive_duration=THREAD_ARCHIVE_MINUTES,
                type=discord.ChannelType.public_thread.value, reason=THREAD_REASON)
            thread_id = int(data["id"])
            sent = await bot.http.send_message(thread_id, params=message_params(post.message))
            message_id = int(sent["id"])
    except discord.HTTPException as exc:
        outcome = ("forbidden" if isinstance(exc, discord.Forbidden) else
                   "gone" if isinstance(exc, discord.NotFound) else "error")
        log.warning("guild %s: cannot open the mentors' thread in channel %s (Discord %s, "
                    "code %s)", post.guild_id, post.channel_id, exc.status, exc.code)
        bot.metrics.interaction("effect:escalation", outcome)
        if outcome != "error":
            await note_for_admins(bot, post.guild_id, ESCALATIONS_TOPIC, MENTORS_GONE
                                  if outcome == "gone" and thread_id is None else
                                  MENTORS_FORBIDDEN.format(channel=post.channel_id,
                                                           code=exc.code))
        if thread_id is not None:  # a thread without its post: take it away again
            with contextlib.suppress(discord.HTTPException):
                await bot.http.delete_channel(thread_id, reason=THREAD_REASON)
        with contextlib.suppress(Exception):
            await store.escalations.discard(post.escalation_id)
        return False
    await store.escalations.posted(post.escalation_id, thread_id, message_id)
    bot.metrics.interaction("effect:escalation", "ok")
    await note_for_admins(bot, post.guild_id, ESCALATIONS_TOPIC, None)
    return True


async def edit_post(bot: MentorBot, edit: MessageEdit) -> bool:
    """Replace a message the bot posted earlier (buttons included); True when done."""
    try:
        await bot.http.edit_message(edit.channel_id, edit.message_id,
                                    params=message_params(edit.message, editing=True))
    except discord.HTTPException as exc:
        log.warning("cannot edit message %s in channel %s (Discord %s, code %s)",
                    edit.message_id, edit.channel_id, exc.status, exc.code)
        bot.metrics.interaction("effect:edit", "error")
        return False
    bot.metrics.interaction("effect:edit", "ok")
    return True


async def apply_thread_effects(bot: MentorBot, reply: Reply) -> None:
    """The mentors' thread a reply opens, and the posts it changes (never raises)."""
    try:
        if reply.escalate is not None:
            await open_thread(bot, reply.escalate)
        for edit in reply.edits:
            await edit_post(bot, edit)
    except Exception:
        log.exception("applying a reply's thread effects failed")


async def send_direct(bot: MentorBot, dm: DirectMessage) -> bool:
    """A DM to someone other than the member acting; False when it could not be delivered
    (DMs closed — 403/50007 — is normal: no retry)."""
    try:
        channel = await bot.http.start_private_message(dm.user_id)
        await bot.http.send_message(int(channel["id"]), params=message_params(dm.message))
    except discord.HTTPException as exc:
        outcome = "dms_closed" if exc.status == 403 else "error"
        log.info("could not DM %s (Discord %s, code %s)", dm.user_id, exc.status, exc.code)
        bot.metrics.interaction("effect:dm", outcome)
        return False
    bot.metrics.interaction("effect:dm", "ok")
    return True
