"""Every user-facing text is a jinja2 template in ``templates/``; this module renders them."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.knowledge.schema import source_display, source_name

BAR_WIDTH = 10


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """``▰▰▰▱▱▱▱▱▱▱ 3/10`` — readable in Discord, terminals and notifications alike."""
    filled = round(width * done / total) if total else 0
    return "▰" * filled + "▱" * (width - filled) + f" {done}/{total}"


def percent(done: int, total: int) -> str:
    return f"{round(100 * done / total)}%" if total else "0%"


_MARKDOWN = re.compile(r"([\\*_~`|>\[\]#])")


def user_text(text: str, limit: int = 200) -> str:
    """Member-written text quoted back: markdown escaped, mentions broken (``@\u200beveryone``),
    one line, clipped. Mentions are also disabled on every message; this keeps them from even
    rendering as a ping."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _MARKDOWN.sub(r"\\\1", text).replace("@", "@\u200b")


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
    )
    env.filters["bar"] = lambda pair: progress_bar(*pair)
    env.filters["percent"] = lambda pair: percent(*pair)
    env.filters["dtime"] = discord_time
    env.filters["usertext"] = user_text
    # sources are cited by file name inside knowledge/; members see their names (issue 13)
    env.filters["source"] = source_display
    env.filters["source_name"] = source_name
    env.filters["sources"] = source_list
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(f"{name}.j2").render(**context).strip()
