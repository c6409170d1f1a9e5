"""
ATAS: single-step adversarial training with a per-sample adaptive step size, started from the previous
epoch's perturbation (Huang et al., IEEE TIP). ATTA (:mod:`.atta`) uses the same part with a fixed step.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from art_accel import distributed
from art_accel.accounting import RunningStats
from art_accel.attacks import uniform_delta
from art_accel.contract import Part
from art_accel.state import PerSampleState
from art_accel.trainers.base import AdversarialTrainerBase
from art_accel.trainers.signature import with_common_parameters
from art_accel.validation import check_choice, check_int, check_number, check_resolution

#: Authors' c = 0.01 for batch-mean gradients of batch 128, converted to per-sample (sum) gradients.
PAPER_BATCH_SIZE = 128


class AdaptiveStep(Part):
    """
    ATAS' budget part (Algorithm 1): per sample i, the attack's one gradient ``g_i`` at ``x_init = clip(x +
    delta_i)`` updates ``v_i = beta v_i + (1 - beta) ||g_i||^2`` and gives the step ``alpha_i = gamma / (c +
    sqrt(v_i))`` clamped to ``[min_step, step_cap]`` with ``gamma = max_step * c``; the result's ``delta_i =
    x_adv - x`` is stored for the next epoch. With ``adaptive=False`` (ATTA) the step is the trainer's fixed
    ``eps_step``. The step costs no extra pass. Keeps the per-sample state (:class:`PerSampleState`).

    :param beta: Momentum of the squared gradient norm.
    :param c: Per-sample offset of the step denominator.
    :param max_step: ``gamma / c``, the step as ``v -> 0``.
    :param min_step: Lower clamp of the step.
    :param step_cap: Upper clamp of the step.
    :param warmup_epochs: Epochs with the constant step ``eps`` and no update of v.
    :param reset_every: Reset the stored perturbations to uniform noise every this many epochs.
    :param init: ``"previous"`` (carried perturbations) or ``"random"`` (FGSM-RS start).
    :param delta_resolution: Store perturbations at this ``(h, w)`` and upsample them when used.
    :param adaptive: False gives ATTA's fixed step.
    """

    key = "atas"
    sets_step = True
    uses_index = True

    def __init__(self, beta: float, c: float, max_step: float, min_step: float, step_cap: float,
                 warmup_epochs: int, reset_every: int, init: str = "previous",
                 delta_resolution: Optional[Tuple[int, int]] = None, adaptive: bool = True):
        self.beta, self.c, self.max_step, self.min_step, self.step_cap = beta, c, max_step, min_step, step_cap
        self._warmup_scaled = warmup_epochs is None
        self.warmup_epochs, self.reset_every, self.init = warmup_epochs or 0, reset_every, init
        self.delta_resolution, self.adaptive = delta_resolution, bool(adaptive)
        self.sets_start = init == "previous"
        self.state: Optional[PerSampleState] = None
        self._warm = False

    def bind(self, trainer) -> None:
        super().bind(trainer)
        self._steps = RunningStats(trainer.device)
        self._norms = RunningStats(trainer.device)

    def check(self, trainer) -> None:
        if not trainer.objective.plain_attack or trainer.max_iter != 1:
            raise ValueError("budget: ATAS' adaptive step is the step of a single cross-entropy attack step; it "
                             f"cannot drive base {trainer.objective.name!r} with max_iter={trainer.max_iter}")
        if any(p.sets_k for p in trainer.parts):
            raise ValueError("schedule: ATAS is single-step (k = 1); a schedule of k has nothing to drive")
        if self.delta_resolution is not None and trainer.augmentation is not None:
            raise ValueError("delta_resolution cannot be combined with augmentation")

    def config(self) -> Dict[str, Any]:
        return {"eps_step": None if self.adaptive else self.trainer.eps_step,  # ATAS' step is per sample
                "beta": self.beta, "c": self.c, "max_step": self.max_step, "min_step": self.min_step,
                "step_cap": self.step_cap, "warmup_epochs": self.warmup_epochs, "reset_every": self.reset_every,
                "init": self.init, "adaptive": self.adaptive}

    # ------------------------------------------------------------------ state

    def _delta_shape(self) -> Tuple[int, ...]:
        t = self.trainer
        c, h, w = t.classifier.input_shape
        if self.delta_resolution is not None:
            return (c,) + self.delta_resolution
        pad = t.augmentation.padding if t.augmentation is not None else 0
        return c, h + 2 * pad, w + 2 * pad

    def on_fit_start(self, n_samples: Optional[int]) -> None:
        if self._warmup_scaled:  # the authors' 5 of 30 epochs, scaled to the run
            self.warmup_epochs = int(math.floor(self.trainer.planned_epochs * 5 / 30 + 0.5))
        if n_samples is None:
            raise ValueError(f"{type(self.trainer).__name__} keeps per-sample state: use fit(), or fit_loader() "
                             "with a loader over a sized dataset yielding (x, y, index)")
        self.state = PerSampleState(n_samples, self.trainer.device, shard=self.trainer.shard)
        self.state.register("v")
        self.state.register("delta", self._delta_shape())

    def state_dict(self) -> Dict[str, Any]:
        return {"state": None if self.state is None else self.state.state_dict()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if state["state"] is not None:
            self.state.load_state_dict(state["state"])

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        eps = self.trainer.eps
        if self.init == "previous" and epoch % self.reset_every == 0:
            delta = self.state["delta"]
            delta.copy_(uniform_delta(delta, eps))
        self._warm = self.adaptive and epoch < self.warmup_epochs
        record.pop("eps_step", None)
        record.update(k=1, eps=eps, warmup=self._warm)

    def _load_delta(self, batch) -> torch.Tensor:
        """The stored perturbations of the batch, aligned with ``batch.x`` (augmented / upsampled)."""
        stored = self.state.get("delta", batch.index)
        if batch.aug is not None:
            return self.trainer.augmentation.crop(stored, batch.aug, batch.x.shape[2], batch.x.shape[3])
        if self.delta_resolution is not None:
            return F.interpolate(stored, size=batch.x.shape[2:], mode="nearest")
        return stored

    def _store_delta(self, batch, delta: torch.Tensor) -> None:
        """Write updated perturbations back through the inverse transform."""
        if batch.aug is not None:
            padded = self.state.get("delta", batch.index)
            delta = self.trainer.augmentation.write_back(padded, delta, batch.aug)
        elif self.delta_resolution is not None:
            delta = F.adaptive_avg_pool2d(delta, self.delta_resolution)
        self.state.set("delta", batch.index, delta)

    # ------------------------------------------------------------------ the method

    def step_size(self, grad: torch.Tensor, index: Optional[torch.Tensor]) -> torch.Tensor:
        """Per-sample step (N,) from the gradient at the start point; updates v_i (not during warm-up)."""
        sq_norm = grad.flatten(1).pow(2).sum(1)
        self._norms.update(sq_norm.sqrt())
        if not self.adaptive:
            step = torch.full_like(sq_norm, self.trainer.eps_step)
        elif self._warm:
            step = torch.full_like(sq_norm, self.trainer.eps)
        else:
            v = self.beta * self.state.get("v", index) + (1 - self.beta) * sq_norm
            self.state.set("v", index, v)
            step = self.alpha(v)
        self._steps.update(step)
        return step

    def scale_step(self, factor: float) -> None:
        """Make every step smaller by ``factor`` (the overfitting guard's safer setting)."""
        self.max_step, self.min_step, self.step_cap = (v * factor for v in (self.max_step, self.min_step,
                                                                             self.step_cap))

    def alpha(self, v: torch.Tensor) -> torch.Tensor:
        """The step for the moving averages ``v``."""
        gamma = self.max_step * self.c
        return (gamma / (self.c + v.sqrt())).clamp(self.min_step, self.step_cap)

    def budget(self, batch) -> Dict[str, Any]:
        if batch.index is None and (self.adaptive or self.init == "previous"):
            raise ValueError(f"{type(self.trainer).__name__} needs dataset positions: the loader must yield "
                             "(x, y, index)")
        out: Dict[str, Any] = {"eps_step": lambda grad: self.step_size(grad, batch.index)}
        if self.init == "previous":
            out["delta_init"] = self._load_delta(batch)
        return out

    def after_attack(self, batch, result) -> None:
        if self.init == "previous":
            self._store_delta(batch, result.x_adv - batch.x)

    def on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        shard = self.trainer.shard  # under DDP: over every rank's samples, the same record on every rank
        return {**self._steps.read("step", shard), **self._norms.read("grad_norm", shard),
                "state_megabytes": self.state.nbytes() / 2**20, **self._decile_summary()}

    def _decile_summary(self) -> Dict[str, Any]:
        """Mean gradient norm sqrt(v) and step of the lowest, middle and highest tenth of samples by sqrt(v)
        (the paper's Figure 10 subsets D1, D5, D10); None before v is first updated."""
        if not self.adaptive or self._warm:
            return {}
        v = self.state["v"]
        if self.trainer.shard is not None:
            v = distributed.gather_rows(v, self.trainer.shard)
        tenths = torch.tensor_split(v.sqrt().sort().values, 10)
        out = {}
        for d in (1, 5, 10):
            out[f"grad_norm_d{d}"] = float(tenths[d - 1].mean())
            out[f"step_d{d}"] = float(self.alpha(tenths[d - 1].pow(2)).mean())
        return out


class AdversarialTrainerATAS(AdversarialTrainerBase):
    """
    ATAS (Algorithm 1): FGSM from each sample's carried perturbation with its adaptive step
    (:class:`AdaptiveStep`), one update on the result; 2 backward passes per batch, like FGSM-RS. Gradients
    are per-sample (sum-reduced loss), so ``c`` is the paper's batch-mean ``c`` times its batch size 128: the
    derivation and every default's source are in ``docs/methods/atas.rst``.

    | Paper link: https://ieeexplore.ieee.org/document/10298035

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param beta: Momentum of the squared gradient norm (default 0.5).
    :param c: Per-sample offset of the step denominator (default 1.28 = 0.01 x 128).
    :param max_step: ``gamma / c``, the step as ``v -> 0`` (default ``2 eps``; 16/255 with ``"authors"``).
    :param min_step: Lower clamp of the step (default ``eps / 2``; 4/255 with ``"authors"``).
    :param step_cap: Upper clamp of the step (default ``1.75 eps``; 14/255 with ``"authors"``).
    :param step_bounds: Defaults of the three above: ``"scaled"`` (default: the authors' values at 8/255,
                        proportional to eps) or ``"authors"`` (their values at every eps).
    :param warmup_epochs: Epochs with the constant step ``eps`` and no update of v (default: the authors' 5 of
                          30 epochs scaled to the run, ``round(nb_epochs / 6)``).
    :param reset_every: Reset the stored perturbations to uniform noise every this many epochs (default 10).
    :param init: ``"previous"`` (ATTA initialisation, the paper) or ``"random"`` (FGSM-RS + adaptive step).
    :param delta_resolution: Store perturbations at this ``(h, w)`` and upsample them (not with augmentation).
    :param kwargs: The common parameters of :class:`AdversarialTrainerBase` (``budget=EntropyEps()`` gives
                   ECAS' per-sample eps with ATAS' step; a ``schedule`` of k is rejected: ATAS is single-step).
    """

    method_name = "atas"
    progress_keys = ("loss", "accuracy", "step_mean")
    argument_hints = {"eps_step": "ATAS adapts the step per sample: set max_step, min_step and step_cap",
                      "max_iter": "ATAS is single-step",
                      "num_random_init": "ATAS starts from the stored perturbation (init='random' for FGSM-RS's)"}

    @with_common_parameters
    def __init__(self, classifier, eps: float, beta: float = 0.5, c: float = 0.01 * PAPER_BATCH_SIZE,
                 max_step: Optional[float] = None, min_step: Optional[float] = None,
                 step_cap: Optional[float] = None, warmup_epochs: Optional[int] = None, reset_every: int = 10,
                 init: str = "previous", delta_resolution: Optional[Tuple[int, int]] = None,
                 step_bounds: str = "scaled", **kwargs):
        eps = check_number(eps, "eps", low=0.0, low_open=True)
        beta = check_number(beta, "beta", low=0.0, high=1.0)
        if beta == 1.0:
            raise ValueError("beta must be < 1 (beta = 1 never updates v)")
        c = check_number(c, "c", low=0.0, low_open=True)
        ref = eps if check_choice(step_bounds, "step_bounds", ("scaled", "authors")) == "scaled" else 8 / 255
        max_step = check_number(2 * ref if max_step is None else max_step, "max_step", low=0.0, low_open=True)
        min_step = check_number(ref / 2 if min_step is None else min_step, "min_step", low=0.0)
        step_cap = check_number(1.75 * ref if step_cap is None else step_cap, "step_cap", low=0.0, low_open=True)
        if min_step > step_cap:
            raise ValueError(f"min_step ({min_step}) must be <= step_cap ({step_cap})")
        warmup = None if warmup_epochs is None else check_int(warmup_epochs, "warmup_epochs", low=0)
        part = AdaptiveStep(beta, c, max_step, min_step, step_cap, warmup,
                            check_int(reset_every, "reset_every", low=1), check_choice(init, "init",
                                                                                       ("previous", "random")),
                            check_resolution(delta_resolution))
        super().__init__(classifier, eps, eps, 1, 1, parts=[part], **kwargs)

    @property
    def state(self) -> Optional[PerSampleState]:
        """The per-sample state (``v`` and ``delta``), None before ``fit``."""
        return self.part(AdaptiveStep).state
