"""The on-disk cache of what start-up would otherwise compute again: one place for where it is,
how its entries are named and how they are written.

Two kinds of entry live there, each named by :func:`content_key` of everything it is made from:
the trained matcher (``matcher-<key>.npz``, :mod:`bot.matching.build`) and the validated
knowledge base (``knowledge-<key>.pickle``, :mod:`bot.knowledge.loader`). A changed input is a
new name, so an entry is never stale, only unused. Entries are written whole or not at all
(:func:`write_atomic`); one that cannot be read is rebuilt. Each write keeps the
:data:`KEEP_ENTRIES` most recently used entries of its kind and removes the rest
(:func:`prune`; a read marks an entry used): every overlay version is a new matcher entry.

The directory is ``$MENTORBOT_CACHE_DIR``, else ``$XDG_CACHE_HOME/mentorbot``, else
``~/.cache/mentorbot``; ``MENTORBOT_CACHE_DIR=off`` (or a directory that cannot be written) means
build everything in-process every time. The knowledge-base entries are pickles, loaded as they
are: the directory must be as trusted as the code (it is the user's own cache; files are created
readable by their owner only).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)


def cache_dir() -> Path | None:
    """Where cache entries live; ``None``: caching is off."""
    env = os.environ.get("MENTORBOT_CACHE_DIR")
    if env:
        return None if env.lower() in {"off", "0", "none", "no"} else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mentorbot"


def content_key(payload: Any) -> str:
    """The name of what ``payload`` (JSON data: every input of an entry, with the versions of
    the code that reads it) builds: 32 hex digits of its SHA-256."""
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


#: entries of one kind (``matcher``, ``knowledge``) kept, the most recently used: every overlay
#: version a mentor's teaching makes is a new matcher entry of several MB
KEEP_ENTRIES = 8


def used(path: Path) -> None:
    """Mark an entry as just read (its modification time), so :func:`prune` keeps it."""
    with contextlib.suppress(OSError):
        os.utime(path)


def prune(path: Path, keep: int = KEEP_ENTRIES) -> list[str]:
    """Remove the entries of ``path``'s kind (``<kind>-<key><suffix>`` beside it) but the
    ``keep`` most recently used, ``path`` always among them; returns the names removed. An
    entry another process was about to read is rebuilt by it, as a changed input would be."""
    kind = path.name.split("-", 1)[0]
    try:
        entries = [p for p in path.parent.glob(f"{kind}-*{path.suffix}") if p != path]
        stamped = sorted(((p.stat().st_mtime, p) for p in entries), reverse=True)
    except OSError:
        return []
    removed = []
    for _, old in stamped[max(keep - 1, 0):]:
        with contextlib.suppress(OSError):
            old.unlink()
            removed.append(old.name)
    if removed:
        log.info("cache: removed %d old %s entries", len(removed), kind)
    return removed


def write_atomic(path: Path, write: Callable[[IO[bytes]], object]) -> bool:
    """Write ``path`` through a temporary file in its directory, then rename it into place: a
    reader sees the whole entry or none; then older entries of its kind beyond
    :data:`KEEP_ENTRIES` go (:func:`prune`). ``False`` (logged) when the cache cannot be
    written — a read-only home, a full disk: what was built still works."""
    import tempfile  # only when an entry is written (~5 ms of imports on every cold start)

    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        log.info("cache entry %s not written (%s)", path.name, exc)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return False
    prune(path)
    return True
