"""
Input checks shared by every trainer: each raises a ``ValueError``/``TypeError`` naming the argument, before
any training step. Nothing here modifies the caller's data.
"""
from __future__ import annotations

import math
import os
import warnings
from typing import Optional, Tuple

import numpy as np
import torch

from art_accel.network import eval_mode


def check_classifier(classifier, name: str = "classifier"):
    """Require an ART ``PyTorchClassifier`` with an optimizer."""
    from art.estimators.classification import PyTorchClassifier

    if not isinstance(classifier, PyTorchClassifier):
        raise TypeError(f"{name} must be an art.estimators.classification.PyTorchClassifier, got {type(classifier)!r}")
    return classifier


def check_optimizer(classifier) -> torch.optim.Optimizer:
    opt = classifier.optimizer
    if opt is None:
        raise ValueError("classifier: an optimizer is required for training (PyTorchClassifier(optimizer=...))")
    return opt


def check_number(value, name: str, low: float = None, low_open: bool = False, high: float = None) -> float:
    """A finite real number within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_int(value, name: str, low: int = 0) -> int:
    """An integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def check_choice(value, name: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def _to_tensor(a, name: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach()
    if isinstance(a, np.ndarray):
        if a.dtype.kind not in "biuf":  # object, strings, bytes, records, complex, datetimes: not numbers
            raise TypeError(f"{name} must hold numbers (bool, int or float), got numpy dtype {a.dtype}")
        if not a.dtype.isnative:  # e.g. big-endian '>f4' from a file: the same values in native byte order
            a = a.astype(a.dtype.newbyteorder("="))
        return torch.from_numpy(np.ascontiguousarray(a))
    raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(a).__name__}")


def labels_to_indices(y, nb_classes: int, n: Optional[int] = None, name: str = "y") -> torch.Tensor:
    """Class indices (int64, shape (N,)) from index or one-hot labels; the input is not modified."""
    t = _to_tensor(y, name)
    if n is not None and t.shape[0] != n:
        raise ValueError(f"{name} has {t.shape[0]} labels but x has {n} samples")
    if t.dim() == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.dim() == 2:
        if t.shape[1] != nb_classes:
            raise ValueError(f"{name}: one-hot labels must have {nb_classes} columns, got {t.shape[1]}")
        tf = t.to(torch.float64)
        if not bool(((tf == 0) | (tf == 1)).all()) or not bool((tf.sum(1) == 1).all()):
            raise ValueError(f"{name}: one-hot rows must contain a single 1 and zeros elsewhere")
        return tf.argmax(1).to(torch.int64)
    if t.dim() != 1:
        raise ValueError(f"{name} must have shape (N,) or (N, {nb_classes}), got {tuple(t.shape)}")
    if t.is_floating_point():
        if not bool((t == t.round()).all()):
            raise ValueError(f"{name}: class indices must be whole numbers")
    t = t.to(torch.int64)
    lo, hi = (int(t.min()), int(t.max())) if t.numel() else (0, 0)
    if lo < 0 or hi >= nb_classes:
        raise ValueError(f"{name}: class indices must be in [0, {nb_classes - 1}], got [{lo}, {hi}]")
    return t


def check_inputs(x, classifier, name: str = "x") -> torch.Tensor:
    """Float inputs of shape ``(N, *input_shape)``, finite and inside the classifier's clip range (a new tensor)."""
    t = _to_tensor(x, name)
    shape = tuple(classifier.input_shape)
    if tuple(t.shape[1:]) != shape:
        raise ValueError(f"{name} must have shape (N, {', '.join(map(str, shape))}), got {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    t = t.to(torch.float32)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or inf")
    clip = classifier.clip_values
    if clip is not None:
        lo, hi = float(np.min(clip[0])), float(np.max(clip[1]))
        if float(t.min()) < lo - 1e-6 or float(t.max()) > hi + 1e-6:
            raise ValueError(
                f"{name} has values in [{float(t.min()):.4g}, {float(t.max()):.4g}] outside the classifier's "
                f"clip_values ({lo}, {hi})"
            )
    return t


def check_dataset(x, y, classifier, name_x: str = "x", name_y: str = "y") -> Tuple[torch.Tensor, torch.Tensor]:
    """Validated copies of (x, y) as float32 inputs and int64 class indices on the classifier's device."""
    xt = check_inputs(x, classifier, name_x)
    yt = labels_to_indices(y, classifier.nb_classes, xt.shape[0], name_y)
    device = classifier.device
    return xt.to(device, copy=True), yt.to(device, copy=True)


def check_budget(value: float, name: str, classifier) -> float:
    """
    A perturbation budget in the classifier's input units: rejected when at least as large as the clip range
    (``eps=8`` with images in [0, 1]: ART's own defaults are in 0..255 units), warned about above half of it.
    """
    clip = getattr(classifier, "clip_values", None)
    if clip is None:
        return value
    width = float(np.max(clip[1])) - float(np.min(clip[0]))
    if value >= width:
        raise ValueError(f"{name}={value:g} is at least the classifier's clip range {width:g}: budgets are in the "
                         f"classifier's input units (for images in [0, 1], 8/255 = {8 / 255:.4f}, not 8)")
    if value > width / 2:
        import warnings

        warnings.warn(f"{name}={value:g} is more than half of the classifier's clip range {width:g}: is it in the "
                      "input units?", stacklevel=3)
    return value


def check_path(path, name: str) -> None:
    """A path to write, whose folder exists and is writable (None passes)."""
    if path is None:
        return
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path, got {type(path).__name__}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise ValueError(f"{name}: the folder {folder} does not exist or is not writable")


def check_scheduler(scheduler, optimizer) -> None:
    """A torch LR scheduler (step, state_dict) built on ``optimizer`` (None passes)."""
    if scheduler is None:
        return
    if not all(hasattr(scheduler, name) for name in ("step", "state_dict", "load_state_dict")):
        raise TypeError(f"scheduler must be a torch LR scheduler (step, state_dict), got {type(scheduler).__name__}")
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError("scheduler must be built on the classifier's optimizer (classifier.optimizer)")


def check_model_and_loss(network, classifier, loss_fn) -> None:
    """One dry forward of two zero inputs in eval mode: the model accepts ``input_shape``, outputs
    ``(2, nb_classes)``, and ``loss_fn(logits, class indices)`` is a scalar."""
    shape = tuple(classifier.input_shape)
    try:
        with eval_mode(network.model), torch.no_grad():
            out = network.logits(torch.zeros((2,) + shape, device=network.device), "preflight")
    except Exception as err:
        raise ValueError(f"classifier: the model does not accept inputs of input_shape {shape} "
                         f"({type(err).__name__}: {str(err)[:200]})") from None
    if out.dim() != 2 or out.shape[1] != classifier.nb_classes:
        raise ValueError(f"classifier: the model outputs shape {tuple(out.shape)} for two samples, expected "
                         f"(2, {classifier.nb_classes}) (nb_classes)")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. MSELoss broadcasting (logits, indices)
            loss = loss_fn(out, torch.zeros(2, dtype=torch.int64, device=out.device))
        if loss.dim() != 0:
            raise ValueError(f"it returned shape {tuple(loss.shape)}, not a scalar")
    except Exception as err:
        raise ValueError(f"classifier: its loss does not accept (logits, class indices) "
                         f"({type(err).__name__}: {str(err)[:200]})") from None


def check_resolution(delta_resolution) -> Optional[Tuple[int, int]]:
    """``delta_resolution`` checked: None or (height, width)."""
    if delta_resolution is None:
        return None
    res = tuple(check_int(v, "delta_resolution", low=1) for v in delta_resolution)
    if len(res) != 2:
        raise ValueError(f"delta_resolution must be (height, width), got {delta_resolution!r}")
    return res


def has_batchnorm(model: torch.nn.Module) -> bool:
    """Whether ``model`` has a BatchNorm layer (1d, 2d, 3d or SyncBatchNorm: none trains on a batch of one)."""
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def check_batch_size_for_batchnorm(batch_size: Optional[int], model, name: str = "batch_size") -> None:
    """A batch of one sample cannot train a model with BatchNorm: refuse it."""
    if batch_size == 1 and has_batchnorm(model):
        raise ValueError(f"{name} is 1, but the model has BatchNorm layers, which cannot train on a batch of one "
                         "sample: use a batch size of at least 2")


def check_scheduler_length(scheduler, scheduler_step: str, steps_needed: Optional[int]) -> None:
    """A fixed-length scheduler (torch's ``OneCycleLR``) must have ``steps_needed`` steps left, or torch fails
    part-way through the run ("Tried to step ... times")."""
    if steps_needed is None or not isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR):
        return
    total = scheduler.total_steps
    left = total - scheduler.last_epoch
    if steps_needed > left:
        unit = "batches" if scheduler_step == "batch" else "epochs"
        raise ValueError(f"scheduler: OneCycleLR has {left} steps left (total_steps={total}) but this fit steps it "
                         f"{steps_needed} times (once per {unit[:-1]}, scheduler_step={scheduler_step!r}): build it "
                         "with total_steps = epochs x batches per epoch")
