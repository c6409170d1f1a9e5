"""
Reference methods in art-accel's loop: PGD-AT, FGSM-RS, Free, TRADES and MART, each the loop with one base
part (:mod:`art_accel.trainers.bases`). They are the baselines of the benchmarks.
"""
from __future__ import annotations

from typing import Optional

from art_accel.trainers.base import AdversarialTrainerBase
from art_accel.trainers.objectives import MART, TRADES, FreeReplay
from art_accel.trainers.signature import with_common_parameters
from art_accel.validation import check_int, check_number


class AdversarialTrainerPGD(AdversarialTrainerBase):
    """
    PGD adversarial training (Madry et al.): ``max_iter`` PGD steps from a random start, one update on the
    result. Cost per batch: ``max_iter + 1`` forward and backward passes.

    | Paper link: https://arxiv.org/abs/1706.06083

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: Attack step size (default ``eps / 4``, i.e. 2/255 at 8/255).
    :param max_iter: PGD steps (default 7, as ART's ``AdversarialTrainerMadryPGD``).
    :param num_random_init: 1 (default) for a uniform random start, 0 to start at the clean input.
    :param kwargs: The common parameters (``nb_epochs``, ``batch_size``, ``attack_mode``, ``augmentation``,
                   ``verbose``, ``schedule``, ``budget``) of :class:`AdversarialTrainerBase`.
    """

    method_name = "pgd"

    @with_common_parameters
    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, max_iter: int = 7,
                 num_random_init: int = 1, **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        super().__init__(classifier, eps, eps / 4 if eps_step is None else eps_step, max_iter, num_random_init,
                         **kwargs)


class AdversarialTrainerFGSM(AdversarialTrainerBase):
    """
    FGSM with random start ("Fast is better than free", Wong et al.): uniform start in the eps-ball, one
    signed-gradient step of ``eps_step`` (default ``1.25 * eps``), projection, one update. 2 backward passes
    per batch. Known to overfit catastrophically at large eps.

    | Paper link: https://arxiv.org/abs/2001.03994

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: Step size (default ``1.25 * eps``, the paper's choice).
    :param kwargs: The common parameters of :class:`AdversarialTrainerBase`.
    """

    method_name = "fgsm"
    argument_hints = {"max_iter": "FGSM-RS is one step: use AdversarialTrainerPGD for several",
                      "num_random_init": "FGSM-RS always starts uniformly in the ball"}

    @with_common_parameters
    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        super().__init__(classifier, eps, 1.25 * eps if eps_step is None else eps_step, 1, 1, **kwargs)


class AdversarialTrainerFree(AdversarialTrainerBase):
    """
    Free adversarial training (Shafahi et al.): each batch is replayed ``nb_replays`` times; each replay is
    one forward and one backward that yields both the weight gradient (optimizer step) and the input gradient
    (perturbation step ``delta += eps_step * sign(grad)``, projected). The perturbation is carried over to the
    next batch, as in the paper. ``nb_replays`` backward passes per batch; the attack necessarily runs in
    train mode. The paper divides the epoch count by ``nb_replays``; pass ``nb_epochs`` accordingly.

    | Paper link: https://arxiv.org/abs/1904.12843

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: Perturbation step per replay (default ``eps``, the paper's choice).
    :param nb_replays: Replays per batch ``m`` (default 4).
    :param attack_mode: ``"train"`` (default: the replays are updates).
    :param kwargs: The common parameters of :class:`AdversarialTrainerBase`.
    """

    method_name = "free"
    argument_hints = {"max_iter": "Free replays each batch: set nb_replays",
                      "num_random_init": "Free carries its perturbation over batches (it starts at zero)"}

    @with_common_parameters
    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, nb_replays: int = 4,
                 attack_mode: str = "train", **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        replays = check_int(nb_replays, "nb_replays", low=1)
        super().__init__(classifier, eps, eps if eps_step is None else eps_step, replays - 1, 0,
                         attack_mode=attack_mode, base=FreeReplay(carry_delta=True), **kwargs)

    @property
    def nb_replays(self) -> int:
        """Replays per batch."""
        return self.objective.nb_replays


class AdversarialTrainerTRADES(AdversarialTrainerBase):
    """
    TRADES (Zhang et al.): the attack maximises KL(f(x) || f(x')) from ``x + 0.001 * N(0, 1)`` (the authors'
    start); the update minimises ``CE(f(x), y) + beta * KL(f(x) || f(x'))``. Cost per batch: ``max_iter + 3``
    forwards (one clean forward without gradient for the attack target) and ``max_iter + 2`` backwards (the
    update back-propagates through both the clean and the adversarial forward).

    | Paper link: https://arxiv.org/abs/1901.08573

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: Attack step (default ``eps / 4``).
    :param max_iter: Attack steps (default 10, the authors').
    :param beta: Weight of the robustness term (default 6.0, the authors').
    :param kwargs: The common parameters of :class:`AdversarialTrainerBase`.
    """

    method_name = "trades"
    argument_hints = {"num_random_init": "TRADES starts its attack at x + 0.001 N(0, 1), as its authors"}

    @with_common_parameters
    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, max_iter: int = 10,
                 beta: float = 6.0, **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        super().__init__(classifier, eps, eps / 4 if eps_step is None else eps_step, max_iter, 0,
                         base=TRADES(beta), **kwargs)


class AdversarialTrainerMART(AdversarialTrainerBase):
    """
    MART (Wang et al.): PGD with cross-entropy builds the adversarial batch; the update minimises the
    boosted cross-entropy on it plus ``beta`` times a KL term weighted by the clean misclassification
    probability. Cost per batch: ``max_iter + 2`` forwards and backwards. We start the attack uniformly in the
    ball (the authors use ``0.001 * N(0, 1)``).

    | Paper link: https://openreview.net/forum?id=rklOg6EFwS

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: Attack step (default ``eps / 4``).
    :param max_iter: Attack steps (default 10).
    :param beta: Weight of the KL term (default 6.0, the authors').
    :param kwargs: The common parameters of :class:`AdversarialTrainerBase`.
    """

    method_name = "mart"

    @with_common_parameters
    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, max_iter: int = 10,
                 beta: float = 6.0, **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        super().__init__(classifier, eps, eps / 4 if eps_step is None else eps_step, max_iter, 1,
                         base=MART(beta), **kwargs)
