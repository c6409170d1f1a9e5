"""
M+ acceleration and DEAT (Wang, Zhang, Zheng, Ruan): the number of adversarial iterations / batch replays
grows during training, driven by the gradient magnitude criterion M+ or by a naive criterion.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from art_accel.schedules import AccuracyCriterion, EveryD, MPlusCriterion, Schedule
from art_accel.trainers.baselines import (
    AdversarialTrainerFree,
    AdversarialTrainerMART,
    AdversarialTrainerPGD,
    AdversarialTrainerTRADES,
)
from art_accel.trainers.compose import ComposedByBase
from art_accel.validation import check_choice, check_int, check_number

PAPER_LINK = "https://arxiv.org/abs/2103.03076"


class ScheduledK:
    """
    Mixin for trainers whose ``k`` (attack steps, or replays after the first) follows a :class:`Schedule`:
    set at each epoch start, shown the finished epoch's record (e.g. ``grad_magnitude`` for M+).
    """

    k_schedule: Schedule

    def _on_fit_start(self, n_samples):
        self.k_schedule.reset()
        super()._on_fit_start(n_samples)

    def _method_state(self) -> Dict[str, Any]:
        return {**super()._method_state(), "k_schedule": dict(vars(self.k_schedule))}

    def _load_method_state(self, state: Dict[str, Any]) -> None:
        super()._load_method_state(state)
        vars(self.k_schedule).update(state["k_schedule"])

    def _on_epoch_start(self, epoch: int) -> Dict[str, Any]:
        self._apply_k(int(self.k_schedule.value(epoch)))
        return super()._on_epoch_start(epoch)

    def _on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        out = super()._on_epoch_end(epoch, record)
        self.k_schedule.observe(epoch, {**record, **out})
        out.update(self.k_schedule.describe())
        return out


class AdversarialTrainerDEAT(ScheduledK, AdversarialTrainerFree):
    """
    DEAT (Algorithm 2): Free-style batch replay where each batch starts from a fresh uniform perturbation and
    is replayed ``k + 1`` times (each replay: 1 forward, 1 backward giving weight and input gradients, an
    optimizer step, ``delta += eps_step * sign(grad_x)``, projected). ``k`` starts at 0 and grows by the
    criterion:

    - ``"mplus"``: the M+ gradient magnitude criterion (see :class:`art_accel.schedules.MPlusCriterion`);
    - ``"every_d"``: ``k = epoch // d`` (DEAT-d; DEAT-3 over 10 epochs costs 22 backward passes per batch);
    - ``"accuracy"``: k += 1 after each epoch whose training accuracy exceeds ``accuracy_threshold``.

    The gradient magnitude ``l_X`` (recorded as ``grad_magnitude`` with every criterion) is the L1 norm of the
    last replay's input gradient, summed over batches, at per-sample scale (batch-mean gradient times the
    batch size): zero extra passes.

    | Paper link: https://arxiv.org/abs/2103.03076

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: Perturbation step per replay (default ``1.25 eps``: the paper's 10/255 at 8/255).
    :param criterion: ``"mplus"`` (default), ``"every_d"`` or ``"accuracy"``.
    :param gamma: M+ relax factor (default 1.01, the paper's).
    :param d: Epochs per extra replay for ``"every_d"`` (default 3).
    :param accuracy_threshold: Training accuracy that adds a replay for ``"accuracy"`` (default 0.4).
    :param max_k: Cap on ``k`` (default 7: at most 8 replays, the authors' cap).
    :param kwargs: ``nb_epochs``, ``batch_size``, ``verbose``.
    """

    method_name = "deat"
    progress_keys = ("loss", "accuracy", "k")
    carry_delta = False

    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, criterion: str = "mplus",
                 gamma: float = 1.01, d: int = 3, accuracy_threshold: float = 0.4, max_k: int = 7, **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        self.criterion = check_choice(criterion, "criterion", ("mplus", "every_d", "accuracy"))
        max_k = check_int(max_k, "max_k", low=1)
        if criterion == "mplus":
            self.k_schedule = MPlusCriterion(gamma, max_k)
        elif criterion == "every_d":
            self.k_schedule = EveryD(d, max_k)
        else:
            self.k_schedule = AccuracyCriterion(accuracy_threshold, max_k)
        super().__init__(classifier, eps, 1.25 * eps if eps_step is None else eps_step, nb_replays=1, **kwargs)
        self.track_grad_magnitude = True
        self.max_k, self.gamma, self.d, self.accuracy_threshold = max_k, gamma, d, accuracy_threshold

    def _config(self) -> Dict[str, Any]:
        return {**super()._config(), "criterion": self.criterion, "max_k": self.max_k, "gamma": self.gamma,
                "d": self.d, "accuracy_threshold": self.accuracy_threshold}


class AdversarialTrainerMPlus(ComposedByBase, ScheduledK):
    """
    The M+ criterion (Algorithm 1) around a base method: ``k`` = 0 in the first epoch (the base trains on a
    random start with no attack step), 1 after it; the threshold is set to ``gamma * l_X`` after the second
    epoch and, whenever a later epoch's ``l_X`` exceeds it, raised to ``gamma * l_X`` together with ``k``.
    ``l_X`` comes from the backward pass of each batch's weight update (zero extra passes).

    Bases: ``"pgd"`` (M+PGD, ``k`` = PGD steps), ``"free"`` (M+DEAT, ``k`` = replays after the first: the
    same as ``AdversarialTrainerDEAT(criterion="mplus")``), ``"trades"`` (M+TRADES), ``"mart"`` (M+MART).
    ``AdversarialTrainerMPlus(...)`` returns an instance of the composed class, which is also an instance of
    the base's trainer class.

    | Paper link: https://arxiv.org/abs/2103.03076

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: Attack step (default: the base's; ``eps / 4`` for PGD/TRADES/MART, ``1.25 eps`` for free).
    :param base: ``"pgd"``, ``"free"``, ``"trades"`` or ``"mart"``.
    :param gamma: Relax factor (default 1.01, the paper's).
    :param max_k: Cap on ``k`` (default 10; 7 for ``"free"``).
    :param kwargs: The base's own parameters (``beta`` for TRADES/MART) and ``nb_epochs``, ``batch_size``,
                   ``attack_mode``, ``verbose``.
    """

    method_name = "mplus"
    progress_keys = ("loss", "accuracy", "k")


    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, base: str = "pgd",
                 gamma: float = 1.01, max_k: Optional[int] = None, **kwargs):
        max_k = check_int(10 if max_k is None else max_k, "max_k", low=1)
        self.k_schedule = MPlusCriterion(gamma, max_k)
        self.base, self.max_k, self.gamma = base, max_k, self.k_schedule.gamma
        if eps_step is not None:
            kwargs["eps_step"] = eps_step
        if "max_iter" in kwargs:
            raise TypeError("max_iter is set by the M+ criterion; use max_k to cap it")
        super().__init__(classifier, eps, **kwargs)
        self.track_grad_magnitude = True
        self.method_name = f"mplus-{base}"

    def _config(self) -> Dict[str, Any]:
        return {**super()._config(), "base": self.base, "gamma": self.gamma, "max_k": self.max_k}


class _MPlusPGD(AdversarialTrainerMPlus, AdversarialTrainerPGD):
    pass


class _MPlusTRADES(AdversarialTrainerMPlus, AdversarialTrainerTRADES):
    pass


class _MPlusMART(AdversarialTrainerMPlus, AdversarialTrainerMART):
    pass


class _MPlusDEAT(AdversarialTrainerMPlus, AdversarialTrainerDEAT):
    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, base: str = "free",
                 gamma: float = 1.01, max_k: Optional[int] = None, **kwargs):
        max_k = check_int(7 if max_k is None else max_k, "max_k", low=1)
        AdversarialTrainerDEAT.__init__(self, classifier, eps, eps_step, criterion="mplus", gamma=gamma,
                                        max_k=max_k, **kwargs)
        self.base, self.max_k, self.gamma = base, max_k, self.k_schedule.gamma
        self.method_name = "mplus-free"


AdversarialTrainerMPlus.bases = {"pgd": _MPlusPGD, "free": _MPlusDEAT, "trades": _MPlusTRADES, "mart": _MPlusMART}


def plot_k_and_magnitude(history, path: Optional[str] = None):
    """``k`` and the gradient magnitude ``l_X`` (with the M+ threshold when present) per epoch: the paper's
    Figure 6, from an M+ or DEAT history."""
    keys = ["k", ("grad_magnitude", "threshold") if "threshold" in history.keys() else "grad_magnitude"]
    return history.plot(keys, path=path, title=f"{history.method}: k and gradient magnitude per epoch")
