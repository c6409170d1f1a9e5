"""
A drop-in for ART users: ART's argument order, fit called in a loop continues the method exactly, the
classifier's own loss is the one trained, ART's common arguments accepted or rejected with a hint.
"""
import inspect

import numpy as np
import pytest
import torch
from art.defences.trainer import AdversarialTrainerMadryPGD
from art.estimators.classification import PyTorchClassifier

import art_accel

from digests import TIMING_KEYS, _classifier, _data


def _records(history):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in history.records]


@pytest.mark.parametrize("make", [
    lambda clf: art_accel.AdversarialTrainerMPlus(clf, eps=0.1, gamma=0.5, nb_epochs=5, verbose=False),
    lambda clf: art_accel.AdversarialTrainerATAS(clf, eps=0.1, warmup_epochs=2, reset_every=3, nb_epochs=5,
                                                 verbose=False),
    lambda clf: art_accel.AdversarialTrainerAmata(clf, eps=0.1, nb_epochs=5, verbose=False),
    lambda clf: art_accel.AdversarialTrainerDEAT(clf, eps=0.1, nb_epochs=5, verbose=False),
    lambda clf: art_accel.AdversarialTrainerECAS(clf, eps=0.1, max_iter=2, h_low=0.5, h_high=1.2, nb_epochs=5,
                                                 verbose=False),
], ids=["mplus", "atas", "amata", "deat", "ecas"])
def test_fit_in_a_loop_equals_one_fit(make):
    x, y = _data()
    clf_one = _classifier()
    torch.manual_seed(1)
    one = make(clf_one).fit(x, y, batch_size=16, nb_epochs=5)

    clf_loop = _classifier()
    trainer = make(clf_loop)
    torch.manual_seed(1)
    for _ in range(5):
        loop = trainer.fit(x, y, batch_size=16, nb_epochs=1)
        # what a user runs between calls draws from (or reseeds) torch's global RNG: it must not change training
        clf_loop.predict(x[:8])
        torch.rand(3)
        art_accel.evaluate_robustness(clf_loop, x[:8], y[:8], eps=0.1, attacks=("pgd2",), seed=7)
    assert _records(loop) == _records(one)  # schedules, passes, losses, per epoch
    assert loop["epoch"] == [0, 1, 2, 3, 4]
    w1, w2 = clf_one.model.state_dict(), clf_loop.model.state_dict()
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_reset_starts_over(tmp_path):
    x, y = _data()
    t = art_accel.AdversarialTrainerMPlus(_classifier(), eps=0.1, gamma=0.5, verbose=False)
    t.fit(x, y, nb_epochs=3)
    assert t.fit(x, y, nb_epochs=1)["k"] == [0, 1, 1, 2]
    t.reset()
    h = t.fit(x, y, nb_epochs=2)
    assert h["epoch"] == [0, 1] and h["k"] == [0, 1]


def test_continuing_with_another_data_set_size_needs_a_reset():
    x, y = _data()
    t = art_accel.AdversarialTrainerATAS(_classifier(), eps=0.1, verbose=False)
    t.fit(x, y, nb_epochs=1)
    with pytest.raises(ValueError, match="reset"):
        t.fit(x[:20], y[:20], nb_epochs=1)


def test_amata_plans_over_the_trainers_nb_epochs_and_warns_past_it():
    x, y = _data()
    t = art_accel.AdversarialTrainerAmata(_classifier(), eps=0.1, nb_epochs=3, verbose=False)
    h = t.fit(x, y, nb_epochs=3)
    assert h["k"] == [2, 6, 10]
    with pytest.warns(UserWarning, match="past it"):
        h = t.fit(x, y, nb_epochs=1)
    assert h["k"] == [2, 6, 10, 10]


def test_positional_order_is_arts():
    ours = list(inspect.signature(art_accel.AdversarialTrainerPGD.fit).parameters)
    arts = list(inspect.signature(AdversarialTrainerMadryPGD.fit).parameters)
    assert ours[:5] == arts[:5] == ["self", "x", "y", "validation_data", "batch_size"]
    assert ours[5] == arts[5] == "nb_epochs"
    x, y = _data()
    h = art_accel.AdversarialTrainerPGD(_classifier(), eps=0.1, max_iter=1, verbose=False).fit(x, y, None, 16, 2)
    assert len(h) == 2 and h["backward_passes"] == [3 * 2, 3 * 2]  # 48 samples / 16 = 3 batches, 2 epochs
    gen = list(inspect.signature(art_accel.AdversarialTrainerPGD.fit_generator).parameters)
    assert gen[:3] == ["self", "generator", "nb_epochs"]


def _with_loss(loss):
    clf = _classifier()
    return PyTorchClassifier(clf.model, loss=loss, optimizer=torch.optim.SGD(clf.model.parameters(), lr=0.05),
                             input_shape=(1, 8, 8), nb_classes=4, clip_values=(0.0, 1.0))


@pytest.mark.parametrize("cls,kwargs", [
    (art_accel.AdversarialTrainerPGD, {"max_iter": 1}),
    (art_accel.AdversarialTrainerFGSM, {}),
    (art_accel.AdversarialTrainerFree, {"nb_replays": 2}),
    (art_accel.AdversarialTrainerATAS, {}),
    (art_accel.AdversarialTrainerGAAT, {"max_iter": 2}),
])
def test_the_classifiers_loss_is_trained(cls, kwargs):
    """A classifier whose loss is 3 x cross-entropy: the first (only) update trains on 3 x the plain loss; the
    attack, which ascends cross-entropy, is the same in both runs."""

    class Tripled(torch.nn.Module):
        def forward(self, logits, y):
            return 3.0 * torch.nn.functional.cross_entropy(logits, y)

    x, y = _data()
    tripled, plain = _with_loss(Tripled()), _with_loss(torch.nn.CrossEntropyLoss())
    torch.manual_seed(1)
    h_tripled = cls(tripled, eps=0.1, verbose=False, **kwargs).fit(x, y, nb_epochs=1, batch_size=48)
    torch.manual_seed(1)
    h_plain = cls(plain, eps=0.1, verbose=False, **kwargs).fit(x, y, nb_epochs=1, batch_size=48)
    if cls is art_accel.AdversarialTrainerFree:  # 2 replays: the second one's input depends on the first update
        assert h_tripled["loss"][0] != pytest.approx(h_plain["loss"][0], rel=0.5)
    else:
        assert h_tripled["loss"][0] == pytest.approx(3 * h_plain["loss"][0], rel=1e-5)
    w3, w1 = tripled.model.state_dict(), plain.model.state_dict()
    assert not all(torch.equal(w3[k], w1[k]) for k in w1)


def test_trades_and_mart_warn_that_they_use_their_own_loss():
    with pytest.warns(UserWarning, match="own loss"):
        art_accel.AdversarialTrainerTRADES(_with_loss(torch.nn.CrossEntropyLoss(label_smoothing=0.2)), eps=0.1)
    with pytest.warns(UserWarning, match="own loss"):
        art_accel.AdversarialTrainerMART(_with_loss(torch.nn.NLLLoss()), eps=0.1)


def test_a_loss_that_rejects_class_indices_is_found_before_training():
    x, y = _data()
    t = art_accel.AdversarialTrainerPGD(_with_loss(torch.nn.MSELoss()), eps=0.1, verbose=False)
    with pytest.raises(ValueError, match="loss"):
        t.fit(x, y, nb_epochs=1)


@pytest.mark.parametrize("cls,name", [
    (art_accel.AdversarialTrainerATAS, "max_iter"), (art_accel.AdversarialTrainerATAS, "eps_step"),
    (art_accel.AdversarialTrainerFGSM, "max_iter"), (art_accel.AdversarialTrainerFree, "max_iter"),
    (art_accel.AdversarialTrainerAmata, "eps_step"), (art_accel.AdversarialTrainerMPlus, "max_iter"),
    (art_accel.AdversarialTrainerDEAT, "max_iter"), (art_accel.AdversarialTrainerATTA, "max_iter"),
])
def test_arts_common_arguments_are_rejected_with_what_to_use(cls, name):
    with pytest.raises(TypeError, match=rf"{name}: .+"):
        cls(_classifier(), eps=0.1, **{name: 3})


def test_atas_config_does_not_record_an_unused_eps_step():
    h = art_accel.AdversarialTrainerATAS(_classifier(), eps=0.1, verbose=False).fit(*_data(), nb_epochs=1)
    assert h.config["eps_step"] is None
    assert np.isclose(art_accel.AdversarialTrainerATTA(_classifier(), eps=0.1, verbose=False).fit(
        *_data(), nb_epochs=1).config["eps_step"], 0.05)


def test_callback_early_stopping_and_best_checkpoint(tmp_path):
    x, y = _data()
    seen = []
    t = art_accel.AdversarialTrainerPGD(_classifier(), eps=0.1, max_iter=1, verbose=False)
    h = t.fit(x, y, nb_epochs=3, validation_data=(x[:16], y[:16]), validation_max_iter=1,
              callbacks=lambda trainer, record: seen.append(record["epoch"]) or record["epoch"] == 1)
    assert seen == [0, 1] and len(h) == 2  # the callback stopped training after epoch 1
    path = tmp_path / "best.pt"
    t2 = art_accel.AdversarialTrainerPGD(_classifier(), eps=0.1, max_iter=1, verbose=False)
    h2 = t2.fit(x, y, nb_epochs=4, validation_data=(x[:16], y[:16]), validation_max_iter=1,
                best_checkpoint_path=str(path), early_stopping=1)
    robust = h2["val_robust_accuracy"]
    best_epoch = max(range(len(robust)), key=lambda e: (robust[e], -e))
    saved = torch.load(path, weights_only=True)["payload"]
    assert saved["epoch"] == best_epoch
    # early stopping: training stops the first epoch that does not improve on the best
    firsts = [e for e in range(1, len(robust)) if robust[e] <= max(robust[:e])]
    assert len(h2) == (firsts[0] + 1 if firsts else 4)
    with pytest.raises(ValueError, match="validation_data"):
        t2.fit(x, y, nb_epochs=1, early_stopping=2)


def test_tensorboard_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    t = art_accel.AdversarialTrainerPGD(_classifier(), eps=0.1, max_iter=1, verbose=False)
    t.fit(*_data(), nb_epochs=1, tensorboard_dir=str(tmp_path / "tb"))
    assert any(name.startswith("events") for name in __import__("os").listdir(tmp_path / "tb"))


def test_evaluate_robustness_keeps_results_before_a_failure(monkeypatch):
    from art_accel import evaluation

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(evaluation, "_autoattack", broken)
    x, y = _data()
    with pytest.raises(evaluation.EvaluationError, match="autoattack failed") as info:
        evaluation.evaluate_robustness(_classifier(), x, y, eps=0.1, attacks=("clean", "pgd2", "autoattack"))
    assert set(info.value.results) >= {"clean", "pgd2", "n_samples"}
    assert "autoattack" not in evaluation.evaluate_robustness.__defaults__[0]
