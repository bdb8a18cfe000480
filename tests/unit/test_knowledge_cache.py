"""The cache of validated knowledge bases (``load_knowledge_cached``): used only for exactly the
files and code that wrote it, written whole, and never trusted when it cannot be read."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bot
from bot.knowledge import loader, schema
from bot.knowledge.loader import KnowledgeError, load_knowledge, load_knowledge_cached
from tests.unit.mentorbot_probe import mentorbot_then

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("MENTORBOT_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def root(tmp_path: Path) -> Path:
    dst = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", dst)
    return dst


def entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("knowledge-*.pickle"))


def entry_path(cache: Path, root: Path) -> Path:
    key = loader._cache_key(root, loader._cache_header())
    return cache / f"knowledge-{key}.pickle"


def plant(path: Path, header: dict[str, object], kb: loader.KnowledgeBase) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps((header, kb)))


def retitled(kb: loader.KnowledgeBase, title: str) -> loader.KnowledgeBase:
    first = kb.intents[0].model_copy(update={"title": title})
    return loader.KnowledgeBase(kb.root, kb.sources, kb.levels, kb.phases, kb.quiz, kb.tools,
                                kb.roadmap, [first, *kb.intents[1:]], kb.negatives,
                                kb.uncovered)


def same(a: loader.KnowledgeBase, b: loader.KnowledgeBase) -> bool:
    return (a.intents, a.sources, a.levels, a.phases, a.quiz, a.tools, a.roadmap, a.negatives,
            a.uncovered, a.warnings) == (b.intents, b.sources, b.levels, b.phases, b.quiz,
                                         b.tools, b.roadmap, b.negatives, b.uncovered, b.warnings)


def test_a_validated_knowledge_base_is_cached_and_read_back_whole(cache, root, tmp_path):
    first = load_knowledge_cached(root)
    assert len(entries(cache)) == 1 and entries(cache) == [entry_path(cache, root)]
    assert same(first, load_knowledge(root))
    other = tmp_path / "elsewhere"  # the same files in another directory: the same entry
    shutil.copytree(root, other)
    again = load_knowledge_cached(other)
    assert entries(cache) == [entry_path(cache, root)]
    assert same(again, first) and again.root == other
    assert again.intent_by_id[first.intents[0].id] == first.intents[0]
    assert not list(cache.glob(".knowledge-*"))  # no temporary file left behind


def test_the_entry_is_what_a_start_with_the_same_files_gets(cache, root):
    kb = load_knowledge_cached(root)
    plant(entry_path(cache, root), loader._cache_header(), retitled(kb, "From the cache"))
    assert load_knowledge_cached(root).intents[0].title == "From the cache"
    assert load_knowledge(root).intents[0].title == kb.intents[0].title  # never the cache


def test_a_changed_file_is_validated_again(cache, root):
    load_knowledge_cached(root)
    quiz = root / "quiz.yaml"
    good = quiz.read_text(encoding="utf-8")
    quiz.write_text("intro: fine\nquestions: [unclosed\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge_cached(root)
    assert "quiz.yaml:" in str(exc.value)
    assert len(entries(cache)) == 1  # an invalid knowledge base is never cached
    phases = root / "phases.yaml"
    quiz.write_text(good, encoding="utf-8")
    phases.write_text(phases.read_text(encoding="utf-8").replace(
        "failure_mode:", "colour: blue\n    failure_mode:", 1), encoding="utf-8")
    with pytest.raises(KnowledgeError, match="colour"):
        load_knowledge_cached(root)
    phases.unlink()
    shutil.copy(ROOT / "knowledge" / "phases.yaml", phases)
    intents = root / "intents" / "topics.yaml"
    intents.write_text(intents.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    load_knowledge_cached(root)  # any change of text is a new entry
    assert len(entries(cache)) == 2
    (root / "intents" / "extra.yaml").write_text("intents: [", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"extra\.yaml"):  # a new file counts too
        load_knowledge_cached(root)


@pytest.mark.parametrize("damage", [
    lambda data: data[: len(data) // 2],  # truncated
    lambda data: b"not a pickle at all",
    lambda data: b"",
    lambda data: pickle.dumps("a string, not an entry"),
    lambda data: pickle.dumps((None, None, None)),
])
def test_an_unreadable_entry_is_rebuilt(cache, root, damage, caplog):
    kb = load_knowledge_cached(root)
    path = entry_path(cache, root)
    path.write_bytes(damage(path.read_bytes()))
    assert same(load_knowledge_cached(root), kb)
    assert "unreadable" in caplog.text
    header, cached = pickle.loads(path.read_bytes())  # written again, whole
    assert header == loader._cache_header() and same(cached, kb)


def test_an_entry_of_other_code_is_ignored(cache, root, monkeypatch, caplog):
    kb = load_knowledge_cached(root)
    path = entry_path(cache, root)
    for other in ({**loader._cache_header(), "mentorbot": "0.0.1"},
                  {**loader._cache_header(), "pydantic": "1.10.0"},
                  {**loader._cache_header(), "format": 0}):
        plant(path, other, retitled(kb, "Stale"))
        assert load_knowledge_cached(root).intents[0].title == kb.intents[0].title
        assert "other code" in caplog.text
        assert pickle.loads(path.read_bytes())[0] == loader._cache_header()
    # and another version names another entry in the first place
    monkeypatch.setattr(bot, "__version__", "99.0.0")
    assert entry_path(cache, root) != path
    load_knowledge_cached(root)
    assert len(entries(cache)) == 2


def test_the_key_covers_the_validating_code(cache, root, tmp_path, monkeypatch):
    before = entry_path(cache, root)
    edited = tmp_path / "schema.py"
    edited.write_text(Path(schema.__file__).read_text(encoding="utf-8") + "\n# changed\n",
                      encoding="utf-8")
    monkeypatch.setattr(schema, "__file__", str(edited))
    assert entry_path(cache, root) != before


def test_source_names_are_known_after_a_cached_load(cache, root, monkeypatch):
    kb = load_knowledge_cached(root)
    source = kb.sources.sources[0]
    monkeypatch.setattr(schema, "_SOURCE_NAMES", {})  # as in a new process
    assert schema.source_name(source.file) == schema.UNKNOWN_SOURCE
    load_knowledge_cached(root)
    assert schema.source_name(source.file) == source.name


def test_without_a_usable_cache_the_knowledge_base_still_loads(tmp_path, root, monkeypatch):
    monkeypatch.setenv("MENTORBOT_CACHE_DIR", "off")
    assert same(load_knowledge_cached(root), load_knowledge(root))
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MENTORBOT_CACHE_DIR", str(blocker / "cache"))
    assert same(load_knowledge_cached(root), load_knowledge(root))
    with pytest.raises(KnowledgeError):
        load_knowledge_cached(tmp_path / "missing")


def test_kb_check_validates_whatever_the_cache_holds(cache, root):
    kb = load_knowledge_cached(root)
    quiz = root / "quiz.yaml"
    quiz.write_text("intro: fine\nquestions: [unclosed\n", encoding="utf-8")
    plant(entry_path(cache, root), loader._cache_header(), kb)  # an entry for broken files
    assert load_knowledge_cached(root).intents == kb.intents  # what a start would trust
    out = subprocess.run([sys.executable, "-m", "bot", "kb", "check", "--knowledge", str(root)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env={"MENTORBOT_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1 and "quiz.yaml:" in out.stderr, out.stderr


def test_a_start_from_the_cache_reads_no_yaml(cache, root):
    probe = mentorbot_then("print('\\nYAML', 'yaml' in sys.modules)")
    args = [sys.executable, "-c", probe, "ask", "--knowledge", str(root), "feast or tecton?"]
    env = {"MENTORBOT_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    first, second = (subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env,
                                    timeout=120) for _ in range(2))
    assert first.stdout.split("\nYAML")[0] == second.stdout.split("\nYAML")[0]
    assert first.stdout.endswith("YAML True\n") and second.stdout.endswith("YAML False\n")


def test_each_kind_keeps_its_most_recently_used_entries(tmp_path):
    """Every overlay version is a new matcher entry: the directory must not grow without end.
    A write keeps the KEEP_ENTRIES most recently used of its kind; other kinds are untouched."""
    import os

    from bot.cache import KEEP_ENTRIES, used, write_atomic

    other = tmp_path / "knowledge-k.pickle"
    other.write_bytes(b"kb")
    names = [f"matcher-{i:02d}.npz" for i in range(KEEP_ENTRIES + 3)]
    for age, name in enumerate(names):  # names[0] the newest, names[-1] the oldest
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (1_000_000 - age * 60, 1_000_000 - age * 60))
    used(tmp_path / names[-1])  # the oldest, just read: kept
    assert write_atomic(tmp_path / "matcher-new.npz", lambda fh: fh.write(b"new"))
    left = sorted(p.name for p in tmp_path.glob("matcher-*.npz"))
    assert len(left) == KEEP_ENTRIES
    assert "matcher-new.npz" in left and names[-1] in left
    assert set(left) == {"matcher-new.npz", names[-1], *names[:KEEP_ENTRIES - 2]}
    assert other.read_bytes() == b"kb"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left
