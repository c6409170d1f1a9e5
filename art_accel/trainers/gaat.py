"""
GAAT (Gong): adversarial training where the attack gradient is a Taylor approximation ``J + H delta``
around one exact input gradient ``J`` per batch.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from art_accel.attacks import project, uniform_delta
from art_accel.trainers.base import AdversarialTrainerBase, Batch, StepOutput
from art_accel.validation import check_choice, check_int, check_number

Curvature = Callable[[torch.Tensor], torch.Tensor]


def _per_sample_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).flatten(1).sum(1).view((-1,) + (1,) * (a.dim() - 1))


class AdversarialTrainerGAAT(AdversarialTrainerBase):
    """
    GAAT (Algorithm 2): per batch, one exact input gradient ``J`` at the start point ``x_0`` (random start
    by default); then ``max_iter`` cheap steps ``delta += eps_step * sign(J + H (x_adv - x_0))``, projected,
    and one update on the result.

    - ``hessian="gauss_newton"`` (the paper's eq. 8): ``H = J J^T`` per sample, applied as ``(J . u) J`` and
      never materialised. Then ``J + H u = (1 + J . u) J`` has the sign pattern of ``sign(J)`` at every step
      (the factor starts at 1 and only grows), so iterated GAAT equals ONE FGSM-like step of length
      ``min(max_iter * eps_step, eps)`` from the start point: FGSM-RS's cost and its catastrophic-overfitting
      risk. Cost per batch: 2 forwards, 2 backwards, whatever ``max_iter``.
    - ``hessian="diagonal"`` (eq. 10): the Hessian diagonal estimated by Hutchinson, ``E[v * (H v)]`` with
      Rademacher ``v`` and ``hutchinson_samples`` Hessian-vector products. It can be negative and does not
      collapse. Each HVP back-propagates through the forward and backward graphs: 2 backward passes. Cost per
      batch: 2 forwards, ``2 + 2 * hutchinson_samples`` backwards.
    - ``refresh_every=m``: recompute the exact ``J`` (and the curvature) at the current iterate every ``m``
      steps: +1 forward and backward (+ HVPs) per refresh; ``m = 1`` is PGD.
    - ``delay_epochs``: natural training (1 forward, 1 backward per batch) first, then GAAT (DAT + GAAT).

    | Paper link: https://arxiv.org/abs/2309.09464

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: Step of the cheap steps (default ``eps / 4``).
    :param max_iter: Cheap steps per batch (default 10).
    :param hessian: ``"gauss_newton"`` (default) or ``"diagonal"``.
    :param refresh_every: Recompute ``J`` every this many steps (default None: never).
    :param delay_epochs: Natural epochs before GAAT starts (default 0).
    :param hutchinson_samples: Rademacher probes for the diagonal (default 1).
    :param num_random_init: 1 (default) starts uniformly in the ball, 0 at the clean input (the paper's δ = 0).
    :param track_residual: Record the Taylor residual R(x, delta) of eq. 4 on the first batch of each epoch
                           (2 extra forwards and, for the diagonal, the HVPs; counted as analysis, not training).
    :param kwargs: ``nb_epochs``, ``batch_size``, ``attack_mode``, ``augmentation``, ``verbose``.
    """

    method_name = "gaat"
    progress_keys = ("loss", "accuracy", "k")

    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, max_iter: int = 10,
                 hessian: str = "gauss_newton", refresh_every: Optional[int] = None, delay_epochs: int = 0,
                 hutchinson_samples: int = 1, num_random_init: int = 1, track_residual: bool = False, **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        self.hessian = check_choice(hessian, "hessian", ("gauss_newton", "diagonal"))
        self.refresh_every = None if refresh_every is None else check_int(refresh_every, "refresh_every", low=1)
        self.delay_epochs = check_int(delay_epochs, "delay_epochs", low=0)
        self.hutchinson_samples = check_int(hutchinson_samples, "hutchinson_samples", low=1)
        self.track_residual = bool(track_residual)
        max_iter = check_int(max_iter, "max_iter", low=1)
        super().__init__(classifier, eps, eps / 4 if eps_step is None else eps_step, max_iter, num_random_init,
                         **kwargs)
        self._natural = False
        self._residual: Optional[float] = None

    def _config(self) -> Dict[str, Any]:
        return {**super()._config(), "hessian": self.hessian, "refresh_every": self.refresh_every,
                "delay_epochs": self.delay_epochs, "hutchinson_samples": self.hutchinson_samples}

    def _on_epoch_start(self, epoch: int) -> Dict[str, Any]:
        self._natural = epoch < self.delay_epochs
        self._residual = None
        record = super()._on_epoch_start(epoch)
        record.update(k=0 if self._natural else self.max_iter, hessian=self.hessian, natural=self._natural)
        return record

    def expansion(self, x_ref: torch.Tensor, y: torch.Tensor, phase: str = "attack") -> Tuple[torch.Tensor,
                                                                                              Curvature]:
        """
        ``J`` at ``x_ref`` and the curvature ``u -> H u`` of the chosen Hessian approximation (per sample);
        call it inside ``self.attack.mode()``.
        """
        net = self.network
        if self.hessian == "gauss_newton":
            x_ref = x_ref.detach().requires_grad_(True)
            loss = F.cross_entropy(net.logits(x_ref, phase), y, reduction="sum")
            jac = net.input_grad(loss, x_ref, phase)
            return jac, lambda u: _per_sample_dot(jac, u) * jac
        x_ref = x_ref.detach().requires_grad_(True)
        loss = F.cross_entropy(net.logits(x_ref, phase), y, reduction="sum")
        jac = net.input_grad(loss, x_ref, phase, create_graph=True)
        diag = torch.zeros_like(x_ref)
        for _ in range(self.hutchinson_samples):
            v = torch.randint_like(x_ref, 0, 2) * 2 - 1
            diag += v * net.hvp(jac, x_ref, v, phase)
        diag = (diag / self.hutchinson_samples).detach()
        return jac.detach(), lambda u: diag * u

    def _perturb(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                 Curvature]:
        clip = self.network.clip_values
        start = uniform_delta(x, self.eps) if self.num_random_init else torch.zeros_like(x)
        x_ref = x_adv = project(x + start, x, self.eps, clip)
        with self.attack.mode():
            jac, curv = self.expansion(x_ref, y)
            first = (x_ref, jac, curv)
            for t in range(self.max_iter):
                if self.refresh_every and t > 0 and t % self.refresh_every == 0:
                    x_ref = x_adv
                    jac, curv = self.expansion(x_ref, y)
                direction = jac + curv(x_adv - x_ref)
                x_adv = project(x_adv + self.eps_step * direction.sign(), x, self.eps, clip)
        return (x_adv.detach(),) + first

    def _train_batch(self, batch: Batch) -> StepOutput:
        if self._natural:
            return self._update(batch.x, batch.y)
        x_adv, x_ref, jac, curv = self._perturb(batch.x, batch.y)
        if self.track_residual and self._residual is None:
            self._residual = self.residual(x_ref, x_adv, batch.y, jac, curv)
        return self._update(x_adv, batch.y)

    def residual(self, x_ref: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, jac: torch.Tensor,
                 curv: Curvature) -> float:
        """Mean over the batch of eq. 4's ``|l(x_ref + u) - l(x_ref) - u.J - u.H u / 2|``, u = x_adv - x_ref."""
        u = x_adv - x_ref
        with self.attack.mode(), torch.no_grad():
            l_adv = F.cross_entropy(self.network.logits(x_adv, "analysis"), y, reduction="none")
            l_ref = F.cross_entropy(self.network.logits(x_ref, "analysis"), y, reduction="none")
        flat = u.flatten(1)
        taylor = (flat * jac.flatten(1)).sum(1) + 0.5 * (flat * curv(u).flatten(1)).sum(1)
        return float((l_adv - l_ref - taylor).abs().mean())

    def _on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        out = super()._on_epoch_end(epoch, record)
        if self.track_residual:
            out["residual"] = self._residual
        return out
