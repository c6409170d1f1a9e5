"""
ATAS: single-step adversarial training with a per-sample adaptive step size, started from the previous
epoch's perturbation (Huang et al., IEEE TIP). ATTA is the same loop with a fixed step.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from art_accel.accounting import RunningStats
from art_accel.attacks import project, uniform_delta
from art_accel.state import PerSampleState
from art_accel.trainers.base import AdversarialTrainerBase, Batch, StepOutput
from art_accel.validation import check_choice, check_int, check_number

#: Authors' c = 0.01 for batch-mean gradients of batch 128, converted to per-sample (sum) gradients.
PAPER_BATCH_SIZE = 128


class AdversarialTrainerATAS(AdversarialTrainerBase):
    """
    ATAS (Algorithm 1): per sample i, one forward/backward at ``x_init = clip(x + delta_i)`` gives ``g_i``;
    ``v_i = beta v_i + (1 - beta) ||g_i||^2``; step ``alpha_i = gamma / (c + sqrt(v_i))`` clamped to
    ``[min_step, step_cap]`` with ``gamma = max_step * c``; ``x_adv = project(x_init + alpha_i sign(g_i))``;
    ``delta_i = x_adv - x`` is stored for the next epoch; one update on ``x_adv``. 2 backward passes per batch,
    like FGSM-RS: the step size costs no extra pass.

    Gradients are per-sample (sum-reduced loss): ``c`` is the paper's batch-mean ``c`` times the paper's batch
    size 128 (0.01 -> 1.28 for CIFAR, 0.1 -> 12.8 for ImageNet); ``max_step = gamma / c`` is unchanged.

    | Paper link: https://ieeexplore.ieee.org/document/10298035

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param beta: Momentum of the squared gradient norm (default 0.5).
    :param c: Per-sample offset of the step denominator (default 1.28 = 0.01 x 128).
    :param max_step: ``gamma / c``, the step as ``v -> 0`` (default ``2 eps``: the authors' 16/255 at 8/255,
                     scaled with eps where their code hard-codes it).
    :param min_step: Lower clamp of the step (default ``eps / 2``: 4/255 at 8/255, the authors' code).
    :param step_cap: Upper clamp of the step (default ``1.75 eps``: 14/255 at 8/255, the authors' code).
    :param warmup_epochs: Epochs with the constant step ``eps`` and no update of v (default 5).
    :param reset_every: Reset the stored perturbations to uniform noise every this many epochs (default 10).
    :param init: ``"previous"`` (ATTA initialisation, the paper) or ``"random"`` (FGSM-RS + adaptive step).
    :param delta_resolution: Store perturbations at this ``(h, w)`` (e.g. (32, 32) for 224x224 inputs) and
                             upsample them when used; incompatible with ``augmentation``.
    :param kwargs: ``nb_epochs``, ``batch_size``, ``attack_mode``, ``augmentation``, ``verbose``.
    """

    method_name = "atas"
    progress_keys = ("loss", "accuracy", "step_mean")
    #: False gives ATTA: a fixed step ``eps_step``.
    adaptive = True

    def __init__(self, classifier, eps: float, beta: float = 0.5, c: float = 0.01 * PAPER_BATCH_SIZE,
                 max_step: Optional[float] = None, min_step: Optional[float] = None,
                 step_cap: Optional[float] = None, warmup_epochs: int = 5, reset_every: int = 10,
                 init: str = "previous", delta_resolution: Optional[Tuple[int, int]] = None, **kwargs):
        eps = check_number(eps, "eps", low=0.0, low_open=True)
        self.beta = check_number(beta, "beta", low=0.0, high=1.0)
        if self.beta == 1.0:
            raise ValueError("beta must be < 1 (beta = 1 never updates v)")
        self.c = check_number(c, "c", low=0.0, low_open=True)
        self.max_step = check_number(2 * eps if max_step is None else max_step, "max_step", low=0.0, low_open=True)
        self.min_step = check_number(eps / 2 if min_step is None else min_step, "min_step", low=0.0)
        self.step_cap = check_number(1.75 * eps if step_cap is None else step_cap, "step_cap", low=0.0,
                                     low_open=True)
        if self.min_step > self.step_cap:
            raise ValueError(f"min_step ({self.min_step}) must be <= step_cap ({self.step_cap})")
        self.warmup_epochs = check_int(warmup_epochs, "warmup_epochs", low=0)
        self.reset_every = check_int(reset_every, "reset_every", low=1)
        self.init = check_choice(init, "init", ("previous", "random"))
        self.delta_resolution = None if delta_resolution is None else tuple(
            check_int(v, "delta_resolution", low=1) for v in delta_resolution)
        if self.delta_resolution is not None and len(self.delta_resolution) != 2:
            raise ValueError(f"delta_resolution must be (height, width), got {delta_resolution!r}")
        eps_step = kwargs.pop("eps_step", eps)
        super().__init__(classifier, eps, eps_step, 1, 1, **kwargs)
        if self.delta_resolution is not None and self.augmentation is not None:
            raise ValueError("delta_resolution cannot be combined with augmentation")
        self.state: Optional[PerSampleState] = None
        self._warm = False
        self._steps = RunningStats(self.device)
        self._norms = RunningStats(self.device)

    def _config(self) -> Dict[str, Any]:
        return {**super()._config(), "beta": self.beta, "c": self.c, "max_step": self.max_step,
                "min_step": self.min_step, "step_cap": self.step_cap, "warmup_epochs": self.warmup_epochs,
                "reset_every": self.reset_every, "init": self.init, "adaptive": self.adaptive}

    # ------------------------------------------------------------------ state

    def _delta_shape(self) -> Tuple[int, ...]:
        c, h, w = self._classifier.input_shape
        if self.delta_resolution is not None:
            return (c,) + self.delta_resolution
        pad = self.augmentation.padding if self.augmentation is not None else 0
        return c, h + 2 * pad, w + 2 * pad

    def _on_fit_start(self, n_samples: Optional[int]) -> None:
        if n_samples is None:
            raise ValueError(f"{type(self).__name__} keeps per-sample state: use fit(), or fit_loader() with a "
                             "loader over a sized dataset yielding (x, y, index)")
        self.state = PerSampleState(n_samples, self.device)
        self.state.register("v")
        self.state.register("delta", self._delta_shape())

    def _method_state(self) -> Dict[str, Any]:
        return {"state": self.state.state_dict()}

    def _load_method_state(self, state: Dict[str, Any]) -> None:
        self.state.load_state_dict(state["state"])

    def _on_epoch_start(self, epoch: int) -> Dict[str, Any]:
        if self.init == "previous" and epoch % self.reset_every == 0:
            delta = self.state["delta"]
            delta.copy_(uniform_delta(delta, self.eps))
        self._warm = self.adaptive and epoch < self.warmup_epochs
        return {"k": 1, "eps": self.eps, "warmup": self._warm}

    def _load_delta(self, batch: Batch) -> torch.Tensor:
        """The stored perturbations of the batch, aligned with ``batch.x`` (augmented / upsampled)."""
        stored = self.state.get("delta", batch.index)
        if batch.aug is not None:
            return self.augmentation.crop(stored, batch.aug, batch.x.shape[2], batch.x.shape[3])
        if self.delta_resolution is not None:
            return F.interpolate(stored, size=batch.x.shape[2:], mode="nearest")
        return stored

    def _store_delta(self, batch: Batch, delta: torch.Tensor) -> None:
        """Write updated perturbations back through the inverse transform."""
        if batch.aug is not None:
            padded = self.state.get("delta", batch.index)
            delta = self.augmentation.write_back(padded, delta, batch.aug)
        elif self.delta_resolution is not None:
            delta = F.adaptive_avg_pool2d(delta, self.delta_resolution)
        self.state.set("delta", batch.index, delta)

    # ------------------------------------------------------------------ the method

    def _step_size(self, grad: torch.Tensor, index: Optional[torch.Tensor]) -> torch.Tensor:
        """Per-sample step (N,) from the gradient at the start point; updates v_i (not during warm-up)."""
        sq_norm = grad.flatten(1).pow(2).sum(1)
        self._norms.update(sq_norm.sqrt())
        if not self.adaptive:
            return torch.full_like(sq_norm, self.eps_step)
        if self._warm:
            return torch.full_like(sq_norm, self.eps)
        v = self.beta * self.state.get("v", index) + (1 - self.beta) * sq_norm
        self.state.set("v", index, v)
        return self._alpha(v)

    def _alpha(self, v: torch.Tensor) -> torch.Tensor:
        gamma = self.max_step * self.c
        return (gamma / (self.c + v.sqrt())).clamp(self.min_step, self.step_cap)

    def _train_batch(self, batch: Batch) -> StepOutput:
        x, y, clip = batch.x, batch.y, self.network.clip_values
        if batch.index is None and (self.adaptive or self.init == "previous"):
            raise ValueError(f"{type(self).__name__} needs dataset positions: the loader must yield (x, y, index)")
        start = self._load_delta(batch) if self.init == "previous" else uniform_delta(x, self.eps)
        x_init = project(x + start, x, self.eps, clip)
        with self.attack.mode():
            grad = self.attack.input_gradient(x_init, y)
        step = self._step_size(grad, batch.index)
        self._steps.update(step)
        x_adv = project(x_init + step.view((-1,) + (1,) * (x.dim() - 1)) * grad.sign(), x, self.eps, clip)
        if self.init == "previous":
            self._store_delta(batch, x_adv - x)
        return self._update(x_adv, y)

    def _on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        out = {**self._steps.read("step"), **self._norms.read("grad_norm"),
               "state_megabytes": self.state.nbytes() / 2**20}
        out.update(self._decile_summary())
        return out

    def _decile_summary(self) -> Dict[str, Any]:
        """Mean gradient norm sqrt(v) and step of the lowest, middle and highest tenth of samples by sqrt(v)
        (the paper's Figure 10 subsets D1, D5, D10); None before v is first updated."""
        if not self.adaptive or self._warm:
            return {}
        norms = self.state["v"].sqrt().sort().values
        tenths = torch.tensor_split(norms, 10)
        out = {}
        for d in (1, 5, 10):
            part = tenths[d - 1]
            out[f"grad_norm_d{d}"] = float(part.mean())
            out[f"step_d{d}"] = float(self._alpha(part.pow(2)).mean())
        return out


class AdversarialTrainerATTA(AdversarialTrainerATAS):
    """
    ATTA (Zheng et al.): single-step training from the previous epoch's perturbation with a fixed step
    ``eps_step`` (default ``eps / 2``, ATTA-1's 4/255 at 8/255). ATAS without the adaptive step.

    | Paper link: https://arxiv.org/abs/1912.11969

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: Fixed step (default ``eps / 2``).
    :param reset_every: Reset the stored perturbations every this many epochs (default 10).
    :param kwargs: ``augmentation``, ``delta_resolution``, ``nb_epochs``, ``batch_size``, ``verbose``.
    """

    method_name = "atta"
    adaptive = False

    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, reset_every: int = 10, **kwargs):
        eps = check_number(eps, "eps", low=0.0, low_open=True)
        super().__init__(classifier, eps, eps_step=eps / 2 if eps_step is None else eps_step,
                         reset_every=reset_every, warmup_epochs=0, **kwargs)


def plot_step_vs_grad_norm(history, path: Optional[str] = None):
    """
    Gradient norm sqrt(v) and step size per epoch for the tenth of samples with the smallest (D1), middle
    (D5) and largest (D10) gradient norm: the paper's Figure 10, from an ATAS history.
    """
    keys = [("grad_norm_d1", "grad_norm_d5", "grad_norm_d10"), ("step_d1", "step_d5", "step_d10"), "step_mean"]
    return history.plot(keys, path=path, title="ATAS: gradient norm and step size by gradient-norm decile")
