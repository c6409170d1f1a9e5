"""
Per-epoch schedules of attack strength (steps ``k``, budget ``eps``, step size): constant, linear anneal
(Amata), cyclic (ECAS), every-``d``-epochs and criterion-driven (DEAT, M+). A schedule answers
``value(epoch)`` at the start of an epoch (0-based) and may ``observe(epoch, record)`` the finished epoch's
history record to decide the next value. The parts :class:`KSchedule` (and its M+ / DEAT forms) and
:class:`EpsRamp` drive a trainer's ``strength`` with them.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence

import torch

from art_accel import distributed
from art_accel.contract import Part
from art_accel.validation import check_choice, check_int, check_number


class Schedule:
    """Base class: a value per epoch, optionally driven by what the previous epochs recorded."""

    def value(self, epoch: int) -> float:
        raise NotImplementedError

    def observe(self, epoch: int, record: Dict[str, Any]) -> None:
        """Look at the finished epoch's record (default: nothing)."""

    def reset(self) -> None:
        """Forget what was observed (called at the start of ``fit``)."""

    def describe(self) -> Dict[str, Any]:
        """Extra values to record per epoch (e.g. a criterion's threshold)."""
        return {}

    def values(self, nb_epochs: int) -> list:
        """The values of a schedule that observes nothing, for epochs 0..nb_epochs-1."""
        return [self.value(t) for t in range(nb_epochs)]


class Constant(Schedule):
    """The same value every epoch."""

    def __init__(self, value: float):
        self._value = value

    def value(self, epoch: int) -> float:
        return self._value


class LinearAnneal(Schedule):
    """
    Amata's ``K_t = K_min + (K_max - K_min) * t / (T - 1)`` for epochs ``t = 0..T-1``, so that the first epoch
    uses ``K_min`` and the last reaches ``K_max`` (the paper writes ``t / T``, with which the last epoch never
    reaches ``K_max``; so does the only public re-implementation, which floors and stops at ``K_max - 1``).

    :param start: Value at the first epoch.
    :param end: Value at the last epoch.
    :param nb_epochs: Number of epochs ``T``.
    :param rounding: ``"round"`` (default: nearest integer, halves up), ``"floor"``, ``"ceil"`` or ``"none"``
                     (a float, for step sizes).
    """

    def __init__(self, start: float, end: float, nb_epochs: int, rounding: str = "round"):
        self.start, self.end = float(start), float(end)
        self.nb_epochs = check_int(nb_epochs, "nb_epochs", low=1)
        self.rounding = check_choice(rounding, "rounding", ("round", "floor", "ceil", "none"))

    def raw(self, epoch: int) -> float:
        t = min(max(epoch, 0), self.nb_epochs - 1)
        frac = t / (self.nb_epochs - 1) if self.nb_epochs > 1 else 1.0
        return self.start + (self.end - self.start) * frac

    def value(self, epoch: int):
        v = self.raw(epoch)
        if self.rounding == "round":
            return int(math.floor(v + 0.5 + 1e-9))
        if self.rounding == "floor":
            return int(math.floor(v + 1e-9))
        if self.rounding == "ceil":
            return int(math.ceil(v - 1e-9))
        return v


class Cyclic(Schedule):
    """``values[epoch mod len(values)]``: ECAS' cyclic epsilon (period ``len(values)`` epochs)."""

    def __init__(self, values: Sequence[float]):
        if len(values) == 0:
            raise ValueError("values must not be empty")
        self.cycle = list(values)

    def value(self, epoch: int) -> float:
        return self.cycle[epoch % len(self.cycle)]


class EveryD(Schedule):
    """DEAT-d: ``k = min(epoch // d, max_k)``: one more adversarial replay every ``d`` epochs."""

    def __init__(self, d: int, max_k: int):
        self.d = check_int(d, "d", low=1)
        self.max_k = check_int(max_k, "max_k", low=0)

    def value(self, epoch: int) -> int:
        return min(epoch // self.d, self.max_k)


class _Counter(Schedule):
    """A k that starts at 0 and is raised by ``observe``; capped at ``max_k``."""

    def __init__(self, max_k: int):
        self.max_k = check_int(max_k, "max_k", low=1)
        self.k = 0

    def value(self, epoch: int) -> int:
        return self.k

    def reset(self) -> None:
        self.k = 0

    def _raise(self) -> None:
        self.k = min(self.k + 1, self.max_k)


class AccuracyCriterion(_Counter):
    """DEAT-acc: k += 1 after every epoch whose training accuracy exceeds ``threshold`` (capped)."""

    def __init__(self, threshold: float = 0.4, max_k: int = 7):
        super().__init__(max_k)
        self.threshold = check_number(threshold, "accuracy_threshold", low=0.0, high=1.0)

    def observe(self, epoch: int, record: Dict[str, Any]) -> None:
        if record["accuracy"] > self.threshold:
            self._raise()


class MPlusCriterion(_Counter):
    """
    The M+ criterion (Algorithm 1 of Wang et al.): k = 0 in the first epoch, k = 1 after it; after the second
    epoch the threshold is set to ``gamma * l_X``; after every later epoch, if ``l_X > threshold`` then
    ``threshold = gamma * l_X`` and k += 1 (the threshold changes only when k grows). k is capped at
    ``max_k``; once k is at the cap the threshold is frozen, as in the authors' code.

    :param gamma: Relax factor (> 0; the paper uses 1.01, 1.1 trades robustness for speed, 1.0 under FAST).
    :param max_k: Cap on k.
    :param key: History key holding ``l_X`` (default ``"grad_magnitude"``).
    """

    def __init__(self, gamma: float = 1.01, max_k: int = 10, key: str = "grad_magnitude"):
        super().__init__(max_k)
        self.gamma = check_number(gamma, "gamma", low=0.0, low_open=True)
        self.key = key
        self.threshold: Optional[float] = None

    def reset(self) -> None:
        super().reset()
        self.threshold = None

    def observe(self, epoch: int, record: Dict[str, Any]) -> None:
        self.update(epoch, record[self.key])

    def update(self, epoch: int, magnitude: float) -> None:
        """Apply the rule after 0-based ``epoch`` whose gradient magnitude was ``magnitude``."""
        if epoch == 0:
            self._raise()
        elif epoch == 1:
            self.threshold = self.gamma * magnitude
        elif self.threshold is not None and magnitude > self.threshold and self.k < self.max_k:
            self.threshold = self.gamma * magnitude
            self._raise()

    def describe(self) -> Dict[str, Any]:
        return {"threshold": self.threshold}


class KSchedule(Part):
    """
    A schedule part driving the number of attack steps ``k`` (replays after the first for Free/DEAT) with a
    :class:`Schedule`: set at each epoch's start, shown the finished epoch's record, its state kept in
    checkpoints. With ``track_grad_magnitude`` it records M+'s gradient magnitude ``l_X``: the L1 norm of each
    update's input gradient at per-sample scale (the batch-mean loss's gradient times the batch size), summed
    over the epoch's batches in a device tensor (all-reduced under DDP): no extra pass, one host read per epoch.

    :param schedule: The schedule of ``k``.
    :param track_grad_magnitude: Record ``grad_magnitude`` (M+, DEAT).
    """

    stage = "schedule"
    key = "k_schedule"
    sets_k = True

    def __init__(self, schedule: Schedule, track_grad_magnitude: bool = False):
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be an art_accel.schedules.Schedule, got {schedule!r}")
        self.schedule = schedule
        self.track_grad_magnitude = self.needs_input_grad = bool(track_grad_magnitude)
        self._magnitude: Optional[torch.Tensor] = None

    def on_fit_start(self, n_samples) -> None:
        self.schedule.reset()

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        self.trainer.strength.max_iter = int(self.schedule.value(epoch))
        if self.track_grad_magnitude:
            self._magnitude = torch.zeros((), device=self.trainer.device, dtype=torch.float64)

    def on_batch_end(self, batch, out) -> None:
        if self.track_grad_magnitude:
            self._magnitude += out.input_grad.abs().sum(dtype=torch.float64) * batch.x.shape[0]

    def on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        if self.track_grad_magnitude:
            if self.trainer.shard is not None:
                distributed.all_reduce_sum(self._magnitude)
            out["grad_magnitude"] = float(self._magnitude)
        self.schedule.observe(epoch, {**record, **out})
        out.update(self.schedule.describe())
        return out

    def state_dict(self) -> Dict[str, Any]:
        return dict(vars(self.schedule))

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        vars(self.schedule).update(state)


class EpsRamp(Part):
    """
    An eps warm-up: the training budget grows linearly to the trainer's ``eps`` over the first
    ``ramp_epochs`` epochs (``eps (t + 1) / ramp_epochs`` at 0-based epoch ``t``), then stays; validation
    always uses the full ``eps``. The standard recipe for MNIST at eps 0.3, where PGD training from the full
    budget can stay at the chance plateau. Compose it with any trainer by ``schedule=EpsRamp(n)``; a method
    that sets each epoch's eps itself (ECAS) refuses it.

    :param ramp_epochs: Epochs to reach the full eps.
    """

    stage = "schedule"
    key = "eps_ramp"
    sets_eps_each_epoch = True

    def __init__(self, ramp_epochs: int):
        self.ramp_epochs = check_int(ramp_epochs, "ramp_epochs", low=1)

    def check(self, trainer) -> None:
        setters = [type(p).__name__ for p in trainer.parts if p.sets_eps_each_epoch and p is not self]
        if setters:
            raise ValueError(f"schedule: {setters[0]} sets each epoch's eps itself (as ECAS' cycle does); an eps "
                             "ramp would fight it")

    def config(self) -> Dict[str, Any]:
        return {"eps_ramp_epochs": self.ramp_epochs}

    def eps_at(self, target_eps: float, epoch: int) -> float:
        """The training eps of 0-based ``epoch`` for a run whose full budget is ``target_eps``."""
        return target_eps * min(1.0, (epoch + 1) / self.ramp_epochs)

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        t = self.trainer
        t.strength.eps = self.eps_at(t.target_eps, epoch)
