"""ECAS: cyclic epsilon epoch by epoch, the entropy rule on scripted batches, passes, thresholds."""
import math

import pytest
import torch

from art_accel import AdversarialTrainerECAS
from art_accel.contract import Batch
from art_accel.entropy import calibrate_entropy_thresholds, entropy
from art_accel.parts import PGDAT, TRADES, EntropyEps

from conftest import make_classifier

H = dict(h_low=0.5, h_high=1.2)  # 4 classes: ln 4 = 1.386


def _probs(entropies_wanted):
    """Rows of a 4-class softmax: 'low' one-hot, 'mid' entropy ~0.94, 'high' uniform."""
    rows = {"low": [1.0, 0.0, 0.0, 0.0], "mid": [0.7, 0.1, 0.1, 0.1], "high": [0.25] * 4}
    return torch.tensor([rows[w] for w in entropies_wanted])


def test_entropy_guards_zero_probabilities():
    h = entropy(_probs(["low", "mid", "high"]))
    assert torch.isfinite(h).all()
    assert h[0] == 0.0 and h[2] == pytest.approx(math.log(4))
    assert h[1] == pytest.approx(-(0.7 * math.log(0.7) + 3 * 0.1 * math.log(0.1)))


def test_default_space_scales_with_eps_and_cycles(data):
    t = AdversarialTrainerECAS(make_classifier(), eps=0.08, max_iter=1, verbose=False, **H)
    assert t.eps_space == pytest.approx([0.01 * v for v in range(3, 13)])
    h = t.fit(*data, nb_epochs=12, batch_size=40)
    assert h["eps"] == pytest.approx([0.01 * v for v in [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 3, 4]])
    assert h["eps_step"] == pytest.approx([2 * e / 1 for e in h["eps"]])
    trades = AdversarialTrainerECAS(make_classifier(), eps=0.08, base="trades", verbose=False, **H)
    assert trades.eps_space == pytest.approx([0.05, 0.06, 0.07, 0.08, 0.09])


def test_the_right_samples_get_the_right_eps(data):
    t = AdversarialTrainerECAS(make_classifier(), eps_space=[0.02, 0.04, 0.06, 0.08, 0.1], max_iter=2,
                               verbose=False, **H)
    t._on_epoch_start(1)  # cyclic eps = 0.04
    which = ["high", "mid", "low", "mid", "low", "high"]
    x = torch.from_numpy(data[0][:6])
    y = torch.from_numpy(data[1][:6])
    torch.manual_seed(0)
    budget = t.part(EntropyEps).budget(Batch(x, y, clean_probs=_probs(which)))
    eps = budget["eps"]
    assert eps[0] == eps[5] == pytest.approx(0.02)  # high entropy -> smallest
    assert eps[1] == eps[3] == pytest.approx(0.04)  # in between -> the epoch's cyclic eps
    assert eps[2] == eps[4] and round(float(eps[2]), 4) in (0.06, 0.08, 0.1)  # one draw per batch
    assert budget["eps_step"] == pytest.approx(2 * 0.04 / 2)  # authors: batch step from the epoch eps
    res = t.attack.perturb(x, y, **budget)
    linf = res.delta.abs().flatten(1).max(1).values
    assert torch.all(linf <= eps + 1e-7)


def test_per_sample_draw_and_step():
    t = AdversarialTrainerECAS(make_classifier(), eps_space=[0.02, 0.04, 0.06, 0.08, 0.1], max_iter=4,
                               per_sample_draw=True, per_sample_step=True, verbose=False, **H)
    t._on_epoch_start(0)
    torch.manual_seed(0)
    probs = _probs(["low"] * 200)
    budget = t.part(EntropyEps).budget(Batch(torch.zeros(200, 1, 8, 8), torch.zeros(200, dtype=torch.long),
                                              clean_probs=probs))
    drawn = {round(float(v), 4) for v in budget["eps"]}
    assert drawn == {0.06, 0.08, 0.1}
    assert torch.allclose(budget["eps_step"], 2 * budget["eps"] / 4)


def test_history_counts_and_pass_costs(data):
    x, y = data
    t = AdversarialTrainerECAS(make_classifier(), eps=0.08, max_iter=2, verbose=False, **H)
    h = t.fit(x, y, nb_epochs=2, batch_size=16)
    assert isinstance(t.objective, PGDAT)
    assert [sum(c) for c in h["eps_counts"]] == [40, 40]
    assert all(0 <= h[e]["frac_shrunk"] + h[e]["frac_enlarged"] <= 1 for e in range(2))
    assert min(t.eps_space) <= h[0]["eps_mean"] <= max(t.eps_space)
    # PGD base: one extra clean forward per batch for the entropy, no extra backward
    assert h["forward_passes"] == [3 * (1 + 2 + 1)] * 2 and h["backward_passes"] == [3 * 3] * 2
    tr = AdversarialTrainerECAS(make_classifier(), eps=0.08, base="trades", max_iter=2, verbose=False, **H)
    assert isinstance(tr.objective, TRADES)
    h = tr.fit(x, y, nb_epochs=1, batch_size=16)
    # TRADES already computes the clean softmax: exactly TRADES' own cost
    assert h["forward_passes"] == [3 * (2 + 3)] and h["backward_passes"] == [3 * (2 + 2)]
    aw = AdversarialTrainerECAS(make_classifier(), eps=0.08, base="awp", max_iter=2, verbose=False, **H)
    h = aw.fit(x, y, nb_epochs=1, batch_size=16)
    assert h["forward_passes"] == [3 * (1 + 2 + 1 + 1)] and h["backward_passes"] == [3 * (2 + 1 + 1)]


def test_calibration_matches_direct_computation(data):
    clf = make_classifier()
    x = data[0]
    h_low, h_high = calibrate_entropy_thresholds(clf, x)
    with torch.no_grad():
        direct = float(entropy(torch.softmax(clf.model(torch.from_numpy(x)), 1)).mean())
    assert h_low == pytest.approx(direct, rel=1e-5)
    assert 0.0 <= h_high <= math.log(4) + 1e-6
    uniform = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))
    torch.nn.init.zeros_(uniform[1].weight)
    torch.nn.init.zeros_(uniform[1].bias)
    assert calibrate_entropy_thresholds(clf, x, untrained=uniform)[1] == pytest.approx(math.log(4))


def test_authors_thresholds_are_the_defaults_for_10_classes():
    clf = make_classifier(nb_classes=10)
    t = AdversarialTrainerECAS(clf, verbose=False)
    part = t.part(EntropyEps)
    assert (part.h_low, part.h_high) == (1.3, 2.274)
    assert t.eps_space == pytest.approx([v / 255 for v in range(3, 13)])


@pytest.mark.parametrize("kwargs,match", [
    (dict(eps_space=[0.1, 0.1, 0.2]), "at least 3 distinct"),
    (dict(eps_space=[0.0, 0.1, 0.2]), "> 0"),
    (dict(eps_space=[-0.1, 0.1, 0.2]), "> 0"),
    (dict(eps_space="abc"), "eps_space"),
    (dict(h_low=2.0, h_high=1.0), "h_low"),
    (dict(base="free"), "base"),
    (dict(max_iter=0), "max_iter"),
    (dict(label_smoothing=2.0), "label_smoothing"),
])
def test_bad_parameters_rejected(kwargs, match):
    args = dict(H)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        AdversarialTrainerECAS(make_classifier(), verbose=False, **args)


def test_missing_thresholds_for_unusual_class_counts():
    with pytest.raises(ValueError, match="h_low/h_high"):
        AdversarialTrainerECAS(make_classifier(), verbose=False)
