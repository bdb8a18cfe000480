"""``benchmarks.load``'s command line: the mix of interactions it sends."""

from __future__ import annotations

import pytest

from benchmarks._loadgen import DEFAULT_MIX
from benchmarks.load import parse, reference_ms


def test_mix_defaults_to_the_realistic_mix_and_takes_kinds_with_shares():
    assert parse([]).mix is None  # the generator's DEFAULT_MIX
    assert parse(["--mix", "ask=2,browse"]).mix == {"ask": 2.0, "browse": 1.0}
    assert parse(["--mix", "progress=1"]).mix == {"progress": 1.0}
    assert set(parse(["--mix", ",".join(DEFAULT_MIX)]).mix) == set(DEFAULT_MIX)


@pytest.mark.parametrize("bad", ["chat=1", "ask=lots", "ask=0", "ask=-1", ""])
def test_a_wrong_mix_is_refused_with_a_message(bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse(["--mix", bad])
    assert exit_.value.code == 2
    assert "--mix" in capsys.readouterr().err


def test_reference_work_is_timed_in_cpu_milliseconds():
    ms = reference_ms(rounds=1)
    assert 0 < ms < 60_000
