"""
Amata (Ye, Li, Zhou, Zhu, AAAI 2021): anneal the number of attack steps up and the step size down over the
epochs, ``K_t`` from ``K_min`` to ``K_max`` and ``alpha_t = tau / K_t``; also on Free and FGSM-RS (Amata+).
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from art_accel.attacks import OnDevicePGD, uniform_delta
from art_accel.schedules import LinearAnneal
from art_accel.trainers.base import Batch, StepOutput
from art_accel.trainers.baselines import AdversarialTrainerFGSM, AdversarialTrainerFree, AdversarialTrainerPGD
from art_accel.trainers.compose import ComposedByBase
from art_accel.validation import check_choice, check_int, check_number

#: Per base: default (K_min, K_max) and tau as a multiple of eps.
DEFAULTS = {"pgd": (2, 10, 2.5), "free": (2, 4, 4.0), "fgsm": (1, 1, 1.25)}


class AdversarialTrainerAmata(ComposedByBase):
    """
    Amata (Algorithm 1): at epoch ``t`` (0-based) of ``T``, ``K_t = round(K_min + (K_max - K_min) t / (T - 1))``
    attack steps of size ``alpha_t = tau / K_t``. The paper writes ``t / T``, with which the last epoch never
    reaches ``K_max``; we divide by ``T - 1`` and round to the nearest integer (halves up) so the first
    epoch uses ``K_min`` and the last ``K_max``; ``tau = alpha_t K_t`` holds exactly with the rounded ``K_t``.

    Bases (the paper's Amata+):

    - ``"pgd"`` (default): ``K_t`` PGD steps from a random start; defaults ``K_min = 2``, ``K_max = 10``,
      ``tau = 2.5 eps`` (20/255 at 8/255). ``K_t + 1`` backward passes per batch.
    - ``"free"``: Free's replay count ``m`` anneals (default 2 -> 4) and its step ``tau / m`` shrinks with it
      (default ``tau = 4 eps``: step ``2 eps`` -> ``eps``). ``m`` backward passes per batch.
    - ``"fgsm"``: a weaker single step early (start from a fixed perturbation drawn once per ``fit``, the
      paper's "fixed non-zero initialisation") for the first ``weak_fraction`` of the epochs, then standard
      FGSM-RS (fresh random start); step ``1.25 eps`` throughout. 2 backward passes per batch.

    ``AdversarialTrainerAmata(...)`` returns an instance of the composed class, which is also an instance of
    the base's trainer class.

    | Paper link: https://arxiv.org/abs/2012.08112

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param k_min: Steps (replays for Free) in the first epoch.
    :param k_max: Steps (replays for Free) in the last epoch.
    :param tau: Total step length ``alpha_t K_t`` (default per base, scaled with eps).
    :param base: ``"pgd"``, ``"free"`` or ``"fgsm"``.
    :param rounding: How ``K_t`` is rounded: ``"round"`` (default), ``"floor"`` or ``"ceil"``.
    :param weak_fraction: For ``"fgsm"``: fraction of the epochs with the weak fixed start (default 0.5).
    :param kwargs: ``nb_epochs``, ``batch_size``, ``attack_mode``, ``augmentation``, ``verbose``.
    """

    method_name = "amata"
    progress_keys = ("loss", "accuracy", "k")


    def _amata_init(self, eps, k_min, k_max, tau, base, rounding):
        """Validate and store Amata's parameters (before the base class's __init__)."""
        eps = check_number(eps, "eps", low=0.0)
        d_min, d_max, d_tau = DEFAULTS[base]
        self.k_min = check_int(d_min if k_min is None else k_min, "k_min", low=1)
        self.k_max = check_int(d_max if k_max is None else k_max, "k_max", low=1)
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) must be <= k_max ({self.k_max})")
        self.tau = check_number(d_tau * eps if tau is None else tau, "tau", low=0.0, low_open=True)
        self.rounding = check_choice(rounding, "rounding", ("round", "floor", "ceil"))
        self.base = base
        self.k_schedule: Optional[LinearAnneal] = None
        return eps

    def _on_fit_start(self, n_samples):
        self.k_schedule = LinearAnneal(self.k_min, self.k_max, self.fit_epochs, self.rounding)
        super()._on_fit_start(n_samples)

    def schedule(self, nb_epochs: int):
        """The ``(K_t, alpha_t)`` pairs for ``nb_epochs`` epochs."""
        sched = LinearAnneal(self.k_min, self.k_max, nb_epochs, self.rounding)
        return [(k, self.tau / k) for k in sched.values(nb_epochs)]

    def _on_epoch_start(self, epoch: int) -> Dict[str, Any]:
        k = self.k_schedule.value(epoch)
        self._apply_amata(k, self.tau / k)
        return super()._on_epoch_start(epoch)

    def _apply_amata(self, k: int, step: float) -> None:
        self._apply_k(k)
        self._apply_step(step)

    def _config(self) -> Dict[str, Any]:
        return {**super()._config(), "base": self.base, "k_min": self.k_min, "k_max": self.k_max, "tau": self.tau,
                "rounding": self.rounding}


class _AmataPGD(AdversarialTrainerAmata, AdversarialTrainerPGD):
    def __init__(self, classifier, eps: float, k_min: Optional[int] = None, k_max: Optional[int] = None,
                 tau: Optional[float] = None, base: str = "pgd", rounding: str = "round", **kwargs):
        eps = self._amata_init(eps, k_min, k_max, tau, "pgd", rounding)
        AdversarialTrainerPGD.__init__(self, classifier, eps, self.tau / self.k_min, self.k_min, **kwargs)


class _AmataFree(AdversarialTrainerAmata, AdversarialTrainerFree):
    def __init__(self, classifier, eps: float, k_min: Optional[int] = None, k_max: Optional[int] = None,
                 tau: Optional[float] = None, base: str = "free", rounding: str = "round", **kwargs):
        eps = self._amata_init(eps, k_min, k_max, tau, "free", rounding)
        AdversarialTrainerFree.__init__(self, classifier, eps, self.tau / self.k_min, self.k_min, **kwargs)
        self.method_name = "amata-free"

    def _apply_amata(self, k: int, step: float) -> None:
        self.nb_replays = k
        self.eps_step = step


class _AmataFGSM(AdversarialTrainerAmata, AdversarialTrainerFGSM):
    def __init__(self, classifier, eps: float, base: str = "fgsm", weak_fraction: float = 0.5, **kwargs):
        for name in ("k_min", "k_max", "tau", "rounding"):
            if name in kwargs:
                raise TypeError(f"{name} does not apply to base='fgsm' (one step of 1.25 eps throughout)")
        eps = self._amata_init(eps, None, None, None, "fgsm", "round")
        self.weak_fraction = check_number(weak_fraction, "weak_fraction", low=0.0, high=1.0)
        AdversarialTrainerFGSM.__init__(self, classifier, eps, **kwargs)
        self.method_name = "amata-fgsm"
        self._fixed: Optional[torch.Tensor] = None
        self._weak = False

    def _on_fit_start(self, n_samples):
        self._fixed = None
        super()._on_fit_start(n_samples)

    def _on_epoch_start(self, epoch: int) -> Dict[str, Any]:
        self._weak = epoch < math.floor(self.weak_fraction * self.fit_epochs + 0.5)
        return {**super()._on_epoch_start(epoch), "weak": self._weak}

    def _train_batch(self, batch: Batch) -> StepOutput:
        if not self._weak:
            return super()._train_batch(batch)
        x = batch.x
        if self._fixed is None or self._fixed.shape[1:] != x.shape[1:] or self._fixed.shape[0] < x.shape[0]:
            self._fixed = uniform_delta(x, self.eps)
        x_adv = self.attack.perturb(x, batch.y, delta_init=self._fixed[: x.shape[0]]).x_adv
        return self._update(x_adv, batch.y)

    def _config(self) -> Dict[str, Any]:
        return {**super()._config(), "weak_fraction": self.weak_fraction}


AdversarialTrainerAmata.bases = {"pgd": _AmataPGD, "free": _AmataFree, "fgsm": _AmataFGSM}


def amata_criterion(classifier, x: torch.Tensor, y: torch.Tensor, eps: float, k: int, eps_step: float,
                    grid: Sequence[Tuple[int, float]], gamma: float = 0.04) -> Dict[str, Any]:
    """
    The paper's approximate optimality criterion C (eq. 14) for the hyper-parameters ``(k, eps_step)`` on one
    batch: ``max_{(K, alpha) in grid} {||grad_theta l(A_{alpha,K}(x))||^2 - gamma K} - (||grad_theta
    l(A_{eps_step,k}(x))||^2 - gamma k)``, where ``A`` is PGD from ``x`` (no random start) and the loss is the
    batch-mean cross-entropy. The paper maximises with Bayesian optimisation; this evaluates a given grid
    (the current setting is always included, so C >= 0). Analysis only: weights are not changed. Costs
    ``K + 1`` forwards and backwards per grid point.

    :param classifier: An ART ``PyTorchClassifier``.
    :param x: A batch of inputs (torch tensor on the classifier's device).
    :param y: Class indices.
    :param eps: L-inf budget.
    :param k: Steps of the evaluated setting.
    :param eps_step: Step of the evaluated setting.
    :param grid: Candidate ``(K, alpha)`` pairs, e.g. ``itertools.product(range(1, 11), [eps / 4, eps / 2])``.
    :param gamma: Cost per attack step (the paper uses 0.04 on MNIST).
    :return: ``{"C": value, "best": (K, alpha), "values": {(K, alpha): objective}}``.
    """
    attack = OnDevicePGD(classifier, eps, eps_step, k)
    model = attack.network.model
    params = [p for p in model.parameters() if p.requires_grad]

    def objective(steps: int, step: float) -> float:
        x_adv = attack.perturb(x, y, eps_step=step, max_iter=steps).x_adv
        loss = F.cross_entropy(attack.network.logits(x_adv, "analysis"), y)
        grads = torch.autograd.grad(loss, params)
        return float(sum(g.pow(2).sum() for g in grads)) - gamma * steps

    was_training = model.training
    model.eval()
    try:
        values = {(int(kk), float(a)): objective(int(kk), float(a)) for kk, a in itertools.chain(grid, [(k, eps_step)])}
    finally:
        model.train(was_training)
    best = max(values, key=values.get)
    return {"C": values[best] - values[(int(k), float(eps_step))], "best": best, "values": values}
