"""
What a method is made of, and where every part lives. A trainer is the one loop
(:mod:`art_accel.trainers.base`) driving a list of parts, each answering one question:

- ``stage = "schedule"``: the attack strength of an epoch (``k``, step, eps): Amata's anneal, M+'s criterion,
  DEAT's every-d and accuracy rules, ECAS' cyclic eps;
- ``stage = "base"``: how the adversarial batch is built and what the update trains on (PGD-AT, Free, TRADES,
  MART, AWP around another base; exactly one per trainer, see :mod:`art_accel.trainers.bases`);
- ``stage = "budget"``: the per-sample budget of each batch (ECAS' entropy eps, ATAS' adaptive step with
  carried perturbations, Amata-FGSM's fixed start);
- ``stage = "guard"``: checks after each epoch (:class:`~art_accel.guard.OverfittingGuard`).

The attack-gradient approximation (exact PGD or GAAT's Taylor step) is the trainer's ``attack`` object.
Parts are called in stage order (schedules, then the base, then budgets), and within a stage in the order
the trainer was assembled.

Every part can be imported from here (``from art_accel.parts import MPlusSteps``); each is defined in the
module of the method it comes from (:data:`CATALOGUE`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional

if TYPE_CHECKING:  # pragma: no cover
    from art_accel.attacks import AttackResult
    from art_accel.trainers.base import AdversarialTrainerBase, Batch

STAGES = ("schedule", "base", "budget", "guard")

#: Part name -> the module defining it (imported on first access, so that this module imports nothing).
CATALOGUE = {
    "BasePart": "art_accel.trainers.bases",
    "PGDAT": "art_accel.trainers.bases",
    "TRADES": "art_accel.trainers.bases",
    "MART": "art_accel.trainers.bases",
    "FreeReplay": "art_accel.trainers.bases",
    "WeightPerturbation": "art_accel.trainers.awp",
    "KSchedule": "art_accel.schedules",
    "EpsRamp": "art_accel.schedules",
    "MPlusSteps": "art_accel.trainers.mplus",
    "AmataAnneal": "art_accel.trainers.amata",
    "WeakFixedStart": "art_accel.trainers.amata",
    "EntropyEps": "art_accel.trainers.ecas",
    "AdaptiveStep": "art_accel.trainers.atas",
    "NaturalEpochs": "art_accel.trainers.gaat",
    "TaylorStep": "art_accel.trainers.gaat",
    "OverfittingGuard": "art_accel.guard",
}

__all__ = ["Part", "STAGES", "CATALOGUE", *CATALOGUE]


def __getattr__(name: str):
    if name in CATALOGUE:
        import importlib

        return getattr(importlib.import_module(CATALOGUE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Part:
    """
    A piece of a method. Every hook is optional; a part reaches the trainer it belongs to through
    ``self.trainer`` (set by :meth:`bind`).

    :cvar stage: ``"schedule"``, ``"base"``, ``"budget"`` or ``"guard"``.
    :cvar key: Name under which the part's configuration and checkpoint state are stored.
    :cvar sets_k: True for schedules that set the number of attack steps (at most one per trainer).
    """

    stage = "budget"
    key = "part"
    sets_k = False

    trainer: "AdversarialTrainerBase"

    def bind(self, trainer: "AdversarialTrainerBase") -> None:
        """Attach to ``trainer`` (called once, when the trainer is assembled)."""
        if getattr(self, "trainer", None) not in (None, trainer):
            raise ValueError(f"{type(self).__name__} already belongs to another trainer: create one per trainer")
        self.trainer = trainer

    def check(self, trainer: "AdversarialTrainerBase") -> None:
        """Raise a ``ValueError`` saying why, when this part cannot work with the trainer's other parts."""

    def on_fit_start(self, n_samples: Optional[int]) -> None:
        """Before the first epoch of ``fit`` (``n_samples`` is None when the data set size is unknown)."""

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        """Set the epoch's values; add (or remove) what the history records for them in ``record``."""

    def on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        """Statistics of the finished epoch (``record`` holds what the loop and earlier parts recorded)."""
        return {}

    def budget(self, batch: "Batch", clean_probs) -> Dict[str, Any]:
        """Per-batch overrides of the attack (``eps``, ``eps_step``, ``delta_init``); none by default."""
        return {}

    def after_attack(self, batch: "Batch", result: "AttackResult") -> None:
        """See the batch's attack result (e.g. to store the perturbation)."""

    def on_batch_end(self, batch: "Batch") -> None:
        """After the batch's update (called only for parts that override it)."""

    def config(self) -> Dict[str, Any]:
        """Parameters stored with the history."""
        return {}

    def state_dict(self) -> Dict[str, Any]:
        """What must survive a checkpoint."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
