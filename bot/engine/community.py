"""Phase roles and milestones: what a member shows the server, only when they opt in.

* ``/roles on|off``: in a server whose admins mapped phase roles (``/setup phase-role``) the
  member gets the role of their phase — from the quiz result, from choosing a phase, and from
  finishing a phase's checklist (then the next phase's role) — and loses the other phase roles.
* ``/milestones on|off``: finishing every checklist item of a phase is announced once in the
  server's announcement channel (``/setup announcements``), only while the member shares their
  progress and the server lets members share.

The engine only says what should happen, as typed data on the reply (:class:`RoleEffect`,
:class:`Announcement`); the Discord front end does it after the member has their answer.
"""

from __future__ import annotations

from bot.engine.commands import Param, command
from bot.engine.context import Deps, Member
from bot.engine.replies import Announcement, Kind, Reply, RoleEffect
from bot.engine.setup import setup_of
from bot.render import render


async def role_effects(deps: Deps, member: Member, phase: int | None, *,
                       opted_in: bool | None = None) -> tuple[RoleEffect, ...]:
    """The phase roles ``member`` should have for ``phase`` (None: none of them) in every
    server they use mentorbot in that maps phase roles — the quiz runs in DMs, yet its result
    sets the role in the member's servers. Nothing when the member did not opt in."""
    if opted_in is None:
        opted_in = (await deps.store.community.opt_ins(member.user_id)).phase_roles
    if not opted_in:
        return ()
    record = await deps.store.members.get(member.user_id)
    guilds = set(record.guild_ids) if record else set()
    if member.guild_id is not None:
        guilds.add(member.guild_id)
    effects = []
    for guild_id in sorted(guilds):
        setup = await setup_of(deps, guild_id)
        if not setup.phase_roles:
            continue
        add = setup.phase_roles.get(phase) if phase is not None else None
        remove = tuple(sorted({role for role in setup.phase_roles.values() if role != add}))
        effects.append(RoleEffect(guild_id, member.user_id, phase, add, remove))
    return tuple(effects)


async def milestones(deps: Deps, member: Member, phase: int) -> tuple[Announcement, ...]:
    """The announcements of ``member`` finishing ``phase``, the first time only: in the
    server it happened in (from DMs: in every server the member uses mentorbot in) that has
    an announcement channel and lets members share, when the member opted in and shares."""
    if not (await deps.store.community.opt_ins(member.user_id)).milestones:
        return ()
    record = await deps.store.members.get(member.user_id)
    if record is None or not record.sharing:
        return ()
    guilds = [member.guild_id] if member.guild_id is not None else list(record.guild_ids)
    channels = []
    for guild_id in guilds:
        setup = await setup_of(deps, guild_id)
        if setup.announce_channel is not None and setup.sharing == "members":
            channels.append((guild_id, setup.announce_channel))
    if not channels:
        return ()
    if not await deps.store.community.claim_milestone(member.user_id, phase, guilds[0]):
        return ()  # announced before
    found = deps.kb.phase_by_number[phase]
    body = render("milestone", user_id=member.user_id, phase=found)
    return tuple(Announcement(guild_id, channel, member.user_id, phase,
                              f"Phase {phase} complete", body) for guild_id, channel in channels)


class CommunityFlow:
    def __init__(self, deps: Deps):
        self.deps = deps

    @command("roles", "get the role of your phase in servers that have phase roles, or not",
             Param("state", "on_off", "on: the role of your phase; off: no phase role",
                   required=True), private=True)
    async def roles(self, member: Member, state: bool) -> Reply:
        record = await self.deps.store.members.touch(member.user_id, guild_id=member.guild_id)
        await self.deps.store.community.set_opt_ins(member.user_id, phase_roles=state)
        phase = record.current_phase if state else None
        effects = await role_effects(self.deps, member, phase, opted_in=True)
        here = next((e for e in effects if e.guild_id == member.guild_id), None)
        return Reply("Phase roles", render(
            "community", what="roles", on=state, phase=record.current_phase,
            in_server=member.guild_id is not None, server_has=here is not None,
            role=here.add if here else None),
            kind=Kind.PRIVACY, private=True, tone="success", roles=effects)

    @command("milestones", "announce in this server when you finish a phase, or not",
             Param("state", "on_off", "on: announce your finished phases; off: quiet",
                   required=True), private=True)
    async def milestones(self, member: Member, state: bool) -> Reply:
        record = await self.deps.store.members.touch(member.user_id, guild_id=member.guild_id)
        await self.deps.store.community.set_opt_ins(member.user_id, milestones=state)
        setup = await setup_of(self.deps, member.guild_id) if member.guild_id else None
        return Reply("Milestones", render(
            "community", what="milestones", on=state, sharing=record.sharing,
            in_server=member.guild_id is not None,
            channel=setup.announce_channel if setup else None,
            server_shares=bool(setup is None or setup.sharing == "members")),
            kind=Kind.PRIVACY, private=True, tone="success")
