"""
Weight averaging for every trainer: an exponential moving average (EMA) of the model's weights, the model most
modern adversarial training reports (Gowal et al. 2020, Rebuffi et al. 2021). ``averaging=EMA(decay=0.999)``
on any trainer.

After every optimizer step ``avg = d_n avg + (1 - d_n) w`` with ``d_n = min(decay, (1 + n) / (10 + n))`` for
the ``n``-th update (0-based; the warm-up of timm's ``ModelEmaV2``/``ModelEmaV3`` with ``use_warmup``, so early
averages are not dominated by the random start), on the device, in float32 whatever ``precision``, with no host
read (``n`` is a Python integer). BatchNorm running statistics (and every other buffer) are copied from the live
model at each update, not averaged. Validation, ``early_stopping`` and ``best_checkpoint_path`` judge the
averaged model (``val_*``); the live model's validation accuracy is recorded too (``val_live_accuracy``,
``val_live_robust_accuracy``). At the end of ``fit`` the classifier holds the averaged weights
(``final="average"``, default) or the live ones (``final="live"``); the live weights stay the ones trained on
(a further ``fit`` puts them back first) and the ones checkpoints hold, with the average in the method's state,
so continuation and resume are exact. Costs no forward or backward pass.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch

from art_accel.contract import Part
from art_accel.validation import check_choice, check_number


class EMA(Part):
    """
    Exponential moving average of the weights (see the module).

    :param decay: The decay once warmed up, in (0, 1) (default 0.999; Gowal et al. use 0.995-0.999 on CIFAR-10,
                  ARES 0.9998, the FastAT benchmark 0.9995).
    :param warmup: ``True`` (default) for ``d_n = min(decay, (1 + n) / (10 + n))``; False for ``decay`` from the
                   first update.
    :param final: What the classifier holds after ``fit``: ``"average"`` (default) or ``"live"``.
    """

    stage = "averaging"
    key = "averaging"

    def __init__(self, decay: float = 0.999, warmup: bool = True, final: str = "average"):
        self.decay = check_number(decay, "decay", low=0.0, low_open=True, high=1.0)
        if self.decay == 1.0:
            raise ValueError("decay must be < 1 (decay 1 never moves the average)")
        if not isinstance(warmup, bool):
            raise TypeError(f"warmup must be a bool, got {type(warmup).__name__}")
        self.warmup, self.final = warmup, check_choice(final, "final", ("average", "live"))
        self.updates = 0
        self.average: Optional[Dict[str, torch.Tensor]] = None
        self._live: Optional[Dict[str, torch.Tensor]] = None
        self._pairs = None

    def config(self) -> Dict[str, Any]:
        return {"averaging": {"decay": self.decay, "warmup": self.warmup, "final": self.final}}

    def decay_at(self, n: int) -> float:
        """The decay of the ``n``-th update (0-based)."""
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    def on_fit_start(self, n_samples) -> None:
        model = self.trainer.network.model
        self.updates = 0
        self.average = {k: v.detach().float().clone() if v.is_floating_point() else v.detach().clone()
                        for k, v in model.state_dict().items()}
        self._live = self._pairs = None

    def _tensor_pairs(self):
        """(average, live) tensors to average and to copy, found once: ``load_state_dict`` copies in place, so the
        live tensors stay the same objects."""
        model = self.trainer.network.model
        params = {k for k, p in model.named_parameters() if p.is_floating_point()}
        pairs = ([], [])
        for k, v in model.state_dict().items():
            pairs[0 if k in params else 1].append((self.average[k], v.detach()))  # buffers: the live model's
        return pairs

    def on_batch_end(self, batch, out) -> None:
        if self._pairs is None:
            self._pairs = self._tensor_pairs()
        weight = 1.0 - self.decay_at(self.updates)
        self.updates += 1
        with torch.no_grad():
            for avg, live in self._pairs[0]:
                avg.lerp_(live.float(), weight)
            for avg, live in self._pairs[1]:
                avg.copy_(live)

    def on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        """The decay of the epoch's last update and the updates so far (host integers: no device read)."""
        return {"averaging_decay": self.decay_at(self.updates - 1) if self.updates else None,
                "averaging_updates": self.updates}

    def load_into(self, model: torch.nn.Module) -> None:
        """Copy the average into ``model`` (in its own dtype and memory format)."""
        with torch.no_grad():
            for k, v in model.state_dict().items():
                v.copy_(self.average[k].to(v.dtype))

    def swap(self) -> Dict[str, torch.Tensor]:
        """Put the average into the trainer's model; return the live weights (for :meth:`restore`)."""
        model = self.trainer.network.model
        live = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.load_into(model)
        return live

    def restore(self, live: Dict[str, torch.Tensor]) -> None:
        self.trainer.network.model.load_state_dict(live)

    def validated(self, measure) -> Dict[str, float]:
        """``measure()`` (validation) of the averaged model, with the live model's accuracies as ``val_live_*``."""
        live = measure()
        saved = self.swap()
        try:
            averaged = measure()
        finally:
            self.restore(saved)
        return {**averaged, "val_live_accuracy": live["val_accuracy"],
                "val_live_robust_accuracy": live["val_robust_accuracy"],
                "val_seconds": live["val_seconds"] + averaged["val_seconds"]}

    def on_fit_end(self) -> None:
        """At the end of ``fit``: the classifier gets the average (``final="average"``), the live weights kept."""
        if self.final == "average" and self.average is not None:
            self._live = self.swap()

    def on_fit_continue(self) -> None:
        """Before a further ``fit``: the live weights back in the model, training goes on from them."""
        if self._live is not None:
            self.restore(self._live)
            self._live = None

    def state_dict(self) -> Dict[str, Any]:
        return {"updates": self.updates, "average": self.average}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.updates = state["updates"]
        self.average = None if state["average"] is None else {k: v.clone() for k, v in state["average"].items()}
        self._pairs = None  # new average tensors
