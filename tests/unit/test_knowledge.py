"""The knowledge base loads, is complete against the catalogue, and is in our own words."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from bot.knowledge.loader import KnowledgeError, load_knowledge

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT.parent / "shared" / "sources"
CATALOGUE = ROOT.parent / "shared" / "intents.md"


def catalogue_ids(path: Path) -> list[str]:
    """Intent ids listed in the catalogue's table rows (``| id | scope |``)."""
    ids = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in raw.strip().strip("|").split("|")]
        if raw.lstrip().startswith("|") and cells and "." in cells[0] and " " not in cells[0]:
            ids.append(cells[0])
    return ids


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def test_every_catalogue_id_exists_exactly(kb):
    if not CATALOGUE.is_file():
        pytest.skip("shared/intents.md is not beside this checkout")
    ids = catalogue_ids(CATALOGUE)
    assert len(ids) == 48
    assert set(ids) <= set(kb.intent_by_id)


def test_intents_are_substantive_and_cross_referenced(kb):
    for intent in kb.intents:
        assert len(intent.answer) >= 300, intent.id
        assert intent.related, intent.id
        assert all(r in kb.intent_by_id for r in intent.related), intent.id
        assert len(intent.examples) >= 6, intent.id
        assert intent.sources, intent.id


def test_quiz_routing_is_the_source_key(kb):
    assert [kb.phase_for_score(n) for n in range(7)] == [1, 1, 1, 2, 2, 3, 4]
    assert len(kb.quiz.questions) == 6


def test_checklist_ids_are_stable_and_unique(kb):
    ids = [i.id for p in kb.phases.phases for i in p.checklist]
    assert len(ids) == len(set(ids))
    for phase in kb.phases.phases:
        assert all(i.id.startswith(f"p{phase.number}.") for i in phase.checklist)
        assert all(len(i.hint) > 40 for i in phase.checklist)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9$%]+", text.lower())


def _all_text(kb) -> list[tuple[str, str]]:
    out = []
    for i in kb.intents:
        out += [(i.id, i.answer), (i.id, i.why or ""), (i.id, i.unlock or "")]
    for p in kb.phases.phases:
        out += [(f"phase {p.number}", p.summary), (f"phase {p.number}", p.failure_mode)]
        out += [(c.id, c.hint) for c in p.checklist]
    return out


@pytest.mark.skipif(not SOURCES.is_dir(), reason="shared/sources is not beside this checkout")
def test_answers_do_not_copy_source_sentences(kb):
    """Facts carry over, sentences do not: no run of 12 words is shared with a source."""
    n = 12
    grams = set()
    for path in SOURCES.glob("*.txt"):
        w = _words(path.read_text(encoding="utf-8"))
        grams.update(" ".join(w[k : k + n]) for k in range(len(w) - n + 1))
    copied = []
    for where, text in _all_text(kb):
        w = _words(text)
        copied += [(where, " ".join(w[k : k + n])) for k in range(len(w) - n + 1)
                   if " ".join(w[k : k + n]) in grams]
    assert not copied, copied[:5]


def _broken_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", dst)
    return dst


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    root = _broken_copy(tmp_path)
    (root / "quiz.yaml").write_text("intro: fine\nquestions: [unclosed\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(root)
    text = str(exc.value)
    assert "quiz.yaml:" in text and "YAML syntax error" in text


def test_schema_error_names_file_line_and_location(tmp_path):
    root = _broken_copy(tmp_path)
    path = root / "phases.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    idx = next(k for k, line in enumerate(lines) if line.strip().startswith("failure_mode:"))
    indent = lines[idx][: len(lines[idx]) - len(lines[idx].lstrip())]
    lines.insert(idx, f"{indent}colour: blue")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(root)
    problem = exc.value.problems[0]
    assert problem.file == "phases.yaml"
    assert problem.line == idx + 1
    assert "colour" in problem.where and "Extra inputs" in problem.message


def test_cross_reference_errors_are_reported(tmp_path):
    root = _broken_copy(tmp_path)
    path = next((root / "intents").glob("*.yaml"))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["intents"][0]["related"] = ["faq.no-such-thing"]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(root)
    assert "faq.no-such-thing" in str(exc.value)
    assert path.name in str(exc.value)


def test_a_bad_related_id_names_file_and_line(tmp_path):
    root = _broken_copy(tmp_path)
    path = root / "intents" / "topics.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    first = next(k for k, line in enumerate(lines) if line.strip() == "related:")
    lines[first + 1] = lines[first + 1].split("-")[0] + "- topic.no-such-topic"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(root)
    problem = next(p for p in exc.value.problems if "topic.no-such-topic" in p.message)
    assert problem.file == "intents/topics.yaml"
    assert problem.line == first + 2
    assert str(problem).startswith(f"intents/topics.yaml:{first + 2}: ")


def test_a_missing_catalogue_is_not_a_load_warning(tmp_path, monkeypatch):
    """The catalogue lives outside the repository: checking it is this test file's job."""
    root = _broken_copy(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert load_knowledge(root).warnings == []


def test_duplicate_out_of_scope_ids_are_reported(tmp_path):
    root = _broken_copy(tmp_path)
    path = root / "out_of_scope.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["topics"][1]["id"] = data["topics"][0]["id"]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(root)
    assert f"{data['topics'][0]['id']}: duplicate id" in str(exc.value)
