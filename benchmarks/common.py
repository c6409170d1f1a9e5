"""Helpers shared by the benchmark scripts: machine description, data, classifiers, medians."""
from __future__ import annotations

import os
import platform
import statistics
import sys
from typing import Dict, List

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from art_accel.data import Dataset, load_mnist5k, load_npz  # noqa: E402


def machine_info() -> Dict[str, str]:
    """CPU model, core count, torch/ART versions, torch threads and the host's boot, for the report header."""
    import art

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "art": art.__version__,
        "python": platform.python_version(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "host": host_id(),
    }


def host_id() -> str:
    """The first 8 characters of the kernel's boot id: sessions here run on fresh machines that can share a CPU
    label at different speeds, so runs are compared by time only within one boot. ``"unknown"`` off Linux."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="utf-8") as f:
            return f.read().strip()[:8] or "unknown"
    except OSError:
        return "unknown"


def load_mnist(data_dir: str | None) -> Dataset:
    """Full MNIST from ``DATA_DIR/mnist.npz`` when given, else the embedded MNIST-5k."""
    if data_dir:
        return load_npz(os.path.join(data_dir, "mnist.npz"), "mnist")
    return load_mnist5k()


def load_cifar_subset(data_dir: str) -> Dataset:
    """The exact CIFAR-10 4k/1k subset (``DATA_DIR/cifar10_exact_subset.npz``)."""
    return load_npz(os.path.join(data_dir, "cifar10_exact_subset.npz"), "cifar10-subset")


def median(values: List[float]) -> float:
    return float(statistics.median(values))


def spread(values: List[float]) -> str:
    return f"{min(values):.3f}-{max(values):.3f}"


def one_hot(y: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[y]
