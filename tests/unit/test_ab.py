"""``edgecheck ab``: interleaved timing of two real runners and the verdict on NEW."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from edgecheck.ab import ab_compare
from edgecheck.backends import make_runner
from edgecheck.baselines import BaselineCheck
from edgecheck.bench.timing import TimingPolicy
from edgecheck.cli import main
from edgecheck.testing import Slowdown

pytestmark = pytest.mark.perf

QUICK = TimingPolicy(warmup_rounds=20, min_rounds=200, min_time=0.3, extend=False)


def test_a_model_made_50_percent_slower_is_a_regression():
    result = ab_compare(make_runner("fqa", device="cpu"),
                        Slowdown(1.5)(make_runner("fqa", device="cpu")), policy=QUICK)  # fmt: skip
    assert not result and result.verdict.status == "regression"
    assert result.verdict.ratio == pytest.approx(1.5, abs=0.2)  # the injected factor
    assert result.verdict.ci_low > 1.05
    assert result.old.rounds == result.new.rounds >= 200
    assert "REGRESSION" in result.verdict.message and "tolerance 5.00%" in result.verdict.message
    # one ratio per round, NEW's call over the same round's OLD call: the metric a history
    # on a shared runner keeps (benchmarks/history_real.py, "pinned")
    assert result.ratios.shape == (result.new.rounds,)
    assert float(np.median(result.ratios)) == pytest.approx(1.5, abs=0.2)


def test_the_same_model_twice_is_not_a_regression():
    result = ab_compare(make_runner("fqa", device="cpu"), make_runner("fqa", device="cpu"),
                        policy=QUICK, check=BaselineCheck(tolerance=0.10))  # fmt: skip
    assert result.verdict.status in ("unchanged", "undecided")
    assert result


def test_cli_exits_1_on_a_regression(capsys):
    assert main(["ab", "fqa", "fqa", "--time", "0.3", "--slowdown", "1.6", "--json"]) == 1
    assert '"status": "regression"' in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "text"), [(["--time", "0"], "positive number of seconds"),
                                            (["--tolerance", "abc"], "must look like '5%'")])  # fmt: skip
def test_cli_rejects_bad_options(argv, text, capsys):
    with pytest.raises(SystemExit):
        main(["ab", "a.onnx", "b.onnx", *argv])
    assert text in capsys.readouterr().err
