"""
An opt-in guard against catastrophic overfitting (CO) of single-step adversarial training.

CO (Wong et al., "Fast is better than free", Section 5) shows as a sudden collapse of multi-step robust
accuracy while single-step accuracy stays high. After every epoch the guard measures, on a fixed slice of
the training data (the first ``slice_size`` samples the loop sees), the accuracy under FGSM with a random
start (step 1.25 eps) and under a cheap PGD (``pgd_steps`` steps of eps/4 from a random start), in eval mode,
with the random-number streams of training left untouched. When the PGD accuracy falls by ``drop`` or more
below the best seen (Wong et al.'s early-stopping rule), the guard rolls the model, the optimizer and the
method's state back to the end of the last good epoch (the learning-rate schedule is not rolled back) and
continues with a safer setting: the attack's step
(or ATAS' step bounds) times ``step_factor``. The history records ``co_single_acc``, ``co_multi_acc``,
``co_rollback``, ``co_step_scale`` and ``co_seconds`` (its own time, part of the epoch's); its passes are
counted in the ``"guard"`` phase, not as training.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional

import torch

from art_accel.accounting import Timer
from art_accel.attacks import OnDevicePGD
from art_accel.contract import Part
from art_accel.network import eval_mode
from art_accel.robust_accuracy import correct_under
from art_accel.validation import check_int, check_number


class OverfittingGuard(Part):
    """
    Detect catastrophic overfitting after each epoch and roll back to the last good epoch (see the module).

    :param slice_size: Training samples in the fixed check slice (default 128, one batch).
    :param pgd_steps: Steps of the cheap multi-step check (default 5).
    :param drop: Fall of the PGD accuracy below its best that counts as a collapse (default 0.2, Wong et al.).
    :param step_factor: Factor applied to the attack step after each rollback (default 0.8).
    """

    stage = "guard"
    key = "co_guard"

    def __init__(self, slice_size: int = 128, pgd_steps: int = 5, drop: float = 0.2, step_factor: float = 0.8):
        self.slice_size = check_int(slice_size, "slice_size", low=1)
        self.pgd_steps = check_int(pgd_steps, "pgd_steps", low=1)
        self.drop = check_number(drop, "drop", low=0.0, low_open=True, high=1.0)
        self.step_factor = check_number(step_factor, "step_factor", low=0.0, low_open=True, high=1.0)
        self._x: Optional[torch.Tensor] = None
        self._y: Optional[torch.Tensor] = None
        self._best: Optional[float] = None
        self._good: Optional[Dict[str, Any]] = None
        self.step_scale = 1.0
        self.rollbacks = 0

    def check(self, trainer) -> None:
        setters = [type(p).__name__ for p in trainer.parts if p.sets_step_each_epoch]
        if setters:
            raise ValueError(f"co_guard: {', '.join(setters)} sets the attack step every epoch, which would undo "
                             "the guard's safer step; the guard is for single-step methods (FGSM-RS, ATAS, ...)")

    def config(self) -> Dict[str, Any]:
        return {"co_guard": {"slice_size": self.slice_size, "pgd_steps": self.pgd_steps, "drop": self.drop,
                             "step_factor": self.step_factor}}

    def state_dict(self) -> Dict[str, Any]:
        return {"x": self._x, "y": self._y, "best": self._best, "step_scale": self.step_scale,
                "rollbacks": self.rollbacks}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self._x, self._y, self._best = state["x"], state["y"], state["best"]
        self.step_scale, self.rollbacks = state["step_scale"], state["rollbacks"]
        self._good = None if self._best is None else self._snapshot()  # resumed: the checkpoint is good

    def on_fit_start(self, n_samples) -> None:
        self._good = None  # the first check sets the best accuracy and takes the first snapshot

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
        out = {}
        with eval_mode(t.network.model), torch.random.fork_rng(devices=devices):
            checks = (("co_single_acc", 1.25 * eps, 1), ("co_multi_acc", eps / 4, self.pgd_steps))
            for name, step, steps in checks:
                attack = OnDevicePGD(t.network, eps, step, steps, 1, phase="guard")
                out[name] = float(correct_under(t.network, attack, self._x, self._y, "guard")) / self._y.shape[0]
        return out

    def on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        if self._x is None:
            return {}
        with Timer(self.trainer.device) as timer:
            out = self._check()
        out["co_seconds"] = timer.seconds
        return out

    def _check(self) -> Dict[str, Any]:
        out = self.measure()
        multi = out["co_multi_acc"]
        collapsed = self._best is not None and self._best - multi >= self.drop
        if collapsed:
            self._rollback()
        else:
            self._best = multi if self._best is None else max(self._best, multi)
            self._good = self._snapshot()
        out.update(co_rollback=collapsed, co_step_scale=self.step_scale)
        return out

    def _rollback(self) -> None:
        """Restore the last good epoch's weights, optimizer and method state; make the attack's step smaller."""
        t, good = self.trainer, self._good
        t.network.model.load_state_dict(good["model"])
        groups = [{k: v for k, v in g.items() if k != "params"} for g in t.optimizer.param_groups]
        t.optimizer.load_state_dict(good["optimizer"])
        for group, now in zip(t.optimizer.param_groups, groups):  # the LR schedule goes on: keep today's values
            group.update(now)
        t.load_method_state(copy.deepcopy(good["method"]))
        self.rollbacks += 1
        self.step_scale *= self.step_factor
        t.scale_step(self.step_factor)
