"""
ECAS (Kuurila-Zhang, Chen, Zhao): a cyclic per-epoch epsilon plus a per-sample epsilon chosen from the
prediction entropy on the clean input, applied as per-sample budgets of the attack.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from art_accel import distributed
from art_accel.contract import Part
from art_accel.entropy import entropy
from art_accel.schedules import Cyclic
from art_accel.trainers.awp import WeightPerturbation
from art_accel.trainers.base import AdversarialTrainerBase
from art_accel.trainers.objectives import PGDAT, make_base
from art_accel.trainers.signature import with_common_parameters
from art_accel.validation import check_budget, check_choice, check_classifier, check_int, check_number

#: The authors' entropy thresholds (h_low, h_high) in nats, by number of classes.
DEFAULT_THRESHOLDS = {10: (1.3, 2.274), 100: (3.35, 4.582)}
#: The authors' epsilon spaces in units of 1/255, for a reference budget of 8/255, by base.
PAPER_SPACES = {"pgd": range(3, 13), "trades": range(5, 10), "awp": range(6, 16)}
PAPER_REFERENCE = 8


def check_space(space) -> list:
    """An epsilon space: at least 3 distinct finite values > 0, sorted."""
    try:
        values = sorted(float(v) for v in space)
    except (TypeError, ValueError):
        raise TypeError(f"eps_space must be a sequence of numbers, got {space!r}") from None
    if len(set(values)) < 3:
        raise ValueError(f"eps_space needs at least 3 distinct values (three largest are drawn), got {values}")
    if values[0] <= 0 or not all(np.isfinite(values)):
        raise ValueError(f"eps_space values must be finite and > 0, got {values}")
    return values


def default_thresholds(nb_classes: int, h_low: Optional[float], h_high: Optional[float]) -> Tuple[float, float]:
    """The authors' entropy thresholds for ``nb_classes`` where not given; checked."""
    defaults = DEFAULT_THRESHOLDS.get(nb_classes)
    if (h_low is None or h_high is None) and defaults is None:
        raise ValueError(f"h_low/h_high have no default for {nb_classes} classes: pass them or "
                         "use calibrate_entropy_thresholds")
    h_low = defaults[0] if h_low is None else check_number(h_low, "h_low", low=0.0)
    h_high = defaults[1] if h_high is None else check_number(h_high, "h_high", low=0.0)
    if h_low > h_high:
        raise ValueError(f"h_low ({h_low}) must be <= h_high ({h_high})")
    return h_low, h_high


class EntropyEps(Part):
    """
    ECAS' budget part (Algorithm 1): the epoch's epsilon cycles through ``eps_space`` (``eps_space[epoch mod
    len]``, eq. 2 as the authors' code behaves: period ``len(eps_space)`` epochs); per sample, prediction
    entropy above ``h_high`` gets the smallest epsilon of the space, entropy below ``h_low`` a random one of
    the ``n_large`` largest (one draw per batch, as the authors; ``per_sample_draw=True`` draws per sample); the
    rest keep the epoch's epsilon. The attack uses these per-sample budgets for its start and projection; its
    step is ``step_factor * eps_epoch / k`` for the whole batch (the authors'), or per sample with
    ``per_sample_step=True``; a budget part that sets its own step (ATAS' :class:`AdaptiveStep`) keeps it.

    :param eps_space: The epsilon space (default: the paper's PGD space, integers 3..12 times ``eps / 8``).
    :param h_low: Low entropy threshold in nats (default: the authors' 1.3 for 10 classes, 3.35 for 100).
    :param h_high: High entropy threshold in nats (default: 2.274 for 10 classes, 4.582 for 100).
    :param per_sample_draw: Draw the enlarged epsilon per sample instead of per batch.
    :param per_sample_step: Per-sample step ``step_factor * eps_i / k``.
    :param step_factor: Step multiplier (default 2, the authors').
    :param n_large: How many of the largest values the low-entropy rule draws from (default 3).
    """

    key = "ecas"
    sets_eps = True
    sets_eps_each_epoch = True

    def __init__(self, eps_space: Optional[Sequence[float]] = None, h_low: Optional[float] = None,
                 h_high: Optional[float] = None, per_sample_draw: bool = False, per_sample_step: bool = False,
                 step_factor: float = 2.0, n_large: int = 3):
        self.eps_space = None if eps_space is None else check_space(eps_space)
        self.n_large = check_int(n_large, "n_large", low=1)
        if self.eps_space is not None and self.n_large > len(self.eps_space):
            raise ValueError(f"n_large ({n_large}) must be <= the size of eps_space ({len(self.eps_space)})")
        self.h_low, self.h_high = h_low, h_high
        self.per_sample_draw, self.per_sample_step = bool(per_sample_draw), bool(per_sample_step)
        self.step_factor = check_number(step_factor, "step_factor", low=0.0, low_open=True)
        self.sets_step = True

    def bind(self, trainer) -> None:
        super().bind(trainer)
        if self.eps_space is None:
            self.eps_space = check_space([trainer.eps * v / PAPER_REFERENCE for v in PAPER_SPACES["pgd"]])
        for value in self.eps_space:
            check_budget(value, "eps_space", trainer.classifier)
        self.h_low, self.h_high = default_thresholds(trainer.classifier.nb_classes, self.h_low, self.h_high)
        device = trainer.device
        self.eps_schedule = Cyclic(self.eps_space)
        self._space = torch.tensor(self.eps_space, device=device)
        self._counts = torch.zeros(len(self.eps_space), dtype=torch.int64, device=device)
        self._rule_counts = torch.zeros(2, dtype=torch.int64, device=device)  # shrunk, enlarged
        self._eps_epoch = self.eps_space[0]
        self._index_epoch = 0

    def check(self, trainer) -> None:
        if not trainer.objective.separable:
            raise ValueError(f"budget: ECAS' per-sample eps needs a separate attack; base {trainer.objective.name!r} "
                             "fuses its attack into its updates")
        # ECAS' step rule gives way to a part that sets its own step (ATAS' adaptive step)
        self.sets_step = not any(p.sets_step for p in trainer.parts if p is not self)
        self.sets_step_each_epoch = self.sets_step

    def config(self) -> Dict[str, Any]:
        return {"eps_space": self.eps_space, "h_low": self.h_low, "h_high": self.h_high,
                "per_sample_draw": self.per_sample_draw, "per_sample_step": self.per_sample_step,
                "step_factor": self.step_factor, "n_large": self.n_large}

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        self._eps_epoch = self.eps_schedule.value(epoch)
        self._index_epoch = self.eps_space.index(self._eps_epoch)
        record["eps"] = self._eps_epoch
        if self.sets_step:
            record["eps_step"] = self.step_factor * self._eps_epoch / max(self.trainer.max_iter, 1)

    def sample_indices(self, entropies: torch.Tensor) -> torch.Tensor:
        """Index into ``eps_space`` per sample from the batch's entropies (Algorithm 1)."""
        n, size = entropies.shape[0], len(self.eps_space)
        index = torch.full((n,), self._index_epoch, dtype=torch.int64, device=entropies.device)
        shape = (n,) if self.per_sample_draw else (1,)
        big = size - self.n_large + torch.randint(0, self.n_large, shape, device=entropies.device)
        index = torch.where(entropies < self.h_low, big.expand(n), index)
        return torch.where(entropies > self.h_high, torch.zeros_like(index), index)

    def budget(self, batch) -> Dict[str, Any]:
        t = self.trainer
        if batch.clean_probs is None:  # the TRADES base has computed it; PGD and AWP pay one clean forward
            with t.attack.mode(), torch.no_grad():
                batch.clean_probs = F.softmax(t.network.logits(batch.x, "attack"), dim=1)
        h = entropy(batch.clean_probs)
        index = self.sample_indices(h)
        self._rule_counts += torch.stack([(h > self.h_high).sum(), ((h < self.h_low) & (h <= self.h_high)).sum()])
        self._counts += torch.bincount(index, minlength=len(self.eps_space))
        eps = self._space[index]
        if not self.sets_step:
            return {"eps": eps}
        step = self.step_factor * (eps if self.per_sample_step else self._eps_epoch) / max(t.max_iter, 1)
        return {"eps": eps, "eps_step": step}

    def on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        if self.trainer.shard is not None:  # every rank's samples: the same record on every rank
            distributed.all_reduce_sum(self._counts, self._rule_counts)
        counts = self._counts.tolist()
        shrunk, enlarged = self._rule_counts.tolist()
        self._counts.zero_()
        self._rule_counts.zero_()
        total = max(sum(counts), 1)
        return {
            "eps_counts": counts,
            "eps_mean": sum(v * c for v, c in zip(self.eps_space, counts)) / total,
            "frac_shrunk": shrunk / total,
            "frac_enlarged": enlarged / total,
        }


class AdversarialTrainerECAS(AdversarialTrainerBase):
    """
    ECAS: the cyclic, entropy-guided per-sample epsilon of :class:`EntropyEps` on a PGD-AT (default), TRADES
    or AWP base.

    Entropy needs the softmax on the clean batch: the TRADES base already computes it (no extra pass); the
    PGD and AWP bases pay one extra clean forward per batch (no backward), counted in ``forward_passes``.

    | Paper link: https://proceedings.bmvc2023.org/781/

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Reference budget (default 8/255): scales the paper's spaces (the PGD space is integers 3..12
                times ``eps / 8``; TRADES 5..9, AWP 6..15) and is the budget of the validation attack.
    :param eps_space: The epsilon space itself (overrides ``eps``); at least 3 distinct values, all > 0.
    :param base: ``"pgd"`` (default), ``"trades"`` or ``"awp"``.
    :param max_iter: Attack steps (default 10).
    :param h_low: Low entropy threshold in nats (default: the authors' 1.3 for 10 classes, 3.35 for 100).
    :param h_high: High entropy threshold in nats (default: 2.274 for 10 classes, 4.582 for 100).
    :param per_sample_draw: Draw the enlarged epsilon per sample instead of per batch.
    :param per_sample_step: Per-sample step ``step_factor * eps_i / max_iter``.
    :param step_factor: Step multiplier (default 2, the authors').
    :param label_smoothing: Label smoothing of the CE update (torch semantics; default 0. The authors train
                            with 0.7 on the true class, i.e. ``1/3`` for 10 classes). Not with TRADES.
    :param n_large: How many of the largest values the low-entropy rule draws from (default 3; 2 for TRADES,
                    the authors' {8, 9}/255).
    :param beta: TRADES' ``beta`` (default 6.0).
    :param awp_gamma: AWP's ``gamma`` for ``base="awp"`` (default 0.01, the ECAS authors' and the AWP
                      authors' value for PGD-AT).
    :param kwargs: The common parameters of :class:`AdversarialTrainerBase`.
    """

    method_name = "ecas"
    progress_keys = ("loss", "accuracy", "eps")
    argument_hints = {"eps_step": "ECAS' step is step_factor * eps_epoch / max_iter: set step_factor"}

    @with_common_parameters
    def __init__(self, classifier, eps: float = 8 / 255, eps_space: Optional[Sequence[float]] = None,
                 base: str = "pgd", max_iter: int = 10, h_low: Optional[float] = None,
                 h_high: Optional[float] = None, per_sample_draw: bool = False, per_sample_step: bool = False,
                 step_factor: float = 2.0, label_smoothing: float = 0.0, beta: float = 6.0,
                 awp_gamma: float = 0.01, n_large: Optional[int] = None, **kwargs):
        eps = check_number(eps, "eps", low=0.0, low_open=True)
        base = check_choice(base, "base", tuple(PAPER_SPACES))
        space = [eps * v / PAPER_REFERENCE for v in PAPER_SPACES[base]] if eps_space is None else eps_space
        h_low, h_high = default_thresholds(check_classifier(classifier).nb_classes, h_low, h_high)
        if base == "trades" and label_smoothing:
            raise ValueError("label_smoothing applies to the cross-entropy update of the pgd and awp bases; "
                             "TRADES trains on its own loss (CE + beta KL)")
        n_large = (2 if base == "trades" else 3) if n_large is None else n_large
        part = EntropyEps(space, h_low, h_high, per_sample_draw, per_sample_step, step_factor, n_large)
        max_iter = check_int(max_iter, "max_iter", low=1)
        smoothing = check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
        if base == "awp":
            objective = WeightPerturbation(PGDAT(), awp_gamma)
        else:
            objective = make_base(base, beta)
        self.base = base
        self.method_name = f"ecas-{base}"
        super().__init__(classifier, eps, eps / 4, max_iter, 0 if base == "trades" else 1, base=objective,
                         parts=[part], **kwargs)
        if smoothing and self.update_loss is not None:
            raise ValueError("label_smoothing: the classifier has its own loss, which the update trains on; set the "
                             "smoothing there (e.g. CrossEntropyLoss(label_smoothing=...)) or use plain "
                             "cross-entropy")
        self.label_smoothing = smoothing

    @property
    def eps_space(self) -> list:
        """The epsilon space, sorted."""
        return self.part(EntropyEps).eps_space

    def config(self) -> Dict[str, Any]:
        return {**super().config(), "base": self.base, "label_smoothing": self.label_smoothing}
