"""
On-device L-inf PGD/FGSM built from ART attack objects, with per-sample ``eps`` and ``eps_step``.

One attack step is one forward and one input-only backward (``torch.autograd.grad``): no parameter
gradients, no prediction passes. PGD-10 costs 10 forwards and 10 backwards (ART's ``generate`` spends two
more forwards on predictions).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from art_accel.network import Network

Budget = Union[float, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_sum(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum-reduced cross-entropy: its input gradient is each sample's own gradient (batch-size free)."""
    return F.cross_entropy(logits, y, reduction="sum")


def per_sample(value, n: int, ndim: int, device: torch.device, name: str) -> Budget:
    """
    A budget as a float, or as a tensor of shape (n, 1, ..., 1) that broadcasts over a batch.

    :param value: A number, or a per-sample array / tensor of shape (n,).
    """
    if value is None:
        raise ValueError(f"{name} must be given")
    if isinstance(value, (int, float, np.floating, np.integer)):
        return float(value)
    t = torch.as_tensor(value, dtype=torch.float32, device=device)
    if t.dim() == 0:
        return t.reshape((1,) * ndim)
    if t.shape != (n,):
        raise ValueError(f"{name}: per-sample values must have shape ({n},), got {tuple(t.shape)}")
    return t.reshape((n,) + (1,) * (ndim - 1))


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: Budget, clip_values) -> torch.Tensor:
    """Clip to the valid range, then project onto the L-inf ball of radius ``eps`` around ``x`` (ART's order)."""
    if clip_values is not None:
        x_adv = x_adv.clamp(float(clip_values[0]), float(clip_values[1]))
    if isinstance(eps, float):
        return x + (x_adv - x).clamp(-eps, eps)
    return x + torch.maximum(torch.minimum(x_adv - x, eps), -eps)


def uniform_delta(x: torch.Tensor, eps: Budget) -> torch.Tensor:
    """Uniform noise in [-eps, eps] per element (eps a float or a broadcastable tensor)."""
    return (torch.rand_like(x) * 2.0 - 1.0) * eps


@dataclass
class AttackStrength:
    """
    The strength of an attack: budget ``eps``, step ``eps_step`` and steps ``max_iter`` (for Free / DEAT the
    replays after the first). A trainer and its attack share one, so schedules change it in one place.
    """

    eps: Budget
    eps_step: Budget
    max_iter: int


@dataclass
class AttackResult:
    """
    Output of :meth:`OnDevicePGD.perturb`: the adversarial batch, the clean batch it started from and the
    perturbation ``delta``.

    ``grad`` is the input gradient of the summed loss at the last point where a gradient was taken (the
    point the last step started from); ``None`` when ``max_iter=0``.
    """

    x_adv: torch.Tensor
    x: torch.Tensor
    grad: Optional[torch.Tensor]

    @property
    def delta(self) -> torch.Tensor:
        """``x_adv - x``, computed on access (training uses only ``x_adv``)."""
        return self.x_adv - self.x


class OnDevicePGD:
    """
    L-inf projected gradient descent on torch tensors on the classifier's device.

    :param network: The :class:`Network` (or an ART ``PyTorchClassifier``) to attack.
    :param eps: Maximum perturbation (float or per-sample tensor of shape (N,)).
    :param eps_step: Step size (float or per-sample tensor).
    :param max_iter: Number of steps; ``max_iter=1`` with ``eps_step=eps`` is FGSM.
    :param num_random_init: 0 starts at ``x``; 1 starts uniformly in the ball; r > 1 runs r restarts and keeps,
                            per sample, the one with the highest final loss (one extra forward per restart).
    :param targeted: Minimise the loss towards ``y`` instead of maximising it.
    :param model_mode: ``"eval"`` (default, as ART's ``loss_gradient``) or ``"train"`` during the attack;
                       the model's previous mode is restored afterwards.
    :param phase: Accounting phase its passes are counted under (``"attack"`` is training cost).
    :param strength: An :class:`AttackStrength` to share (a trainer's); ``eps``, ``eps_step`` and ``max_iter``
                     are then ignored.
    """

    def __init__(
        self,
        network,
        eps: Budget,
        eps_step: Budget,
        max_iter: int,
        num_random_init: int = 0,
        targeted: bool = False,
        model_mode: str = "eval",
        phase: str = "attack",
        strength: Optional[AttackStrength] = None,
    ):
        self.network = network if isinstance(network, Network) else Network(network)
        if model_mode not in ("eval", "train"):
            raise ValueError(f"model_mode must be 'eval' or 'train', got {model_mode!r}")
        if int(max_iter) != max_iter or max_iter < 0:
            raise ValueError(f"max_iter must be a non-negative integer, got {max_iter!r}")
        if int(num_random_init) != num_random_init or num_random_init < 0:
            raise ValueError(f"num_random_init must be a non-negative integer, got {num_random_init!r}")
        self.strength = AttackStrength(eps, eps_step, int(max_iter)) if strength is None else strength
        self.num_random_init = int(num_random_init)
        self.targeted = bool(targeted)
        self.model_mode = model_mode
        self.phase = phase

    eps = property(lambda self: self.strength.eps, lambda self, v: setattr(self.strength, "eps", v),
                   doc="The budget (``strength.eps``).")
    eps_step = property(lambda self: self.strength.eps_step, lambda self, v: setattr(self.strength, "eps_step", v),
                        doc="The step (``strength.eps_step``).")
    max_iter = property(lambda self: self.strength.max_iter,
                        lambda self, v: setattr(self.strength, "max_iter", int(v)),
                        doc="The steps (``strength.max_iter``).")

    @classmethod
    def from_art(cls, attack, network: Optional[Network] = None, model_mode: str = "eval") -> "OnDevicePGD":
        """
        Build from an ART ``ProjectedGradientDescent`` (any framework wrapper) or ``FastGradientMethod`` with
        ``norm=np.inf``, attacking its own estimator (or ``network`` when given).
        """
        from art.attacks.evasion import FastGradientMethod

        norm = getattr(attack, "norm", None)
        if norm not in (np.inf, "inf"):
            raise ValueError(f"attack: only the L-inf norm is supported, got norm={norm!r}")
        if getattr(attack, "decay", None) is not None:
            raise ValueError("attack: momentum (decay) is not supported")
        if network is None:
            from art_accel.validation import check_classifier

            network = Network(check_classifier(attack.estimator, "attack.estimator"))
        if isinstance(attack, FastGradientMethod) and not hasattr(attack, "max_iter"):
            return cls(network, attack.eps, attack.eps, 1, attack.num_random_init, attack.targeted, model_mode)
        return cls(
            network, attack.eps, attack.eps_step, attack.max_iter, attack.num_random_init, attack.targeted, model_mode
        )

    def perturb(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        eps: Optional[Budget] = None,
        eps_step: Optional[Budget] = None,
        max_iter: Optional[int] = None,
        delta_init: Optional[torch.Tensor] = None,
        loss_fn: LossFn = cross_entropy_sum,
    ) -> AttackResult:
        """
        Perturb a batch.

        :param x: Clean inputs (N, ...), on the classifier's device, in its clip range.
        :param y: Class indices (N,).
        :param eps: Overrides the budget; float or per-sample tensor of shape (N,).
        :param eps_step: Overrides the step size; float, per-sample tensor of shape (N,), or a function of the
                         step's input gradient returning either (ATAS' adaptive step).
        :param max_iter: Overrides the number of steps.
        :param delta_init: Start from ``x + delta_init`` (clipped and projected) instead of the random start.
        :param loss_fn: Loss to ascend, ``loss_fn(logits, y) -> scalar``; sum-reduced cross-entropy by default.
        :return: :class:`AttackResult`.
        """
        net = self.network
        n, ndim = x.shape[0], x.dim()
        eps = per_sample(self.eps if eps is None else eps, n, ndim, x.device, "eps")
        step = self.eps_step if eps_step is None else eps_step
        if not callable(step):
            step = per_sample(step, n, ndim, x.device, "eps_step")
        steps = self.max_iter if max_iter is None else int(max_iter)
        sign = -1.0 if self.targeted else 1.0
        with self.mode():
            restarts = max(1, self.num_random_init) if delta_init is None else 1
            best = None
            for _ in range(restarts):
                if delta_init is not None:
                    start = project(x + delta_init, x, eps, net.clip_values)
                elif self.num_random_init > 0:
                    start = project(x + uniform_delta(x, eps), x, eps, net.clip_values)
                else:
                    start = x
                x_adv, grad = self._iterate(x, y, start, eps, step, steps, sign, loss_fn)
                if restarts > 1:
                    best = self._keep_best(best, x_adv, grad, y, loss_fn, sign)
            if best is not None:
                x_adv, grad = best[0], best[1]
        return AttackResult(x_adv=x_adv, x=x, grad=grad)

    def input_gradient(self, x_adv: torch.Tensor, y: torch.Tensor, loss_fn: LossFn = cross_entropy_sum):
        """
        Input gradient of ``loss_fn`` at ``x_adv`` (one forward, one input-only backward), without changing
        the model's mode: call it inside :meth:`mode` or set the mode yourself.
        """
        x_adv = x_adv.detach().requires_grad_(True)
        loss = loss_fn(self.network.logits(x_adv, self.phase), y)
        return self.network.input_grad(loss, x_adv, self.phase)

    @contextmanager
    def mode(self):
        """Put the model in the attack's mode (``model_mode``), restoring its previous mode on exit."""
        model = self.network.model
        was_training = model.training
        model.train(self.model_mode == "train")
        try:
            yield
        finally:
            model.train(was_training)

    def _iterate(self, x, y, x_adv, eps, step, steps, sign, loss_fn):
        grad = None
        for _ in range(steps):
            grad = self.input_gradient(x_adv, y, loss_fn)
            size = per_sample(step(grad), x.shape[0], x.dim(), x.device, "eps_step") if callable(step) else step
            x_adv = project(x_adv.detach() + sign * size * grad.sign(), x, eps, self.network.clip_values)
        return x_adv.detach(), grad

    def _keep_best(self, best, x_adv, grad, y, loss_fn, sign):
        with torch.no_grad():
            logits = self.network.logits(x_adv, self.phase)
            losses = F.cross_entropy(logits, y, reduction="none") if loss_fn is cross_entropy_sum else None
            if losses is None:
                losses = torch.stack([loss_fn(logits[i : i + 1], y[i : i + 1]) for i in range(len(y))])
            losses = sign * losses
        if best is None:
            return x_adv, grad, losses
        better = losses > best[2]
        mask = better.reshape((-1,) + (1,) * (x_adv.dim() - 1))
        grad = None if grad is None else torch.where(mask, grad, best[1])
        return torch.where(mask, x_adv, best[0]), grad, torch.where(better, losses, best[2])
