"""
Accuracy under an attack on tensors already on the device, in eval mode: what validation and the
overfitting guard measure (not training cost: their passes are counted in their own phases).
"""
from __future__ import annotations

from typing import Dict

import torch

from art_accel.accounting import Timer
from art_accel.attacks import OnDevicePGD
from art_accel.network import Network, eval_mode


def correct_under(network: Network, attack: OnDevicePGD, x: torch.Tensor, y: torch.Tensor, phase: str,
                  **options) -> torch.Tensor:
    """How many of ``x`` the model still classifies as ``y`` after ``attack`` (``options`` go to its
    ``perturb``); a device tensor, no host read."""
    x_adv = attack.perturb(x, y, **options).x_adv
    with torch.no_grad():
        return (network.logits(x_adv, phase).argmax(1) == y).sum()


def clean_and_robust(network: Network, x: torch.Tensor, y: torch.Tensor, attack: OnDevicePGD, phase: str,
                     batch_size: int = 256):
    """``(clean correct, robust correct)`` counts on ``x`` in batches, in eval mode (device tensors)."""
    correct = robust = 0
    with eval_mode(network.model):
        for start in range(0, x.shape[0], batch_size):
            xb, yb = x[start: start + batch_size], y[start: start + batch_size]
            with torch.no_grad():
                correct += (network.logits(xb, phase).argmax(1) == yb).sum()
            robust += correct_under(network, attack, xb, yb, phase)
    return correct, robust


def validation_accuracy(network: Network, x: torch.Tensor, y: torch.Tensor, eps: float,
                        max_iter: int) -> Dict[str, float]:
    """The history's ``val_accuracy`` and ``val_robust_accuracy``: clean and PGD-``max_iter`` accuracy (step
    eps/4, no random start) in eval mode, and ``val_seconds``; counted in the ``"validation"`` phase."""
    attack = OnDevicePGD(network, eps, max(eps / 4, 1e-6), max_iter, 0, phase="validation")
    with Timer(network.device) as timer:
        correct, robust = clean_and_robust(network, x, y, attack, "validation")
    n = x.shape[0]
    return {"val_accuracy": float(correct) / n, "val_robust_accuracy": float(robust) / n,
            "val_seconds": timer.seconds}
