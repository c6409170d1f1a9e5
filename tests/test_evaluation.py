"""evaluate_robustness through ART's PGD, the CW margin twin and pyautoattack."""
import numpy as np
import pytest
import torch

from art_accel import evaluate_robustness
from art_accel.evaluation import MarginLoss

from conftest import make_classifier


def test_margin_loss_closed_form():
    logits = torch.tensor([[1.0, 3.0, 2.0], [0.5, -1.0, 4.0]])
    y = torch.tensor([1, 0])
    # sample 0: max other 2 - 3 = -1; sample 1: 4 - 0.5 = 3.5
    assert MarginLoss()(logits, y).item() == pytest.approx(2.5)
    assert MarginLoss()(logits, torch.eye(3)[y]).item() == pytest.approx(2.5)


def test_evaluate_robustness_all_attacks(data):
    clf = make_classifier(preprocessing=(0.5, 0.3))
    x, y = data
    res = evaluate_robustness(clf, x, y, eps=0.1, attacks=("clean", "pgd5", "cw5", "autoattack"), n_samples=12,
                              batch_size=12)
    assert res["n_samples"] == 12
    for name in ("clean", "pgd5", "cw5", "autoattack"):
        assert 0.0 <= res[name] <= 1.0 and res["seconds"][name] >= 0.0
    assert res["pgd5"] <= res["clean"] and res["autoattack"] <= res["clean"]
    expected_clean = float((clf.predict(x[:12]).argmax(1) == y[:12]).mean())
    assert res["clean"] == expected_clean


def test_zero_budget_changes_nothing(data):
    clf = make_classifier()
    res = evaluate_robustness(clf, *data, eps=0.0, eps_step=0.01, attacks=("clean", "pgd3", "cw3"))
    assert res["pgd3"] == res["clean"] == res["cw3"]


def test_bad_attack_name_rejected(data):
    with pytest.raises(ValueError, match="unknown attack"):
        evaluate_robustness(make_classifier(), *data, eps=0.1, attacks=("fgsm",))
    with pytest.raises(ValueError, match="eps"):
        evaluate_robustness(make_classifier(), *data, eps=-1.0)
    with pytest.raises(ValueError, match="x must have shape"):
        evaluate_robustness(make_classifier(), np.zeros((3, 2)), np.zeros(3), eps=0.1)
