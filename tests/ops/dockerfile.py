"""A small reader of the Dockerfile and .dockerignore, for tests that check them without Docker."""

from __future__ import annotations

import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def instructions(path: Path = REPO / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for word, rest in instructions():
        if word == "FROM":
            result.append([])
        if result:
            result[-1].append((word, rest))
    return result


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in stage:
        if word == "ENV":
            for pair in rest.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def dockerignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes; a directory pattern
    covers what is below it."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        pat = pat.removeprefix("**/")
        hit = any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p.split("/")[-1], pat)
                  for p in prefixes) if pattern != "*" else True
        if hit:
            ignored = not negate
    return ignored


def dockerignore_patterns() -> list[str]:
    return [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
