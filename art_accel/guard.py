"""
An opt-in guard against catastrophic overfitting (CO) of single-step adversarial training.

CO (Wong et al., "Fast is better than free", Section 5) is a model that resists the single-step attack it
trains on while a multi-step attack breaks it. After every epoch the guard measures, on a fixed slice of the
training data (the first ``slice_size`` samples the loop sees), the accuracy under FGSM with a random start
(step 1.25 eps) and under a cheap PGD (``pgd_steps`` steps of eps/4 from a random start), in eval mode, with
the random-number streams of training left untouched. Under DistributedDataParallel each rank checks the
first ``slice_size`` samples of its own shard and the counts are summed over the ranks, so every rank decides
the same (and, holding the same weights, rolls back to the same state). It judges only at the run's full
budget (not while a schedule such as :class:`~art_accel.schedules.EpsRamp` ramps eps up). Its rule (``rule=``):

- ``"signature"`` (default): CO's signature, all three of: the PGD accuracy below ``fall`` times its best
  (it fell), the single-step accuracy at least ``gap`` above it and the PGD accuracy at most ``ratio`` times
  the single-step one (FGSM still resisted while PGD breaks the model). It needs no high robust accuracy to
  fall from, so it also fires where robustness never exceeds a few percent;
- ``"absolute"``: Wong et al.'s early-stopping rule, the PGD accuracy ``drop`` or more below its best;
- ``"relative"``: the PGD accuracy below ``fall`` times its best (the benchmark protocol's collapse rule).

On a collapse the guard restores the model, the optimizer and the method's state of the epoch with the best
PGD accuracy on the slice before it (the learning-rate schedule goes on), warns, and continues with the
attack's step (and ATAS' step bounds) times ``step_factor``. After ``max_rollbacks`` rollbacks a further
collapse restores that best state and stops training. The history records ``co_single_acc``, ``co_multi_acc``,
``co_gap``, ``co_drop``, ``co_rollback``, ``co_restored_epoch``, ``co_rollbacks``, ``co_step_scale``,
``co_stopped`` and ``co_seconds`` (its own time, part of the epoch's); its passes are counted in the
``"guard"`` phase, not as training. Defaults, their source and where they were measured:
``docs/reliability.rst``.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any, Dict, Optional

import torch

from art_accel import distributed
from art_accel.accounting import Timer
from art_accel.attacks import OnDevicePGD
from art_accel.contract import Part
from art_accel.network import eval_mode
from art_accel.robust_accuracy import correct_under
from art_accel.validation import check_choice, check_int, check_number

RULES = ("signature", "absolute", "relative")


class OverfittingGuard(Part):
    """
    Detect catastrophic overfitting after each epoch and roll back to the best epoch before it (see the module).

    :param slice_size: Training samples in the fixed check slice (default 128, one batch).
    :param pgd_steps: Steps of the cheap multi-step check (default 5).
    :param rule: ``"signature"`` (default), ``"absolute"`` or ``"relative"``.
    :param fall: ``"signature"`` and ``"relative"``: the PGD accuracy below this times its best (default 0.5,
                 the benchmark protocol's collapse rule).
    :param gap: ``"signature"``: least excess of the single-step over the multi-step accuracy (default 0.15).
    :param ratio: ``"signature"``: the multi-step accuracy at most this times the single-step one (default 0.5).
    :param drop: ``"absolute"``: fall of the PGD accuracy below its best (default 0.2, Wong et al.).
    :param step_factor: Factor applied to the attack step after each rollback (default 0.8).
    :param max_rollbacks: Rollbacks before a further collapse stops training (default 3).
    """

    stage = "guard"
    key = "co_guard"

    def __init__(self, slice_size: int = 128, pgd_steps: int = 5, rule: str = "signature", gap: float = 0.15,
                 ratio: float = 0.5, drop: float = 0.2, fall: float = 0.5, step_factor: float = 0.8,
                 max_rollbacks: int = 3):
        self.slice_size = check_int(slice_size, "slice_size", low=1)
        self.pgd_steps = check_int(pgd_steps, "pgd_steps", low=1)
        self.rule = check_choice(rule, "rule", RULES)
        self.gap = check_number(gap, "gap", low=0.0, low_open=True, high=1.0)
        self.ratio = check_number(ratio, "ratio", low=0.0, low_open=True, high=1.0)
        self.drop = check_number(drop, "drop", low=0.0, low_open=True, high=1.0)
        self.fall = check_number(fall, "fall", low=0.0, low_open=True, high=1.0)
        self.step_factor = check_number(step_factor, "step_factor", low=0.0, low_open=True, high=1.0)
        self.max_rollbacks = check_int(max_rollbacks, "max_rollbacks", low=0)
        self._x: Optional[torch.Tensor] = None
        self._y: Optional[torch.Tensor] = None
        self._best: Optional[float] = None
        self._best_epoch: Optional[int] = None
        self._best_state: Optional[Dict[str, Any]] = None
        self.step_scale = 1.0
        self.rollbacks = 0

    def check(self, trainer) -> None:
        setters = [type(p).__name__ for p in trainer.parts if p.sets_step_each_epoch]
        if setters:
            raise ValueError(f"co_guard: {', '.join(setters)} sets the attack step every epoch, which would undo "
                             "the guard's safer step; the guard is for single-step methods (FGSM-RS, ATAS, ...)")

    def config(self) -> Dict[str, Any]:
        return {"co_guard": {"slice_size": self.slice_size, "pgd_steps": self.pgd_steps, "rule": self.rule,
                             "gap": self.gap, "ratio": self.ratio, "drop": self.drop, "fall": self.fall,
                             "step_factor": self.step_factor, "max_rollbacks": self.max_rollbacks}}

    def state_dict(self) -> Dict[str, Any]:
        return {"x": self._x, "y": self._y, "best": self._best, "best_epoch": self._best_epoch,
                "best_state": self._best_state, "step_scale": self.step_scale, "rollbacks": self.rollbacks}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self._x, self._y, self._best = state["x"], state["y"], state["best"]
        self._best_epoch, self._best_state = state["best_epoch"], state["best_state"]
        self.step_scale, self.rollbacks = state["step_scale"], state["rollbacks"]

    def on_fit_start(self, n_samples) -> None:
        self._best = self._best_epoch = self._best_state = None  # the first check sets them

    def on_batch_end(self, batch, out) -> None:
        have = 0 if self._x is None else self._x.shape[0]
        if have >= self.slice_size:
            return
        take = min(self.slice_size - have, batch.x.shape[0])
        x, y = batch.x[:take].detach().clone(), batch.y[:take].detach().clone()
        self._x = x if self._x is None else torch.cat([self._x, x])
        self._y = y if self._y is None else torch.cat([self._y, y])

    def _snapshot(self) -> Dict[str, Any]:
        t = self.trainer
        return {"model": copy.deepcopy(t.network.model.state_dict()),
                "optimizer": copy.deepcopy(t.optimizer.state_dict()),
                "method": copy.deepcopy({k: v for k, v in t.method_state().items() if k != self.key})}

    def measure(self) -> Dict[str, float]:
        """FGSM-RS and PGD accuracy on the slice (eval mode; training's random streams untouched)."""
        t = self.trainer
        eps = t.eps
        devices = [t.device.index or 0] if t.device.type == "cuda" else []
        counts = []
        with eval_mode(t.network.model), torch.random.fork_rng(devices=devices):
            for step, steps in ((1.25 * eps, 1), (eps / 4, self.pgd_steps)):
                attack = OnDevicePGD(t.network, eps, step, steps, 1, phase="guard")
                counts.append(correct_under(t.network, attack, self._x, self._y, "guard").to(torch.float64))
        counts.append(torch.tensor(float(self._y.shape[0]), dtype=torch.float64, device=t.device))
        counts = torch.stack(counts)
        if t.shard is not None:  # every rank's slice: the same accuracies, so the same decision, on every rank
            distributed.all_reduce_sum(counts)
        single, multi, n = counts.tolist()
        return {"co_single_acc": single / n, "co_multi_acc": multi / n}

    def collapsed(self, single: float, multi: float) -> bool:
        """Whether accuracies ``single`` (FGSM-RS) and ``multi`` (PGD) on the slice show a collapse by the rule."""
        if self._best is None:
            return False
        if self.rule == "absolute":
            return self._best - multi >= self.drop
        fell = multi < self.fall * self._best
        if self.rule == "relative":
            return fell
        return fell and single - multi >= self.gap and multi <= self.ratio * single

    def on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        if self._x is None:
            return {}
        with Timer(self.trainer.device) as timer:
            out = self._check(epoch)
        out["co_seconds"] = timer.seconds
        return out

    def _check(self, epoch: int) -> Dict[str, Any]:
        out: Dict[str, Any] = self.measure()
        single, multi = out["co_single_acc"], out["co_multi_acc"]
        t = self.trainer
        judged = t.eps == t.target_eps  # not during an eps warm-up: the check's budget moves
        collapsed = judged and self.collapsed(single, multi)
        out.update(co_gap=single - multi, co_drop=None if self._best is None else self._best - multi,
                   co_rollback=collapsed, co_restored_epoch=None, co_stopped=False)
        if collapsed:
            out["co_restored_epoch"] = self._best_epoch
            out["co_stopped"] = self._rollback(epoch, single, multi)
        elif judged and (self._best is None or multi >= self._best):
            self._best, self._best_epoch, self._best_state = multi, epoch, self._snapshot()
        out.update(co_rollbacks=self.rollbacks, co_step_scale=self.step_scale)
        return out

    def _rollback(self, epoch: int, single: float, multi: float) -> bool:
        """Restore the best epoch's weights, optimizer and method state; then a smaller step, or (after
        ``max_rollbacks``) stop training. True when it stopped."""
        t, best = self.trainer, self._best_state
        t.network.model.load_state_dict(best["model"])
        groups = [{k: v for k, v in g.items() if k != "params"} for g in t.optimizer.param_groups]
        t.optimizer.load_state_dict(best["optimizer"])
        for group, now in zip(t.optimizer.param_groups, groups):  # the LR schedule goes on: keep today's values
            group.update(now)
        t.load_method_state(copy.deepcopy(best["method"]))
        seen = (f"co_guard: epoch {epoch}: catastrophic overfitting ({self.rule} rule: single-step accuracy "
                f"{single:.1%}, multi-step {multi:.1%} on the check slice, best multi-step {self._best:.1%} at epoch "
                f"{self._best_epoch}); restored epoch {self._best_epoch}")
        if self.rollbacks >= self.max_rollbacks:
            t.request_stop(f"{seen} and stopped after {self.rollbacks} rollbacks (max_rollbacks)")
            warnings.warn(f"{seen} and stopped training: max_rollbacks={self.max_rollbacks} reached", stacklevel=2)
            return True
        self.rollbacks += 1
        self.step_scale *= self.step_factor
        t.scale_step(self.step_factor)
        warnings.warn(f"{seen}; the attack step is now x{self.step_scale:.3g} "
                      f"(rollback {self.rollbacks} of {self.max_rollbacks})", stacklevel=2)
        return False
