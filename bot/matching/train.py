"""Train the matcher in a short-lived child process, so a long-running one never holds it.

Training imports scikit-learn and SciPy and builds large intermediate matrices: in the bot's
own process that was about 120 MiB of RSS for good (the allocator keeps what it grew to), on
the first start with a new knowledge base and after every retrain for a mentor's teaching.
The child (``python -m bot.matching.train``) gets the documents on stdin (a pickle: parent and
child are the same code), trains, and writes the matcher's arrays to stdout as one ``.npz``;
the parent loads them with :meth:`Matcher.from_arrays`, as it loads a cached matcher. When the
child cannot run or fails, :func:`train_isolated` returns ``None`` and the caller trains
in-process, as before (a warning says why).
"""

from __future__ import annotations

import io
import logging
import pickle
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from bot.matching.build import read_arrays, trained_matcher, write_arrays

log = logging.getLogger(__name__)

#: a child that has not answered by then is killed (training takes a few seconds of CPU)
CHILD_TIMEOUT_S = 300.0


def train_isolated(docs: Sequence[Any], config: Any, shape: dict[str, Any],
                   timeout: float = CHILD_TIMEOUT_S) -> dict[str, np.ndarray] | None:
    """The arrays of ``Matcher(docs, config, **shape)``, trained in a child process; ``None``
    when that failed (the caller trains in-process)."""
    if not sys.executable:
        log.warning("cannot start a child process to train the matcher (no sys.executable): "
                    "training in-process")
        return None
    payload = pickle.dumps((list(docs), config, shape), protocol=pickle.HIGHEST_PROTOCOL)
    try:
        done = subprocess.run([sys.executable, "-m", "bot.matching.train"], input=payload,
                              capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not train the matcher in a child process (%s): training in-process",
                    exc)
        return None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        log.warning("training the matcher in a child process failed (exit %s: %s): training "
                    "in-process", done.returncode, lines[-1] if lines else "no message")
        return None
    try:
        return read_arrays(io.BytesIO(done.stdout))
    except (OSError, ValueError) as exc:
        log.warning("the matcher trained in a child process could not be read (%s): training "
                    "in-process", exc)
        return None


def main() -> int:
    docs, config, shape = pickle.loads(sys.stdin.buffer.read())
    out = io.BytesIO()
    write_arrays(out, trained_matcher(docs, config, shape).to_arrays())
    sys.stdout.buffer.write(out.getvalue())
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
