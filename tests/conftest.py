"""Shared fixtures: tiny models and synthetic data (offline, CPU, seeded)."""
import numpy as np
import pytest
import torch
from art.estimators.classification import PyTorchClassifier
from torch import nn


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", choices=("cpu", "cuda"),
                     help="device of the tests' shared classifiers (make_classifier); digests stay on the CPU")


def pytest_configure(config):
    global DEVICE_TYPE
    device = config.getoption("--device")
    if device == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError("--device cuda: torch sees no CUDA device")
    DEVICE_TYPE = "gpu" if device == "cuda" else "cpu"


#: ART's device_type for make_classifier ("cpu" unless pytest --device cuda)
DEVICE_TYPE = "cpu"


def make_classifier(model=None, preprocessing=None, lr=0.05, input_shape=(1, 8, 8), nb_classes=4, optimizer=True):
    torch.manual_seed(0)
    if model is None:
        model = nn.Sequential(
            nn.Conv2d(input_shape[0], 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(4 * input_shape[1] * input_shape[2], nb_classes),
        )
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9) if optimizer else None
    return PyTorchClassifier(
        model, loss=nn.CrossEntropyLoss(), optimizer=opt, input_shape=input_shape, nb_classes=nb_classes,
        clip_values=(0.0, 1.0), preprocessing=preprocessing, device_type=DEVICE_TYPE,
    )


@pytest.fixture
def classifier():
    return make_classifier()


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.random((40, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 4, 40)
    return x, y
