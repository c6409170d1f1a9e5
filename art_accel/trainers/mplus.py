"""
M+ acceleration and DEAT (Wang, Zhang, Zheng, Ruan): the number of adversarial iterations / batch replays
grows during training, driven by the gradient magnitude criterion M+ or by a naive criterion.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from art_accel.schedules import AccuracyCriterion, EveryD, KSchedule, MPlusCriterion
from art_accel.trainers.base import AdversarialTrainerBase
from art_accel.trainers.objectives import FreeReplay, make_base
from art_accel.trainers.signature import with_common_parameters
from art_accel.validation import check_choice, check_int, check_number

PAPER_LINK = "https://arxiv.org/abs/2103.03076"


class MPlusSteps(KSchedule):
    """
    The M+ criterion as a schedule part: ``k`` (attack steps, or replays after the first) from
    :class:`~art_accel.schedules.MPlusCriterion`, driven by the gradient magnitude ``l_X`` of each batch's
    weight update (zero extra passes). Compose it with any base by ``schedule=MPlusSteps()``.

    Where ``k`` is a number of attack steps (every base but Free/DEAT), ``step_rule="eps_over_k"`` (default,
    the authors' M+PGD) sets the step to ``max(eps / k, step_floor)`` each epoch, so that ``k`` steps always
    reach the edge of the ball; ``"fixed"`` keeps the trainer's step. A budget part that sets its own step
    (ECAS) keeps it.

    :param gamma: Relax factor (default 1.01, the paper's).
    :param max_k: Cap on ``k`` (default 10).
    :param step_rule: ``"eps_over_k"`` (default) or ``"fixed"``.
    :param step_floor: Smallest step of ``"eps_over_k"`` (default ``eps / 4``: the authors' 2/255 at 8/255).
    """

    def __init__(self, gamma: float = 1.01, max_k: int = 10, step_rule: str = "eps_over_k",
                 step_floor: Optional[float] = None):
        super().__init__(MPlusCriterion(gamma, check_int(max_k, "max_k", low=1)), track_grad_magnitude=True)
        self.key = "mplus"
        self.step_rule = check_choice(step_rule, "step_rule", ("eps_over_k", "fixed"))
        self.sets_step_each_epoch = self.step_rule == "eps_over_k"
        self.step_floor = None if step_floor is None else check_number(step_floor, "step_floor", low=0.0,
                                                                           low_open=True)

    def bind(self, trainer) -> None:
        super().bind(trainer)
        if self.step_floor is None:
            self.step_floor = trainer.eps / 4

    def config(self) -> Dict[str, Any]:
        return {"gamma": self.schedule.gamma, "max_k": self.schedule.max_k, "step_rule": self.step_rule,
                "step_floor": self.step_floor}

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        super().on_epoch_start(epoch, record)
        t, k = self.trainer, self.schedule.value(epoch)
        if self.step_rule == "eps_over_k" and k >= 1 and t.objective.separable:
            t.strength.eps_step = float(max(t.eps / k, self.step_floor))


class AdversarialTrainerDEAT(AdversarialTrainerBase):
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
    :param max_k: Cap on ``k`` (default 7, i.e. at most 8 replays, the authors' cap for M+ and the accuracy
                  criterion; 4, i.e. 5 replays, for ``"every_d"``, the authors' DEAT-d cap).
    :param attack_mode: ``"train"`` (default: the replays are updates).
    :param kwargs: The common parameters of :class:`AdversarialTrainerBase` (``schedule`` excepted: the
                   criterion is the schedule).
    """

    method_name = "deat"
    progress_keys = ("loss", "accuracy", "k")
    argument_hints = {"max_iter": "DEAT's replays follow the criterion: cap them with max_k",
                      "num_random_init": "DEAT starts each batch uniformly in the ball"}

    @with_common_parameters
    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, criterion: str = "mplus",
                 gamma: float = 1.01, d: int = 3, accuracy_threshold: float = 0.4, max_k: Optional[int] = None,
                 attack_mode: str = "train", **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        self.criterion = check_choice(criterion, "criterion", ("mplus", "every_d", "accuracy"))
        max_k = check_int((4 if criterion == "every_d" else 7) if max_k is None else max_k, "max_k", low=1)
        if criterion == "mplus":
            steps = MPlusSteps(gamma, max_k)
        elif criterion == "every_d":
            steps = KSchedule(EveryD(d, max_k), track_grad_magnitude=True)
        else:
            steps = KSchedule(AccuracyCriterion(accuracy_threshold, max_k), track_grad_magnitude=True)
        self.max_k, self.gamma, self.d, self.accuracy_threshold = max_k, gamma, d, accuracy_threshold
        super().__init__(classifier, eps, 1.25 * eps if eps_step is None else eps_step, 0, 0,
                         attack_mode=attack_mode, base=FreeReplay(carry_delta=False), parts=[steps], **kwargs)

    def config(self) -> Dict[str, Any]:
        return {**super().config(), "criterion": self.criterion, "max_k": self.max_k, "gamma": self.gamma,
                "d": self.d, "accuracy_threshold": self.accuracy_threshold}


class AdversarialTrainerMPlus(AdversarialTrainerBase):
    """
    The M+ criterion (Algorithm 1) around a base: ``k`` = 0 in the first epoch (the base trains on a random
    start with no attack step), 1 after it; the threshold is set to ``gamma * l_X`` after the second epoch
    and, whenever a later epoch's ``l_X`` exceeds it, raised to ``gamma * l_X`` together with ``k``. ``l_X``
    comes from the backward pass of each batch's weight update (zero extra passes).

    Bases: ``"pgd"`` (M+PGD, ``k`` = PGD steps), ``"free"`` (M+DEAT, ``k`` = replays after the first: the
    same as ``AdversarialTrainerDEAT(criterion="mplus")``), ``"trades"`` (M+TRADES), ``"mart"`` (M+MART).
    The criterion on other trainers: ``schedule=MPlusSteps()`` (see "Composing methods").

    | Paper link: https://arxiv.org/abs/2103.03076

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: For PGD/TRADES/MART the floor of the ``eps / k`` step (default ``eps / 4``, the authors'
                     2/255 at 8/255), or the fixed step with ``step_rule="fixed"``; for free the replay step
                     (default ``1.25 eps``).
    :param base: ``"pgd"`` (default), ``"free"``, ``"trades"`` or ``"mart"``.
    :param gamma: Relax factor (default 1.01, the paper's).
    :param max_k: Cap on ``k`` (default 10; 7 for ``"free"``).
    :param step_rule: ``"eps_over_k"`` (default: step ``max(eps / k, eps_step)``, the authors' M+PGD) or
                      ``"fixed"`` (``eps_step`` every epoch); not used by free.
    :param beta: TRADES' / MART's ``beta`` (default 6.0).
    :param num_random_init: Uniform random start (1) or the clean input (0) for the PGD/MART attack (default
                            1; TRADES starts at ``x + 0.001 N(0, 1)`` and DEAT uniformly whatever this is).
    :param attack_mode: Model mode during the attack (default ``"eval"``; ``"train"`` for free).
    :param kwargs: The common parameters of :class:`AdversarialTrainerBase` (``schedule`` excepted).
    """

    method_name = "mplus"
    progress_keys = ("loss", "accuracy", "k")
    argument_hints = {"max_iter": "max_iter is set by the M+ criterion; use max_k to cap it"}

    @with_common_parameters
    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, base: str = "pgd",
                 gamma: float = 1.01, max_k: Optional[int] = None, step_rule: str = "eps_over_k", beta: float = 6.0,
                 num_random_init: Optional[int] = None, attack_mode: Optional[str] = None, **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        base = check_choice(base, "base", ("pgd", "free", "trades", "mart"))
        free = base == "free"
        max_k = check_int((7 if free else 10) if max_k is None else max_k, "max_k", low=1)
        default_step = 1.25 * eps if free else eps / 4
        step = check_number(default_step if eps_step is None else eps_step, "eps_step", low=0.0, low_open=True)
        steps = MPlusSteps(gamma, max_k, step_rule, None if free else step)
        part = FreeReplay(carry_delta=False) if free else make_base(base, beta)
        self.base, self.max_k, self.gamma = base, max_k, steps.schedule.gamma
        self.method_name = f"mplus-{base}"
        init = (0 if base in ("free", "trades") else 1) if num_random_init is None else num_random_init
        super().__init__(classifier, eps, step, 0, init,
                         attack_mode=("train" if free else "eval") if attack_mode is None else attack_mode,
                         base=part, parts=[steps], **kwargs)
