"""Turn free text into matcher tokens: unicode, case, punctuation, the field's synonyms, stems.

The steps, in order: NFKC + casefold; control characters dropped; multi-word synonyms and
abbreviations of the field folded into one canonical token ("k8s" → "kubernetes", "w&b" →
"wandb", "ci/cd" → "cicd"); punctuation to spaces; stop words removed; Snowball stems.
Spelling correction against the knowledge base's vocabulary lives in :mod:`matcher`, because
it needs the vocabulary.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Generic, TypeVar

import snowballstemmer

from bot.matching.slots import SlotGrammar

# Phrases first (longest wins), applied on the casefolded text before punctuation is removed.
# The right side is what the knowledge base's own text is folded to as well, so both meet.
PHRASES: dict[str, str] = {
    "weights and biases": "wandb",
    "weights & biases": "wandb",
    "weights&biases": "wandb",
    "w&b": "wandb",
    "w and b": "wandb",
    "ci/cd": "cicd",
    "ci-cd": "cicd",
    "ci cd": "cicd",
    "ci & cd": "cicd",
    "ml flow": "mlflow",
    "ml-flow": "mlflow",
    "tf serving": "tfserving",
    "tf-serving": "tfserving",
    "tensorflow serving": "tfserving",
    "torch serve": "torchserve",
    "ray serve": "rayserve",
    "great expectations": "greatexpectations",
    "great_expectations": "greatexpectations",
    "vertex ai": "vertexai",
    "azure ml": "azureml",
    "sage maker": "sagemaker",
    "onnx runtime": "onnxruntime",
    "kubeflow pipelines": "kubeflow pipelines",
    "feature store": "featurestore",
    "feature stores": "featurestore",
    "on call": "oncall",
    "on-call": "oncall",
    "post mortem": "postmortem",
    "post-mortem": "postmortem",
    "a/b": "abtest",
    "a-b test": "abtest",
    "ab test": "abtest",
    "machine learning": "ml",
    "data scientist": "datascientist",
    "data science": "datascientist",
    "data engineer": "dataengineer",
    "data engineering": "dataengineer",
    "software engineer": "softwareengineer",
    "software engineering": "softwareengineer",
    "software developer": "softwareengineer",
    "ml engineer": "mlengineer",
    "ml engineering": "mlengineer",
    "mle": "mlengineer",
    "infra as code": "iac",
    "infrastructure as code": "iac",
    "training serving skew": "trainingservingskew",
    "training-serving skew": "trainingservingskew",
    "day to day": "daytoday",
    "day-to-day": "daytoday",
    "ml ops": "mlops",
    "ml-ops": "mlops",
    "dev ops": "devops",
    "dev-ops": "devops",
    # Asking for it short is no evidence of what is asked ("senior vs staff in one sentence?"
    # taught "sentence" to mean senior-vs-staff, and "mlops in one sentence?" went there).
    "in one sentence": "",
    "in a sentence": "",
    "in one line": "",
    "in a few words": "",
    "in a nutshell": "",
    "in short": "",
    "tl;dr": "",
    "tldr": "",
    "eli5": "",
}

# Single tokens: abbreviations and common spellings → one canonical token.
TOKENS: dict[str, str] = {
    "k8s": "kubernetes",
    "k8": "kubernetes",
    "kube": "kubernetes",
    "kubectl": "kubernetes",
    "eks": "kubernetes",
    "gke": "kubernetes",
    "aks": "kubernetes",
    "wb": "wandb",
    "cicd": "cicd",
    "gha": "githubactions",
    "gx": "greatexpectations",
    "prod": "production",
    "sr": "senior",
    "snr": "senior",
    "jr": "junior",
    "jnr": "junior",
    "mgr": "manager",
    "yrs": "years",
    "yr": "year",
    "mos": "months",
    "ds": "datascientist",
    "de": "dataengineer",
    "swe": "softwareengineer",
    "sde": "softwareengineer",
    "sre": "devops",
    "aws": "aws",
    "gcp": "gcp",
    "ml": "ml",
    "ai": "ai",
    "pay": "salary",
    "paid": "salary",
    "pays": "salary",
    "wage": "salary",
    "wages": "salary",
    "comp": "salary",
    "compensation": "salary",
    "tc": "salary",
    "earn": "salary",
    "earning": "salary",
    "earnings": "salary",
    "income": "salary",
    "salaries": "salary",
    "cert": "certification",
    "certs": "certification",
    "certificate": "certification",
    "certificates": "certification",
    "u": "you",
    "ur": "your",
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "ty": "thanks",
    "w": "with",
    "wanna": "want",
    "gonna": "going",
    "dunno": "know",
    "idk": "know",
    "rn": "now",
    # Phase numbers as words ("phase two", "the third phase") are read by bot.matching.slots,
    # not folded here: "the staff one" must not become "the staff 1".
}

STOP_WORDS = frozenset(
    """
    a an the and or but if then so of to in on at by for with from as into about over is
    are was were be been being am do does did doing have has had having i me my mine
    myself we our you your yours he she it its they them their this that these those
    there here what which who whom whose when where why how can could would should will
    shall may might must just also too very really rly quite any some all each every
    much many more most not no yes ok okay hi hey hello guys folks pls please thanks
    thank lol lmao haha bot anyone somebody someone something anything get got getting
    im ive dont doesnt isnt arent wanna gonna u ur like kinda sorta actually basically
    literally tbh imo btw ya yeah thing things way ways even still yet now ever
    """.split()
)

_CONTROL = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e]")
_NON_WORD = re.compile(r"[^\w$+#]+", re.UNICODE)
_DIGITS_ONLY = re.compile(r"^\d+$")
_GLUED_NUMBER = re.compile(r"\b(phase|level|p|q)(\d)\b")
_PHRASE_ALTERNATIVES = "|".join(re.escape(p) for p in sorted(PHRASES, key=len, reverse=True))
_PHRASE_RE = re.compile(rf"(?<![\w])({_PHRASE_ALTERNATIVES})(?![\w])")

_stemmer = snowballstemmer.stemmer("english")


def clean_text(text: str) -> str:
    """NFKC, casefold, control characters out, whitespace folded. Safe on any input."""
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text).casefold()
    return " ".join(text.split())


def fold_phrases(text: str) -> str:
    return _PHRASE_RE.sub(lambda m: PHRASES[m.group(1)], text)


def raw_tokens(text: str, grammar: SlotGrammar | None = None) -> list[str]:
    """Word tokens after cleaning and phrase folding, before stop words and stemming.

    A mention of a roadmap phase ("before phase 2", "the third phase") becomes the word
    ``phase`` plus one slot token for the phase the member is *in* (``phaseslot1``), see
    :meth:`bot.matching.slots.SlotGrammar.rewrite_phase` (none without a ``grammar``: a tool's
    name, say).
    """
    text = fold_phrases(clean_text(text))
    if grammar is not None:
        text = grammar.rewrite_phase(text)
    text = text.replace("'", "").replace("’", "")
    text = _GLUED_NUMBER.sub(r"\1 \2", text)
    out = []
    for tok in _NON_WORD.sub(" ", text).split():
        tok = tok.strip("_")
        if not tok or (_DIGITS_ONLY.match(tok) and len(tok) > 4):
            continue
        out.append(TOKENS.get(tok, tok))
    return out


T = TypeVar("T")

#: the longest token whose per-token results are cached. A member's question may hold a word
#: of up to 2,000 characters; cached, such words would pile up (a few hundred KiB each among
#: the character n-grams); English words and the field's terms are far shorter.
CACHED_TOKEN_CHARS = 24


class TokenCache(Generic[T]):
    """An LRU cache of a per-token function that keeps only tokens of up to
    :data:`CACHED_TOKEN_CHARS` characters: its memory is bounded by ``maxsize`` and that
    length whatever members type; longer tokens are computed each time."""

    def __init__(self, fn: Callable[[str], T], maxsize: int) -> None:
        self._fn = fn
        self._cached = lru_cache(maxsize=maxsize)(fn)
        self.cache_info = self._cached.cache_info
        self.cache_clear = self._cached.cache_clear

    def __call__(self, token: str) -> T:
        return self._cached(token) if len(token) <= CACHED_TOKEN_CHARS else self._fn(token)


def _stem(token: str) -> str:
    return _stemmer.stemWord(token)


stem = TokenCache(_stem, maxsize=16384)


def content_tokens(tokens: list[str]) -> list[str]:
    return [t for t in tokens if t not in STOP_WORDS and (len(t) > 1 or t.isdigit())]


# Words that only make sense in this field. With one of them, a question is about MLOps even
# when it also looks like an off-topic one ("does an mlops team need great expectations"). Tool
# names that are also everyday words (Prefect, Feast, Helm, Canary, Great Expectations, Airflow,
# "drift", "retraining") are deliberately not here: "a school prefect" or "retraining a horse"
# must still be recognised as off-topic.
FIELD_TERMS = frozenset(
    """
    mlops llmops ml ai devops model models mlengineer datascientist dataengineer kubernetes
    docker cicd featurestore wandb mlflow kubeflow sagemaker vertexai azureml terraform dagster
    dvc lakefs tecton evidently whylabs prometheus grafana tfserving torchserve rayserve bentoml
    onnxruntime trainingservingskew llm
    s3 gcs ec2 aws gcp gpu gpus cuda pytorch tensorflow sklearn xgboost fastapi jupyter
    databricks bigquery pyspark huggingface vllm triton onnx microservice microservices kafka
    """.split()
)
