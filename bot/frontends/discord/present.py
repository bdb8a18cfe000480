"""Reply → Discord: embeds within Discord's limits, buttons, and answering in time.

Limits (Discord's): embed title 256, description 4096, 25 fields (name 256, value 1024),
footer 2048, 6000 characters across a message's embeds, 10 embeds, 25 buttons in 5 rows,
button label 80, custom_id 100. Long bodies are split at paragraph, line or word boundaries
into several embeds, and into follow-up messages past 6000 characters; a single word longer
than a page is cut with a visible "…" marker, never silently.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import discord
from discord.enums import InteractionResponseType
from discord.http import Route
from discord.webhook.async_ import async_context, interaction_message_response_params

from bot.engine.replies import Action, ErrorCause, Kind, Reply

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
DESCRIPTION_LIMIT = 4096
MESSAGE_EMBED_BUDGET = 5800  # under 6000, leaving room for title/footer/fields
FIELD_VALUE_LIMIT = 1024
MAX_FIELDS = 25
MAX_BUTTONS = 25
ACK_BUDGET = 0.4  # seconds of work before we defer (Discord wants an answer within 3 s)

COLOURS = {
    "info": discord.Colour.blurple(),
    "success": discord.Colour.green(),
    "warning": discord.Colour.gold(),
    "error": discord.Colour.red(),
}
STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success,
    "danger": discord.ButtonStyle.danger,
}


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _last_space(window: str) -> int:
    """Index of the last whitespace character of ``window`` (any that ``str.split`` splits on:
    a carriage return or a tab separates words as a space does), -1 if none."""
    return next((i for i in range(len(window) - 1, -1, -1) if window[i].isspace()), -1)


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at a blank line, a line end or other
    whitespace; a word is cut only when it alone is longer than a piece."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), -1)
        if cut < limit // 3:
            cut = window.rfind("\n")
        if cut < limit // 3:
            cut = _last_space(window)
        if cut <= 0:  # one enormous word: cut it, visibly
            pieces.append(window[: limit - 1] + "…")
            rest = rest[limit - 1 :].lstrip()
            continue
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces or [""]


@dataclass
class Rendered:
    """One reply as Discord messages: the first carries the buttons and the attachment."""

    pages: list[list[discord.Embed]]
    view: discord.ui.View | None
    file: discord.File | None


def build_view(actions: tuple[Action, ...]) -> discord.ui.View | None:
    if not actions:
        return None
    view = discord.ui.View(timeout=None)
    for n, action in enumerate(actions[:MAX_BUTTONS]):
        view.add_item(discord.ui.Button(
            label=clip(action.label, 80),
            custom_id=action.id,
            style=STYLES.get(action.style, discord.ButtonStyle.secondary),
            row=n // 5,
        ))
    # The persistent EngineButton answers every press from the id alone; a view left running
    # would only sit in discord.py's view store (4-6 KiB a message, for the process's life).
    # A finished view is still sent as components but never stored.
    view.stop()
    return view


def render(reply: Reply) -> Rendered:
    colour = COLOURS.get(reply.tone, COLOURS["info"])
    chunks = split_text(reply.body, DESCRIPTION_LIMIT)
    embeds: list[discord.Embed] = []
    for n, chunk in enumerate(chunks):
        embed = discord.Embed(description=chunk, colour=colour)
        if n == 0:
            embed.title = clip(reply.title, 256)
        embeds.append(embed)
    last = embeds[-1]
    for f in reply.fields[:MAX_FIELDS]:
        name, value = clip(f.name, 256), clip(f.value, FIELD_VALUE_LIMIT)
        if len(last) + len(name) + len(value) > MESSAGE_EMBED_BUDGET:
            last = discord.Embed(colour=colour)  # fields overflow into an embed of their own
            embeds.append(last)
        last.add_field(name=name, value=value, inline=f.inline)
    if reply.footer:
        footer = clip(reply.footer, 2048)
        if len(last) + len(footer) > MESSAGE_EMBED_BUDGET:
            last = discord.Embed(colour=colour)
            embeds.append(last)
        last.set_footer(text=footer)
    pages: list[list[discord.Embed]] = [[]]
    used = 0
    for embed in embeds:
        size = len(embed)
        if pages[-1] and (used + size > MESSAGE_EMBED_BUDGET or len(pages[-1]) == 10):
            pages.append([])
            used = 0
        pages[-1].append(embed)
        used += size
    file = None
    if reply.attachment is not None:
        file = discord.File(io.BytesIO(reply.attachment.data), filename=reply.attachment.filename,
                            description=reply.attachment.description or None)
    return Rendered(pages, build_view(reply.actions), file)


# --- answering interactions --------------------------------------------------------------------


async def run_in_time(
    interaction: discord.Interaction,
    work: Callable[[], Awaitable[Reply]],
    *,
    ephemeral: bool,
    update: bool = False,
) -> Reply:
    """Run ``work``; if it is not done within ``ACK_BUDGET`` seconds, acknowledge the
    interaction meanwhile (defer) so Discord never shows "the application did not respond".
    ``work`` returns only once that acknowledgement is done, so its reply follows it.

    A timer, not a task per interaction: most work is done long before the budget."""
    loop = asyncio.get_running_loop()
    deferring: list[asyncio.Task[None]] = []

    def defer() -> None:
        if not interaction.response.is_done():
            deferring.append(loop.create_task(_defer(interaction, ephemeral, update)))

    timer = loop.call_later(ACK_BUDGET, defer)
    try:
        return await work()
    finally:
        timer.cancel()
        if deferring:
            await deferring[0]


async def _defer(interaction: discord.Interaction, ephemeral: bool, update: bool) -> None:
    try:
        if update:
            await interaction.response.defer()
        else:
            await interaction.response.defer(ephemeral=ephemeral, thinking=True)
    except discord.HTTPException as exc:
        # Too late (10062) or refused: the work goes on and its reply is attempted; if
        # that fails too, the caller remembers a saved change for the next interaction.
        log.warning("could not defer the interaction (%s %s)", exc.status, exc.code)


async def send_reply(
    interaction: discord.Interaction, reply: Reply, *, ephemeral: bool | None = None,
    update: bool = False,
) -> None:
    """Answer an interaction with a reply: a new message, or (``update``) an edit of the
    message whose button was pressed. Works whether or not the interaction was deferred."""
    private = reply.private if ephemeral is None else ephemeral
    if interaction.guild_id is None and reply.kind != Kind.ERROR:
        private = False  # in DMs nobody else sees it anyway (a refusal stays ephemeral)
    rendered = render(reply)
    first, rest = rendered.pages[0], rendered.pages[1:]
    view = rendered.view
    files = [rendered.file] if rendered.file else []
    response = interaction.response
    if update:
        if not response.is_done():
            await _callback(interaction, InteractionResponseType.message_update, embeds=first,
                            view=view, attachments=files)
        else:
            await interaction.edit_original_response(embeds=first, view=view, attachments=files,
                                                     allowed_mentions=NO_MENTIONS)
    elif not response.is_done():
        await _callback(interaction, InteractionResponseType.channel_message, embeds=first,
                        view=view or discord.utils.MISSING, files=files,
                        flags=discord.MessageFlags(ephemeral=private))
    else:
        await interaction.followup.send(embeds=first, view=view or discord.utils.MISSING,
                                        files=files, ephemeral=private,
                                        allowed_mentions=NO_MENTIONS)
    for page in rest:
        await interaction.followup.send(embeds=page, ephemeral=private,
                                        allowed_mentions=NO_MENTIONS)


async def _callback(interaction: discord.Interaction, kind: InteractionResponseType,
                    **message: Any) -> None:
    """Answer the interaction (its first response) with a message or an edit, as
    ``InteractionResponse.send_message``/``edit_message`` do, but without asking Discord to send
    the message back (``?with_response``): nothing here reads it, and discord.py would parse
    it into a ``Message`` on every interaction. Views are finished (see :func:`build_view`),
    so there is none to store."""
    if interaction.response.is_done():
        raise discord.InteractionResponded(interaction)
    params = interaction_message_response_params(
        type=kind.value, previous_allowed_mentions=interaction._state.allowed_mentions,
        allowed_mentions=NO_MENTIONS, **message)
    http = interaction._state.http
    route = Route("POST", "/interactions/{webhook_id}/{webhook_token}/callback",
                  webhook_id=interaction.id, webhook_token=interaction.token)
    await async_context.get().request(
        route, session=interaction._session, proxy=http.proxy, proxy_auth=http.proxy_auth,
        payload=params.payload, multipart=params.multipart, files=params.files)
    interaction.response._response_type = kind


async def send_to(target: discord.abc.Messageable, reply: Reply) -> discord.Message:
    """Send a reply to a channel or a user's DMs (raises discord.Forbidden when closed)."""
    rendered = render(reply)
    first, rest = rendered.pages[0], rendered.pages[1:]
    message = await target.send(embeds=first, view=rendered.view or discord.utils.MISSING,
                                files=[rendered.file] if rendered.file else discord.utils.MISSING,
                                allowed_mentions=NO_MENTIONS)
    for page in rest:
        await target.send(embeds=page, allowed_mentions=NO_MENTIONS)
    return message


async def send_error(interaction: discord.Interaction, message: str) -> str:
    """A friendly ephemeral error with a short id; returns the id (logged by the caller)."""
    error_id = secrets.token_hex(3)
    reply = Reply("Sorry", f"{message}\n\n(error id `{error_id}`)", kind=Kind.ERROR,
                  private=True, tone="error", error=ErrorCause.INTERNAL)
    try:
        await send_reply(interaction, reply, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not deliver error %s to the member", error_id)
    return error_id
