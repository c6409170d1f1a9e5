"""
The checks ART's own trainer tests make of a trainer, against every registered trainer (our own test code, on
a learnable synthetic task): fit with index and one-hot labels, predict, fit_generator with ART's
PyTorchDataGenerator (also for per-sample state), get_classifier, the caller's arrays unchanged, and robust
accuracy after a short run above the untrained model's.
"""
import numpy as np
import pytest
import torch
from art.data_generators import NumpyDataGenerator, PyTorchDataGenerator
from torch.utils.data import DataLoader, TensorDataset

from art_accel import evaluate_robustness
from art_accel.registry import ENTRIES, METHODS

from digests import _classifier, _data

EPS = 0.1
#: One registry name per trainer class (the first), with what a 4-class toy task needs (ECAS' thresholds).
NAMES = list(dict((target, name) for name, (target, _) in reversed(ENTRIES.items())).values())
EXTRA = {"ecas": {"h_low": 1.2, "h_high": 1.37, "max_iter": 3}, "trades": {"max_iter": 3}, "mart": {"max_iter": 3},
         "awp": {"max_iter": 3}, "pgd": {"max_iter": 3}}


def _trainer(name, clf):
    return METHODS[name](clf, eps=EPS, verbose=False, **EXTRA.get(name, {}))


def _task():
    x, y = _data()
    return np.concatenate([x] * 4), np.concatenate([y] * 4)  # 192 samples


@pytest.mark.parametrize("name", NAMES)
def test_fit_predict_one_hot_and_arrays_unchanged(name):
    x, y = _task()
    x0, y0 = x.copy(), y.copy()
    clf = _classifier()
    t = _trainer(name, clf)
    assert t.get_classifier() is clf
    t.fit(x, np.eye(4, dtype=np.float32)[y], nb_epochs=1, batch_size=32)
    t.fit(x, y, nb_epochs=1, batch_size=32)  # index labels, continuing
    pred = t.predict(x)
    assert pred.shape == (len(x), 4) and np.array_equal(pred.argmax(1), clf.predict(x).argmax(1))
    assert np.array_equal(x, x0) and np.array_equal(y, y0)


@pytest.mark.parametrize("name", NAMES)
def test_fit_generator_with_arts_pytorch_data_generator(name):
    x, y = _task()
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=32, shuffle=True)
    t = _trainer(name, _classifier())
    h = t.fit_generator(PyTorchDataGenerator(loader, size=len(y), batch_size=32), nb_epochs=2)
    assert len(h) == 2 and h["backward_passes"][0] > 0
    state = getattr(t, "state", None)
    if state is not None:  # per-sample state reached every sample: each stored perturbation was written
        assert (state["delta"].flatten(1).abs().amax(1) > 0).all()


def test_a_generator_without_positions_says_what_to_write_for_per_sample_state():
    x, y = _task()
    t = _trainer("atas", _classifier())
    with pytest.raises(ValueError, match="PyTorchDataGenerator over a DataLoader.*fit_loader"):
        t.fit_generator(NumpyDataGenerator(x, np.eye(4)[y], batch_size=32), nb_epochs=1)


@pytest.mark.parametrize("name", NAMES)
def test_a_short_run_is_more_robust_than_the_untrained_model(name):
    x, y = _task()
    xv, yv = x[:96], y[:96]
    clf = _classifier()
    before = evaluate_robustness(clf, xv, yv, EPS, attacks=("pgd5",), seed=0)["pgd5"]
    torch.manual_seed(1)
    _trainer(name, clf).fit(x, y, nb_epochs=6, batch_size=16)
    after = evaluate_robustness(clf, xv, yv, EPS, attacks=("pgd5",), seed=0)["pgd5"]
    assert after > before, f"{name}: PGD-5 {before:.3f} untrained -> {after:.3f} trained"
