"""
What ART's own trainers offer, ours offer with the same names and order: ``fit``, ``fit_generator``, ``predict``,
``get_classifier`` and the ``classifier`` property; checkpoints with every common torch optimizer resume
bit-exactly; one call loads a checkpoint's weights into a classifier for evaluation.
"""
import inspect

import numpy as np
import pytest
import torch
from art.defences.trainer import (
    AdversarialTrainer,
    AdversarialTrainerAWPPyTorch,
    AdversarialTrainerFBFPyTorch,
    AdversarialTrainerTRADESPyTorch,
)

import art_accel
from art_accel.checkpoint import CheckpointError
from art_accel.registry import trainer_classes

from conftest import make_classifier

ART = [AdversarialTrainer, AdversarialTrainerFBFPyTorch, AdversarialTrainerTRADESPyTorch, AdversarialTrainerAWPPyTorch]
OURS = trainer_classes()


def _public(cls):
    return {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))}


def _names(fn):
    params = inspect.signature(fn).parameters.values()
    return [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


@pytest.mark.parametrize("art", ART, ids=[c.__name__ for c in ART])
@pytest.mark.parametrize("ours", OURS, ids=[c.__name__ for c in OURS])
def test_every_public_method_of_arts_trainers_is_ours_with_its_parameters(art, ours):
    assert isinstance(inspect.getattr_static(ours, "classifier"), property)
    for name in _public(art):
        assert name in _public(ours), f"{ours.__name__} has no {name}"
        theirs, mine = _names(getattr(art, name)), _names(getattr(ours, name))
        if name == "fit_generator" and art is AdversarialTrainerAWPPyTorch:
            theirs = [n for n in theirs if n != "validation_data"]  # ours takes it by keyword (fit_loader's)
        missing = [n for n in theirs if n not in mine]
        assert missing == [], f"{ours.__name__}.{name} lacks {missing}"
        if art is not AdversarialTrainer:  # ART's base fit takes (x, y, batch_size, nb_epochs)
            assert mine[:len(theirs)] == theirs, f"{ours.__name__}.{name}: ART's order {theirs}, ours {mine}"


def test_predict_and_get_classifier_are_the_classifiers(data):
    clf = make_classifier()
    t = art_accel.AdversarialTrainerATAS(clf, eps=0.1, verbose=False)
    t.fit(*data, nb_epochs=1, batch_size=16)
    assert t.get_classifier() is clf and t.classifier is clf
    assert np.array_equal(t.predict(data[0]), clf.predict(data[0]))
    assert np.array_equal(t.predict(data[0], batch_size=7), clf.predict(data[0], batch_size=7))


OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-3),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=1e-3),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=1e-2),
}


def _with(optimizer):
    clf = make_classifier()
    clf._optimizer = OPTIMIZERS[optimizer](clf.model.parameters())  # ART keeps it there; no public setter
    return clf


@pytest.mark.parametrize("method", ["atas", "mplus"])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_checkpoints_resume_bit_exactly_with_every_optimizer(tmp_path, data, method, optimizer):
    cls = {"atas": art_accel.AdversarialTrainerATAS, "mplus": art_accel.AdversarialTrainerMPlus}[method]

    def run(epochs, **kw):
        clf = _with(optimizer)
        sched = torch.optim.lr_scheduler.StepLR(clf.optimizer, 1, gamma=0.7)
        torch.manual_seed(3)
        cls(clf, eps=0.1, nb_epochs=3, verbose=False).fit(*data, nb_epochs=epochs, batch_size=16, scheduler=sched,
                                                          **kw)
        return clf

    path = str(tmp_path / "ck.pt")
    ref = run(3)
    run(2, checkpoint_path=path)
    resumed = run(3, resume_from=path)
    a, b = ref.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = ref.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(torch.as_tensor(sa[i][k]), torch.as_tensor(sb[i][k])) for i in sa for k in sa[i])


def test_load_weights_puts_a_checkpoints_weights_into_a_classifier(tmp_path, data):
    clf = _with("adam")
    t = art_accel.AdversarialTrainerPGD(clf, eps=0.1, max_iter=1, verbose=False)
    t.fit(*data, nb_epochs=2, batch_size=16, validation_data=data, best_checkpoint_path=str(tmp_path / "best.pt"),
          checkpoint_path=str(tmp_path / "last.pt"))
    fresh = make_classifier()
    assert art_accel.load_weights(fresh, str(tmp_path / "last.pt")) == 1
    assert np.array_equal(fresh.predict(data[0]), clf.predict(data[0]))
    best = int(np.argmax(t.history["val_robust_accuracy"]))
    assert art_accel.load_weights(make_classifier(), str(tmp_path / "best.pt")) == best
    other = make_classifier(model=torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4)))
    before = {k: v.clone() for k, v in other.model.state_dict().items()}
    with pytest.raises(CheckpointError, match="load_weights: .*model has keys"):
        art_accel.load_weights(other, str(tmp_path / "last.pt"))
    assert all(torch.equal(before[k], v) for k, v in other.model.state_dict().items())
    with pytest.raises(FileNotFoundError, match="load_weights"):
        art_accel.load_weights(fresh, str(tmp_path / "none.pt"))
