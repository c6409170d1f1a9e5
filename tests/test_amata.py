"""Amata: the schedule epoch by epoch for several T, exact passes, Amata+Free/FGSM, criterion C."""
import itertools

import pytest
import torch

from art_accel import AdversarialTrainerAmata
from art_accel.parts import PGDAT, AmataAnneal, FreeReplay, WeakFixedStart
from art_accel.schedules import Cyclic, LinearAnneal
from art_accel.trainers.amata import amata_criterion

from conftest import make_classifier

EPS = 0.1


@pytest.mark.parametrize("T,expected", [
    (1, [10]),
    (2, [2, 10]),
    (5, [2, 4, 6, 8, 10]),
    (4, [2, 5, 7, 10]),  # 2 + 8/3 = 4.67 -> 5, 2 + 16/3 = 7.33 -> 7
    (10, [2, 3, 4, 5, 6, 6, 7, 8, 9, 10]),  # 2 + 8t/9: 2, 2.89, 3.78, 4.67, 5.56, 6.44, 7.33, 8.22, 9.11, 10
])
def test_k_schedule_reaches_k_max_in_the_last_epoch(T, expected):
    assert LinearAnneal(2, 10, T).values(T) == expected


def test_rounding_options_and_float_schedule():
    assert LinearAnneal(2, 10, 10, "floor").values(10) == [2, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert LinearAnneal(2, 10, 10, "ceil").values(10) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 10]
    assert LinearAnneal(0.5, 1.0, 3, "none").values(3) == [0.5, 0.75, 1.0]
    assert Cyclic([3, 4, 5]).values(7) == [3, 4, 5, 3, 4, 5, 3]


def test_amata_pgd_schedule_steps_and_exact_passes(data):
    t = AdversarialTrainerAmata(make_classifier(), eps=EPS, verbose=False)
    assert isinstance(t.objective, PGDAT) and isinstance(t.part(AmataAnneal), AmataAnneal)
    h = t.fit(*data, nb_epochs=5, batch_size=16)  # 3 batches
    assert h["k"] == [2, 4, 6, 8, 10]
    tau = 2.5 * EPS
    assert h["eps_step"] == pytest.approx([tau / k for k in (2, 4, 6, 8, 10)])
    assert h["backward_passes"] == [3 * (k + 1) for k in (2, 4, 6, 8, 10)]
    assert h["forward_passes"] == h["backward_passes"]
    assert t.schedule(5) == [(k, pytest.approx(tau / k)) for k in (2, 4, 6, 8, 10)]


def test_amata_free_anneals_replays_and_shrinks_the_step(data):
    t = AdversarialTrainerAmata(make_classifier(), eps=EPS, base="free", verbose=False)
    assert isinstance(t, AdversarialTrainerAmata) and isinstance(t.objective, FreeReplay)
    h = t.fit(*data, nb_epochs=3, batch_size=16)
    assert h["replays"] == [2, 3, 4]
    assert h["eps_step"] == pytest.approx([0.4 / 2, 0.4 / 3, 0.4 / 4])  # tau = 4 eps: 2 eps -> eps
    assert h["backward_passes"] == [6, 9, 12]


def test_amata_fgsm_weak_then_standard(data):
    t = AdversarialTrainerAmata(make_classifier(), eps=EPS, base="fgsm", weak_fraction=0.5, verbose=False)
    h = t.fit(*data, nb_epochs=4, batch_size=16)
    assert h["weak"] == [True, True, False, False]
    assert h["backward_passes"] == [6] * 4 and h["eps_step"] == [pytest.approx(1.25 * EPS)] * 4
    fixed = t.part(WeakFixedStart)._fixed.clone()
    assert fixed.abs().max() <= EPS and fixed.abs().max() > 0
    with pytest.raises(TypeError, match="k_min"):
        AdversarialTrainerAmata(make_classifier(), eps=EPS, base="fgsm", k_min=3)


def test_criterion_c_is_zero_for_the_best_setting_and_positive_otherwise(data):
    clf = make_classifier()
    x, y = torch.from_numpy(data[0][:16]), torch.from_numpy(data[1][:16])
    grid = list(itertools.product([1, 3, 5], [EPS / 4, EPS / 2]))
    out = amata_criterion(clf, x, y, EPS, 1, EPS / 4, grid, gamma=0.0)
    assert out["C"] >= 0.0 and out["best"] in out["values"]
    best = amata_criterion(clf, x, y, EPS, *out["best"], grid=grid, gamma=0.0)
    assert best["C"] == pytest.approx(0.0, abs=1e-6)
    costly = amata_criterion(clf, x, y, EPS, 5, EPS / 2, grid, gamma=1e6)  # huge step cost favours K = 1
    assert costly["best"][0] == 1 and costly["C"] > 0
    assert all(p.grad is None for p in clf.model.parameters())


@pytest.mark.parametrize("kwargs,match", [
    (dict(k_min=5, k_max=2), "k_min"),
    (dict(k_min=0), "k_min"),
    (dict(tau=0.0), "tau"),
    (dict(tau=-1.0), "tau"),
    (dict(base="awp"), "base"),
    (dict(weak_fraction=0.3), "weak_fraction"),
    (dict(rounding="up"), "rounding"),
])
def test_bad_parameters_rejected(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        AdversarialTrainerAmata(make_classifier(), eps=EPS, verbose=False, **kwargs)
