"""The shared loop: inputs, labels, schedulers, data paths, history and bad input."""
import numpy as np
import pytest
import torch
from art.data_generators import NumpyDataGenerator, PyTorchDataGenerator
from torch.utils.data import DataLoader, TensorDataset

from art_accel import AdversarialTrainerFGSM, AdversarialTrainerPGD, TrainingHistory

from conftest import make_classifier


def _weights(clf):
    return torch.cat([p.detach().flatten().clone() for p in clf.model.parameters()])


def _train(x, y, seed=0, **fit_kwargs):
    clf = make_classifier()
    torch.manual_seed(seed)
    h = AdversarialTrainerPGD(clf, eps=0.1, max_iter=2, verbose=False).fit(x, y, nb_epochs=2, batch_size=16,
                                                                            **fit_kwargs)
    return _weights(clf), h


def test_index_onehot_numpy_torch_labels_train_identically(data):
    x, y = data
    w_ref, h_ref = _train(x, y)
    onehot = np.eye(4, dtype=np.float32)[y]
    for xx, yy in [(x, onehot), (torch.from_numpy(x), torch.from_numpy(y)), (x, torch.from_numpy(onehot))]:
        w, h = _train(xx, yy)
        assert torch.equal(w, w_ref)
        assert h["loss"] == h_ref["loss"]


def test_caller_data_untouched(data):
    x, y = data
    x_copy, y_copy = x.copy(), y.copy()
    xt = torch.from_numpy(x.copy())
    xt_copy = xt.clone()
    _train(x, y)
    _train(xt, y)
    assert np.array_equal(x, x_copy) and np.array_equal(y, y_copy) and torch.equal(xt, xt_copy)


def test_history_records_and_files(tmp_path, data):
    _, h = _train(*data)
    assert isinstance(h, TrainingHistory) and len(h) == 2
    for key in ("epoch", "loss", "accuracy", "seconds", "forward_passes", "backward_passes", "k", "eps", "lr"):
        assert key in h.keys()
    assert h["epoch"] == [0, 1]
    h.to_json(tmp_path / "h.json")
    h.to_csv(tmp_path / "h.csv")
    assert TrainingHistory.from_json(tmp_path / "h.json").records == h.records
    assert (tmp_path / "h.csv").read_text().splitlines()[0].startswith("epoch")
    h.plot(path=str(tmp_path / "h.png"))
    assert (tmp_path / "h.png").stat().st_size > 1000


@pytest.mark.parametrize("step,expected", [("epoch", [0.1, 0.01, 0.001]), ("batch", [0.1, 0.001, 1e-5])])
def test_lr_scheduler_per_epoch_or_per_batch(data, step, expected):
    x, y = data
    clf = make_classifier(lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(clf.optimizer, step_size=1 if step == "epoch" else 2, gamma=0.1)
    trainer = AdversarialTrainerFGSM(clf, eps=0.1, verbose=False)
    h = trainer.fit(x, y, nb_epochs=3, batch_size=10, scheduler=sched, scheduler_step=step)
    # per batch: 4 batches per epoch, step_size 2 -> x0.01 per epoch
    assert np.allclose(h["lr"], expected)


def test_reduce_on_plateau_steps_on_the_training_loss(data):
    clf = make_classifier(lr=0.1)
    # an improvement needs the loss to beat the best by 1e9: after the first epoch, none ever does
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(clf.optimizer, patience=0, factor=0.5, threshold=1e9,
                                                       threshold_mode="abs")
    h = AdversarialTrainerFGSM(clf, eps=0.1, verbose=False).fit(*data, nb_epochs=4, batch_size=10, scheduler=sched)
    assert h["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        AdversarialTrainerFGSM(clf, eps=0.1, verbose=False).fit(*data, scheduler=sched, scheduler_step="batch")


def test_scheduler_on_another_optimizer_rejected(data):
    clf = make_classifier()
    other = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(other, 1)
    with pytest.raises(ValueError, match="scheduler"):
        AdversarialTrainerFGSM(clf, eps=0.1, verbose=False).fit(*data, scheduler=sched)


def test_dataloader_and_art_generators(data):
    x, y = data
    ds = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    loader = DataLoader(ds, batch_size=16)
    clf = make_classifier()
    h = AdversarialTrainerFGSM(clf, eps=0.1, verbose=False).fit_loader(loader, nb_epochs=1)
    assert h["backward_passes"] == [2 * 3]
    h = AdversarialTrainerFGSM(clf, eps=0.1, verbose=False).fit_generator(
        PyTorchDataGenerator(loader, size=40, batch_size=16), nb_epochs=1)
    assert h["backward_passes"] == [2 * 3]
    h = AdversarialTrainerFGSM(clf, eps=0.1, verbose=False).fit_generator(
        NumpyDataGenerator(x, np.eye(4)[y], batch_size=10), nb_epochs=2)
    assert h["backward_passes"] == [2 * 4, 2 * 4]
    with pytest.raises(TypeError, match="generator"):
        AdversarialTrainerFGSM(clf, eps=0.1, verbose=False).fit_generator(loader)


def test_training_improves_a_learnable_task():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    x = np.full((200, 1, 8, 8), 0.1, dtype=np.float32)
    for c in range(4):  # class c lights up quadrant c
        r, s = divmod(c, 2)
        x[y == c, :, 4 * r : 4 * r + 4, 4 * s : 4 * s + 4] = 0.9
    clf = make_classifier(lr=0.05)
    h = AdversarialTrainerPGD(clf, eps=0.05, max_iter=3, verbose=False).fit(
        x, y, nb_epochs=6, batch_size=20, validation_data=(x[:50], y[:50]))
    assert h["loss"][-1] < h["loss"][0]
    assert h[-1]["val_robust_accuracy"] >= 0.9


BAD = [
    (dict(x=np.zeros((4, 1, 7, 8), np.float32)), ValueError, "x must have shape"),
    (dict(x=np.full((4, 1, 8, 8), np.nan, np.float32)), ValueError, "NaN"),
    (dict(x=np.full((4, 1, 8, 8), 255.0, np.float32)), ValueError, "clip_values"),
    (dict(y=np.array([0, 1, 2, 4])), ValueError, "class indices"),
    (dict(y=np.array([0, 1, 2])), ValueError, "3 labels but x has 4"),
    (dict(y=np.full((4, 4), 0.25)), ValueError, "one-hot"),
    (dict(x=[[0.0]]), TypeError, "x must be a numpy array"),
]


@pytest.mark.parametrize("override,err,match", BAD)
def test_bad_data_rejected_before_training(override, err, match):
    clf = make_classifier()
    w0 = _weights(clf)
    args = dict(x=np.zeros((4, 1, 8, 8), np.float32), y=np.array([0, 1, 2, 3]))
    args.update(override)
    with pytest.raises(err, match=match):
        AdversarialTrainerPGD(clf, eps=0.1, verbose=False).fit(args["x"], args["y"])
    assert torch.equal(_weights(clf), w0)


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(eps=-0.1), ValueError, "eps must be >= 0"),
    (dict(eps=0.1, eps_step=0.0), ValueError, "eps_step"),
    (dict(eps=0.1, max_iter=-2), ValueError, "max_iter"),
    (dict(eps=0.1, max_iter=1.5), TypeError, "max_iter"),
    (dict(eps=float("nan")), ValueError, "eps must be finite"),
    (dict(eps=0.1, attack_mode="test"), ValueError, "attack_mode"),
    (dict(eps=0.1, num_random_init=3), ValueError, "num_random_init"),
])
def test_bad_parameters_rejected(kwargs, err, match):
    with pytest.raises(err, match=match):
        AdversarialTrainerPGD(make_classifier(), verbose=False, **kwargs)


def test_not_a_pytorch_classifier_rejected():
    with pytest.raises(TypeError, match="classifier must be"):
        AdversarialTrainerPGD(object(), eps=0.1)


def test_missing_optimizer_and_unknown_option(data):
    with pytest.raises(ValueError, match="optimizer"):
        AdversarialTrainerPGD(make_classifier(optimizer=False), eps=0.1, verbose=False).fit(*data)
    with pytest.raises(TypeError, match="unexpected keyword"):
        AdversarialTrainerPGD(make_classifier(), eps=0.1, verbose=False).fit(*data, nb_epoch=3)


def test_unsupported_preprocessing_defence_rejected():
    from art.defences.preprocessor import FeatureSqueezing

    clf = make_classifier()
    clf.preprocessing_operations.insert(0, FeatureSqueezing(clip_values=(0, 1)))
    with pytest.raises(TypeError, match="FeatureSqueezing"):
        AdversarialTrainerPGD(clf, eps=0.1)


@pytest.mark.parametrize("make", [
    lambda clf: AdversarialTrainerPGD(clf, eps=0.1, max_iter=2, verbose=False),
    lambda clf: __import__("art_accel").AdversarialTrainerATAS(clf, eps=0.1, warmup_epochs=1, verbose=False),
    lambda clf: __import__("art_accel").AdversarialTrainerMPlus(clf, eps=0.1, base="free", gamma=0.5,
                                                                verbose=False),
])
def test_checkpoint_resume_equals_uninterrupted_training(tmp_path, data, make):
    x, y = data
    path = str(tmp_path / "ckpt.pt")
    clf = make_classifier()
    torch.manual_seed(1)
    full = make(clf).fit(x, y, nb_epochs=4, batch_size=16, shuffle=False)
    w_full = _weights(clf)

    clf = make_classifier()
    torch.manual_seed(1)
    make(clf).fit(x, y, nb_epochs=2, batch_size=16, shuffle=False, checkpoint_path=path)
    clf2 = make_classifier()  # a fresh process: new model, new trainer
    torch.manual_seed(123)
    resumed = make(clf2).fit(x, y, nb_epochs=4, batch_size=16, shuffle=False, resume_from=path)
    assert torch.allclose(_weights(clf2), w_full, atol=1e-6)
    assert resumed["epoch"] == [0, 1, 2, 3]
    assert resumed["loss"] == pytest.approx(full["loss"], rel=1e-5)
    assert resumed["k"] == full["k"]


def test_bad_resume_rejected(tmp_path, data):
    with pytest.raises(FileNotFoundError, match="resume_from"):
        AdversarialTrainerPGD(make_classifier(), eps=0.1, verbose=False).fit(*data, resume_from="/nope.pt")
    path = str(tmp_path / "c.pt")
    AdversarialTrainerPGD(make_classifier(), eps=0.1, max_iter=1, verbose=False).fit(
        *data, nb_epochs=1, checkpoint_path=path)
    with pytest.raises(ValueError, match="method"):
        AdversarialTrainerFGSM(make_classifier(), eps=0.1, verbose=False).fit(*data, resume_from=path)
