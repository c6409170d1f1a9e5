"""
The classifier's network as the engine sees it: ART mean/std preprocessing applied in torch on the
device, and every whole-network forward and backward pass counted.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
import torch

from art_accel.accounting import PassCounter


def _mean_std(classifier) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """Return (mean, std) of the classifier's ART standardisation, or (None, None); reject other defences."""
    ops = list(getattr(classifier, "preprocessing_operations", []) or [])
    mean = std = None
    for op in ops:
        name = type(op).__name__
        if name.startswith("StandardisationMeanStd"):
            mean, std = np.asarray(op.mean, dtype=np.float32), np.asarray(op.std, dtype=np.float32)
        else:
            raise TypeError(
                f"classifier: preprocessing operation {name} is not supported; art-accel applies only ART's "
                "mean/std standardisation (preprocessing=(mean, std)) on the device."
            )
    return mean, std


def _as_broadcast(values: np.ndarray, input_shape: Sequence[int], device: torch.device) -> torch.Tensor:
    """Shape a mean/std array so it broadcasts against a (N, *input_shape) batch, channels first."""
    t = torch.as_tensor(values, dtype=torch.float32, device=device)
    if t.numel() == 1:
        return t.reshape(())
    if len(input_shape) >= 1 and t.numel() == input_shape[0] and t.dim() == 1:
        return t.reshape((1, -1) + (1,) * (len(input_shape) - 1))
    try:
        return t.expand(tuple(input_shape)).unsqueeze(0)
    except RuntimeError as err:
        raise ValueError(
            f"classifier: preprocessing mean/std of shape {tuple(t.shape)} does not broadcast to input shape "
            f"{tuple(input_shape)}"
        ) from err


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """``model`` in eval mode inside the block; its previous mode restored on exit (also on errors)."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


class Network:
    """
    Forward/backward through a ``PyTorchClassifier``'s model with on-device standardisation and exact pass
    counts.

    Backward passes are counted as the number of grad-carrying forwards whose graph a backward traverses.

    :param classifier: An ART ``PyTorchClassifier``.
    :param counter: The pass counter to increment (a new one if omitted).
    """

    def __init__(self, classifier, counter: Optional[PassCounter] = None):
        self.classifier = classifier
        self.model: torch.nn.Module = classifier.model
        self.device: torch.device = classifier.device
        self.counter = counter if counter is not None else PassCounter()
        self.clip_values = classifier.clip_values
        mean, std = _mean_std(classifier)
        if mean is not None and std is not None and not mean.any() and (std == 1).all():
            mean = std = None  # ART's default identity standardisation: (x - 0) * 1 costs two ops per forward
        shape = tuple(classifier.input_shape)
        self._mean = None if mean is None else _as_broadcast(mean, shape, self.device)
        self._std = None if std is None else _as_broadcast(std, shape, self.device)
        if self._std is not None:
            self._inv_std = 1.0 / self._std
        self._pending = 0
        #: The model wrapped in DistributedDataParallel for the update's forwards (None outside DDP).
        self.update_model: Optional[torch.nn.Module] = None
        #: Inputs passed to the model in channels_last memory format (4-D inputs).
        self.channels_last = False
        #: ``torch.bfloat16`` / ``torch.float16`` to run forwards under ``torch.autocast``; None: float32.
        self.autocast_dtype: Optional[torch.dtype] = None

    def logits(self, x: torch.Tensor, phase: str = "update", model: Optional[torch.nn.Module] = None) -> torch.Tensor:
        """One counted forward pass on inputs in the classifier's pixel range (through ``model`` when given,
        e.g. AWP's proxy copy, with the same standardisation)."""
        if self._mean is not None:
            x = (x - self._mean) * self._inv_std
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if model is None:  # the update runs through DistributedDataParallel when there is one
            model = self.update_model if phase == "update" and self.update_model is not None else self.model
        if self.autocast_dtype is None:
            out = model(x)
        else:
            with torch.autocast(self.device.type, dtype=self.autocast_dtype):
                out = model(x)
            out = out.float()  # losses and their gradients in float32
        self.counter.add_forward(phase)
        if torch.is_grad_enabled() and out.requires_grad:
            self._pending += 1
        return out

    def _take_pending(self) -> int:
        n, self._pending = max(self._pending, 1), 0
        return n

    def input_grad(self, loss: torch.Tensor, x: torch.Tensor, phase: str = "attack",
                   create_graph: bool = False) -> torch.Tensor:
        """Gradient of ``loss`` with respect to ``x`` only (no parameter gradients): counted backward passes.
        ``create_graph=True`` keeps the graph for Hessian-vector products."""
        (grad,) = torch.autograd.grad(loss, [x], create_graph=create_graph)
        self.counter.add_backward(phase, self._take_pending())
        return grad

    def hvp(self, grad: torch.Tensor, x: torch.Tensor, v: torch.Tensor, phase: str = "attack") -> torch.Tensor:
        """
        Hessian-vector product ``H v`` from a ``grad`` built with ``create_graph=True``. It back-propagates
        through the forward and the backward graph: counted as 2 backward passes.
        """
        (hv,) = torch.autograd.grad(grad, [x], grad_outputs=v, retain_graph=True)
        self.counter.add_backward(phase, 2)
        return hv

    def param_grads(self, loss: torch.Tensor, params, phase: str):
        """Gradients of ``loss`` with respect to ``params`` (e.g. a proxy model's), returned, not accumulated."""
        grads = torch.autograd.grad(loss, list(params))
        self.counter.add_backward(phase, self._take_pending())
        return grads

    def backward(self, loss: torch.Tensor, x: Optional[torch.Tensor] = None, phase: str = "update"):
        """
        Backward of ``loss`` into the parameters' ``.grad``; with ``x`` (a leaf that requires grad), also
        return its gradient from the same pass at no extra cost.
        """
        loss.backward()
        self.counter.add_backward(phase, self._take_pending())
        return None if x is None else x.grad
