"""M+ criterion and DEAT: the k logic on scripted magnitudes, exact passes, l_X from existing passes."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from art_accel import (
    AdversarialTrainerDEAT,
    AdversarialTrainerMPlus,
)
from art_accel.parts import PGDAT, TRADES, FreeReplay, MPlusSteps
from art_accel.schedules import AccuracyCriterion, EveryD, MPlusCriterion

from conftest import make_classifier


def test_mplus_criterion_on_scripted_magnitudes():
    crit = MPlusCriterion(gamma=1.01, max_k=3)
    magnitudes = [5.0, 10.0, 10.05, 10.2, 9.0, 10.4, 10.6, 11.0]
    ks, thresholds = [], []
    for epoch, m in enumerate(magnitudes):
        ks.append(crit.value(epoch))
        crit.observe(epoch, {"grad_magnitude": m})
        thresholds.append(crit.threshold)
    assert ks == [0, 1, 1, 1, 2, 2, 3, 3]
    assert thresholds[0] is None
    assert thresholds[1:4] == pytest.approx([10.1, 10.1, 10.302])
    assert thresholds[4] == pytest.approx(10.302)  # unchanged: k did not grow
    assert thresholds[5] == pytest.approx(10.504)
    assert ks[7] == 3 and thresholds[6:] == pytest.approx([10.504, 10.504])  # k at the cap: frozen (authors)
    crit.reset()
    assert crit.value(0) == 0 and crit.threshold is None


def test_naive_criteria():
    assert EveryD(3, max_k=7).values(10) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    assert EveryD(1, max_k=2).values(5) == [0, 1, 2, 2, 2]
    acc = AccuracyCriterion(0.4, max_k=2)
    ks = []
    for epoch, a in enumerate([0.3, 0.45, 0.38, 0.5, 0.6]):
        ks.append(acc.value(epoch))
        acc.observe(epoch, {"accuracy": a})
    assert ks == [0, 0, 1, 1, 2]


def test_deat_3_costs_22_backward_passes_per_batch_over_10_epochs(data):
    t = AdversarialTrainerDEAT(make_classifier(), eps=0.1, criterion="every_d", d=3, verbose=False)
    h = t.fit(*data, nb_epochs=10, batch_size=40)  # one batch per epoch
    assert h["k"] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    assert h["replays"] == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    assert h.total("backward_passes") == 22 and h["forward_passes"] == h["backward_passes"]


@pytest.mark.parametrize("base,per_batch", [
    ("pgd", lambda k: (k + 1, k + 1)),
    ("free", lambda k: (k + 1, k + 1)),
    ("trades", lambda k: (k + 3, k + 2)),
    ("mart", lambda k: (k + 2, k + 2)),
])
def test_mplus_passes_follow_k_exactly_and_k_follows_the_criterion(data, base, per_batch):
    t = AdversarialTrainerMPlus(make_classifier(lr=0.1), eps=0.1, base=base, gamma=0.9, max_k=3, verbose=False)
    h = t.fit(*data, nb_epochs=6, batch_size=16)  # 3 batches per epoch
    for k, fwd, bwd in zip(h["k"], h["forward_passes"], h["backward_passes"]):
        assert (fwd, bwd) == tuple(3 * v for v in per_batch(k))
    replay = MPlusCriterion(gamma=0.9, max_k=3)
    expected = []
    for epoch, m in enumerate(h["grad_magnitude"]):
        expected.append(replay.value(epoch))
        replay.update(epoch, m)
    assert h["k"] == expected and h["k"][:2] == [0, 1]
    assert all(m > 0 for m in h["grad_magnitude"])


def test_magnitude_is_per_sample_l1_of_the_update_input_gradient(data):
    x, y = data
    clf = make_classifier(lr=0.0)
    t = AdversarialTrainerMPlus(clf, eps=0.1, base="pgd", num_random_init=0, verbose=False)
    h = t.fit(x, y, nb_epochs=1, batch_size=16)  # k = 0 and no random start: the update sees x itself
    xt = torch.from_numpy(x).requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(clf.model(xt), torch.from_numpy(y), reduction="sum"), [xt])
    assert h["grad_magnitude"][0] == pytest.approx(float(g.abs().sum()), rel=1e-5)


def test_magnitude_is_independent_of_batch_size(data):
    x, y = data
    m = [AdversarialTrainerMPlus(make_classifier(lr=0.0), eps=0.1, num_random_init=0, verbose=False)
         .fit(x, y, nb_epochs=1, batch_size=b)["grad_magnitude"][0] for b in (8, 40)]
    assert m[0] == pytest.approx(m[1], rel=1e-5)


def test_index_and_onehot_labels_agree(data):
    x, y = data
    out = []
    for labels in (y, np.eye(4, dtype=np.float32)[y]):
        torch.manual_seed(0)
        h = AdversarialTrainerDEAT(make_classifier(), eps=0.1, verbose=False).fit(x, labels, nb_epochs=3,
                                                                                 batch_size=16)
        out.append((h["k"], h["grad_magnitude"]))
    assert out[0] == out[1]


def test_bases_are_parts():
    t = AdversarialTrainerMPlus(make_classifier(), eps=0.1, base="trades", beta=3.0, verbose=False)
    assert isinstance(t, AdversarialTrainerMPlus) and isinstance(t.objective, TRADES)
    assert t.objective.beta == 3.0 and t.method_name == "mplus-trades"
    p = AdversarialTrainerMPlus(make_classifier(), eps=0.1, verbose=False)
    assert isinstance(p.objective, PGDAT) and p.max_k == 10 and isinstance(p.part(MPlusSteps), MPlusSteps)
    f = AdversarialTrainerMPlus(make_classifier(), eps=0.1, base="free", verbose=False)
    assert isinstance(f.objective, FreeReplay) and not f.objective.carry_delta  # DEAT's fresh start per batch
    assert f.max_k == 7 and f.eps_step == pytest.approx(0.125) and f.attack_mode == "train"


@pytest.mark.parametrize("cls,kwargs,match", [
    (AdversarialTrainerMPlus, dict(gamma=0.0), "gamma"),
    (AdversarialTrainerMPlus, dict(gamma=-1.0), "gamma"),
    (AdversarialTrainerMPlus, dict(max_k=0), "max_k"),
    (AdversarialTrainerMPlus, dict(base="awp"), "base"),
    (AdversarialTrainerMPlus, dict(max_iter=3), "max_iter"),
    (AdversarialTrainerDEAT, dict(criterion="loss"), "criterion"),
    (AdversarialTrainerDEAT, dict(criterion="every_d", d=0), "d must"),
    (AdversarialTrainerDEAT, dict(criterion="accuracy", accuracy_threshold=1.5), "accuracy_threshold"),
    (AdversarialTrainerDEAT, dict(max_k=0), "max_k"),
])
def test_bad_parameters_rejected(cls, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        cls(make_classifier(), eps=0.1, verbose=False, **kwargs)
