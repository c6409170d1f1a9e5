"""Exact pass counts per method, checked against independent module hooks."""
import pytest

from art_accel import (
    AdversarialTrainerAWP,
    AdversarialTrainerFGSM,
    AdversarialTrainerFree,
    AdversarialTrainerMART,
    AdversarialTrainerNFGSM,
    AdversarialTrainerPGD,
    AdversarialTrainerTRADES,
)

from conftest import make_classifier


def _hooked(clf):
    """Count forwards and backwards through the model with module hooks (independent of our counter)."""
    counts = {"fwd": 0, "bwd": 0}
    clf.model.register_forward_hook(lambda *a: counts.__setitem__("fwd", counts["fwd"] + 1))
    clf.model.register_full_backward_hook(lambda *a: counts.__setitem__("bwd", counts["bwd"] + 1))
    return counts


# (trainer, kwargs, forwards per batch, backwards per batch)
CASES = [
    (AdversarialTrainerPGD, {"max_iter": 7}, 8, 8),
    (AdversarialTrainerPGD, {"max_iter": 0}, 1, 1),
    (AdversarialTrainerFGSM, {}, 2, 2),
    (AdversarialTrainerNFGSM, {}, 2, 2),
    (AdversarialTrainerFree, {"nb_replays": 3}, 3, 3),
    (AdversarialTrainerTRADES, {"max_iter": 5}, 5 + 3, 5 + 2),
    (AdversarialTrainerMART, {"max_iter": 4}, 4 + 2, 4 + 2),
    (AdversarialTrainerAWP, {"max_iter": 3}, 3 + 2, 3 + 2),
]


@pytest.mark.filterwarnings("ignore:Full backward hook")
@pytest.mark.parametrize("cls,kwargs,fwd,bwd", CASES)
def test_exact_pass_counts(data, cls, kwargs, fwd, bwd):
    clf = make_classifier()
    hooks = _hooked(clf)
    x, y = data  # 40 samples, batch 16 -> 3 batches
    trainer = cls(clf, eps=0.1, verbose=False, **kwargs)
    history = trainer.fit(x, y, nb_epochs=2, batch_size=16)
    assert history["forward_passes"] == [3 * fwd, 3 * fwd]
    assert history["backward_passes"] == [3 * bwd, 3 * bwd]
    # plus the one dry forward of the pre-flight check, counted apart
    assert trainer.counter.forward["preflight"] == 1 and hooks["fwd"] == 6 * fwd + 1
    # the module's full backward hook fires once per backward through one forward's graph
    assert hooks["bwd"] == 6 * bwd


def test_validation_passes_are_not_training_cost(data):
    clf = make_classifier()
    x, y = data
    trainer = AdversarialTrainerPGD(clf, eps=0.1, max_iter=2, verbose=False)
    h = trainer.fit(x, y, nb_epochs=1, batch_size=20, validation_data=(x[:10], y[:10]), validation_max_iter=3)
    assert h["backward_passes"] == [2 * 3]
    assert trainer.counter.forward["validation"] == 3 + 2
    assert trainer.counter.backward["validation"] == 3
    assert 0.0 <= h[0]["val_robust_accuracy"] <= h[0]["val_accuracy"] <= 1.0


def test_pgd_attack_computes_no_parameter_gradients(data):
    clf = make_classifier()
    trainer = AdversarialTrainerPGD(clf, eps=0.1, max_iter=5, verbose=False)
    calls = []
    for p in clf.model.parameters():
        p.register_hook(lambda g: calls.append(1))
    trainer.fit(data[0][:16], data[1][:16], nb_epochs=1, batch_size=16)
    n_params = len(list(clf.model.parameters()))
    # one update: each parameter receives its gradient exactly once; the 5 attack steps add none
    assert len(calls) == n_params
