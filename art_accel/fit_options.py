"""
The keyword options of ``fit`` / ``fit_loader`` / ``fit_generator``, checked before any training step: when the
scheduler steps, validation, checkpoints and resuming, and the after-epoch options (:mod:`art_accel.callbacks`).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

import torch

from art_accel.callbacks import EpochEnd
from art_accel.validation import check_choice, check_dataset, check_int, check_path, check_scheduler


class FitOptions:
    """
    ``fit``'s options, checked (each error names the argument); the ones used are removed from ``options`` and
    anything left is refused.

    :param options: ``fit``'s keyword arguments (see :meth:`~art_accel.trainers.base.AdversarialTrainerBase.fit`).
    :param validation_data: ``(x_val, y_val)`` or None.
    :param scheduler: The LR scheduler or None.
    :param classifier: The ART classifier (its optimizer, input shape and classes).
    """

    def __init__(self, options: Dict[str, Any], validation_data, scheduler, classifier):
        self.scheduler = scheduler
        self.scheduler_step = check_choice(options.pop("scheduler_step", "epoch"), "scheduler_step",
                                           ("epoch", "batch"))
        self.validation_max_iter = check_int(options.pop("validation_max_iter", 10), "validation_max_iter", low=0)
        self.checkpoint_path = options.pop("checkpoint_path", None)
        self.resume_from = options.pop("resume_from", None)
        if self.resume_from is not None and not isinstance(self.resume_from, (str, os.PathLike)):
            raise TypeError(f"resume_from must be a path, got {type(self.resume_from).__name__}")
        if self.resume_from is not None and not os.path.isfile(self.resume_from):
            raise FileNotFoundError(f"resume_from: no checkpoint at {self.resume_from}")
        self.after = EpochEnd(options, validation_data is not None)
        if options:
            raise TypeError(f"fit got unexpected keyword arguments: {sorted(options)}")
        for path in [self.checkpoint_path, *self.after.folders()]:
            check_path(path, "checkpoint_path")
        check_scheduler(scheduler, classifier.optimizer)
        self.plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        if self.plateau and self.scheduler_step == "batch":
            raise ValueError("scheduler: ReduceLROnPlateau steps per epoch (on the training loss); use "
                             "scheduler_step='epoch'")
        self.validation: Optional[tuple] = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (x_val, y_val)")
            self.validation = check_dataset(validation_data[0], validation_data[1], classifier, "x_val", "y_val")

    def step_batch(self) -> None:
        """After each batch: ``scheduler.step()`` when it steps per batch."""
        if self.scheduler is not None and self.scheduler_step == "batch":
            self.scheduler.step()

    def step_epoch(self, loss: float) -> None:
        """After each epoch: ``scheduler.step()`` (on the training loss for ``ReduceLROnPlateau``)."""
        if self.scheduler is not None and self.scheduler_step == "epoch":
            self.scheduler.step(loss) if self.plateau else self.scheduler.step()
