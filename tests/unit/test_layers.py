"""Package layering, read from the source with ``ast``: only ``bot/frontends/discord`` imports
discord.py, and the packages of ``bot/`` import each other without a cycle.

Every ``import`` counts — module level and inside functions — except those under
``if TYPE_CHECKING:`` (annotations only, never executed)."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "bot"
DISCORD_HOME = BOT / "frontends" / "discord"


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else Path(path.name)
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) of every executed import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((name, node.lineno))
            # `from bot import app` names a module too
            found.extend((f"{name}.{alias.name}", node.lineno) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def sources() -> list[Path]:
    return sorted(BOT.rglob("*.py"))


def package_of(module: str) -> str | None:
    """``bot.engine.core`` → ``engine``; ``bot.cli`` → ``cli``; not ours → None."""
    parts = module.split(".")
    if parts[0] != "bot" or len(parts) < 2:
        return None
    candidate = BOT / parts[1]
    if candidate.is_dir() or candidate.with_suffix(".py").is_file():
        return parts[1]
    return None


def package_graph() -> dict[str, dict[str, list[str]]]:
    """package → imported package → ["file:line", ...] (self-imports left out)."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sources():
        source = package_of(_module(path))
        if source is None:
            continue
        for name, line in imports(path):
            target = package_of(name)
            if target is not None and target != source:
                graph[source][target].append(f"{path.relative_to(ROOT)}:{line}")
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_only_the_discord_front_end_imports_discord():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sources() if DISCORD_HOME not in path.parents
        for name, line in imports(path)
        if name == "discord" or name.startswith("discord.")
    ]
    assert offenders == []


def test_the_packages_of_bot_import_each_other_without_a_cycle():
    graph = package_graph()
    cycle = find_cycle(graph)
    if cycle:
        edges = [f"{a} → {b} ({', '.join(dict.fromkeys(graph[a][b]))})"
                 for a, b in itertools.pairwise(cycle)]
        raise AssertionError("import cycle between packages:\n" + "\n".join(edges))
    # it parsed: edges the layering has (reminders use the engine's replies and schedule)
    assert graph["reminders"]["engine"] and graph["engine"]["storage"]
    assert "frontends" not in graph["ops"] and "reminders" not in graph["engine"]


def test_the_checks_themselves_see_cycles_and_type_checking_blocks(tmp_path):
    assert find_cycle({"a": {"b": ["x"]}, "b": {"c": ["y"]}, "c": {"a": ["z"]}}) == \
        ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": ["x"]}, "b": {}}) is None
    probe = tmp_path / "probe.py"
    probe.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import discord\n"
                     "def f():\n    from discord import ui\n")
    assert [name for name, _ in imports(probe)] == ["typing", "typing.TYPE_CHECKING", "discord",
                                                    "discord.ui"]
