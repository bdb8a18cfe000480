"""Reload the knowledge base without a restart: ``/kb reload`` and ``SIGHUP`` both land here
(the Discord front end installs the signal: ``bot.frontends.discord.ops``).

The new ``knowledge/`` is loaded and validated off the event loop (YAML, schema, cross
references, and its matcher is built once as a check). Only when all of that passes does the
engine swap it in (:meth:`bot.engine.core.Engine.reload`); otherwise the knowledge base being
served stays as it was and the problems (``file:line: ...``) are reported, clipped to fit one
Discord embed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import TYPE_CHECKING, Protocol

from bot.knowledge.loader import KnowledgeBase, KnowledgeError, load_knowledge
from bot.matching.build import build_matcher
from bot.matching.matcher import Matcher

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.engine.core import Engine
    from bot.ops.metrics import Metrics

log = logging.getLogger(__name__)

REPORT_LIMIT = 3800  # an embed description holds 4096; leave room for a title line / escaping
_locks: weakref.WeakKeyDictionary[object, asyncio.Lock] = weakref.WeakKeyDictionary()


class Served(Protocol):
    """What serves the knowledge base (the Discord bot): its engine, settings and metrics."""

    engine: Engine
    settings: Settings
    metrics: Metrics


def _summary(kb: KnowledgeBase) -> str:
    items = sum(len(p.checklist) for p in kb.phases.phases)
    return f"{len(kb.intents)} intents, {items} checklist items"


def clip_lines(head: str, lines: list[str], limit: int = REPORT_LIMIT) -> str:
    """``head`` and as many whole ``lines`` as fit in ``limit`` characters, then "… N more"."""
    out = head
    for i, line in enumerate(lines):
        more = f"\n… and {len(lines) - i} more"
        line = line if len(line) <= 500 else line[:499] + "…"
        if len(out) + 1 + len(line) + len(more) > limit:
            return out + more
        out += "\n" + line
    return out


def fit_embed(text: str, limit: int = 4000) -> str:
    """``text`` cut at a line end to at most ``limit`` characters (an embed description holds
    4096), marked when cut: for a report that grew when escaped for markdown."""
    if len(text) <= limit:
        return text
    mark = "\n… (clipped)"
    cut = text.rfind("\n", 0, limit - len(mark))
    return text[: cut if cut > 0 else limit - len(mark)] + mark


def _load(root: object) -> tuple[KnowledgeBase, Matcher]:
    """Load and build off the event loop; a knowledge base the matcher cannot be built from
    is not swapped in."""
    kb = load_knowledge(root)  # type: ignore[arg-type]
    return kb, build_matcher(kb, isolated=True)


async def _orphan_warnings(bot: Served, kb: KnowledgeBase) -> list[str]:
    """Checklist items members have progress on that the new knowledge base no longer has."""
    try:
        orphans = await bot.engine.deps.store.checklist.orphaned_item_ids(set(kb.item_by_id))
    except Exception as exc:  # advisory only: a database hiccup must not block the reload
        log.warning("reload: could not check checklist progress against the new items: %s", exc)
        return []
    return [f"checklist item {item!r} is gone but {n} member(s) have progress on it "
            "(renamed? its history is kept but stops counting)"
            for item, n in sorted(orphans.items())]


async def reload_knowledge(bot: Served) -> tuple[bool, str]:
    """Load, validate and swap in ``knowledge/`` (``KNOWLEDGE_DIR``). Returns ``(ok, report)``;
    on failure the current knowledge base stays in use and ``report`` lists the problems."""
    lock = _locks.setdefault(bot, asyncio.Lock())
    async with lock:  # one reload at a time (a SIGHUP during /kb reload waits)
        engine = bot.engine
        old = engine.kb
        started = time.perf_counter()
        try:
            kb, matcher = await asyncio.to_thread(_load, bot.settings.knowledge_dir)
        except KnowledgeError as exc:
            bot.metrics.kb_reloads.labels(outcome="failed").inc()
            problems = [str(p) for p in exc.problems]
            log.error("knowledge base reload failed (%d problem(s)); still serving the "
                      "previous one:\n%s", len(problems), "\n".join(problems))
            head = (f"Knowledge base NOT reloaded: still serving the previous one "
                    f"({_summary(old)}). {len(problems)} problem(s):")
            return False, clip_lines(head, problems)
        except Exception as exc:
            bot.metrics.kb_reloads.labels(outcome="failed").inc()
            log.exception("knowledge base reload failed; still serving the previous one")
            return False, clip_lines(
                f"Knowledge base NOT reloaded: still serving the previous one "
                f"({_summary(old)}). Unexpected error:", [f"{type(exc).__name__}: {exc}"])
        engine.reload(kb, matcher)
        bot.metrics.kb_reloads.labels(outcome="ok").inc()
        elapsed = time.perf_counter() - started
        warnings = list(kb.warnings) + await _orphan_warnings(bot, kb)
        head = (f"Knowledge base reloaded from {kb.root} in {elapsed:.1f} s: {_summary(kb)} "
                f"(was {_summary(old)}).")
        log.info("%s", head)
        for warning in warnings:
            log.warning("knowledge base: %s", warning)
        if warnings:
            return True, clip_lines(head + f"\n{len(warnings)} warning(s):", warnings)
        return True, head
