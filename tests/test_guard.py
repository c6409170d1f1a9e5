"""
The catastrophic-overfitting guard: detection, exact rollback to the last good epoch, the safer step, and
no effect at all on a run that does not collapse.

The collapse is induced deterministically by a learning-rate spike in one epoch (robust accuracy on the
check slice falls from 1.0 to about 0.2): real catastrophic overfitting does not happen reliably on tiny
offline data within a test's time; the benchmarks check the guard where FGSM-RS really collapses.
"""
import numpy as np
import pytest
import torch

from art_accel import AdversarialTrainerAmata, AdversarialTrainerATAS, AdversarialTrainerFGSM
from art_accel.guard import OverfittingGuard
from art_accel.parts import AdaptiveStep

from digests import _classifier, _data

EPS = 0.1
SPIKE_EPOCH = 4


def _task():
    x, y = _data()
    return np.concatenate([x] * 5), np.concatenate([y] * 5)  # 240 samples, 15 batches of 16


def _train(epochs, spike=True, guard=True, capture_at=None):
    clf = _classifier()
    sched = torch.optim.lr_scheduler.LambdaLR(clf.optimizer, lambda e: 50.0 if spike and e == SPIKE_EPOCH else 1.0)
    trainer = AdversarialTrainerFGSM(clf, eps=EPS, co_guard=guard, verbose=False)
    captured = {}
    if capture_at is not None:
        guard_part = trainer.part(OverfittingGuard)
        original = guard_part.on_epoch_end

        def spy(epoch, record):
            out = original(epoch, record)
            if epoch == capture_at:
                captured.update({k: v.clone() for k, v in clf.model.state_dict().items()})
            return out

        guard_part.on_epoch_end = spy
    torch.manual_seed(1)
    history = trainer.fit(*_task(), nb_epochs=epochs, batch_size=16, scheduler=sched)
    return trainer, clf, history, captured


def test_collapse_is_detected_and_rolled_back_to_the_last_good_epoch():
    _, clf_good, h_good, _ = _train(SPIKE_EPOCH)  # epochs 0..3 only: the last good state
    trainer, _, h, after = _train(SPIKE_EPOCH + 3, capture_at=SPIKE_EPOCH)
    assert h["co_rollback"] == [False] * SPIKE_EPOCH + [True, False, False]
    assert h["co_multi_acc"][SPIKE_EPOCH - 1] - h["co_multi_acc"][SPIKE_EPOCH] >= 0.2
    good = clf_good.model.state_dict()
    assert all(torch.equal(after[k], good[k]) for k in good)  # bit-exact rollback
    assert trainer.eps_step == pytest.approx(1.25 * EPS * 0.8) and h["co_step_scale"][-1] == pytest.approx(0.8)
    assert h["co_multi_acc"][-1] >= h["co_multi_acc"][SPIKE_EPOCH - 1] - 0.2  # training went on from there


def test_the_guard_does_not_change_a_run_that_does_not_collapse():
    _, with_guard, h1, _ = _train(4, spike=False, guard=True)
    _, without, h2, _ = _train(4, spike=False, guard=False)
    assert not any(h1["co_rollback"])
    assert h1["loss"] == h2["loss"] and h1["backward_passes"] == h2["backward_passes"]
    assert all(torch.equal(a, b) for a, b in zip(with_guard.model.state_dict().values(),
                                                 without.model.state_dict().values()))


def test_guard_passes_are_counted_apart():
    trainer, _, h, _ = _train(2, spike=False)
    assert h["backward_passes"] == [15 * 2] * 2  # FGSM-RS' 2 per batch, nothing more
    # per epoch: FGSM (1 fwd + 1 bwd + 1 eval fwd) and PGD-5 (5 + 5 + 1) on the slice
    assert trainer.counter.forward["guard"] == 2 * 8 and trainer.counter.backward["guard"] == 2 * 6


def test_atas_step_bounds_are_scaled_on_rollback():
    t = AdversarialTrainerATAS(_classifier(), eps=EPS, co_guard=OverfittingGuard(step_factor=0.5), verbose=False)
    part = t.part(AdaptiveStep)
    before = (part.max_step, part.min_step, part.step_cap)
    t.part(OverfittingGuard)._good = t.part(OverfittingGuard)._snapshot()
    t.part(OverfittingGuard)._rollback()
    assert (part.max_step, part.min_step, part.step_cap) == pytest.approx([v * 0.5 for v in before])


def test_guard_rejects_methods_that_set_the_step_every_epoch():
    with pytest.raises(ValueError, match="co_guard"):
        AdversarialTrainerAmata(_classifier(), eps=EPS, co_guard=True)
    with pytest.raises(TypeError, match="co_guard"):
        AdversarialTrainerFGSM(_classifier(), eps=EPS, co_guard="yes")
