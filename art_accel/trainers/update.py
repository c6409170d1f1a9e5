"""
The weight update every objective ends with: one optimizer step on the training loss, in train mode, with
the AMP grad scaler when there is one, optionally returning the input gradient of the same backward.
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F

from art_accel.contract import StepOutput


def custom_loss(classifier):
    """The classifier's loss unless it is plain cross-entropy (mean, no weights, no smoothing), else None."""
    loss = getattr(classifier, "_loss", None)  # ART keeps the loss there and offers no public accessor
    plain = (isinstance(loss, torch.nn.CrossEntropyLoss) and loss.weight is None and loss.reduction == "mean"
             and loss.label_smoothing == 0.0 and loss.ignore_index == -100)
    return None if plain or loss is None else loss


def training_loss(update_loss, label_smoothing: float, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``update_loss(logits, y)`` when the classifier has its own loss, else cross-entropy with the method's
    label smoothing."""
    if update_loss is not None:
        return update_loss(logits, y)
    return F.cross_entropy(logits, y, label_smoothing=label_smoothing)


def optimizer_step(network, optimizer, scaler, compute_loss: Callable[[], Tuple[torch.Tensor, torch.Tensor]],
                   x_grad: Optional[torch.Tensor] = None) -> StepOutput:
    """
    One weight update in train mode: ``compute_loss() -> (loss, logits)`` runs the counted forwards; one
    backward (also giving the gradient of ``x_grad`` when given, at no extra pass); one optimizer step.
    """
    network.model.train()
    optimizer.zero_grad(set_to_none=True)
    loss, logits = compute_loss()
    if scaler is None:
        grad = network.backward(loss, x_grad, "update")
        optimizer.step()
    else:  # float16: scaled loss; the input gradient is unscaled without a host read
        grad = network.backward(scaler.scale(loss), x_grad, "update")
        grad = None if grad is None else grad / scaler._get_scale_async()
        scaler.step(optimizer)
        scaler.update()
    return StepOutput(loss.detach(), logits.detach(), None if grad is None else grad.detach())


def grad_leaf(x: torch.Tensor, wanted: bool) -> torch.Tensor:
    """``x`` detached; requiring grad when the update must return its input gradient."""
    return x.detach().requires_grad_(True) if wanted else x.detach()
