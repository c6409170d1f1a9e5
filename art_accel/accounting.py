"""
Exact accounting of whole-network forward and backward passes, and epoch timers.

A *forward pass* is one evaluation of the network on one batch. A *backward pass* is one backpropagation
through the graph of one such forward, whether it yields input gradients, parameter gradients or both.
TRADES' update, for example, back-propagates through two forwards (clean and adversarial): two backward
passes. Counts are plain Python integers incremented by the engine, so counting never synchronises the
device.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict

import torch

from art_accel import distributed

#: Phases that count as training cost. Validation passes are kept apart.
TRAINING_PHASES = ("attack", "update")


@dataclass
class PassCounter:
    """
    Forward and backward pass counts, per phase (``"attack"``, ``"update"``, ``"validation"``, ...).
    """

    forward: Dict[str, int] = field(default_factory=dict)
    backward: Dict[str, int] = field(default_factory=dict)

    def add_forward(self, phase: str, n: int = 1) -> None:
        self.forward[phase] = self.forward.get(phase, 0) + n

    def add_backward(self, phase: str, n: int = 1) -> None:
        self.backward[phase] = self.backward.get(phase, 0) + n

    def training_forward(self) -> int:
        """Forward passes spent on training (attack + update)."""
        return sum(self.forward.get(p, 0) for p in TRAINING_PHASES)

    def training_backward(self) -> int:
        """Backward passes spent on training (attack + update)."""
        return sum(self.backward.get(p, 0) for p in TRAINING_PHASES)

    def snapshot(self) -> "PassCounter":
        return PassCounter(dict(self.forward), dict(self.backward))

    def since(self, earlier: "PassCounter") -> "PassCounter":
        """Counts accumulated after ``earlier`` (a snapshot of this counter)."""
        fwd = {k: v - earlier.forward.get(k, 0) for k, v in self.forward.items()}
        bwd = {k: v - earlier.backward.get(k, 0) for k, v in self.backward.items()}
        return PassCounter(fwd, bwd)


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on ``device`` so that wall times are real (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timer:
    """
    Wall-clock timer that synchronises the device at start and stop.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self._start = 0.0
        self.seconds = 0.0

    def __enter__(self) -> "Timer":
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._start


class RunningStats:
    """
    Mean, min and max of per-sample values over an epoch, accumulated in device tensors and read once.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.reset()

    def reset(self) -> None:
        self._sum = torch.zeros((), device=self.device, dtype=torch.float64)
        self._min = torch.full((), float("inf"), device=self.device)
        self._max = torch.full((), float("-inf"), device=self.device)
        self._count = 0

    def update(self, values: torch.Tensor) -> None:
        values = values.detach().reshape(-1).float()
        self._sum += values.sum(dtype=torch.float64)
        self._min = torch.minimum(self._min, values.min())
        self._max = torch.maximum(self._max, values.max())
        self._count += values.numel()

    def read(self, prefix: str, shard=None) -> Dict[str, float]:
        """``{prefix_mean, prefix_min, prefix_max}`` (None when nothing was added), then reset; under
        DistributedDataParallel (``shard`` given) over every rank's values."""
        if shard is not None:
            local = torch.stack([self._sum, torch.tensor(float(self._count), dtype=torch.float64, device=self.device),
                                 self._min.double(), self._max.double()])
            rows = distributed.gather_rows(local[None], shard)
            self._sum, self._count = rows[:, 0].sum(), int(rows[:, 1].sum())
            self._min, self._max = rows[:, 2].min().float(), rows[:, 3].max().float()
        if self._count == 0:
            out = {f"{prefix}_mean": None, f"{prefix}_min": None, f"{prefix}_max": None}
        else:
            out = {f"{prefix}_mean": float(self._sum) / self._count, f"{prefix}_min": float(self._min),
                   f"{prefix}_max": float(self._max)}
        self.reset()
        return out


class EpochMeter:
    """An epoch's training loss and accuracy accumulated in device tensors; read once per epoch."""

    def __init__(self, device: torch.device):
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device, dtype=torch.int64)
        self.count = 0

    def add(self, out, y: torch.Tensor) -> None:
        """Add one update's ``StepOutput`` (its mean loss and logits) for labels ``y``."""
        n = y.shape[0]
        self.loss += out.loss.detach() * n
        self.correct += (out.logits.detach().argmax(1) == y).sum()
        self.count += n

    def read(self) -> Dict[str, float]:
        n = max(self.count, 1)
        return {"loss": float(self.loss) / n, "accuracy": float(self.correct) / n}
