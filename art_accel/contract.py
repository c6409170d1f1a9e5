"""
The contract between the loop (:mod:`art_accel.trainers.base`) and the parts a method is made of. This module
imports no loop or method module: a part needs only what is declared here.

A part declares what it does with class (or instance) attributes, which the loop and the other parts read
instead of recognising each other by name or type:

- ``stage``: ``"schedule"`` (the attack strength of an epoch), ``"base"`` (how the adversarial batch is built
  and what the update trains on; one per trainer), ``"budget"`` (per-batch overrides of the attack) or
  ``"guard"`` (checks after each epoch) or ``"averaging"`` (weight averaging). Parts run in stage order, then
  in the order they were assembled;
- ``sets_k``: sets the number of attack steps each epoch (at most one per trainer);
- ``sets_step_each_epoch`` / ``sets_eps_each_epoch``: rewrites the attack's step / budget at each epoch's start;
- ``sets_eps`` / ``sets_step`` / ``sets_start``: overrides, per batch, the attack's ``eps`` / ``eps_step`` /
  ``delta_init`` in :meth:`Part.budget` (at most one part per value: the trainer refuses two);
- ``uses_index``: keeps per-sample state (batches must carry dataset positions);
- ``needs_input_grad``: reads the update's input gradient (``StepOutput.input_grad``) in :meth:`Part.on_batch_end`;
- ``makes_attack``: builds the trainer's attack (:meth:`Part.make_attack`; at most one per trainer).

What a part may use of its trainer (``self.trainer``), and nothing whose name starts with ``_``:

- ``strength`` (:class:`~art_accel.attacks.AttackStrength`: ``eps``, ``eps_step``, ``max_iter``), the one home of
  the attack's strength; the trainer's ``eps``, ``eps_step`` and ``max_iter`` read it. Schedules write it;
- ``attack_batch(batch, target=None, start=None, **options)``: the attack with every part's per-batch budget;
- ``update(x_in, y, input_grad=None)``, ``update_pair(x, x_adv, y, loss_fn)``: one weight update (counted);
- ``training_loss(logits, y)``: the loss the update trains on;
- ``scale_step(factor)``: make the attack step (and every part's step rule) smaller;
- ``request_stop(reason)``: stop training after the current epoch;
- ``method_state()`` / ``load_method_state(state)``: every part's checkpoint state;
- ``attack`` (its ``mode()`` puts the model in the attack's mode), ``network``, ``classifier``, ``device``,
  ``optimizer``, ``objective`` (the base part), ``parts``, ``augmentation``, ``shard``, ``planned_epochs``,
  ``target_eps``, ``attack_mode``, ``num_random_init``, ``update_loss``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch

from art_accel.attacks import AttackResult, AttackStrength
from art_accel.augmentation import CropFlipParams

STAGES = ("schedule", "base", "budget", "guard", "averaging")
#: Per-batch attack values a budget part may override, by the capability that declares it.
BATCH_VALUES = {"sets_eps": "eps", "sets_step": "eps_step", "sets_start": "delta_init"}

__all__ = ["AttackResult", "AttackStrength", "BATCH_VALUES", "Batch", "Part", "STAGES", "StepOutput"]


@dataclass
class Batch:
    """A training batch on the device: inputs, class indices, dataset positions (None if unknown)."""

    x: torch.Tensor
    y: torch.Tensor
    index: Optional[torch.Tensor] = None
    #: Crop/flip parameters when the trainer augments (``x`` is then the augmented batch).
    aug: Optional[CropFlipParams] = None
    #: The clean softmax when a part has computed it for this batch (TRADES' attack target, ECAS' entropy).
    clean_probs: Optional[torch.Tensor] = None


@dataclass
class StepOutput:
    """What one update reports: mean training loss, the logits it trained on, and (when asked) the input
    gradient of its loss."""

    loss: torch.Tensor
    logits: torch.Tensor
    input_grad: Optional[torch.Tensor] = None


class Part:
    """
    A piece of a method (see the module for the capabilities it declares and what of the trainer it may
    use). Every hook is optional; ``self.trainer`` is set by :meth:`bind`.

    :cvar stage: ``"schedule"``, ``"base"``, ``"budget"``, ``"guard"`` or ``"averaging"``.
    :cvar key: Name under which the part's configuration and checkpoint state are stored.
    """

    stage = "budget"
    key = "part"
    sets_k = False
    sets_step_each_epoch = False
    sets_eps_each_epoch = False
    sets_eps = False
    sets_step = False
    sets_start = False
    uses_index = False
    needs_input_grad = False
    makes_attack = False

    trainer: Any = None

    def bind(self, trainer) -> None:
        """Attach to ``trainer`` (called once, when the trainer is assembled)."""
        if self.trainer not in (None, trainer):
            raise ValueError(f"{type(self).__name__} already belongs to another trainer: create one per trainer")
        self.trainer = trainer

    def check(self, trainer) -> None:
        """Raise a ``ValueError`` saying why, when this part cannot work with the trainer's other parts."""

    def make_attack(self, trainer):
        """The trainer's attack, for a part with ``makes_attack`` (it reads ``trainer.strength``)."""
        raise NotImplementedError

    def on_fit_start(self, n_samples: Optional[int]) -> None:
        """Before the first epoch of ``fit`` (``n_samples`` is None when the data set size is unknown)."""

    def on_epoch_start(self, epoch: int, record: Dict[str, Any]) -> None:
        """Set the epoch's values; add (or remove) what the history records for them in ``record``."""

    def on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        """Statistics of the finished epoch (``record`` holds what the loop and earlier parts recorded)."""
        return {}

    def budget(self, batch: Batch) -> Dict[str, Any]:
        """Per-batch overrides of the attack (the values this part declares it sets); none by default."""
        return {}

    def after_attack(self, batch: Batch, result: AttackResult) -> None:
        """See the batch's attack result (e.g. to store the perturbation)."""

    def on_batch_end(self, batch: Batch, out: StepOutput) -> None:
        """After the batch's update (called only for parts that override it)."""

    def scale_step(self, factor: float) -> None:
        """Make this part's own step rule smaller by ``factor`` (the overfitting guard's safer setting)."""

    def config(self) -> Dict[str, Any]:
        """Parameters stored with the history."""
        return {}

    def state_dict(self) -> Dict[str, Any]:
        """What must survive a checkpoint."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
