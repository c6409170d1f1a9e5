"""
Amata (Ye, Li, Zhou, Zhu, AAAI 2021): anneal the number of attack steps up and the step size down over the
epochs, ``K_t`` from ``K_min`` to ``K_max`` and ``alpha_t = tau / K_t``; also on Free and FGSM-RS (Amata+),
TRADES and MART.
"""
from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from art_accel.attacks import OnDevicePGD, uniform_delta
from art_accel.contract import Part
from art_accel.network import eval_mode
from art_accel.schedules import LinearAnneal
from art_accel.trainers.base import AdversarialTrainerBase
from art_accel.trainers.objectives import FreeReplay, batch_buffer, make_base
from art_accel.trainers.signature import with_common_parameters
from art_accel.validation import check_choice, check_int, check_number

#: Per base: default (K_min, K_max) and tau as a multiple of eps. TRADES and MART take PGD's (their step
#: ``eps / 4`` times their 10 steps is PGD's 2.5 eps).
DEFAULTS = {"pgd": (2, 10, 2.5), "trades": (2, 10, 2.5), "mart": (2, 10, 2.5), "free": (2, 4, 4.0)}


class AmataAnneal(Part):
    """
    Amata's schedule part: at epoch ``t`` (0-based) of ``T``, ``K_t = round(K_min + (K_max - K_min) t / (T - 1))``
    attack steps (replays for a fused base, Free) of size ``alpha_t = tau / K_t``. ``T`` is the trainer's
    ``nb_epochs`` (or, when not given, the first ``fit``'s); past ``T`` the steps stay at ``K_max`` (with a
    warning).
    Compose it with another trainer by ``schedule=AmataAnneal(...)``; a per-sample budget that sets its own
    step (ECAS) keeps its step rule, with ``K_t`` steps.

    :param k_min: Steps in the first epoch (default 2).
    :param k_max: Steps in the last epoch (default 10).
    :param tau: Total step length ``alpha_t K_t`` (default 2.5 eps; 4 eps on the Free base).
    :param rounding: ``"round"`` (default), ``"floor"`` or ``"ceil"``.
    """

    stage = "schedule"
    key = "amata"
    sets_k = True
    sets_step_each_epoch = True

    def __init__(self, k_min: int = 2, k_max: int = 10, tau: Optional[float] = None, rounding: str = "round"):
        self.k_min = check_int(k_min, "k_min", low=1)
        self.k_max = check_int(k_max, "k_max", low=1)
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) must be <= k_max ({self.k_max})")
        self.tau = None if tau is None else check_number(tau, "tau", low=0.0, low_open=True)
        self.rounding = check_choice(rounding, "rounding", ("round", "floor", "ceil"))
        self.k_schedule: Optional[LinearAnneal] = None

    def bind(self, trainer) -> None:
        super().bind(trainer)
        if self.tau is None:
            self.tau = (2.5 if trainer.objective.separable else 4.0) * trainer.eps

    def config(self) -> Dict[str, Any]:
        return {"k_min": self.k_min, "k_max": self.k_max, "tau": self.tau, "rounding": self.rounding}

    def schedule(self, nb_epochs: int):
        """The ``(K_t, alpha_t)`` pairs for ``nb_epochs`` epochs."""
        sched = LinearAnneal(self.k_min, self.k_max, nb_epochs, self.rounding)
        return [(k, self.tau / k) for k in sched.values(nb_epochs)]

    def on_fit_start(self, n_samples) -> None:
        self.k_schedule = LinearAnneal(self.k_min, self.k_max, self.trainer.planned_epochs, self.rounding)
        self._warned = False

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        t, k = self.trainer, self.k_schedule.value(epoch)
        if epoch >= self.k_schedule.nb_epochs and not self._warned:
            warnings.warn(f"Amata plans its anneal over {self.k_schedule.nb_epochs} epochs (the trainer's nb_epochs, "
                          f"or the first fit's); epoch {epoch} is past it: K stays at K_max = {self.k_max}",
                          stacklevel=2)
            self._warned = True
        # K_t gradient steps per batch: attack steps, or replays (k + 1) on a fused base (Amata+Free)
        t.strength.max_iter = k if t.objective.separable else k - 1
        t.strength.eps_step = float(self.tau / k)


class WeakFixedStart(Part):
    """
    Amata+FGSM's weak start: for the first ``weak_fraction`` of the epochs the single step starts from one
    fixed perturbation drawn once per ``fit`` (the paper's "fixed non-zero initialisation"), then from a fresh
    random start (FGSM-RS).

    :param weak_fraction: Fraction of the epochs with the fixed start.
    """

    key = "weak_start"
    sets_start = True

    def __init__(self, weak_fraction: float = 0.5):
        self.weak_fraction = check_number(weak_fraction, "weak_fraction", low=0.0, high=1.0)
        self._fixed: Optional[torch.Tensor] = None
        self._weak = False

    def config(self) -> Dict[str, Any]:
        return {"weak_fraction": self.weak_fraction}

    def on_fit_start(self, n_samples) -> None:
        self._fixed = None

    def state_dict(self) -> Dict[str, Any]:
        return {"fixed": self._fixed}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self._fixed = state["fixed"]

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        self._weak = epoch < math.floor(self.weak_fraction * self.trainer.planned_epochs + 0.5)
        record["weak"] = self._weak

    def budget(self, batch) -> Dict[str, Any]:
        if not self._weak:
            return {}
        x = batch.x
        self._fixed = batch_buffer(self._fixed, x, lambda like: uniform_delta(like, self.trainer.eps))
        return {"delta_init": self._fixed[: x.shape[0]]}


class AdversarialTrainerAmata(AdversarialTrainerBase):
    """
    Amata (Algorithm 1): at epoch ``t`` (0-based) of ``T``, ``K_t = round(K_min + (K_max - K_min) t / (T - 1))``
    attack steps of size ``alpha_t = tau / K_t`` (:class:`AmataAnneal`). The paper writes ``t / T``, with which
    the last epoch never reaches ``K_max``; we divide by ``T - 1`` and round to the nearest integer (halves
    up) so the first epoch uses ``K_min`` and the last ``K_max``; ``tau = alpha_t K_t`` holds exactly with the
    rounded ``K_t``.

    Bases (the paper's Amata+, and two compositions no paper ran):

    - ``"pgd"`` (default): ``K_t`` PGD steps from the clean input (Algorithm 1); defaults ``K_min = 2``, ``K_max = 10``,
      ``tau = 2.5 eps`` (20/255 at 8/255). ``K_t + 1`` backward passes per batch.
    - ``"free"``: Free's replay count ``m`` anneals (default 2 -> 4) and its step ``tau / m`` shrinks with it
      (default ``tau = 4 eps``: step ``2 eps`` -> ``eps``). ``m`` backward passes per batch.
    - ``"fgsm"``: a weaker single step early (:class:`WeakFixedStart`) for the first ``weak_fraction`` of the
      epochs, then standard FGSM-RS; step ``1.25 eps`` throughout. 2 backward passes per batch.
    - ``"trades"``, ``"mart"``: ``K_t`` steps of TRADES' KL attack / MART's CE attack with PGD's defaults;
      ``K_t + 2`` backward passes per batch.

    | Paper link: https://arxiv.org/abs/2012.08112

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param k_min: Steps (replays for Free) in the first epoch.
    :param k_max: Steps (replays for Free) in the last epoch.
    :param tau: Total step length ``alpha_t K_t`` (default per base, scaled with eps).
    :param base: ``"pgd"``, ``"free"``, ``"fgsm"``, ``"trades"`` or ``"mart"``.
    :param rounding: How ``K_t`` is rounded: ``"round"`` (default), ``"floor"`` or ``"ceil"``.
    :param weak_fraction: For ``"fgsm"``: fraction of the epochs with the weak fixed start (default 0.5).
    :param beta: TRADES' / MART's ``beta`` (default 6.0).
    :param num_random_init: 0 (default) starts the PGD/MART attack at the clean input, as the paper's
                            Algorithm 1 and eq. 14; 1 uniformly in the ball. TRADES keeps its own start.
    :param attack_mode: Model mode during the attack (default ``"eval"``; ``"train"`` for free).
    :param kwargs: The common parameters of :class:`AdversarialTrainerBase` (``schedule`` excepted).
    """

    method_name = "amata"
    progress_keys = ("loss", "accuracy", "k")
    argument_hints = {"max_iter": "Amata anneals the steps: set k_min and k_max",
                      "eps_step": "Amata's step is tau / K_t: set tau"}

    @with_common_parameters
    def __init__(self, classifier, eps: float, k_min: Optional[int] = None, k_max: Optional[int] = None,
                 tau: Optional[float] = None, base: str = "pgd", rounding: str = "round",
                 weak_fraction: Optional[float] = None, beta: float = 6.0, num_random_init: Optional[int] = None,
                 attack_mode: Optional[str] = None, **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        base = check_choice(base, "base", ("pgd", "free", "fgsm", "trades", "mart"))
        self.base = base
        self.method_name = "amata" if base == "pgd" else f"amata-{base}"
        mode = ("train" if base == "free" else "eval") if attack_mode is None else attack_mode
        if base == "fgsm":
            for name, value in (("k_min", k_min), ("k_max", k_max), ("tau", tau), ("num_random_init", num_random_init)):
                if value is not None:
                    raise TypeError(f"{name} does not apply to base='fgsm' (one step of 1.25 eps throughout)")
            if rounding != "round":
                raise TypeError("rounding does not apply to base='fgsm' (one step of 1.25 eps throughout)")
            weak = WeakFixedStart(0.5 if weak_fraction is None else weak_fraction)
            super().__init__(classifier, eps, 1.25 * eps, 1, 1, attack_mode=mode, parts=[weak], **kwargs)
            return
        if weak_fraction is not None:
            raise ValueError("weak_fraction applies to base='fgsm' only")
        d_min, d_max, d_tau = DEFAULTS[base]
        anneal = AmataAnneal(d_min if k_min is None else k_min, d_max if k_max is None else k_max,
                             d_tau * eps if tau is None else tau, rounding)
        if base == "free":
            part = FreeReplay(carry_delta=True)
        else:
            part = make_base(base, beta)
        init = 0 if num_random_init is None else num_random_init  # Algorithm 1 starts PGD at the clean input
        k0 = anneal.k_min - 1 if base == "free" else anneal.k_min  # Free: K replays are k + 1
        super().__init__(classifier, eps, anneal.tau / anneal.k_min, k0, init,
                         attack_mode=mode, base=part, parts=[anneal], **kwargs)

    def schedule(self, nb_epochs: int):
        """The ``(K_t, alpha_t)`` pairs for ``nb_epochs`` epochs."""
        anneal = self.part(AmataAnneal)
        return anneal.schedule(nb_epochs) if anneal is not None else [(1, self.eps_step)] * nb_epochs


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

    with eval_mode(model):
        values = {(int(kk), float(a)): objective(int(kk), float(a)) for kk, a in itertools.chain(grid, [(k, eps_step)])}
    best = max(values, key=values.get)
    return {"C": values[best] - values[(int(k), float(eps_step))], "best": best, "values": values}
