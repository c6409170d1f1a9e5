"""
The objectives (``stage = "base"`` parts): how the adversarial batch is built and what the update trains on.
A trainer has exactly one (its ``objective``); ``base="trades"`` on a public class selects one of these,
never a class.

- :class:`PGDAT`: PGD (or FGSM, ``max_iter=1``) with cross-entropy, one update on the adversarial batch;
- :class:`TRADES`: KL attack from ``x + 0.001 N(0, 1)``, update on ``CE(f(x), y) + beta KL``;
- :class:`MART`: cross-entropy attack, MART's boosted CE plus misclassification-weighted KL;
- :class:`FreeReplay`: Free / DEAT batch replay, the attack fused into the updates;
- AWP (:class:`art_accel.trainers.awp.WeightPerturbation`) wraps one of the first three.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F

from art_accel.attacks import project, uniform_delta
from art_accel.contract import Part
from art_accel.validation import check_choice, check_number


def batch_buffer(buffer: Optional[torch.Tensor], x: torch.Tensor, make) -> torch.Tensor:
    """``buffer`` when it holds at least a batch shaped like ``x``, else ``make(x)`` (a perturbation kept over
    batches: Free's carried delta, Amata+FGSM's fixed start)."""
    if buffer is None or buffer.shape[1:] != x.shape[1:] or buffer.shape[0] < x.shape[0]:
        return make(x)
    return buffer


class BasePart(Part):
    """
    An objective: ``adversarial(batch) -> x_adv`` then ``update(batch, x_adv) -> StepOutput``. ``k`` is the
    trainer's ``strength.max_iter``: attack steps, or replays after the first for a fused base (Free).
    """

    stage = "base"
    key = "base"
    #: Name used in ``base=`` and in the method name.
    name = "pgd"
    #: False for bases whose attack is fused into the update (no separate adversarial batch).
    separable = True
    #: Whether the update is one forward and one backward per optimizer step (what DDP requires).
    ddp_ready = True
    #: Whether the adversarial batch is one cross-entropy attack of the trainer's strength and the update
    #: trains on it alone (what single-step budgets such as ATAS' adaptive step drive).
    plain_attack = False

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        s = self.trainer.strength
        record.update(k=s.max_iter, eps=s.eps, eps_step=s.eps_step)

    def adversarial(self, batch) -> torch.Tensor:
        return self.trainer.attack_batch(batch).x_adv

    def update(self, batch, x_adv: torch.Tensor):
        return self.trainer.update(x_adv, batch.y)

    def proxy_loss(self, batch, x_adv: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
        """The training loss through another copy of the model (AWP's proxy), counted as attack passes."""
        return self.trainer.training_loss(self.trainer.network.logits(x_adv, "attack", model=model), batch.y)

    def train_batch(self, batch):
        return self.update(batch, self.adversarial(batch))


class PGDAT(BasePart):
    """PGD adversarial training (Madry et al.): attack with cross-entropy, one update on the result."""

    plain_attack = True


class PairLossBase(BasePart):
    """
    A base whose update trains on a loss of the clean and the adversarial logits (TRADES, MART): two
    forwards, one backward through both. AWP's proxy evaluates the same loss.

    :param beta: Weight of the robustness term.
    """

    def __init__(self, beta: float = 6.0):
        self.beta = check_number(beta, "beta", low=0.0)

    def bind(self, trainer) -> None:
        super().bind(trainer)
        if trainer.update_loss is not None:
            import warnings

            warnings.warn(f"{type(self).__name__} trains on its own loss; the classifier's loss "
                          f"{trainer.update_loss!r} is not used", stacklevel=4)

    def config(self) -> Dict[str, Any]:
        return {"beta": self.beta}

    def loss(self, logits: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(self, batch, x_adv: torch.Tensor):
        return self.trainer.update_pair(batch.x, x_adv, batch.y, self.loss)

    def proxy_loss(self, batch, x_adv, model):
        net = self.trainer.network
        return self.loss(net.logits(batch.x, "attack", model=model), net.logits(x_adv, "attack", model=model),
                         batch.y)


def kl_sum(logits_adv: torch.Tensor, probs_clean: torch.Tensor) -> torch.Tensor:
    """Summed KL(p_clean || p_adv), TRADES' inner objective (``probs_clean`` passed in place of labels)."""
    return F.kl_div(F.log_softmax(logits_adv, dim=1), probs_clean, reduction="sum")


class TRADES(PairLossBase):
    """
    TRADES (Zhang et al.): the attack maximises KL(f(x) || f(x')) from ``x + 0.001 N(0, 1)``; the update
    minimises ``CE(f(x), y) + beta KL(f(x) || f(x'))``. One clean forward without gradient gives the attack's
    target (and ECAS' entropies); the update back-propagates through the clean and the adversarial forward.

    :param beta: Weight of the robustness term (default 6.0, the authors').
    """

    name = "trades"

    def clean_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax on the clean batch (one forward, no backward)."""
        t = self.trainer
        with t.attack.mode(), torch.no_grad():
            return F.softmax(t.network.logits(x, "attack"), dim=1)

    def adversarial(self, batch) -> torch.Tensor:
        batch.clean_probs = self.clean_probs(batch.x)
        return self.trainer.attack_batch(batch, target=batch.clean_probs, loss_fn=kl_sum,
                                         start=lambda x: 0.001 * torch.randn_like(x)).x_adv

    def loss(self, logits: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        robust = kl_sum(logits_adv, F.softmax(logits, dim=1)) / logits.shape[0]
        return F.cross_entropy(logits, y) + self.beta * robust


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


class MART(PairLossBase):
    """
    MART (Wang et al.): cross-entropy PGD builds the adversarial batch; the update minimises the boosted
    cross-entropy on it plus ``beta`` times a KL term weighted by the clean misclassification probability.

    :param beta: Weight of the KL term (default 6.0, the authors').
    """

    name = "mart"

    def loss(self, logits, logits_adv, y):
        return mart_loss(logits, logits_adv, y, self.beta)


class FreeReplay(BasePart):
    """
    Free adversarial training's batch replay (Shafahi et al.): each batch is replayed ``nb_replays = k + 1``
    times (``k`` is the trainer's ``strength.max_iter``); each replay is one forward and one backward giving
    the weight gradient (optimizer step) and the input gradient (``delta += eps_step * sign(grad)``,
    projected). ``carry_delta=True`` (Free) carries the perturbation to the next batch; False (DEAT) starts
    each batch from fresh uniform noise.

    :param carry_delta: Carry the perturbation over batches.
    """

    name = "free"
    separable = False

    def __init__(self, carry_delta: bool = True):
        self.carry_delta = bool(carry_delta)
        self._delta: Optional[torch.Tensor] = None

    @property
    def nb_replays(self) -> int:
        """Replays per batch: ``k + 1``."""
        return self.trainer.strength.max_iter + 1

    def config(self) -> Dict[str, Any]:
        return {"nb_replays": self.nb_replays}

    def on_fit_start(self, n_samples):
        self._delta = None

    def state_dict(self) -> Dict[str, Any]:
        return {"delta": self._delta}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self._delta = state["delta"]

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        s = self.trainer.strength
        record.update(k=s.max_iter, replays=s.max_iter + 1, eps=s.eps, eps_step=s.eps_step)

    def _start_delta(self, x: torch.Tensor) -> torch.Tensor:
        if self.carry_delta:
            self._delta = batch_buffer(self._delta, x, torch.zeros_like)
            return self._delta[: x.shape[0]]
        return uniform_delta(x, self.trainer.strength.eps)

    def train_batch(self, batch):
        t, s = self.trainer, self.trainer.strength
        clip, eps = t.network.clip_values, s.eps
        x, y = batch.x, batch.y
        x_in = project(x + self._start_delta(x), x, eps, clip)
        out = None
        for _ in range(s.max_iter + 1):
            out = t.update(x_in, y, input_grad=True)
            x_in = project(x_in + s.eps_step * out.input_grad.sign(), x, eps, clip)
        if self.carry_delta:
            self._delta[: x.shape[0]] = x_in - x
        return out

    def adversarial(self, batch):
        raise ValueError("base: Free's attack is fused into its updates; it has no separate adversarial batch")


#: ``base=`` names of the separable bases.
SEPARABLE = {"pgd": PGDAT, "trades": TRADES, "mart": MART}


def make_base(name: str, beta: float = 6.0, choices=("pgd", "trades", "mart")) -> BasePart:
    """The base part called ``name`` (``beta`` for TRADES and MART)."""
    check_choice(name, "base", choices)
    if name == "pgd":
        return PGDAT()
    return SEPARABLE[name](beta)
