"""benchmarks/cifar10_co_cnn1.py on synthetic data (2 epochs, 64 images): runs, resumes, judges and reports."""
import json
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import cifar10_co_cnn1 as co  # noqa: E402

from art_accel.data import Dataset  # noqa: E402

pytestmark = pytest.mark.slow


def _data():
    rng = np.random.default_rng(0)
    return Dataset(rng.random((64, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, 64),
                   rng.random((16, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, 16))


def test_runs_resume_and_report(tmp_path):
    out, docs = str(tmp_path / "results"), str(tmp_path / "docs")
    os.makedirs(docs)
    written = co.run_rows(["fgsm-rs", "pgd-10"], [0], _data(), out, epochs=2, n_autoattack=8)
    assert [os.path.basename(p) for p in written] == ["cifar10-co-cnn1__fgsm-rs__seed0.json",
                                                       "cifar10-co-cnn1__pgd-10__seed0.json"]
    rec = json.load(open(written[1]))
    assert rec["row"] == "pgd-10" and len(rec["history"]) == 2 and rec["evaluation"]["n_autoattack"] == 8
    assert 0.0 <= rec["evaluation"]["autoattack"] <= rec["evaluation"]["clean"] <= 1.0
    assert co.run_rows(["fgsm-rs", "pgd-10"], [0], _data(), out, epochs=2, n_autoattack=8) == []  # resumable
    text = open(co.report(out, docs)).read()
    assert "| fgsm-rs | 0 | no |" in text and "| atas | not run | - | - | - |" in text
    assert "no verdict yet (FGSM-RS seeds missing)" in text
    assert os.path.exists(os.path.join(docs, "cifar10-co-cnn1_collapse.png"))


def _runs(curves):
    return {row: [{"seed": s, "history": [{"val_robust_accuracy": v} for v in c]} for s, c in enumerate(cs)]
            for row, cs in curves.items()}


FALL, HOLD = [0.10, 0.14, 0.03], [0.10, 0.14, 0.12]


@pytest.mark.parametrize("curves,expected", [
    ({"fgsm-rs": [FALL, FALL, HOLD], "atas": [HOLD, HOLD, HOLD]}, "reproduced"),
    ({"fgsm-rs": [FALL, FALL, HOLD], "atas": [HOLD, FALL, HOLD]}, "not reproduced: ATAS collapsed on 1 of 3"),
    ({"fgsm-rs": [FALL, HOLD, HOLD], "atas": [HOLD]}, "not testable here"),
    ({"fgsm-rs": [FALL, HOLD], "atas": [HOLD, HOLD, HOLD]}, "no verdict yet (FGSM-RS"),
    ({"fgsm-rs": [FALL, FALL], "atas": [HOLD, HOLD]}, "no verdict yet (2 of 3 ATAS"),
])
def test_verdict_follows_the_protocol_rule(curves, expected):
    assert co.verdict(_runs(curves))["atas"].startswith(expected)


def test_post_hoc_reading_ignores_firings_from_a_best_of_a_few_percent():
    noise = [0.01, 0.004, 0.12, 0.15]  # the warm-up's 1% then 0.4%: the rule fires, the post-hoc reading does not
    assert co.first_trigger(noise) == (1, 0.01) and co.first_trigger(noise, co.POST_HOC_LEAST_BEST) is None
    assert co.first_trigger(FALL, co.POST_HOC_LEAST_BEST) == (2, 0.14)
    runs = _runs({"fgsm-rs": [FALL, FALL, HOLD], "atas": [noise, HOLD, HOLD]})
    assert co.verdict(runs)["atas"].startswith("not reproduced")
    assert co.verdict(runs, co.POST_HOC_LEAST_BEST)["atas"].startswith("reproduced")
