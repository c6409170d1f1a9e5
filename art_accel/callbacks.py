"""
What ``fit`` does after each epoch's record, on request: user callbacks, early stopping on the validation
robust accuracy, keeping the best checkpoint by it (as the ECAS authors select their model), and a
TensorBoard writer next to the JSON/CSV history.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional

from art_accel.validation import check_int


class EpochEnd:
    """
    The after-epoch options of ``fit``, checked before the first step.

    :param options: ``fit``'s keyword arguments; the ones used here are removed: ``callbacks`` (functions
                    ``f(trainer, record)``; returning True stops training after this epoch), ``early_stopping``
                    (patience in epochs without a better ``val_robust_accuracy``), ``best_checkpoint_path``
                    (saved whenever ``val_robust_accuracy`` improves) and ``tensorboard_dir``.
    :param has_validation: Whether ``validation_data`` was given.
    """

    def __init__(self, options: Dict[str, Any], has_validation: bool):
        callbacks = options.pop("callbacks", None)
        if callable(callbacks):
            callbacks = [callbacks]
        if callbacks is not None and not (isinstance(callbacks, (list, tuple)) and all(map(callable, callbacks))):
            raise TypeError("callbacks must be a function f(trainer, record) or a list of them")
        self.callbacks: List[Callable] = list(callbacks or [])
        patience = options.pop("early_stopping", None)
        self.patience = None if patience is None else check_int(patience, "early_stopping", low=1)
        self.best_path = options.pop("best_checkpoint_path", None)
        if self.best_path is not None and not isinstance(self.best_path, (str, os.PathLike)):
            raise TypeError(f"best_checkpoint_path must be a path, got {type(self.best_path).__name__}")
        if (self.patience is not None or self.best_path is not None) and not has_validation:
            raise ValueError("early_stopping / best_checkpoint_path watch val_robust_accuracy: pass validation_data")
        self.writer = None
        tb_dir = options.pop("tensorboard_dir", None)
        if tb_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ImportError("tensorboard_dir needs the tensorboard package: pip install tensorboard") from None
            self.writer = SummaryWriter(str(tb_dir))
        self.best: Optional[float] = None
        self.since_best = 0

    def folders(self) -> List[str]:
        """Paths whose folders must be writable."""
        return [p for p in (self.best_path,) if p is not None]

    def after(self, trainer, record: Dict[str, Any], scheduler=None) -> bool:
        """Run the options on a finished epoch's record; True to stop training."""
        stop = False
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(f"{trainer.method_name}/{key}", value, record["epoch"])
            self.writer.flush()
        robust = record.get("val_robust_accuracy")
        if robust is not None and (self.best is None or robust > self.best):
            self.best, self.since_best = robust, 0
            if self.best_path is not None:
                trainer.save_checkpoint(self.best_path, scheduler)
        elif robust is not None:
            self.since_best += 1
            stop = self.patience is not None and self.since_best >= self.patience
        for callback in self.callbacks:
            stop = bool(callback(trainer, record)) or stop
        return stop

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
