"""
AWP (Wu, Xia, Wang, NeurIPS 2020): adversarial weight perturbation on top of PGD-AT, in art-accel's loop so
that ECAS can drive its per-sample budgets (ART's ``AdversarialTrainerAWPPyTorch`` runs its own loop and
takes one scalar eps).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F

from art_accel.trainers.base import Batch, StepOutput
from art_accel.trainers.baselines import AdversarialTrainerPGD
from art_accel.validation import check_int, check_number


class AdversarialTrainerAWP(AdversarialTrainerPGD):
    """
    PGD-AT with adversarial weight perturbation: per batch, a proxy copy of the model takes one SGD ascent
    step on the adversarial loss (learning rate ``proxy_lr``); the layer-wise normalised weight difference,
    scaled by ``gamma`` times each layer's weight norm, is added to the model for its update and removed
    afterwards. Cost per batch: PGD-AT's ``max_iter + 1`` passes plus one forward and one backward of the
    proxy (counted in the attack phase): ``max_iter + 2``.

    | Paper link: https://arxiv.org/abs/2004.05884

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation.
    :param eps_step: Attack step (default ``eps / 4``).
    :param max_iter: PGD steps (default 10, the authors').
    :param gamma: Relative size of the weight perturbation (default 5e-3, the authors' for PGD-AT).
    :param proxy_lr: Learning rate of the proxy's ascent step (default 0.01, the authors').
    :param warmup_epochs: Epochs of plain PGD-AT before AWP starts (default 0).
    :param kwargs: ``num_random_init``, ``nb_epochs``, ``batch_size``, ``attack_mode``, ``augmentation``,
                   ``verbose``.
    """

    method_name = "awp"

    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, max_iter: int = 10,
                 gamma: float = 5e-3, proxy_lr: float = 0.01, warmup_epochs: int = 0, **kwargs):
        self.gamma = check_number(gamma, "gamma", low=0.0)
        self.proxy_lr = check_number(proxy_lr, "proxy_lr", low=0.0, low_open=True)
        self.warmup_epochs = check_int(warmup_epochs, "warmup_epochs", low=0)
        super().__init__(classifier, eps, eps_step, max_iter, **kwargs)
        self._proxy: Optional[torch.nn.Module] = None
        self._active = False

    def _config(self) -> Dict[str, Any]:
        return {**super()._config(), "gamma": self.gamma, "proxy_lr": self.proxy_lr,
                "warmup_epochs": self.warmup_epochs}

    def _on_fit_start(self, n_samples):
        self._proxy = copy.deepcopy(self.network.model)
        super()._on_fit_start(n_samples)

    def _on_epoch_start(self, epoch: int) -> Dict[str, Any]:
        self._active = epoch >= self.warmup_epochs and self.gamma > 0
        return {**super()._on_epoch_start(epoch), "awp": self._active}

    def _weight_perturbation(self, x_adv: torch.Tensor, y: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One ascent step of the proxy; the layer-wise normalised difference for weights of dim > 1."""
        model, proxy = self.network.model, self._proxy
        proxy.load_state_dict(model.state_dict())
        proxy.train()
        params = [p for p in proxy.parameters() if p.requires_grad]
        loss = F.cross_entropy(self.network.logits(x_adv, "attack", model=proxy), y)
        grads = self.network.param_grads(loss, params, "attack")
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
            for name, w in self.network.model.named_parameters():
                if name in diff:
                    w.add_(diff[name], alpha=sign * self.gamma)

    def _train_batch(self, batch: Batch) -> StepOutput:
        x_adv = self.attack.perturb(batch.x, batch.y, **self._attack_budget(batch)).x_adv
        if not self._active:
            return self._update(x_adv, batch.y)
        diff = self._weight_perturbation(x_adv, batch.y)
        self._shift(diff, +1.0)
        try:
            return self._update(x_adv, batch.y)
        finally:
            self._shift(diff, -1.0)
