"""The intent matcher: contract, quality floor on the labelled set, and hostile input."""

from __future__ import annotations

import random
import string
import tracemalloc
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.intents import PARTS, evaluate, load_questions
from bot.knowledge.loader import KnowledgeBase, load_knowledge
from bot.matching.build import build_matcher
from bot.matching.matcher import _grams
from bot.matching.normalize import CACHED_TOKEN_CHARS, clean_text, content_tokens, raw_tokens, stem
from bot.matching.spelling import Corrector, common_words


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


@pytest.fixture(scope="module")
def matcher(kb):
    return build_matcher(kb)


def test_json_contract_shape(matcher):
    out = matcher.match("feast or tecton?").to_json()
    assert list(out) == ["question", "intent", "status", "score", "alternatives"]
    assert out["question"] == "feast or tecton?"
    assert out["intent"] == "topic.feature-stores"
    assert out["status"] == "answered"
    assert 0 <= out["score"] <= 100
    assert 1 <= len(out["alternatives"]) <= 3
    for alt in out["alternatives"]:
        assert list(alt) == ["intent", "score"] and alt["score"] <= out["score"]
        assert alt["intent"] != out["intent"]


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("I know MLflow but never get promoted", "roadblock.tools-not-promoted"),
        ("how long until senior?", "faq.time-to-senior"),
        ("k8s how deep do i need to go", "topic.kubernetes"),
        ("wandb vs mlflow for tracking experiments", "topic.experiment-tracking"),
    ],
)
def test_product_examples(matcher, question, intent):
    assert matcher.match(question).intent == intent


@pytest.mark.parametrize(
    "question",
    ["what's the weather like tomorrow", "tell me a joke", "recipe for banana bread",
     "how do I become a dentist"],
)
def test_out_of_scope_is_null_with_guesses(matcher, question):
    result = matcher.match(question)
    assert result.intent is None
    assert result.status == "unanswered"


def test_synonyms_and_typos_fold_to_the_same_tokens():
    assert "kubernetes" in raw_tokens("K8s cluster")
    assert "wandb" in raw_tokens("Weights & Biases or W&B?")
    assert "cicd" in raw_tokens("CI/CD for models")
    assert "mlflow" in raw_tokens("ml flow")
    assert content_tokens(raw_tokens("how do I")) == []


def test_spelling_is_corrected_against_the_vocabulary(matcher):
    typos = {"kubernettes": "kubernetes", "mlfloow": "mlflow", "orchestrasion": "orchestration"}
    assert not set(typos) & matcher.vocabulary, "pick typos the examples do not contain"
    result = matcher.match(" ".join(typos) + " models")
    assert set(typos.items()) <= set(result.corrections)


#: each part's size at least: a part cut short would pass its floor on what is left
_SIZES = {"dev": (280, 60), "test": (190, 45), "test2": (96, 30)}


@pytest.mark.parametrize("part", PARTS)
def test_quality_floor_on_the_labelled_set(matcher, part):
    """A regression guard a little under the benchmark's figures (see README)."""
    in_scope, out_scope = load_questions(part)
    assert len(in_scope) >= _SIZES[part][0] and len(out_scope) >= _SIZES[part][1]
    res = evaluate(matcher, in_scope, out_scope)
    assert res["top1"] >= 0.92, res["misses"][:20]
    assert res["top3"] >= 0.97
    assert res["answered_right"] >= 0.90
    assert res["oos_recall"] >= 0.80
    assert res["confident_wrong"] <= 0.07


def test_labelled_questions_are_kept_apart_from_examples_and_each_other(kb):
    examples = {clean_text(e) for i in kb.intents for e in i.examples}
    examples |= {clean_text(e) for n in kb.negatives for e in n.examples}
    seen: set[str] = set()
    for part in PARTS:
        in_scope, out_scope = load_questions(part)
        texts = [clean_text(q["q"]) for q in in_scope + out_scope]
        assert not [t for t in texts if t in examples], part
        assert not [t for t in texts if t in seen], part
        seen |= set(texts)


def test_labels_are_catalogue_intents(kb):
    ids = {i.id for i in kb.intents}
    for part in PARTS:
        in_scope, _ = load_questions(part)
        assert {q["intent"] for q in in_scope} <= ids


@pytest.mark.parametrize(
    "text",
    ["", "   \n\t ", "🤖🔥💯", "\x00\x07\x1b[31m", "@everyone", "a" * 10_000,
     "МЛОпс зарплата?", "機械学習エンジニアの給料", "**bold** `code` [x](http://e.x)",
     "<@123456789012345678> <@&42> how long to senior"],
)
def test_hostile_input_never_raises(matcher, text):
    result = matcher.match(text)
    assert 0 <= result.score <= 100
    assert len(result.alternatives) <= 3


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=400))
def test_any_text_gives_a_well_formed_result(matcher, text):
    result = matcher.match(text)
    assert result.status in {"answered", "ambiguous", "unanswered", "empty"}
    assert (result.intent is None) == (result.status in {"unanswered", "empty"})
    assert 0 <= result.score <= 100
    out = result.to_json()
    assert out["question"] == text


# --- slots -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "phase"),
    [
        ("what do I need before phase 2", 1),
        ("just finished phase 1, what now", 2),
        ("In phase three, what is different from phase two?", 3),
        ("phase 1 -> phase 2 requirements?", 1),
        ("whats the last phase about", 4),
        ("the third stage of the roadmap", 3),
        ("moving into phase 4 soon", 3),
        ("im in p3 now", 3),
        ("answered yes to five of the six quiz questions, what now", 3),
        ("scored 4/6 on the quiz", 2),
        ("the staff one", None),
        ("I have 5 years of devops", None),
    ],
)
def test_the_phase_slot_is_the_phase_the_member_is_in(matcher, question, phase):
    assert matcher.match(question).slots.phase == phase


def test_level_and_tool_slots(matcher):
    slots = matcher.match("what does a mid-level engineer make with MLflow and W&B").slots
    assert slots.level == "mid"
    assert {"MLflow", "Weights & Biases"} <= set(slots.tools)
    assert matcher.match("senior vs staff").slots.levels == ("senior", "staff")


def test_a_phase_number_is_evidence_for_that_phase(matcher):
    assert matcher.match("what do I need to do before phase 2").intent == "phase.1"
    assert matcher.match("what does phase 2 expect from me").intent == "phase.2"
    assert matcher.match("the staff one").intent != "phase.1"


# --- spelling --------------------------------------------------------------------------------


def test_common_english_words_are_never_corrected(matcher):
    for word in ("around", "conference", "loudly", "lakers"):
        assert word in common_words()
        assert matcher.corrector.correct(word) == word


def test_a_correction_never_makes_a_question_name_a_field_term(matcher):
    _, corrections, anchored, _ = matcher.analyse("mlfloow")
    assert corrections == [("mlfloow", "mlflow")]
    assert not anchored
    assert matcher.analyse("mlflow")[2]


def test_the_correction_index_finds_one_and_two_edits():
    corrector = Corrector(["kubernetes", "orchestration", "monitoring"])
    assert corrector.correct("kubernets") == "kubernetes"
    assert corrector.correct("orchestrasion") == "orchestration"
    assert corrector.correct("monitorng") == "monitoring"
    assert corrector.correct("zzzzzz") == "zzzzzz"


def _long_word(length: int, seed: int) -> str:
    """A word of ``length`` letters that does not repeat itself ("a" * n has one deletion
    variant; a real long word has ``n``)."""
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(length))


def test_a_huge_word_is_matched_without_huge_work(matcher):
    # before: two-deletion variants of a 1,990-letter word were ~2 million strings of ~2,000
    # characters (gigabytes, seconds of CPU on the event loop) for one /ask
    word = _long_word(1990, seed=1)
    tracemalloc.start()
    try:
        result = matcher.match(f"how do I {word}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status in {"answered", "ambiguous", "unanswered"}
    assert peak < 64 * 2**20
    corrector = Corrector(["kubernetes", "monitoring"])
    assert corrector.correct(_long_word(13, seed=2)) == _long_word(13, seed=2)  # longest + 3


def test_per_token_caches_keep_only_short_tokens(matcher):
    caches = (_grams, stem, matcher.corrector.correct)
    for c in caches:  # earlier tests may have filled them: sizes must be able to grow
        c.cache_clear()
    before = [c.cache_info().currsize for c in caches]
    for seed in range(50):
        matcher.match(f"what about {_long_word(CACHED_TOKEN_CHARS + 1 + seed, seed)}")
    assert [c.cache_info().currsize for c in caches] == before
    matcher.match(f"what about {_long_word(CACHED_TOKEN_CHARS, 99)}")
    assert all(c.cache_info().currsize > b for c, b in zip(caches[:2], before[:2], strict=True))
    assert all(c.cache_info().maxsize <= 16384 for c in caches)


# --- status ----------------------------------------------------------------------------------


def test_nearest_ranks_catalogue_intents_beyond_did_you_mean(matcher):
    """What a mentor's teach menu offers: the n closest catalogue intents, best first, the
    member's answer among them, never an uncovered topic, whatever the decision."""
    catalogue = set(matcher.intent_ids)
    for question in ("how long until senior?", "what does an ML platform team do all week",
                     "best pizza in naples"):
        result = matcher.match(question)
        near = matcher.nearest(question, 5)
        assert len(near) == 5 and len({c.intent for c in near}) == 5
        assert all(not c.intent.startswith("uncovered.") and c.intent in catalogue
                   for c in near)
        assert [c.score for c in near] == sorted((c.score for c in near), reverse=True)
        if result.status != "unanswered" and not result.uncovered:
            assert near[0].intent == result.intent
            assert {c.intent for c in result.alternatives} <= {c.intent for c in near}
    assert matcher.nearest("   ", 5) == []


def test_status_matches_what_a_member_is_shown(matcher):
    in_scope, out_scope = load_questions("dev")
    for q in in_scope + out_scope:
        r = matcher.match(q["q"])
        out = r.to_json()
        if r.uncovered:  # "my sources don't cover that": an honest no-answer, no intent
            assert (out["status"], out["intent"]) == ("unanswered", None)
            continue
        assert out["status"] == r.status
        if r.status == "ambiguous":
            assert 1 <= len(r.alternatives) <= 2  # at most three choices in "did you mean"
            assert all(c.score >= (1 - matcher.config.gap) * r.score for c in r.alternatives)
        if r.status in {"unanswered", "empty"}:
            assert out["intent"] is None
    assert matcher.match("   ").to_json()["status"] == "empty"


# --- cache -----------------------------------------------------------------------------------


def test_the_built_matcher_is_cached_by_content(kb, tmp_path, monkeypatch):
    monkeypatch.setenv("MENTORBOT_CACHE_DIR", str(tmp_path))
    built = build_matcher(kb)
    files = list(tmp_path.glob("matcher-*.npz"))
    assert len(files) == 1 and built.learned
    loaded = build_matcher(kb)
    assert list(tmp_path.glob("matcher-*.npz")) == files
    for q in ("how long until senior?", "feast or tecton?", "tell me a joke", "phase 3"):
        assert loaded.match(q) == built.match(q)
    other = kb.intents[0].model_copy(update={"examples": [*kb.intents[0].examples, "new one"]})
    changed = KnowledgeBase(kb.root, kb.sources, kb.levels, kb.phases, kb.quiz, kb.tools,
                            kb.roadmap, [other, *kb.intents[1:]], kb.negatives)
    build_matcher(changed)
    assert len(list(tmp_path.glob("matcher-*.npz"))) == 2


def test_an_unwritable_cache_still_gives_a_matcher(kb, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MENTORBOT_CACHE_DIR", str(blocker / "cache"))
    assert build_matcher(kb).match("feast or tecton?").intent == "topic.feature-stores"


def test_the_batch_matrix_is_the_columns_of_vector() -> None:
    """Space.matrix (the build's one-pass path) gives, column by column, what Space.vector
    gives a question: the same features, weights equal to float32 rounding, unseen features
    counted in the norm, an empty document an empty column."""
    from collections import Counter

    import numpy as np

    from bot.matching.matcher import Space, char_features, word_features

    texts = ["deploy the model to kubernetes", "model drift after deploy", "", "zebra quux model"]
    for features in (word_features, char_features):
        docs = [features(content_tokens(raw_tokens(t))) for t in texts]
        space = Space.fit(docs[:2])  # the last two have features the space never saw
        m = space.matrix(docs)
        assert m.n_cols == len(docs)
        # the cache's dtypes, and each row's columns in order
        assert (m.indptr.dtype, m.indices.dtype, m.data.dtype) == (np.int64, np.int32, np.float32)
        assert all(np.all(np.diff(m.indices[a:b]) > 0)
                   for a, b in zip(m.indptr[:-1], m.indptr[1:], strict=True))
        for j, doc in enumerate(docs):
            ids, vals = space.vector(doc)
            column = np.zeros(len(space.names), dtype=np.float32)
            rows = np.repeat(np.arange(len(space.names)), np.diff(m.indptr))
            column[rows[m.indices == j]] = m.data[m.indices == j]
            expected = np.zeros(len(space.names), dtype=np.float32)
            expected[ids] = vals
            assert np.allclose(column, expected, atol=1e-6), (features.__name__, j)
    assert Space.fit([Counter({"a": 1})]).matrix([]).n_cols == 0


def test_pivoting_gives_long_documents_back_what_cosine_takes() -> None:
    """With slope 1 the pivoted columns are plain cosine; below 1 a document longer than the
    pivoted columns' mean scores more on a shared word, a shorter one less, and columns
    outside the mask are untouched."""
    import numpy as np

    from bot.matching.matcher import Space, word_features

    texts = ["resume", "resume projects portfolio pipeline deploy monitor drift kubernetes",
             "resume"]
    docs = [word_features(content_tokens(raw_tokens(t))) for t in texts]
    space = Space.fit(docs)
    query = space.vector(word_features(["resume"]))
    mask = np.array([True, True, False])
    plain = space.matrix(docs).dot(query)
    assert np.allclose(space.matrix(docs, mask, 1.0).dot(query), plain)
    pivoted = space.matrix(docs, mask, 0.5).dot(query)
    assert pivoted[0] < plain[0] and pivoted[1] > plain[1]
    assert pivoted[2] == plain[2]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 40), large=st.booleans(),
       density=st.floats(0.0, 0.3))
def test_a_sparse_query_scores_every_column_as_the_dense_product(seed, rows, large, density):
    """``Csr.dot`` is the query times the dense matrix, column by column; above ``LARGE``
    columns the features in more than an eighth of the columns are left out, and only those."""
    import numpy as np
    from scipy.sparse import csr_array

    from bot.matching.matcher import LARGE, Csr

    rng = np.random.default_rng(seed)
    cols = LARGE + 1 + int(rng.integers(0, 50)) if large else int(rng.integers(1, 60))
    dense = np.where(rng.random((rows, cols)) < density,
                     rng.random((rows, cols)), 0.0).astype(np.float32)
    if large:  # some features in far more than an eighth of the columns
        dense[rng.random(rows) < 0.3] = np.float32(0.5)
    sparse = csr_array(dense)
    matrix = Csr(sparse.indptr.astype(np.int64), sparse.indices.astype(np.int32),
                 sparse.data.astype(np.float32), cols)
    ids = rng.permutation(rows)[: int(rng.integers(0, rows + 1))].astype(np.int64)
    vals = rng.random(ids.size).astype(np.float32)
    kept = (dense[ids] != 0).sum(axis=1) <= cols // 8 if large else np.ones(ids.size, bool)
    expected = vals[kept] @ dense[ids[kept]].astype(np.float64)
    got = matrix.dot((ids, vals))
    assert got.shape == (cols,) and got.dtype == np.float32
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_named_field_term_needs_more_evidence_to_be_refused(matcher):
    """``null_margin_anchored`` applies to questions that name a field term, ``null_margin``
    to the rest (the in-the-field model off, to see the margins alone)."""
    base = matcher.config
    anchored, plain = "best pizza recipe for mlops engineers", "best pizza recipe for engineers"
    assert matcher.analyse(anchored)[2] and not matcher.analyse(plain)[2]
    try:
        matcher.config = replace(base, null_margin=1.5, null_margin_anchored=1.5,
                                 domain_power=0.0)
        assert matcher.match(anchored).status == matcher.match(plain).status == "unanswered"
        matcher.config = replace(base, null_margin=1.5, null_margin_anchored=1e6,
                                 domain_power=0.0)
        assert matcher.match(anchored).status != "unanswered"
        assert matcher.match(plain).status == "unanswered"
    finally:
        matcher.config = base


def test_the_in_the_field_model_separates_field_wording_from_off_topic(matcher):
    """The binary model that scales the null score: below one half for a question about the
    job that names no field term, well above for an off-topic one."""
    assert matcher.off_field(matcher.analyse("what does the job look like day to day")[0]) < 0.5
    assert matcher.off_field(matcher.analyse("recipe for chocolate cake")[0]) > 0.5


def test_the_cache_key_covers_the_matching_code(tmp_path):
    """A folded phrase added to normalize.py must train anew, not load what the old code built
    (it did: MODEL_VERSION had to be bumped by hand)."""
    import shutil
    from pathlib import Path

    from bot.matching import build

    package = Path(build.__file__).resolve().parent
    for name in build._CODE:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(package / name, tmp_path / name)
    assert build.code_key(tmp_path) == build.code_key()
    normalize = tmp_path / "normalize.py"
    normalize.write_text(normalize.read_text() + "\n# one more phrase\n")
    assert build.code_key.__wrapped__(tmp_path) != build.code_key()
