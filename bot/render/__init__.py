"""Every user-facing text is a jinja2 template in ``templates/``; this module renders them."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.knowledge.schema import source_display, source_name

BAR_WIDTH = 10


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """``▰▰▰▱▱▱▱▱▱▱ 3/10`` — readable in Discord, terminals and notifications alike."""
    filled = round(width * done / total) if total else 0
    return "▰" * filled + "▱" * (width - filled) + f" {done}/{total}"


def percent(done: int, total: int) -> str:
    return f"{round(100 * done / total)}%" if total else "0%"


_MARKDOWN = re.compile(r"([\\*_~`|<>\[\]#])")
_LINKISH = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):(?=//)")


def strip_controls(text: str) -> str:
    """Text without control, format (bidi overrides, zero-width) or unassigned characters: what
    a member typed can't reorder, hide or garble what is shown around it."""
    return "".join(ch if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
                   else " " for ch in str(text))


def user_text(text: str, limit: int = 200) -> str:
    """Member-written text quoted back: controls and bidi removed, markdown escaped (no links,
    no ``<t:…>`` or ``<@…>`` markup), addresses not clickable, mentions broken
    (``@\u200beveryone``), one line, clipped. Mentions are also disabled on every message; this
    keeps them from even rendering as a ping."""
    text = " ".join(strip_controls(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = _LINKISH.sub("\\1\u200b:", text)  # https://… shown, not linked
    return _MARKDOWN.sub(r"\\\1", text).replace("@", "@\u200b")


def link_target(url: str) -> str:
    """A member's link as the target of a markdown link: every character that could close the
    link, open another or add markup is percent-encoded."""
    return quote(strip_controls(url).strip(), safe=":/?#@!$&+,;=%-._~")


def discord_time(moment: Any, style: str = "F") -> str:
    """Discord's ``<t:…>`` markup: every client shows it in its own local time."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def source_list(files: Any) -> str:
    """Source file names → ``Title (Publisher); …`` in the given order, each once."""
    names = [source_display(f) for f in files]
    return "; ".join(dict.fromkeys(names))


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("bot.render", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,  # markdown, not HTML; user text is escaped by the front ends
        # The templates ship inside the package and change only with a new release: no
        # stat() of the template's file on every render to see whether it changed.
        auto_reload=False,
    )
    env.filters["bar"] = lambda pair: progress_bar(*pair)
    env.filters["percent"] = lambda pair: percent(*pair)
    env.filters["dtime"] = discord_time
    env.filters["usertext"] = user_text
    env.filters["linktarget"] = link_target
    # sources are cited by file name inside knowledge/; members see their names (issue 13)
    env.filters["source"] = source_display
    env.filters["source_name"] = source_name
    env.filters["sources"] = source_list
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(f"{name}.j2").render(**context).strip()
