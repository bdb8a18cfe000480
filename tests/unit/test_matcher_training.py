"""Training in a child process: the same matcher, without scikit-learn in the asking process."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bot.knowledge.loader import load_knowledge
from bot.matching import train
from bot.matching.build import build_matcher, documents, kb_shape
from bot.matching.matcher import MatcherConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def test_a_matcher_trained_in_a_child_is_the_one_trained_in_process(kb, tmp_path):
    """In a fresh interpreter, with the cache off: the arrays equal those of the matcher built
    here, and that interpreter never imported scikit-learn or SciPy, nor grew by the training
    (in-process training left it about 120 MiB larger)."""
    out = tmp_path / "arrays.npz"
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from bot.knowledge.loader import load_knowledge
        from bot.matching.build import build_matcher
        kb = load_knowledge()
        m = build_matcher(kb, use_cache=False, isolated=True)
        np.savez({str(out)!r}, **m.to_arrays())
        print(json.dumps({{
            "sklearn": "sklearn" in sys.modules, "scipy": "scipy" in sys.modules,
            # VmHWM, not ru_maxrss: that one keeps the forking parent's peak across exec
            "peak_mib": int(next(line.split()[1] for line in open("/proc/self/status")
                                 if line.startswith("VmHWM:"))) / 1024,
            "intent": m.match("feast or tecton?").intent,
        }}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["sklearn"] is False and seen["scipy"] is False
    assert seen["intent"] == "topic.feature-stores"
    assert seen["peak_mib"] < 150, seen  # training in-process peaked at about 240 MiB

    here = build_matcher(kb).to_arrays()
    with np.load(out, allow_pickle=False) as npz:
        child = {k: npz[k] for k in npz.files}
    assert sorted(child) == sorted(here)
    for key, value in here.items():
        assert np.array_equal(child[key], value), key


@pytest.mark.parametrize("executable, says", [
    ("/bin/false", "exit 1"),                 # the child fails
    ("/bin/echo", "could not be read"),       # the child answers something that is not arrays
    ("/nonexistent/python", "could not train"),  # the child cannot start
])
def test_a_child_that_fails_means_training_in_process(kb, monkeypatch, caplog, executable, says):
    monkeypatch.setattr(sys, "executable", executable)
    with caplog.at_level(logging.WARNING, logger="bot.matching.train"):
        got = train.train_isolated(documents(kb), MatcherConfig(), kb_shape(kb))
    assert got is None
    assert any(says in r.getMessage() and "training in-process" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
