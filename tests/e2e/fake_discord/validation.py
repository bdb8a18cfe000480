"""The message limits Discord enforces (400 / 50035 Invalid Form Body, 50006 empty message).

Only the limits a bot realistically trips over are checked; the fake should reject what Discord
rejects, so a too-long answer fails in tests the way it would in production.
"""

from __future__ import annotations

from typing import Any

from .errors import EMPTY_MESSAGE, DiscordError, form_error
from .models import FLAG_IS_COMPONENTS_V2, walk_components


def _max_len(value: Any, limit: int, path: str) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise form_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _required(value: Any, path: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise form_error(path, "BASE_TYPE_REQUIRED", "This field is required")


def validate_embeds(embeds: list[dict], prefix: str = "embeds") -> None:
    if len(embeds) > 10:
        raise form_error(prefix, "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        p = f"{prefix}.{i}"
        _max_len(embed.get("title"), 256, f"{p}.title")
        _max_len(embed.get("description"), 4096, f"{p}.description")
        footer = embed.get("footer") or {}
        author = embed.get("author") or {}
        _max_len(footer.get("text"), 2048, f"{p}.footer.text")
        _max_len(author.get("name"), 256, f"{p}.author.name")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise form_error(
                f"{p}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        for j, fld in enumerate(fields):
            _required(fld.get("name"), f"{p}.fields.{j}.name")
            _required(fld.get("value"), f"{p}.fields.{j}.value")
            _max_len(fld["name"], 256, f"{p}.fields.{j}.name")
            _max_len(fld["value"], 1024, f"{p}.fields.{j}.value")
        for text in (
            embed.get("title"),
            embed.get("description"),
            footer.get("text"),
            author.get("name"),
        ):
            total += len(text or "")
        total += sum(len(f.get("name", "")) + len(f.get("value", "")) for f in fields)
    if total > 6000:
        raise form_error(
            prefix, "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )


def validate_components(components: list[dict], flags: int = 0) -> None:
    if not flags & FLAG_IS_COMPONENTS_V2 and len(components) > 5:
        raise form_error("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    seen: set[str] = set()
    for i, row in enumerate(components):
        if row.get("type") == 1 and len(row.get("components") or []) > 5:
            raise form_error(
                f"components.{i}.components",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 5 or fewer in length.",
            )
    for comp in walk_components(components):
        custom_id = comp.get("custom_id")
        if custom_id is not None:
            _max_len(custom_id, 100, "components.custom_id")
            if custom_id in seen:
                raise form_error(
                    "components",
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
            seen.add(custom_id)
        if comp.get("type") == 2:
            _max_len(comp.get("label"), 80, "components.label")
            is_link = comp.get("style") == 5
            if is_link and not comp.get("url"):
                raise form_error("components.url", "BASE_TYPE_REQUIRED", "This field is required")
            if not is_link and comp.get("style") != 6 and custom_id is None:
                raise form_error(
                    "components.custom_id", "BASE_TYPE_REQUIRED", "This field is required"
                )


def validate_message(data: dict, *, creating: bool, n_files: int = 0) -> None:
    """Check a create/edit message body (channel message, interaction response, webhook)."""
    _max_len(data.get("content"), 2000, "content")
    if data.get("embeds") is not None:
        validate_embeds(data["embeds"])
    if data.get("components") is not None:
        validate_components(data["components"], data.get("flags") or 0)
    if creating:
        has_something = (
            bool(data.get("content"))
            or bool(data.get("embeds"))
            or bool(data.get("components"))
            or bool(data.get("sticker_ids"))
            or data.get("poll") is not None
            or n_files > 0
        )
        if not has_something:
            raise DiscordError(400, EMPTY_MESSAGE)


def validate_choices(data: dict) -> None:
    choices = data.get("choices")
    if choices is None:
        raise form_error("data.choices", "BASE_TYPE_REQUIRED", "This field is required")
    if len(choices) > 25:
        raise form_error("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for i, choice in enumerate(choices):
        _required(choice.get("name"), f"data.choices.{i}.name")
        _max_len(choice["name"], 100, f"data.choices.{i}.name")
        _max_len(choice.get("value"), 100, f"data.choices.{i}.value")
