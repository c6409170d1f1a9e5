"""
The catastrophic-overfitting guard: its rules, the rollback to the best epoch before a collapse (bit-exact),
the safer step, stopping after ``max_rollbacks``, no effect on a run that does not collapse, and (in
``test_guard_real_collapse.py``) a real collapse of FGSM-RS caught and recovered from.
"""
import numpy as np
import pytest
import torch

from art_accel import AdversarialTrainerAmata, AdversarialTrainerATAS, AdversarialTrainerFGSM
from art_accel.guard import OverfittingGuard
from art_accel.parts import AdaptiveStep, EpsRamp

from digests import _classifier, _data

EPS = 0.1
SPIKE_EPOCH = 4


def _task():
    x, y = _data()
    return np.concatenate([x] * 5), np.concatenate([y] * 5)  # 240 samples, 15 batches of 16


def _fgsm(guard, clf=None, **kwargs):
    return AdversarialTrainerFGSM(clf or _classifier(), eps=EPS, co_guard=guard, verbose=False, **kwargs)


def _spy_weights(trainer):
    """Weights after each epoch's guard check, by epoch."""
    part, weights = trainer.part(OverfittingGuard), {}
    original = part.on_epoch_end

    def spy(epoch, record):
        out = original(epoch, record)
        weights[epoch] = {k: v.clone() for k, v in trainer.classifier.model.state_dict().items()}
        return out

    part.on_epoch_end = spy
    return weights


def _scripted(trainer, values):
    """The guard measures ``values[epoch]`` = (single, multi) instead of attacking (its decisions stay real)."""
    part, epoch = trainer.part(OverfittingGuard), iter(range(len(values)))
    part.measure = lambda: dict(zip(("co_single_acc", "co_multi_acc"), values[next(epoch)]))


def _fit(trainer, epochs, scheduler=None):
    torch.manual_seed(1)
    return trainer.fit(*_task(), nb_epochs=epochs, batch_size=16, scheduler=scheduler)


@pytest.mark.parametrize("rule,single,multi,best,expected", [
    ("signature", 0.40, 0.04, 0.12, True),    # fell below half its best, FGSM far above PGD
    ("signature", 0.10, 0.04, 0.12, False),   # fell, but FGSM fell too: no signature (gap 0.06)
    ("signature", 0.60, 0.35, 0.40, False),   # big gap, but PGD did not fall below half its best
    ("signature", 0.30, 0.16, 0.40, False),   # fell and gap 0.14 < 0.15
    ("absolute", 0.50, 0.20, 0.45, True),     # Wong et al.: 0.25 below the best
    ("absolute", 0.40, 0.04, 0.12, False),    # ... cannot fire where robustness never exceeded 0.2
    ("relative", 0.10, 0.05, 0.12, True),
])
def test_rules(rule, single, multi, best, expected):
    guard = OverfittingGuard(rule=rule)
    guard._best = best
    assert guard.collapsed(single, multi) is expected


def test_rollback_restores_the_best_epoch_not_the_previous_one_bit_exactly():
    trainer = _fgsm(OverfittingGuard())
    weights = _spy_weights(trainer)
    # PGD accuracy on the slice: best at epoch 1, dips at 2 (FGSM fell too: no signature), collapse at 3
    _scripted(trainer, [(0.3, 0.2), (0.5, 0.4), (0.2, 0.1), (0.6, 0.1), (0.5, 0.4)])
    with pytest.warns(UserWarning, match="epoch 3: catastrophic overfitting .* restored epoch 1"):
        h = _fit(trainer, 5)
    assert h["co_rollback"] == [False, False, False, True, False]
    assert h["co_restored_epoch"] == [None, None, None, 1, None] and h["co_rollbacks"] == [0, 0, 0, 1, 1]
    assert h["co_drop"][3] == pytest.approx(0.3) and h["co_gap"][3] == pytest.approx(0.5)
    assert all(torch.equal(weights[3][k], weights[1][k]) for k in weights[1])  # epoch 1's weights, not epoch 2's
    assert not all(torch.equal(weights[2][k], weights[1][k]) for k in weights[1])
    assert trainer.eps_step == pytest.approx(1.25 * EPS * 0.8) and h["co_step_scale"][-1] == pytest.approx(0.8)


def test_after_max_rollbacks_a_further_collapse_restores_the_best_and_stops():
    trainer = _fgsm(OverfittingGuard(max_rollbacks=1, step_factor=0.5))
    weights = _spy_weights(trainer)
    _scripted(trainer, [(0.5, 0.4), (0.6, 0.1), (0.5, 0.3), (0.6, 0.1), (0.5, 0.4), (0.5, 0.4)])
    with pytest.warns(UserWarning, match="stopped training: max_rollbacks=1"):
        h = _fit(trainer, 6)
    assert [r["epoch"] for r in h.records] == [0, 1, 2, 3]  # stopped after epoch 3
    assert h["co_rollback"] == [False, True, False, True] and h["co_stopped"] == [False, False, False, True]
    assert h["co_restored_epoch"][3] == 0 and trainer.stop_reason.startswith("co_guard: epoch 3")
    final = trainer.classifier.model.state_dict()
    assert all(torch.equal(final[k], weights[0][k]) for k in final)  # the model kept is the best epoch's
    assert trainer.eps_step == pytest.approx(1.25 * EPS * 0.5)  # one rollback scaled the step


def test_an_lr_spike_is_rolled_back_under_wongs_absolute_rule():
    sched = lambda clf: torch.optim.lr_scheduler.LambdaLR(  # noqa: E731
        clf.optimizer, lambda e: 50.0 if e == SPIKE_EPOCH else 1.0)
    clf_good = _classifier()
    _fit(_fgsm(OverfittingGuard(rule="absolute"), clf_good), SPIKE_EPOCH, sched(clf_good))
    clf = _classifier()
    trainer = _fgsm(OverfittingGuard(rule="absolute"), clf)
    weights = _spy_weights(trainer)
    with pytest.warns(UserWarning, match="absolute rule"):
        h = _fit(trainer, SPIKE_EPOCH + 3, sched(clf))
    assert h["co_rollback"] == [False] * SPIKE_EPOCH + [True, False, False]
    assert h["co_drop"][SPIKE_EPOCH] >= 0.2
    good = clf_good.model.state_dict()
    assert all(torch.equal(weights[SPIKE_EPOCH][k], good[k]) for k in good)  # the best epoch was the last good
    assert h["co_multi_acc"][-1] >= h["co_multi_acc"][SPIKE_EPOCH - 1] - 0.2  # training went on from there


def test_the_guard_judges_only_at_the_full_budget():
    trainer = _fgsm(OverfittingGuard(), schedule=EpsRamp(3))
    _scripted(trainer, [(0.9, 0.8), (0.8, 0.1), (0.5, 0.3), (0.5, 0.3)])  # epoch 1: ramping, not judged
    h = _fit(trainer, 4)
    assert h["eps"] == pytest.approx([EPS / 3, 2 * EPS / 3, EPS, EPS])
    assert not any(h["co_rollback"]) and h["co_drop"][:3] == [None, None, None]


def test_the_guard_does_not_change_a_run_that_does_not_collapse():
    with_guard, without = _classifier(), _classifier()
    h1 = _fit(_fgsm(True, with_guard), 4)
    h2 = _fit(_fgsm(None, without), 4)
    assert not any(h1["co_rollback"])
    assert h1["loss"] == h2["loss"] and h1["backward_passes"] == h2["backward_passes"]
    assert all(torch.equal(a, b) for a, b in zip(with_guard.model.state_dict().values(),
                                                 without.model.state_dict().values()))


def test_guard_passes_are_counted_apart():
    trainer = _fgsm(True)
    h = _fit(trainer, 2)
    assert h["backward_passes"] == [15 * 2] * 2  # FGSM-RS' 2 per batch, nothing more
    # per epoch: FGSM (1 fwd + 1 bwd + 1 eval fwd) and PGD-5 (5 + 5 + 1) on the slice
    assert trainer.counter.forward["guard"] == 2 * 8 and trainer.counter.backward["guard"] == 2 * 6


def test_atas_step_bounds_are_scaled_on_rollback():
    t = AdversarialTrainerATAS(_classifier(), eps=EPS, co_guard=OverfittingGuard(step_factor=0.5), verbose=False)
    part = t.part(AdaptiveStep)
    before = (part.max_step, part.min_step, part.step_cap)
    _scripted(t, [(0.5, 0.4), (0.6, 0.1)])
    with pytest.warns(UserWarning, match="rollback 1 of 3"):
        _fit(t, 2)
    assert (part.max_step, part.min_step, part.step_cap) == pytest.approx([v * 0.5 for v in before])


def test_guard_rejects_methods_that_set_the_step_every_epoch_and_bad_arguments():
    with pytest.raises(ValueError, match="co_guard"):
        AdversarialTrainerAmata(_classifier(), eps=EPS, co_guard=True)
    with pytest.raises(TypeError, match="co_guard"):
        AdversarialTrainerFGSM(_classifier(), eps=EPS, co_guard="yes")
    with pytest.raises(ValueError, match="rule"):
        OverfittingGuard(rule="loose")
    with pytest.raises(ValueError, match="max_rollbacks"):
        OverfittingGuard(max_rollbacks=-1)
    with pytest.raises(ValueError, match="gap"):
        OverfittingGuard(gap=0)


def test_a_resumed_run_rolls_back_to_the_same_best_epoch(tmp_path):
    values = [(0.5, 0.4), (0.3, 0.2), (0.5, 0.3), (0.6, 0.1), (0.5, 0.4)]
    ref = _fgsm(OverfittingGuard())
    _scripted(ref, values)
    with pytest.warns(UserWarning, match="restored epoch 0"):
        _fit(ref, 5)
    first = _fgsm(OverfittingGuard())
    _scripted(first, values)
    torch.manual_seed(1)
    first.fit(*_task(), nb_epochs=3, batch_size=16, checkpoint_path=str(tmp_path / "ck.pt"))
    resumed = _fgsm(OverfittingGuard())
    _scripted(resumed, values[3:])
    with pytest.warns(UserWarning, match="restored epoch 0"):
        resumed.fit(*_task(), nb_epochs=5, batch_size=16, resume_from=str(tmp_path / "ck.pt"))
    a, b = ref.classifier.model.state_dict(), resumed.classifier.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
