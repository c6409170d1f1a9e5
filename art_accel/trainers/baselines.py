"""
Reference methods in art-accel's loop: PGD-AT, FGSM-RS, Free, TRADES and MART. They are the baselines of
the benchmarks and the bases that M+ and Amata wrap.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F

from art_accel.attacks import project, uniform_delta
from art_accel.trainers.base import AdversarialTrainerBase, Batch, StepOutput
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
    :param kwargs: ``nb_epochs``, ``batch_size``, ``attack_mode``, ``verbose`` (see the base class).
    """

    method_name = "pgd"

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
    :param kwargs: ``nb_epochs``, ``batch_size``, ``attack_mode``, ``verbose``.
    """

    method_name = "fgsm"

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
    :param kwargs: ``nb_epochs``, ``batch_size``, ``verbose``.
    """

    method_name = "free"
    #: Free carries delta over batches; DEAT starts each batch afresh.
    carry_delta = True

    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, nb_replays: int = 4, **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        self.nb_replays = check_int(nb_replays, "nb_replays", low=1)
        kwargs.setdefault("attack_mode", "train")
        super().__init__(classifier, eps, eps if eps_step is None else eps_step, 0, 0, **kwargs)
        self._delta: Optional[torch.Tensor] = None

    def _on_fit_start(self, n_samples):
        self._delta = None

    def _method_state(self) -> Dict[str, Any]:
        return {"delta": self._delta}

    def _load_method_state(self, state: Dict[str, Any]) -> None:
        self._delta = state["delta"]

    def _on_epoch_start(self, epoch: int) -> Dict[str, Any]:
        # k counts the replays after the first, as DEAT and M+ do; "replays" is the total
        return {"k": self.nb_replays - 1, "replays": self.nb_replays, "eps": self.eps, "eps_step": self.eps_step}

    def _apply_k(self, k: int) -> None:
        self.nb_replays = int(k) + 1

    def _config(self) -> Dict[str, Any]:
        return {**super()._config(), "nb_replays": self.nb_replays}

    def _start_delta(self, x: torch.Tensor) -> torch.Tensor:
        if self.carry_delta:
            if self._delta is None or self._delta.shape[1:] != x.shape[1:] or self._delta.shape[0] < x.shape[0]:
                self._delta = torch.zeros_like(x)
            return self._delta[: x.shape[0]]
        return uniform_delta(x, self.eps)

    def _replay(self, batch: Batch, replays: int) -> StepOutput:
        """``replays`` Free-style updates on one batch (each: 1 forward, 1 backward, 1 optimizer step)."""
        clip = self.network.clip_values
        x, y = batch.x, batch.y
        x_in = project(x + self._start_delta(x), x, self.eps, clip)
        out = None
        for _ in range(replays):
            out = self._update(x_in, y, input_grad=True)
            x_in = project(x_in + self.eps_step * out.input_grad.sign(), x, self.eps, clip)
        if self.carry_delta:
            self._delta[: x.shape[0]] = x_in - x
        return out

    def _train_batch(self, batch: Batch) -> StepOutput:
        return self._replay(batch, self.nb_replays)


def kl_sum(logits_adv: torch.Tensor, probs_clean: torch.Tensor) -> torch.Tensor:
    """Summed KL(p_clean || p_adv), TRADES' inner objective (``probs_clean`` passed in place of labels)."""
    return F.kl_div(F.log_softmax(logits_adv, dim=1), probs_clean, reduction="sum")


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
    :param kwargs: ``nb_epochs``, ``batch_size``, ``attack_mode``, ``verbose``.
    """

    method_name = "trades"

    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, max_iter: int = 10,
                 beta: float = 6.0, **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        self.beta = check_number(beta, "beta", low=0.0)
        super().__init__(classifier, eps, eps / 4 if eps_step is None else eps_step, max_iter, 0, **kwargs)

    def _config(self) -> Dict[str, Any]:
        return {**super()._config(), "beta": self.beta}

    def _clean_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax on the clean batch, the KL target of the attack (one forward, no backward)."""
        with self.attack.mode(), torch.no_grad():
            return F.softmax(self.network.logits(x, "attack"), dim=1)

    def _perturb(self, x: torch.Tensor, p_clean: torch.Tensor, **overrides) -> torch.Tensor:
        start = 0.001 * torch.randn_like(x)
        return self.attack.perturb(x, p_clean, delta_init=start, loss_fn=kl_sum, **overrides).x_adv

    def _trades_loss(self, logits: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        robust = kl_sum(logits_adv, F.softmax(logits, dim=1)) / logits.shape[0]
        return F.cross_entropy(logits, y) + self.beta * robust

    def _train_batch(self, batch: Batch) -> StepOutput:
        p_clean = self._clean_probs(batch.x)
        x_adv = self._perturb(batch.x, p_clean, **self._attack_budget(batch, p_clean))
        return self._update_pair(batch.x, x_adv, batch.y, self._trades_loss)


def mart_loss(logits: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor, beta: float) -> torch.Tensor:
    """MART's boosted CE on the adversarial input plus ``beta`` times the misclassification-weighted KL."""
    probs_adv = F.softmax(logits_adv, dim=1)
    top2 = probs_adv.topk(2, dim=1).indices
    other = torch.where(top2[:, 0] == y, top2[:, 1], top2[:, 0])
    boosted = F.cross_entropy(logits_adv, y) + F.nll_loss(torch.log(1.0001 - probs_adv + 1e-12), other)
    probs = F.softmax(logits, dim=1)
    true_prob = probs.gather(1, y[:, None]).squeeze(1)
    kl = F.kl_div(torch.log(probs_adv + 1e-12), probs, reduction="none").sum(1)
    return boosted + beta * (kl * (1.0000001 - true_prob)).mean()


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
    :param kwargs: ``nb_epochs``, ``batch_size``, ``attack_mode``, ``verbose``.
    """

    method_name = "mart"

    def __init__(self, classifier, eps: float, eps_step: Optional[float] = None, max_iter: int = 10,
                 beta: float = 6.0, **kwargs):
        eps = check_number(eps, "eps", low=0.0)
        self.beta = check_number(beta, "beta", low=0.0)
        super().__init__(classifier, eps, eps / 4 if eps_step is None else eps_step, max_iter, 1, **kwargs)

    def _config(self) -> Dict[str, Any]:
        return {**super()._config(), "beta": self.beta}

    def _train_batch(self, batch: Batch) -> StepOutput:
        x_adv = self.attack.perturb(batch.x, batch.y, **self._attack_budget(batch)).x_adv
        return self._update_pair(batch.x, x_adv, batch.y, lambda lo, la, y: mart_loss(lo, la, y, self.beta))
