"""Load ``knowledge/`` into typed objects, validate it, and cross-reference it.

Every problem is reported as ``file:line: location: problem`` so an editor of the YAML can go
straight to it. ``load_knowledge`` raises :class:`KnowledgeError` with all problems found.

``load_knowledge`` always reads and validates (``mentorbot kb check``, the reload).
``load_knowledge_cached`` (every other command, through :class:`bot.app.App`) gives the same
knowledge base from the cache (:mod:`bot.cache`) when exactly these files were validated before
by exactly this code: the entry is named by the text of every YAML file under the directory,
of this module and of ``schema.py``, the package and pydantic versions. Anything else — a
changed file, other code, an entry that cannot be read — is a full load, then a new entry.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.knowledge.schema import (
    ChecklistItem,
    Intent,
    IntentsFile,
    LevelsFile,
    NegativeTopic,
    OutOfScopeFile,
    Phase,
    PhasesFile,
    QuizFile,
    RoadmapFile,
    SourcesFile,
    ToolsFile,
    UncoveredFile,
    UncoveredTopic,
)

if TYPE_CHECKING:
    import yaml

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)


def default_knowledge_dir() -> Path:
    """``$MENTORBOT_KNOWLEDGE_DIR``, else ``knowledge/`` beside the package (repo or image)."""
    env = os.environ.get("MENTORBOT_KNOWLEDGE_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "knowledge"


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        pos = f"{self.file}:{self.line}" if self.line else self.file
        return f"{pos}: {self.where}: {self.message}" if self.where else f"{pos}: {self.message}"


class KnowledgeError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class KnowledgeBase:
    root: Path
    sources: SourcesFile
    levels: LevelsFile
    phases: PhasesFile
    quiz: QuizFile
    tools: ToolsFile
    roadmap: RoadmapFile
    intents: list[Intent]
    negatives: list[NegativeTopic] = field(default_factory=list)
    uncovered: list[UncoveredTopic] = field(default_factory=list)  # in-domain, no source covers
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def intent_by_id(self) -> dict[str, Intent]:
        return {i.id: i for i in self.intents}

    @cached_property
    def part_tools(self) -> frozenset[str]:
        """Every tool slug an answer's parts name (``airflow``, ``weights-biases``)."""
        return frozenset(t for i in self.intents for p in i.parts for t in p.slot.tool or ())

    @cached_property
    def phase_by_number(self) -> dict[int, Phase]:
        return {p.number: p for p in self.phases.phases}

    @cached_property
    def item_by_id(self) -> dict[str, ChecklistItem]:
        return {item.id: item for p in self.phases.phases for item in p.checklist}

    def phase_of_item(self, item_id: str) -> int | None:
        item = self.item_by_id.get(item_id)
        return int(item_id[1]) if item else None

    def phase_for_score(self, yes_count: int) -> int:
        for route in self.quiz.routing:
            if route.min_yes <= yes_count <= route.max_yes:
                return route.phase
        raise ValueError(f"no routing for {yes_count} yes answers")


# --- YAML with line numbers ----------------------------------------------------------------------


def _node_line(node: yaml.Node | None, loc: Iterable[Any]) -> int | None:
    """Follow a pydantic error location through the composed YAML node tree to a line."""
    import yaml

    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == key), None)
            if nxt is None:  # an unknown key: point at the key itself when it exists
                k_node = next((k for k, _ in node.value if k.value == key), None)
                return k_node.start_mark.line + 1 if k_node is not None else line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                return line
            node = node.value[key]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def _fmt_loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _loader() -> Any:
    """The C loader (libyaml) when PyYAML was built with it: it reads all of knowledge/ in a
    few milliseconds, where the pure-Python one takes a good part of a second. (PyYAML is
    imported only to read YAML: not by a start that finds the knowledge base in the cache.)"""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(path: Path) -> yaml.Node | None:
    """The YAML node tree of a file, for line numbers: only built when a problem is reported."""
    import yaml

    try:
        return yaml.compose(path.read_text(encoding="utf-8"), Loader=_loader())
    except (OSError, yaml.YAMLError):
        return None


def load_yaml_model(path: Path, model: type[M], display: str) -> tuple[M | None, list[Problem]]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [Problem(display, None, "", f"cannot read file: {exc.strerror or exc}")]
    try:
        data = yaml.load(text, Loader=_loader())  # parsed once; safe (no arbitrary objects)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        msg = f"YAML syntax error: {exc.problem or exc.context}"
        return None, [Problem(display, line, "", msg)]
    except yaml.YAMLError as exc:
        return None, [Problem(display, None, "", f"YAML error: {exc}")]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        node = _compose(path)
        problems = [
            Problem(display, _node_line(node, err["loc"]), _fmt_loc(err["loc"]), err["msg"])
            for err in exc.errors()
        ]
        return None, problems


# --- cross references ----------------------------------------------------------------------------


def _cross_check(kb: KnowledgeBase, intent_files: dict[str, str],
                 intent_pos: dict[str, int]) -> list[Problem]:
    problems: list[Problem] = []
    src_files = {s.file for s in kb.sources.sources}

    def cited(display: str, where: str, files: Iterable[str]) -> None:
        for f in files:
            if f not in src_files:
                problems.append(Problem(display, None, where, f"unknown source file {f!r}"))

    seen: dict[str, str] = {}
    for intent in kb.intents:
        disp = intent_files[intent.id]
        if intent.id in seen:
            problems.append(
                Problem(disp, None, intent.id, f"duplicate intent id (also in {seen[intent.id]})")
            )
        seen.setdefault(intent.id, disp)
        if not intent.id.startswith(intent.kind + "."):
            problems.append(Problem(disp, None, intent.id, f"kind {intent.kind!r} ≠ id prefix"))
        if intent.kind == "roadblock" and not (intent.why and intent.unlock):
            problems.append(Problem(disp, None, intent.id, "roadblocks need 'why' and 'unlock'"))
        cited(disp, intent.id, intent.sources)
        cited(disp, intent.id, [f.source for f in intent.facts])
    for intent in kb.intents:
        for k, rel in enumerate(intent.related):
            problem = ("relates to itself" if rel == intent.id
                       else None if rel in seen else f"related id {rel!r} missing")
            if problem:
                disp = intent_files[intent.id]
                loc = ("intents", intent_pos[intent.id], "related", k)
                line = _node_line(_compose(kb.root / disp), loc)
                problems.append(Problem(disp, line, f"{intent.id}.related[{k}]", problem))

    numbers = [p.number for p in kb.phases.phases]
    if sorted(numbers) != list(range(1, len(numbers) + 1)):
        problems.append(Problem("phases.yaml", None, "phases",
                                f"numbers {numbers} ≠ 1..{len(numbers)}"))
    phase_numbers = set(numbers)

    def phase_exists(display: str, where: str, number: int | None) -> None:
        if number is not None and number not in phase_numbers:
            problems.append(Problem(display, None, where, f"no phase {number}"))
    item_seen: set[str] = set()
    for phase in kb.phases.phases:
        cited("phases.yaml", f"phase {phase.number}", phase.sources)
        for item in phase.checklist:
            if item.id in item_seen:
                problems.append(Problem("phases.yaml", None, item.id, "duplicate checklist id"))
            item_seen.add(item.id)
            if not item.id.startswith(f"p{phase.number}."):
                problems.append(
                    Problem("phases.yaml", None, item.id, f"id must start p{phase.number}.")
                )

    covered = [0] * (len(kb.quiz.questions) + 1)
    for route in kb.quiz.routing:
        phase_exists("quiz.yaml", "routing", route.phase)
        if route.max_yes >= len(covered):
            problems.append(Problem("quiz.yaml", None, "routing",
                                    f"max_yes {route.max_yes} > {len(covered) - 1} questions"))
            continue
        if route.min_yes > route.max_yes:
            bad = f"min_yes {route.min_yes} > max_yes {route.max_yes}"
            problems.append(Problem("quiz.yaml", None, "routing", bad))
        for n in range(route.min_yes, route.max_yes + 1):
            covered[n] += 1
    for n, count in enumerate(covered):
        if count != 1:
            problems.append(
                Problem("quiz.yaml", None, "routing", f"{n} yes answers covered {count} times")
            )
    cited("quiz.yaml", "sources", kb.quiz.sources)
    cited("roadmap.yaml", "sources", kb.roadmap.sources)
    for ladder in kb.levels.ladders:
        cited("levels.yaml", ladder.id, [ladder.source])
    for cat in kb.tools.categories:
        if cat.intent and cat.intent not in seen:
            problems.append(Problem("tools.yaml", None, cat.id, f"intent {cat.intent!r} missing"))
        for tool in cat.tools:
            cited("tools.yaml", f"{cat.id}.{tool.name}", tool.sources)
            phase_exists("tools.yaml", f"{cat.id}.{tool.name}", tool.phase)
    for intent in kb.intents:
        for part in intent.parts:
            phase_exists(intent_files[intent.id], intent.id, part.slot.phase)
            if part.slot.yes_count is not None and part.slot.yes_count >= len(covered):
                problems.append(Problem(intent_files[intent.id], None, intent.id,
                                        f"yes_count {part.slot.yes_count} > quiz length"))
    return problems


def _check_uncovered(kb: KnowledgeBase) -> list[Problem]:
    """uncovered.yaml and out_of_scope.yaml: ids unique, and every 'nearest' topic is an
    intent that exists."""
    problems: list[Problem] = []
    seen_negative: set[str] = set()
    for negative in kb.negatives:
        if negative.id in seen_negative:
            problems.append(Problem("out_of_scope.yaml", None, negative.id, "duplicate id"))
        seen_negative.add(negative.id)
    seen: set[str] = set()
    for topic in kb.uncovered:
        if topic.id in seen:
            problems.append(Problem("uncovered.yaml", None, topic.id, "duplicate id"))
        seen.add(topic.id)
        for near in topic.nearest:
            if near not in kb.intent_by_id:
                msg = f"nearest {near!r} missing"
                problems.append(Problem("uncovered.yaml", None, topic.id, msg))
    return problems


def load_knowledge(root: Path | None = None) -> KnowledgeBase:
    root = Path(root) if root else default_knowledge_dir()
    problems: list[Problem] = []
    if not root.is_dir():
        raise KnowledgeError([Problem(str(root), None, "", "knowledge directory not found")])

    def one(name: str, model: type[M]) -> M | None:
        obj, probs = load_yaml_model(root / name, model, name)
        problems.extend(probs)
        return obj

    sources = one("sources.yaml", SourcesFile)
    levels = one("levels.yaml", LevelsFile)
    phases = one("phases.yaml", PhasesFile)
    quiz = one("quiz.yaml", QuizFile)
    tools = one("tools.yaml", ToolsFile)
    roadmap = one("roadmap.yaml", RoadmapFile)
    negatives = one("out_of_scope.yaml", OutOfScopeFile)
    uncovered = one("uncovered.yaml", UncoveredFile)  # issue 13: honest scope
    intents: list[Intent] = []
    intent_files: dict[str, str] = {}
    intent_pos: dict[str, int] = {}
    paths = sorted((root / "intents").glob("*.yaml"))
    if not paths:
        problems.append(Problem("intents/", None, "", "no intent files"))
    for path in paths:
        display = f"intents/{path.name}"
        obj, probs = load_yaml_model(path, IntentsFile, display)
        problems.extend(probs)
        if obj:
            for k, intent in enumerate(obj.intents):
                intents.append(intent)
                intent_files.setdefault(intent.id, display)
                intent_pos.setdefault(intent.id, k)
    if problems or not (sources and levels and phases and quiz and tools and roadmap and negatives):
        raise KnowledgeError(problems)
    kb = KnowledgeBase(
        root, sources, levels, phases, quiz, tools, roadmap, intents, list(negatives.topics)
    )
    problems = _cross_check(kb, intent_files, intent_pos)
    # uncovered.yaml: in-domain topics the sources don't cover (issue 13)
    kb.uncovered = list(uncovered.topics) if uncovered else []
    problems += _check_uncovered(kb)
    if problems:
        raise KnowledgeError(problems)
    return kb


# --- the cache of validated knowledge bases ------------------------------------------------------

CACHE_FORMAT = 1  # of the entry: (header, KnowledgeBase) pickled


def _cache_header() -> dict[str, Any]:
    """What a cache entry must have been written by: this package and pydantic version."""
    import pydantic

    import bot

    return {"format": CACHE_FORMAT, "mentorbot": bot.__version__, "pydantic": pydantic.VERSION}


def _cache_key(root: Path, header: dict[str, Any]) -> str | None:
    """The cache entry's key (:func:`bot.cache.content_key`): the header, the code that
    validates (this module and the schema) and every YAML file under ``root`` with its text.
    ``None`` when a file cannot be read as UTF-8 text: then only a full load says why."""
    from bot import cache
    from bot.knowledge import schema

    try:
        code = [Path(f).read_text(encoding="utf-8") for f in (__file__, schema.__file__)]
        files = [(p.relative_to(root).as_posix(), p.read_text(encoding="utf-8"))
                 for p in sorted(root.rglob("*.yaml"))]
    except (OSError, UnicodeDecodeError):
        return None
    return cache.content_key([header, code, files])


def _read_entry(path: Path, header: dict[str, Any]) -> KnowledgeBase | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("knowledge cache %s unreadable (%s): validating", path, exc)
        return None
    try:
        entry_header, kb = pickle.loads(data)
    except Exception as exc:  # a truncated or foreign file fails in many ways; all mean rebuild
        log.warning("knowledge cache %s unreadable (%s): validating", path, exc)
        return None
    if entry_header != header or not isinstance(kb, KnowledgeBase):
        log.warning("knowledge cache %s was written by other code: validating", path)
        return None
    return kb


def load_knowledge_cached(root: Path | None = None) -> KnowledgeBase:
    """:func:`load_knowledge`, from the cache when these files were validated before (see the
    module). Problems are raised as by :func:`load_knowledge`: only a valid knowledge base
    is cached."""
    from bot import cache

    root = Path(root) if root else default_knowledge_dir()
    directory = cache.cache_dir()
    header = _cache_header()
    key = _cache_key(root, header) if directory is not None and root.is_dir() else None
    if directory is None or key is None:
        return load_knowledge(root)
    path = directory / f"knowledge-{key}.pickle"
    kb = _read_entry(path, header)
    if kb is not None:
        cache.used(path)
        kb.root = root  # the entry is shared by every directory with these files
        kb.sources.register()  # what validating sources.yaml does besides checking
        return kb
    kb = load_knowledge(root)
    data = pickle.dumps((header, kb), protocol=pickle.HIGHEST_PROTOCOL)
    cache.write_atomic(path, lambda fh: fh.write(data))
    return kb
