"""
AWP (Wu, Xia, Wang, NeurIPS 2020): adversarial weight perturbation around another base's update, in
art-accel's loop so that it composes with schedules and per-sample budgets (ART's
``AdversarialTrainerAWPPyTorch`` runs its own loop and takes one scalar eps).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional

import torch

from art_accel import distributed
from art_accel.trainers.base import AdversarialTrainerBase
from art_accel.trainers.objectives import BasePart, FreeReplay, make_base
from art_accel.trainers.signature import with_common_parameters
from art_accel.validation import check_int, check_number

#: The AWP authors' gamma per base (AT-AWP 0.01, TRADES-AWP 5e-3); MART takes PGD-AT's.
AUTHORS_GAMMA = {"pgd": 0.01, "trades": 5e-3, "mart": 0.01}


class WeightPerturbation(BasePart):
    """
    The AWP base part around a separable base (PGD-AT, TRADES, MART): per batch, a proxy copy of the model
    takes one SGD ascent step on the base's training loss at the adversarial batch (learning rate
    ``proxy_lr``); the layer-wise normalised weight difference, scaled by ``gamma`` times each layer's weight
    norm, is added to the model for the base's update and removed afterwards. Cost per batch: the base's
    passes plus the proxy's forward(s) and one backward, counted in the attack phase. Under
    DistributedDataParallel the proxy's gradients are averaged over the ranks before the step (one all-reduce
    of the gradient's size per batch), so every rank computes the perturbation of the global batch.

    :param inner: The base whose update is perturbed.
    :param gamma: Relative size of the weight perturbation.
    :param proxy_lr: Learning rate of the proxy's ascent step.
    :param warmup_epochs: Epochs of the plain base before AWP starts.
    """

    key = "base"

    def __init__(self, inner: BasePart, gamma: float = 0.01, proxy_lr: float = 0.01, warmup_epochs: int = 0):
        if not inner.separable:
            raise ValueError(f"base: AWP perturbs the weights around a separate adversarial batch; "
                             f"{inner.name!r} has none (its attack is fused into its updates)")
        self.inner = inner
        self.gamma = check_number(gamma, "gamma", low=0.0)
        self.proxy_lr = check_number(proxy_lr, "proxy_lr", low=0.0, low_open=True)
        self.warmup_epochs = check_int(warmup_epochs, "warmup_epochs", low=0)
        self.name = "awp" if inner.name == "pgd" else f"awp-{inner.name}"
        self._proxy: Optional[torch.nn.Module] = None
        self._active = False

    def bind(self, trainer) -> None:
        super().bind(trainer)
        self.inner.bind(trainer)

    def config(self) -> Dict[str, Any]:
        return {**self.inner.config(), "gamma": self.gamma, "proxy_lr": self.proxy_lr,
                "warmup_epochs": self.warmup_epochs}

    def on_fit_start(self, n_samples):
        self._proxy = copy.deepcopy(self.trainer.network.model)

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        self._active = epoch >= self.warmup_epochs and self.gamma > 0
        self.inner.on_epoch_start(epoch, record)
        record["awp"] = self._active

    def adversarial(self, batch):
        return self.inner.adversarial(batch)

    def proxy_loss(self, batch, x_adv, model):
        return self.inner.proxy_loss(batch, x_adv, model)

    def _weight_perturbation(self, batch, x_adv: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One ascent step of the proxy; the layer-wise normalised difference for weights of dim > 1."""
        net = self.trainer.network
        model, proxy = net.model, self._proxy
        proxy.load_state_dict(model.state_dict())
        proxy.train()
        params = [p for p in proxy.parameters() if p.requires_grad]
        grads = net.param_grads(self.inner.proxy_loss(batch, x_adv, proxy), params, "attack")
        if self.trainer.shard is not None:  # the global batch's proxy gradient: the same perturbation on every rank
            distributed.all_reduce_mean(grads)
        diff = {}
        with torch.no_grad():
            for (name, w), g in zip([(n, p) for n, p in model.named_parameters() if p.requires_grad], grads):
                if w.dim() <= 1 or "weight" not in name:
                    continue
                step = self.proxy_lr * g  # ascent: w_proxy - w = +lr * grad of the loss
                diff[name] = w.norm() / (step.norm() + 1e-20) * step
        return diff

    def _shift(self, diff: Dict[str, torch.Tensor], sign: float) -> None:
        with torch.no_grad():
            for name, w in self.trainer.network.model.named_parameters():
                if name in diff:
                    w.add_(diff[name], alpha=sign * self.gamma)

    def update(self, batch, x_adv):
        if not self._active:
            return self.inner.update(batch, x_adv)
        diff = self._weight_perturbation(batch, x_adv)
        self._shift(diff, +1.0)
        try:
            return self.inner.update(batch, x_adv)
        finally:
            self._shift(diff, -1.0)


class AdversarialTrainerAWP(AdversarialTrainerBase):
    """
    Adversarial weight perturbation (AWP) around PGD-AT (default), TRADES or MART: see
    :class:`WeightPerturbation`. Cost per batch with ``base="pgd"``: PGD-AT's ``max_iter + 1`` passes plus one
    forward and one backward of the proxy: ``max_iter + 2``.

    | Paper link: https://arxiv.org/abs/2004.05884

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: Attack step (default ``eps / 4``).
    :param max_iter: Attack steps (default 10, the authors').
    :param gamma: Relative size of the weight perturbation (default per base: 0.01 for PGD-AT, the AWP authors'
                  AT-AWP value on CIFAR-10/100 and SVHN; 5e-3 for TRADES, their TRADES-AWP value; 0.01 for MART,
                  for which they give none).
    :param proxy_lr: Learning rate of the proxy's ascent step (default 0.01, the authors').
    :param warmup_epochs: Epochs of the plain base before AWP starts (default 0).
    :param base: ``"pgd"`` (default), ``"trades"`` or ``"mart"``.
    :param beta: TRADES' / MART's ``beta`` (default 6.0).
    :param num_random_init: Uniform random start (1, default) or the clean input (0) for the PGD/MART attack.
    :param kwargs: The common parameters of :class:`AdversarialTrainerBase`. ``attack_mode`` defaults to
                   ``"eval"`` as for every base here (ART's convention, and BatchNorm statistics untouched by the
                   attack); the AWP authors run the attack in train mode: pass ``attack_mode="train"`` to follow
                   them. The proxy's ascent step always runs in train mode, as theirs.
    """

    method_name = "awp"

    @with_common_parameters
    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, max_iter: int = 10,
                 gamma: Optional[float] = None, proxy_lr: float = 0.01, warmup_epochs: int = 0, base: str = "pgd",
                 beta: float = 6.0, num_random_init: Optional[int] = None, **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        inner = FreeReplay() if base == "free" else make_base(base, beta)  # Free: WeightPerturbation says why not
        part = WeightPerturbation(inner, AUTHORS_GAMMA.get(base, 0.01) if gamma is None else gamma, proxy_lr,
                                  warmup_epochs)
        init = (0 if base == "trades" else 1) if num_random_init is None else num_random_init
        self.method_name = part.name
        super().__init__(classifier, eps, eps / 4 if eps_step is None else eps_step, max_iter, init, base=part,
                         **kwargs)
