"""
A corpus of bad and edge-case inputs through every entry point (constructors, ``fit``, ``fit_loader``,
``fit_generator``, ``evaluate_robustness``, ``resume_from``). Each case names its expected outcome: a clear
error of the given type whose message names the argument, raised before any training step, with the
caller's arrays and the classifier (weights and optimizer state) unchanged; or training that works.
"""
import copy
import os

import numpy as np
import pytest
import torch
from art.data_generators import NumpyDataGenerator
from torch.utils.data import DataLoader, TensorDataset

import art_accel
from art_accel.parts import MPlusSteps

from conftest import make_classifier

N = 24
RNG = np.random.default_rng(0)
X = RNG.random((N, 1, 8, 8), dtype=np.float32)
Y = RNG.integers(0, 4, N)
H = dict(h_low=0.5, h_high=1.2)

TRAINERS = {
    "pgd": lambda clf, **kw: art_accel.AdversarialTrainerPGD(clf, **{"eps": 0.1, "max_iter": 1, **kw}),
    "fgsm": lambda clf, **kw: art_accel.AdversarialTrainerFGSM(clf, **{"eps": 0.1, **kw}),
    "atas": lambda clf, **kw: art_accel.AdversarialTrainerATAS(clf, **{"eps": 0.1, **kw}),
    "mplus": lambda clf, **kw: art_accel.AdversarialTrainerMPlus(clf, **{"eps": 0.1, **kw}),
    "ecas": lambda clf, **kw: art_accel.AdversarialTrainerECAS(clf, **{"eps": 0.1, "max_iter": 1, **H, **kw}),
    "amata": lambda clf, **kw: art_accel.AdversarialTrainerAmata(clf, **{"eps": 0.1, "k_max": 2, **kw}),
    "gaat": lambda clf, **kw: art_accel.AdversarialTrainerGAAT(clf, **{"eps": 0.1, "max_iter": 2, **kw}),
    "trades": lambda clf, **kw: art_accel.AdversarialTrainerTRADES(clf, **{"eps": 0.1, "max_iter": 1, **kw}),
}


def _state(clf):
    return ({k: v.clone() for k, v in clf.model.state_dict().items()}, copy.deepcopy(clf.optimizer.state_dict()))


def _unchanged(clf, before) -> bool:
    model, opt = _state(clf)
    return all(torch.equal(model[k], before[0][k]) for k in model) and str(opt) == str(before[1])


# ---------------------------------------------------------------- constructors (8 trainers x 12)

CONSTRUCTOR = [
    (dict(eps=float("nan")), ValueError, "eps"),
    (dict(eps=float("inf")), ValueError, "eps"),
    (dict(eps=-0.1), ValueError, "eps"),
    (dict(eps="0.1"), TypeError, "eps"),
    (dict(eps=8), ValueError, "eps=8"),  # ART's 0..255 units with clip_values (0, 1)
    (dict(eps=True), TypeError, "eps"),
    (dict(nb_epochs=0), ValueError, "nb_epochs"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=2.5), TypeError, "batch_size"),
    (dict(attack_mode="test"), ValueError, "attack_mode"),
    (dict(augmentation="crop"), TypeError, "augmentation"),
    (dict(bogus=1), TypeError, "bogus"),
]


@pytest.mark.parametrize("trainer", sorted(TRAINERS))
@pytest.mark.parametrize("kwargs,err,match", CONSTRUCTOR, ids=[f"{list(c[0])[0]}={c[0][list(c[0])[0]]!r}"
                                                               for c in CONSTRUCTOR])
def test_constructor(trainer, kwargs, err, match):
    clf = make_classifier()
    before = _state(clf)
    with pytest.raises(err, match=match):
        TRAINERS[trainer](clf, verbose=False, **kwargs)
    assert _unchanged(clf, before)


def test_half_the_clip_range_warns():
    with pytest.warns(UserWarning, match="half"):
        art_accel.AdversarialTrainerPGD(make_classifier(), eps=0.6, verbose=False)


# ---------------------------------------------------------------- fit (3 trainers x 24)

FIT = [
    (dict(x=[[0.0]]), TypeError, "x must be a numpy array"),
    (dict(x=X[:, :, :7]), ValueError, "x must have shape"),
    (dict(x=X.transpose(0, 2, 3, 1)), ValueError, "x must have shape"),
    (dict(x=np.where(X > 0.5, np.nan, X)), ValueError, "NaN"),
    (dict(x=np.where(X > 0.5, np.inf, X)), ValueError, "NaN or inf"),
    (dict(x=X * 255), ValueError, "clip_values"),
    (dict(x=X - 0.5), ValueError, "clip_values"),
    (dict(x=X[:0], y=Y[:0]), ValueError, "empty"),
    (dict(y=Y[:-1]), ValueError, "labels but x has"),
    (dict(y=Y + 1), ValueError, "class indices"),
    (dict(y=Y - 1), ValueError, "class indices"),
    (dict(y=Y + 0.5), ValueError, "whole numbers"),
    (dict(y=np.full((N, 4), 0.25)), ValueError, "one-hot"),
    (dict(y=np.eye(5)[Y]), ValueError, "one-hot labels must have 4 columns"),
    (dict(y="abc"), TypeError, "y must be"),
    (dict(nb_epochs=0), ValueError, "nb_epochs"),
    (dict(batch_size=-1), ValueError, "batch_size"),
    (dict(shuffle="yes"), TypeError, "shuffle"),
    (dict(validation_data=X), ValueError, "validation_data"),
    (dict(validation_data=(X, Y[:3])), ValueError, "y_val"),
    (dict(scheduler_step="step"), ValueError, "scheduler_step"),
    (dict(scheduler="cosine"), TypeError, "scheduler"),
    (dict(checkpoint_path="/no/such/folder/c.pt"), ValueError, "checkpoint_path"),
    (dict(resume_from="/no/such/c.pt"), FileNotFoundError, "resume_from"),
    (dict(resume_from=3), TypeError, "resume_from"),
    (dict(validation_max_iter=-1), ValueError, "validation_max_iter"),
    (dict(epochs=3), TypeError, "epochs"),
]


@pytest.mark.parametrize("trainer", ["pgd", "atas", "ecas"])
@pytest.mark.parametrize("override,err,match", FIT, ids=[f"{list(c[0])[0]}-{i}" for i, c in enumerate(FIT)])
def test_fit(trainer, override, err, match):
    clf = make_classifier()
    before = _state(clf)
    args = dict(x=X.copy(), y=Y.copy(), nb_epochs=1, batch_size=8)
    args.update(override)
    copies = {k: v.copy() for k, v in args.items() if isinstance(v, np.ndarray)}
    t = TRAINERS[trainer](clf, verbose=False)
    with pytest.raises(err, match=match):
        t.fit(args.pop("x"), args.pop("y"), **args)
    assert t.counter.training_backward() == 0
    assert _unchanged(clf, before)
    for k, v in copies.items():
        assert np.array_equal(override.get(k, v) if k in override else v, v, equal_nan=True)


def test_scheduler_on_another_optimizer():
    clf, other = make_classifier(), make_classifier()
    sched = torch.optim.lr_scheduler.StepLR(other.optimizer, 1)
    with pytest.raises(ValueError, match="scheduler must be built on the classifier's optimizer"):
        TRAINERS["pgd"](clf, verbose=False).fit(X, Y, scheduler=sched)


# ---------------------------------------------------------------- fit_loader and fit_generator (3 trainers x 14)

def _loader(x=X, y=Y, index=True, batch_size=8, **kw):
    tensors = [torch.as_tensor(x), torch.as_tensor(y)]
    if index is True:
        tensors.append(torch.arange(len(y)))
    elif index is not None:
        tensors.append(torch.as_tensor(index))
    return DataLoader(TensorDataset(*tensors), batch_size=batch_size, **kw)


LOADER = [
    (lambda: _loader(x=(X * 255).astype(np.uint8)), ValueError, "floating point"),
    (lambda: _loader(x=X * 255), ValueError, "clip_values"),
    (lambda: _loader(x=np.where(X > 0.9, np.nan, X)), ValueError, "NaN"),
    (lambda: _loader(y=Y + 1), ValueError, "class indices"),
    (lambda: _loader(x=X.transpose(0, 2, 3, 1)), ValueError, "shape"),
    (lambda: [(X[:8], Y[:7], np.arange(8))], ValueError, "8 inputs and 7 labels"),
    (lambda: [(X[:8],)], ValueError, r"\(x, y\)"),
    (lambda: [X[:8]], ValueError, r"\(x, y\)"),
    (lambda: [], ValueError, "empty"),
    (lambda: ((X[i:i + 8], Y[i:i + 8], np.arange(i, i + 8)) for i in range(0, N, 8)), ValueError, "one-shot"),
    (lambda: [(X[:8].tolist(), Y[:8], np.arange(8))], TypeError, "x must be a numpy array"),
    (lambda: _loader(index=np.arange(N) + 0.5), ValueError, "index"),
    (lambda: _loader(index=np.arange(N) + N), ValueError, r"index must be dataset positions in \[0, 24\)"),
    (lambda: _loader(index=np.zeros(N, np.int64)), ValueError, "repeats"),
]


@pytest.mark.parametrize("trainer", ["pgd", "atas", "gaat"])
@pytest.mark.parametrize("make,err,match", LOADER, ids=[f"loader-{i}" for i in range(len(LOADER))])
def test_fit_loader(trainer, make, err, match):
    clf = make_classifier()
    before = _state(clf)
    t = TRAINERS[trainer](clf, verbose=False)
    loader = make()
    if trainer != "atas" and ("index" in match or "repeats" in match):
        pytest.skip("indices are checked only by trainers with per-sample state")
    if trainer == "atas" and isinstance(loader, list) and loader:
        err, match = ValueError, "per-sample state"  # a list has no data set size: said before any batch
    with pytest.raises(err, match=match):
        t.fit_loader(loader, nb_epochs=2)
    assert _unchanged(clf, before)


def test_atas_loader_without_index():
    with pytest.raises(ValueError, match="per-sample state"):
        TRAINERS["atas"](make_classifier(), verbose=False).fit_loader(_loader(index=None), nb_epochs=1)


def test_nan_in_a_later_batch_is_reported_at_epoch_end_and_weights_restored():
    clf = make_classifier()
    before = _state(clf)
    x = X.copy()
    x[-1, 0, 0, 0] = np.nan  # the last batch only: the first batch passes its full check
    with pytest.raises(ValueError, match="epoch 0: x has NaN"):
        TRAINERS["pgd"](clf, verbose=False).fit_loader(_loader(x=x), nb_epochs=1)
    assert _unchanged(clf, before)


def test_fit_generator_checks_batches():
    gen = NumpyDataGenerator((X * 255).astype(np.float32), Y, batch_size=8, shuffle=False)
    clf = make_classifier()
    before = _state(clf)
    with pytest.raises(ValueError, match="clip"):
        TRAINERS["pgd"](clf, verbose=False).fit_generator(gen, nb_epochs=1)
    assert _unchanged(clf, before)
    with pytest.raises(TypeError, match="generator"):
        TRAINERS["pgd"](clf, verbose=False).fit_generator([(X, Y)], nb_epochs=1)


def test_batchnorm_lone_last_sample():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.BatchNorm2d(2), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(128, 4))
    with pytest.raises(ValueError, match="drop_last"):
        TRAINERS["pgd"](make_classifier(model=model), verbose=False).fit_loader(
            _loader(x=X[:17], y=Y[:17], index=None, batch_size=8), nb_epochs=1)
    # fit() merges the lone sample into the previous batch: 17 samples, batch 8 -> batches of 8 and 9
    h = TRAINERS["pgd"](make_classifier(model=model), verbose=False).fit(X[:17], Y[:17], nb_epochs=1, batch_size=8)
    assert h["backward_passes"] == [2 * 2]


# ---------------------------------------------------------------- model and evaluation (9)

def test_model_output_width_checked_before_training():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    with pytest.raises(ValueError, match="nb_classes"):
        TRAINERS["pgd"](make_classifier(model=model), verbose=False).fit(X, Y)


def test_model_that_rejects_the_input_shape():
    clf = make_classifier(model=torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(63, 4)))
    with pytest.raises(ValueError, match="input_shape"):
        TRAINERS["pgd"](clf, verbose=False).fit(X, Y)


EVALUATE = [
    (dict(eps=8), ValueError, "eps=8"),
    (dict(eps=float("nan")), ValueError, "eps"),
    (dict(n_samples=0), ValueError, "n_samples"),
    (dict(n_samples=-3), ValueError, "n_samples"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(attacks=("pgd20", "fgsmx")), ValueError, "attacks"),
    (dict(x=X[:, :, :7]), ValueError, "x must have shape"),
]


@pytest.mark.parametrize("override,err,match", EVALUATE)
def test_evaluate_robustness(override, err, match):
    clf = make_classifier()
    args = dict(x=X, y=Y, eps=0.1, attacks=("clean",))
    args.update(override)
    with pytest.raises(err, match=match):
        art_accel.evaluate_robustness(clf, args.pop("x"), args.pop("y"), **args)


# ---------------------------------------------------------------- resume_from (12)

def _checkpoint(tmp_path, make=TRAINERS["pgd"], x=X, y=Y):
    path = str(tmp_path / "c.pt")
    make(make_classifier(), verbose=False).fit(x, y, nb_epochs=1, batch_size=8, checkpoint_path=path)
    return path


def _corrupt(kind, tmp_path):
    path = _checkpoint(tmp_path)
    data = open(path, "rb").read()
    if kind == "truncated":
        open(path, "wb").write(data[: len(data) // 2])
    elif kind == "empty":
        open(path, "wb").write(b"")
    elif kind == "text":
        open(path, "w").write('{"model": 1}')
    elif kind == "flipped":
        payload = torch.load(path, weights_only=True)
        payload["payload"]["model"]["0.weight"].view(-1)[0] += 1e28
        torch.save(payload, path)
    elif kind == "plain_dict":
        torch.save({"model": make_classifier().model.state_dict()}, path)
    return path


@pytest.mark.parametrize("kind,match", [
    ("truncated", "not a readable"), ("empty", "not a readable"), ("text", "not a readable"),
    ("flipped", "checksum"), ("plain_dict", "not an art-accel checkpoint"),
])
def test_damaged_checkpoints(tmp_path, kind, match):
    path = _corrupt(kind, tmp_path)
    clf = make_classifier()
    before = _state(clf)
    with pytest.raises(ValueError, match=f"resume_from.*{match}"):
        TRAINERS["pgd"](clf, verbose=False).fit(X, Y, nb_epochs=2, resume_from=path)
    assert _unchanged(clf, before)


@pytest.mark.parametrize("make,data,match", [
    (lambda clf, **kw: art_accel.AdversarialTrainerPGD(
        make_classifier(model=torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))), eps=0.1,
        max_iter=1, **kw), None, "model"),
    (TRAINERS["fgsm"], None, "method"),
    (lambda clf, **kw: TRAINERS["pgd"](clf, eps=0.2, **kw), None, "eps=0.1"),
    (TRAINERS["atas"], (X[:16], Y[:16]), "24 samples"),
    (lambda clf, **kw: TRAINERS["pgd"](clf, max_iter=2, **kw), None, "max_iter"),
])
def test_checkpoint_of_another_trainer(tmp_path, make, data, match):
    base = TRAINERS["atas"] if match == "24 samples" else TRAINERS["pgd"]
    path = _checkpoint(tmp_path, base)
    clf = make_classifier()
    trainer = make(clf, verbose=False)
    clf = trainer.get_classifier()
    before = _state(clf)
    x, y = data if data is not None else (X, Y)
    with pytest.raises(ValueError, match=match):
        trainer.fit(x, y, nb_epochs=2, batch_size=8, resume_from=path)
    assert _unchanged(clf, before)


def test_a_crafted_checkpoint_cannot_execute_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = str(tmp_path / "evil.pt")
    torch.save({"payload": Evil(), "checksum": "x"}, path)
    with pytest.raises(ValueError, match="resume_from"):
        TRAINERS["pgd"](make_classifier(), verbose=False).fit(X, Y, resume_from=path)
    assert not marker.exists()


def test_composed_trainers_accept_good_input():
    """The edge cases that must work: one-hot float labels, torch inputs, a batch larger than the data set."""
    t = art_accel.AdversarialTrainerMPlus(make_classifier(), eps=0.1, schedule=None, verbose=False)
    h = t.fit(torch.from_numpy(X), np.eye(4, dtype=np.float32)[Y], nb_epochs=2, batch_size=100)
    assert len(h) == 2 and h["backward_passes"] == [1, 2]
    with pytest.raises(ValueError, match="one k schedule"):
        art_accel.AdversarialTrainerMPlus(make_classifier(), eps=0.1, schedule=MPlusSteps())


# ---------------------------------------------------------------- batch size 1 with BatchNorm, dtypes, schedulers

BATCHNORMS = {
    "1d": lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 8), torch.nn.BatchNorm1d(8),
                                      torch.nn.ReLU(), torch.nn.Linear(8, 4)),
    "2d": lambda: torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                      torch.nn.Flatten(), torch.nn.Linear(256, 4)),
    "3d": lambda: torch.nn.Sequential(torch.nn.Unflatten(1, (1, 1)), torch.nn.Conv3d(1, 2, 1),
                                      torch.nn.BatchNorm3d(2), torch.nn.Flatten(), torch.nn.Linear(128, 4)),
    "sync": lambda: torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.SyncBatchNorm(4),
                                        torch.nn.Flatten(), torch.nn.Linear(256, 4)),
}


class _Generator(NumpyDataGenerator):
    pass


@pytest.mark.parametrize("kind", sorted(BATCHNORMS))
@pytest.mark.parametrize("entry", ["fit", "fit_loader", "fit_generator"])
def test_batch_size_one_with_batchnorm_is_refused_naming_the_argument(kind, entry):
    clf = make_classifier(model=BATCHNORMS[kind]())
    before = _state(clf)
    t = TRAINERS["pgd"](clf, verbose=False)
    x, y = X.copy(), Y.copy()
    if entry == "fit":
        call, name = lambda: t.fit(x, y, nb_epochs=1, batch_size=1), "batch_size is 1"
    elif entry == "fit_loader":
        call, name = lambda: t.fit_loader(_loader(batch_size=1), nb_epochs=1), "loader.batch_size is 1"
    else:
        gen = _Generator(x, np.eye(4)[y], batch_size=1)
        call, name = lambda: t.fit_generator(gen, nb_epochs=1), "generator.batch_size is 1"
    with pytest.raises(ValueError, match=name + ".*BatchNorm"):
        call()
    assert t.counter.training_backward() == 0 and _unchanged(clf, before)
    assert np.array_equal(x, X) and np.array_equal(y, Y)


@pytest.mark.parametrize("override,match", [
    (dict(x=X.astype(object)), "x must hold numbers.*object"),
    (dict(y=Y.astype(str)), "y must hold numbers.*<U"),
    (dict(y=Y.astype(object)), "y must hold numbers"),
    (dict(x=X.astype(np.complex64)), "x must hold numbers.*complex"),
    (dict(validation_data=(X.astype(object), Y)), "x_val must hold numbers"),
], ids=["x-object", "y-str", "y-object", "x-complex", "x_val-object"])
def test_dtypes_torch_cannot_take_are_refused_naming_the_argument(override, match):
    clf = make_classifier()
    before = _state(clf)
    t = TRAINERS["fgsm"](clf, verbose=False)
    args = {**dict(x=X, y=Y, nb_epochs=1, batch_size=8), **override}
    with pytest.raises(TypeError, match=match):
        t.fit(args.pop("x"), args.pop("y"), **args)
    assert t.counter.training_backward() == 0 and _unchanged(clf, before)


def test_big_endian_inputs_train_as_their_native_values():
    runs = []
    for x, y in ((X, Y), (X.astype(">f4"), Y.astype(">i8"))):
        clf = make_classifier()
        torch.manual_seed(0)
        TRAINERS["fgsm"](clf, verbose=False).fit(x, y, nb_epochs=1, batch_size=8)
        runs.append(clf.model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


@pytest.mark.parametrize("step,total,needed", [("batch", 5, 6), ("epoch", 1, 2)])
def test_a_one_cycle_schedule_too_short_for_the_run_is_refused_before_the_first_step(step, total, needed):
    clf = make_classifier()
    sched = torch.optim.lr_scheduler.OneCycleLR(clf.optimizer, max_lr=0.1, total_steps=total)
    before = _state(clf)  # after the scheduler set the optimizer's starting LR
    t = TRAINERS["fgsm"](clf, verbose=False)
    epochs = 2 if step == "epoch" else 1  # 24 samples, batch 4: 6 batches per epoch
    with pytest.raises(ValueError, match=f"OneCycleLR has {total} steps left .* {needed} times"):
        t.fit(X, Y, nb_epochs=epochs, batch_size=4, scheduler=sched, scheduler_step=step)
    assert t.counter.training_backward() == 0 and _unchanged(clf, before)
    ok = torch.optim.lr_scheduler.OneCycleLR(clf.optimizer, max_lr=0.1, total_steps=needed)
    t.fit(X, Y, nb_epochs=epochs, batch_size=4, scheduler=ok, scheduler_step=step)  # exactly enough: trains
