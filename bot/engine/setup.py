"""``/setup``: what a server decides for itself (Manage Server). Everything works with nothing
set up; each setting switches on one thing:

* the mentor role and the mentors' channel (a forum or a text channel): where questions the
  bot can't answer are passed on (the knowledge loop);
* phase roles: the role a member gets for their phase, when they opt in;
* the announcement channel: milestones, when members opt in;
* the progress channel: weekly check-ins of members who share their progress;
* who may use *Answer with mentorbot* on others' messages (a role; default: everyone);
* what members may share: their progress with other members, or nothing;
* forum channels whose new posts the bot answers first, when it is sure;
* the mentors' weekly digest of open blockers: a text channel, a weekday and an hour in an
  IANA time zone (:mod:`bot.engine.digest`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.engine.commands import Param, command
from bot.engine.context import Deps, Member, UserError
from bot.engine.replies import Kind, Reply, Tone
from bot.engine.schedule import WEEKDAYS, next_occurrence, parse_timezone
from bot.render import render

if TYPE_CHECKING:
    from bot.storage.store import Store

MAX_FORUMS = 25
MAX_REMINDER_MINUTES = 7 * 24 * 60


class BlockerDigest(BaseModel):
    """Where and when the mentors' weekly digest of open blockers is posted: ``hour``:00 on
    ``weekday`` (0 = Monday) in ``timezone``, UTC computed per occurrence. ``since``: when it
    was switched on (the first digest is the first occurrence after it)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    channel: int = Field(ge=1, le=2**63 - 1)
    weekday: int = Field(0, ge=0, le=6)
    hour: int = Field(9, ge=0, le=23)
    timezone: str = "UTC"
    since: AwareDatetime

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return parse_timezone(value)


class GuildSetup(BaseModel):
    """A server's setup as stored (unknown keys from a newer version are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    mentor_role: int | None = None
    mentor_channel: int | None = None
    announce_channel: int | None = None
    progress_channel: int | None = None
    answer_role: int | None = None
    phase_roles: dict[int, int] = Field(default_factory=dict)
    forums: tuple[int, ...] = ()
    sharing: Literal["members", "nobody"] = "members"
    #: minutes before an unclaimed Ask a mentor thread is reminded (None: the setting)
    mentor_reminder_minutes: int | None = Field(None, ge=1, le=MAX_REMINDER_MINUTES)
    #: a new intent from a mentor's answer needs a second, different mentor's press
    confirm_intents: bool = False
    blocker_digest: BlockerDigest | None = None


async def setup_of(deps: Deps, guild_id: int | None) -> GuildSetup:
    """The setup of ``guild_id`` (defaults outside a server or when never set up)."""
    return GuildSetup() if guild_id is None else await stored_setup(deps.store, guild_id)


async def stored_setup(store: Store, guild_id: int) -> GuildSetup:
    """``guild_id``'s stored setup; the defaults when never set up, or when written by a newer
    or broken version."""
    try:
        return GuildSetup.model_validate(await store.guilds.get(guild_id))
    except ValidationError:
        return GuildSetup()


class SetupFlow:
    def __init__(self, deps: Deps):
        self.deps = deps

    async def of(self, guild_id: int | None) -> GuildSetup:
        return await setup_of(self.deps, guild_id)

    def _check(self, member: Member) -> int:
        if member.guild_id is None:
            raise UserError("Server setup only makes sense inside a server.")
        if not member.is_admin:
            raise UserError("Server setup is for members with the Manage Server permission.")
        return member.guild_id

    async def _change(self, member: Member, **changes: object) -> Reply:
        guild_id = self._check(member)
        current = await self.of(guild_id)
        updated = current.model_copy(update=changes)
        GuildSetup.model_validate(updated.model_dump())  # the same rules as a stored one
        await self.deps.store.guilds.set(guild_id, updated.model_dump(mode="json"))
        return await self._shown(guild_id, updated, "Setup saved")

    def reminder_minutes(self, setup: GuildSetup) -> int:
        return setup.mentor_reminder_minutes or self.deps.settings.mentor_reminder_minutes

    async def _shown(self, guild_id: int, setup: GuildSetup,
                     title: str = "This server's setup") -> Reply:
        phases = sorted(self.deps.kb.phase_by_number)
        notes = await self.deps.store.community.notes(guild_id)  # what the bot couldn't do
        tone: Tone = ("success" if title != "This server's setup"
                      else "warning" if notes else "info")
        digest = setup.blocker_digest
        when = None if digest is None else {
            "weekday": WEEKDAYS[digest.weekday].title(),
            "next": next_occurrence(digest.weekday, digest.hour, digest.timezone,
                                    max(self.deps.clock(), digest.since))}
        return Reply(title, render("setup", setup=setup, phases=phases, notes=notes,
                                   reminder=self.reminder_minutes(setup), digest=when),
                     kind=Kind.ADMIN, private=True, tone=tone)

    @command("setup show", "this server's setup (Manage Server)", private=True, admin=True,
             default=True)
    async def show(self, member: Member) -> Reply:
        guild_id = self._check(member)
        return await self._shown(guild_id, await self.of(guild_id))

    @command("setup mentors", "the mentor role and the channel where questions reach them",
             Param("role", "role", "the mentors' role"),
             Param("channel", "channel", "a forum or text channel for their threads"),
             private=True, admin=True)
    async def mentors(self, member: Member, role: int | None = None,
                      channel: int | None = None) -> Reply:
        return await self._change(member, mentor_role=role, mentor_channel=channel)

    @command("setup mentor-reminder", "minutes before an unclaimed question in the mentors' "
             "channel is reminded once (leave out: the bot's default)",
             Param("minutes", "text", f"1 to {MAX_REMINDER_MINUTES}"), private=True,
             admin=True)
    async def mentor_reminder(self, member: Member, minutes: str | int | None = None) -> Reply:
        text = str(minutes).strip().casefold() if minutes is not None else ""
        if text in ("", "default"):
            return await self._change(member, mentor_reminder_minutes=None)
        if not text.isascii() or not text.isdigit() or \
                not 1 <= int(text) <= MAX_REMINDER_MINUTES:
            raise UserError(f"The reminder delay is a number of minutes, 1 to "
                            f"{MAX_REMINDER_MINUTES} (a week).")
        return await self._change(member, mentor_reminder_minutes=int(text))

    @command("setup confirmations", "whether a new intent from a mentor's answer needs a "
             "second mentor's confirmation",
             Param("state", "on_off", "on or off", required=True), private=True, admin=True)
    async def confirmations(self, member: Member, state: bool) -> Reply:
        return await self._change(member, confirm_intents=state)

    @command("setup phase-role", "the role for members in a phase (leave out the role to clear)",
             Param("phase", "phase", "the phase", required=True),
             Param("role", "role", "the role for that phase"), private=True, admin=True)
    async def phase_role(self, member: Member, phase: int, role: int | None = None) -> Reply:
        self.deps.phase(phase)
        guild_id = self._check(member)
        roles = dict((await self.of(guild_id)).phase_roles)
        if role is None:
            roles.pop(phase, None)
        else:
            roles[phase] = role
        return await self._change(member, phase_roles=roles)

    @command("setup announcements", "where milestones are announced (leave out to switch off)",
             Param("channel", "channel", "a text channel"), private=True, admin=True)
    async def announcements(self, member: Member, channel: int | None = None) -> Reply:
        return await self._change(member, announce_channel=channel)

    @command("setup progress-channel", "where check-ins of members who share are posted "
             "(leave out to switch off)",
             Param("channel", "channel", "a text channel"), private=True, admin=True)
    async def progress_channel(self, member: Member, channel: int | None = None) -> Reply:
        return await self._change(member, progress_channel=channel)

    @command("setup answer-role", "who may use Answer with mentorbot (leave out: everyone)",
             Param("role", "role", "the role allowed to use it"), private=True, admin=True)
    async def answer_role(self, member: Member, role: int | None = None) -> Reply:
        return await self._change(member, answer_role=role)

    @command("setup sharing", "whether members may share their progress with other members",
             Param("policy", "text", "members or nobody", required=True),
             private=True, admin=True)
    async def sharing(self, member: Member, policy: str) -> Reply:
        policy = policy.strip().casefold()
        if policy not in ("members", "nobody"):
            raise UserError("Sharing is `members` (members choose) or `nobody`.")
        return await self._change(member, sharing=policy)

    @command("setup forum", "let the bot answer new posts in a forum first, when it is sure",
             Param("channel", "channel", "the forum channel", required=True),
             Param("state", "on_off", "on or off", required=True), private=True, admin=True)
    async def forum(self, member: Member, channel: int, state: bool) -> Reply:
        forums = [f for f in (await self.of(self._check(member))).forums if f != channel]
        if state:
            if len(forums) >= MAX_FORUMS:
                raise UserError(f"At most {MAX_FORUMS} forums can be watched.")
            forums.append(channel)
        return await self._change(member, forums=tuple(forums))

    @command("setup reset", "forget this server's setup", private=True, admin=True)
    async def reset(self, member: Member) -> Reply:
        guild_id = self._check(member)
        await self.deps.store.guilds.reset(guild_id)
        return await self._shown(guild_id, GuildSetup(), "Setup reset")
