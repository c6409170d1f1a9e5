"""
ATTA (Zheng et al.): single-step training from the previous epoch's perturbation with a fixed step; ATAS'
budget part without its adaptive step.
"""
from __future__ import annotations

from typing import Optional, Tuple

from art_accel.state import PerSampleState
from art_accel.trainers.atas import PAPER_BATCH_SIZE, AdaptiveStep
from art_accel.trainers.base import AdversarialTrainerBase
from art_accel.trainers.signature import with_common_parameters
from art_accel.validation import check_int, check_number, check_resolution


class AdversarialTrainerATTA(AdversarialTrainerBase):
    """
    ATTA (Zheng et al.): single-step training from the previous epoch's perturbation with a fixed step
    ``eps_step`` (default ``eps / 2``, ATTA-1's 4/255 at 8/255): :class:`AdaptiveStep` with
    ``adaptive=False``.

    | Paper link: https://arxiv.org/abs/1912.11969

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: Fixed step (default ``eps / 2``).
    :param reset_every: Reset the stored perturbations every this many epochs (default 10).
    :param delta_resolution: Store perturbations at this ``(h, w)`` and upsample them when used.
    :param kwargs: The common parameters of :class:`AdversarialTrainerBase`.
    """

    method_name = "atta"
    argument_hints = {"max_iter": "ATTA is single-step", "num_random_init": "ATTA starts from the stored perturbation"}
    progress_keys = ("loss", "accuracy", "step_mean")

    @with_common_parameters
    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, reset_every: int = 10,
                 delta_resolution: Optional[Tuple[int, int]] = None, **kwargs):
        eps = check_number(eps, "eps", low=0.0, low_open=True)
        part = AdaptiveStep(0.5, 0.01 * PAPER_BATCH_SIZE, 2 * eps, eps / 2, 1.75 * eps, 0,
                            check_int(reset_every, "reset_every", low=1), "previous",
                            check_resolution(delta_resolution),
                            adaptive=False)
        super().__init__(classifier, eps, eps / 2 if eps_step is None else eps_step, 1, 1, parts=[part], **kwargs)

    @property
    def state(self) -> Optional[PerSampleState]:
        """The per-sample state (``v`` and ``delta``), None before ``fit``."""
        return self.part(AdaptiveStep).state
