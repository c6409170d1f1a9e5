"""
N-FGSM (de Jorge, Bibi, Volpi, Sanyal, Torr, Rogez, Dokania, NeurIPS 2022): one FGSM step from a start with
noise larger than the budget, and no projection back onto the eps-ball.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

from art_accel.attacks import uniform_delta
from art_accel.contract import Part
from art_accel.trainers.base import AdversarialTrainerBase
from art_accel.trainers.signature import with_common_parameters
from art_accel.validation import check_number


class NoiseStart(Part):
    """
    N-FGSM's budget part: each batch's attack starts from ``x + eta``, ``eta`` uniform in ``[-k eps, k eps]``
    (clipped to the input range), and its result is not projected onto the eps-ball (only clipped to the input
    range), so ``|x_adv - x|`` reaches ``k eps + eps_step``.

    :param noise_factor: ``k``, the noise magnitude relative to eps.
    """

    key = "noise_start"
    sets_eps = True
    sets_start = True

    def __init__(self, noise_factor: float = 2.0):
        self.noise_factor = check_number(noise_factor, "noise_factor", low=0.0)

    def config(self) -> Dict[str, Any]:
        return {"noise_factor": self.noise_factor}

    def budget(self, batch) -> Dict[str, Any]:
        eps = self.trainer.strength.eps
        return {"eps": math.inf, "delta_init": uniform_delta(batch.x, self.noise_factor * eps)}


class AdversarialTrainerNFGSM(AdversarialTrainerBase):
    """
    N-FGSM: ``x_adv = clip(x + eta + eps_step * sign(grad_x l(x + eta)))`` with ``eta ~ U[-k eps, k eps]`` and no
    projection onto the eps-ball (:class:`NoiseStart`); one update on ``x_adv``. 2 forward and 2 backward
    passes per batch, as FGSM-RS. Defaults and their source: ``docs/methods/nfgsm.rst``.

    | Paper link: https://arxiv.org/abs/2202.01181

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: The budget (validation's, and the noise's unit).
    :param eps_step: The FGSM step ``alpha`` (default ``eps``, the authors').
    :param noise_factor: ``k``: noise uniform in ``[-k eps, k eps]`` (default 2, the authors').
    :param kwargs: The common parameters of :class:`AdversarialTrainerBase`.
    """

    method_name = "nfgsm"
    argument_hints = {"max_iter": "N-FGSM is one step: use AdversarialTrainerPGD for several",
                      "num_random_init": "N-FGSM starts from noise of noise_factor * eps"}

    @with_common_parameters
    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, noise_factor: float = 2.0,
                 **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        super().__init__(classifier, eps, eps if eps_step is None else eps_step, 1, 1,
                         parts=[NoiseStart(noise_factor)], **kwargs)
