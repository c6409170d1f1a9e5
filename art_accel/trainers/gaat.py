"""
GAAT (Gong): adversarial training where the attack gradient is a Taylor approximation ``J + H delta``
around one exact input gradient ``J`` per batch.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from art_accel.attacks import AttackResult, LossFn, OnDevicePGD, cross_entropy_sum, per_sample, project, uniform_delta
from art_accel.contract import Part
from art_accel.trainers.base import AdversarialTrainerBase
from art_accel.trainers.objectives import PGDAT, BasePart
from art_accel.trainers.signature import with_common_parameters
from art_accel.validation import check_choice, check_int, check_number

Curvature = Callable[[torch.Tensor], torch.Tensor]
#: Largest input (values per sample) for ``hessian="exact_diagonal"``: 2 backward passes per coordinate.
EXACT_DIAGONAL_LIMIT = 4096


def _per_sample_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).flatten(1).sum(1).view((-1,) + (1,) * (a.dim() - 1))


class TaylorPGD(OnDevicePGD):
    """
    GAAT's attack-gradient approximation (Algorithm 2): one exact input gradient ``J`` at the start point
    ``x_0``, then ``max_iter`` cheap steps ``delta += eps_step * sign(J + H (x_adv - x_0))``, projected;
    ``refresh_every=m`` recomputes ``J`` (and the curvature) at the current iterate every ``m`` steps.
    ``first`` keeps the first expansion ``(x_0, J, curvature)`` of the last batch (for the residual).

    :param hessian: ``"gauss_newton"`` (``H = J J^T``), ``"diagonal"`` (Hutchinson's estimate) or
                    ``"exact_diagonal"`` (one Hessian-vector product per input coordinate).
    :param refresh_every: Recompute ``J`` every this many steps (None: never).
    :param hutchinson_samples: Rademacher probes for the diagonal.
    """

    def __init__(self, network, eps, eps_step, max_iter: int, num_random_init: int = 1, model_mode: str = "eval",
                 hessian: str = "gauss_newton", refresh_every: Optional[int] = None, hutchinson_samples: int = 1,
                 strength=None):
        super().__init__(network, eps, eps_step, max_iter, num_random_init, model_mode=model_mode, strength=strength)
        self.hessian, self.refresh_every, self.hutchinson_samples = hessian, refresh_every, hutchinson_samples
        self.first: Optional[Tuple[torch.Tensor, torch.Tensor, Curvature]] = None

    def expansion(self, x_ref: torch.Tensor, y: torch.Tensor,
                  loss_fn: LossFn = cross_entropy_sum) -> Tuple[torch.Tensor, Curvature]:
        """
        ``J`` at ``x_ref`` and the curvature ``u -> H u`` of the chosen Hessian approximation (per sample);
        call it inside :meth:`mode`.
        """
        net, phase = self.network, self.phase
        x_ref = x_ref.detach().requires_grad_(True)
        loss = loss_fn(net.logits(x_ref, phase), y)
        if self.hessian == "gauss_newton":
            jac = net.input_grad(loss, x_ref, phase)
            return jac, lambda u: _per_sample_dot(jac, u) * jac
        jac = net.input_grad(loss, x_ref, phase, create_graph=True)
        diag = torch.zeros_like(x_ref)
        if self.hessian == "exact_diagonal":  # one HVP per input coordinate, all samples at once
            flat = diag.view(diag.shape[0], -1)
            for i in range(flat.shape[1]):
                v = torch.zeros_like(x_ref)
                v.view(v.shape[0], -1)[:, i] = 1.0
                flat[:, i] = net.hvp(jac, x_ref, v, phase).view(v.shape[0], -1)[:, i]
            diag = diag.detach()
            return jac.detach(), lambda u: diag * u
        for _ in range(self.hutchinson_samples):
            v = torch.randint_like(x_ref, 0, 2) * 2 - 1
            diag += v * net.hvp(jac, x_ref, v, phase)
        diag = (diag / self.hutchinson_samples).detach()
        return jac.detach(), lambda u: diag * u

    def perturb(self, x, y, eps=None, eps_step=None, max_iter=None, delta_init=None,
                loss_fn: LossFn = cross_entropy_sum) -> AttackResult:
        if self.targeted:
            raise ValueError("targeted attacks are not supported by the Taylor approximation")
        clip, n, ndim = self.network.clip_values, x.shape[0], x.dim()
        eps = per_sample(self.eps if eps is None else eps, n, ndim, x.device, "eps")
        step = self.eps_step if eps_step is None else eps_step
        if callable(step):
            raise ValueError("budget: GAAT's cheap steps take a fixed or per-sample step, not an adaptive one")
        step = per_sample(step, n, ndim, x.device, "eps_step")
        steps = self.max_iter if max_iter is None else int(max_iter)
        if delta_init is None:
            delta_init = uniform_delta(x, eps) if self.num_random_init else torch.zeros_like(x)
        x_ref = x_adv = project(x + delta_init, x, eps, clip)
        with self.mode():
            jac, curv = self.expansion(x_ref, y, loss_fn)
            self.first = (x_ref, jac, curv)
            for t in range(steps):
                if self.refresh_every and t > 0 and t % self.refresh_every == 0:
                    x_ref = x_adv
                    jac, curv = self.expansion(x_ref, y, loss_fn)
                direction = jac + curv(x_adv - x_ref)
                x_adv = project(x_adv + step * direction.sign(), x, eps, clip)
        return AttackResult(x_adv=x_adv.detach(), x=x, grad=jac)


class NaturalEpochs(BasePart):
    """
    DAT: natural training (1 forward, 1 backward per batch, on the clean batch) for the first ``epochs``
    epochs, then the ``inner`` base. Records ``natural`` and ``k = 0`` in the natural epochs.

    :param inner: The base used after the natural epochs.
    :param epochs: Number of natural epochs.
    """

    def __init__(self, inner: BasePart, epochs: int = 0):
        self.inner = inner
        self.epochs = check_int(epochs, "delay_epochs", low=0)
        self.name, self.separable, self.ddp_ready = inner.name, inner.separable, inner.ddp_ready
        self._natural = False

    def bind(self, trainer) -> None:
        super().bind(trainer)
        self.inner.bind(trainer)

    def config(self) -> Dict[str, Any]:
        return {**self.inner.config(), "delay_epochs": self.epochs}

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        self._natural = epoch < self.epochs
        self.inner.on_epoch_start(epoch, record)
        record.update(k=0 if self._natural else record["k"], natural=self._natural)

    def adversarial(self, batch):
        return batch.x if self._natural else self.inner.adversarial(batch)

    def update(self, batch, x_adv):
        return self.inner.update(batch, x_adv)

    def proxy_loss(self, batch, x_adv, model):
        return self.inner.proxy_loss(batch, x_adv, model)


class TaylorStep(Part):
    """
    GAAT's part: makes :class:`TaylorPGD` the trainer's attack, records the Hessian approximation, and
    with ``track_residual`` the Taylor residual R(x, delta) of eq. 4 on the first batch of each epoch (2 extra
    forwards and, for the diagonal, the HVPs; counted as analysis, not training).
    """

    key = "gaat"
    makes_attack = True

    def __init__(self, hessian: str = "gauss_newton", refresh_every: Optional[int] = None,
                 hutchinson_samples: int = 1, track_residual: bool = False):
        self.hessian = check_choice(hessian, "hessian", ("gauss_newton", "diagonal", "exact_diagonal"))
        self.refresh_every = None if refresh_every is None else check_int(refresh_every, "refresh_every", low=1)
        self.hutchinson_samples = check_int(hutchinson_samples, "hutchinson_samples", low=1)
        self.track_residual = bool(track_residual)
        self._residual: Optional[float] = None

    def make_attack(self, trainer) -> TaylorPGD:
        size = int(np.prod(trainer.classifier.input_shape))
        if self.hessian == "exact_diagonal" and size > EXACT_DIAGONAL_LIMIT:
            raise ValueError(f"hessian: 'exact_diagonal' costs one Hessian-vector product per input coordinate "
                             f"({size} here); it is offered for inputs of at most {EXACT_DIAGONAL_LIMIT}")
        s = trainer.strength
        return TaylorPGD(trainer.network, s.eps, s.eps_step, s.max_iter, trainer.num_random_init,
                         trainer.attack_mode, self.hessian, self.refresh_every, self.hutchinson_samples, strength=s)

    def config(self) -> Dict[str, Any]:
        return {"hessian": self.hessian, "refresh_every": self.refresh_every,
                "hutchinson_samples": self.hutchinson_samples}

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        self._residual = None
        record["hessian"] = self.hessian

    def after_attack(self, batch, result) -> None:
        if self.track_residual and self._residual is None:
            x_ref, jac, curv = self.trainer.attack.first
            self._residual = self.residual(x_ref, result.x_adv, batch.y, jac, curv)

    def residual(self, x_ref: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, jac: torch.Tensor,
                 curv: Curvature) -> float:
        """Mean over the batch of eq. 4's ``|l(x_ref + u) - l(x_ref) - u.J - u.H u / 2|``, u = x_adv - x_ref."""
        t = self.trainer
        u = x_adv - x_ref
        with t.attack.mode(), torch.no_grad():
            l_adv = F.cross_entropy(t.network.logits(x_adv, "analysis"), y, reduction="none")
            l_ref = F.cross_entropy(t.network.logits(x_ref, "analysis"), y, reduction="none")
        flat = u.flatten(1)
        taylor = (flat * jac.flatten(1)).sum(1) + 0.5 * (flat * curv(u).flatten(1)).sum(1)
        return float((l_adv - l_ref - taylor).abs().mean())

    def on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        return {"residual": self._residual} if self.track_residual else {}


class AdversarialTrainerGAAT(AdversarialTrainerBase):
    """
    GAAT (Algorithm 2): per batch, one exact input gradient ``J`` at the start point; then ``max_iter`` cheap
    steps ``delta += eps_step * sign(J + H (x_adv - x_0))``, projected, and one update on the result
    (:class:`TaylorPGD`). ``hessian``: ``"gauss_newton"`` (eq. 8, ``H = J J^T``: 2 forwards and 2 backwards per
    batch whatever ``max_iter``), ``"diagonal"`` (eq. 10, Hutchinson: ``2 + 2 * hutchinson_samples`` backwards)
    or ``"exact_diagonal"`` (one HVP per input coordinate); ``refresh_every`` recomputes ``J``; ``delay_epochs``
    trains naturally first (DAT + GAAT, :class:`NaturalEpochs`). Why Gauss-Newton GAAT is one FGSM-like step of
    ``min(max_iter * eps_step, eps)``, and why the exact diagonal of a ReLU network gives the same step:
    ``docs/methods/gaat.rst``.

    | Paper link: https://arxiv.org/abs/2309.09464

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: Step of the cheap steps (default ``1.25 eps / max_iter``: the paper's CIFAR total, {10,
                     1/255, 8/255}).
    :param max_iter: Cheap steps per batch (default 10).
    :param hessian: ``"gauss_newton"`` (default), ``"diagonal"`` or ``"exact_diagonal"``.
    :param refresh_every: Recompute ``J`` every this many steps (default None: never).
    :param delay_epochs: Natural epochs before GAAT starts (default 0).
    :param hutchinson_samples: Rademacher probes for the diagonal (default 1).
    :param num_random_init: 1 (default) starts uniformly in the ball, 0 at the clean input (the paper's δ = 0).
    :param track_residual: Record the Taylor residual R(x, delta) of eq. 4 on the first batch of each epoch.
    :param kwargs: The common parameters of :class:`AdversarialTrainerBase`.
    """

    method_name = "gaat"
    progress_keys = ("loss", "accuracy", "k")

    @with_common_parameters
    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, max_iter: int = 10,
                 hessian: str = "gauss_newton", refresh_every: Optional[int] = None, delay_epochs: int = 0,
                 hutchinson_samples: int = 1, num_random_init: int = 1, track_residual: bool = False, **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        taylor = TaylorStep(hessian, refresh_every, hutchinson_samples, track_residual)
        base = NaturalEpochs(PGDAT(), delay_epochs)
        max_iter = check_int(max_iter, "max_iter", low=1)
        super().__init__(classifier, eps, 1.25 * eps / max_iter if eps_step is None else eps_step, max_iter,
                         num_random_init, base=base, parts=[taylor], **kwargs)
