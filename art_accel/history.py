"""
Per-epoch training records returned by every trainer's ``fit``.
"""
from __future__ import annotations

import csv
import json
from typing import Any, Dict, List, Optional, Sequence


class TrainingHistory:
    """
    One record (a dict) per epoch with at least ``epoch`` (0-based), ``loss``, ``accuracy`` (on the training
    inputs the update saw), ``seconds``, ``forward_passes`` and ``backward_passes`` (whole-network passes over
    one batch, training only), plus the method's schedule values.

    :param method: Name of the method that produced the history.
    :param config: The trainer's parameters, stored with the records.
    """

    def __init__(self, method: str = "", config: Optional[Dict[str, Any]] = None):
        self.method = method
        self.config = dict(config or {})
        self.records: List[Dict[str, Any]] = []

    def append(self, record: Dict[str, Any]) -> None:
        self.records.append(dict(record))

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, key):
        """``history["k"]`` is the list of that value per epoch (None where missing); ``history[i]`` a record."""
        if isinstance(key, int):
            return self.records[key]
        return [r.get(key) for r in self.records]

    def keys(self) -> List[str]:
        seen: Dict[str, None] = {}
        for r in self.records:
            seen.update(dict.fromkeys(r))
        return list(seen)

    def total(self, key: str) -> float:
        """Sum of a numeric value over epochs (e.g. ``backward_passes`` or ``seconds``)."""
        return sum(r.get(key) or 0 for r in self.records)

    def to_dict(self) -> Dict[str, Any]:
        return {"method": self.method, "config": self.config, "records": self.records}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TrainingHistory":
        h = cls(data.get("method", ""), data.get("config"))
        for r in data.get("records", []):
            h.append(r)
        return h

    def to_json(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1, default=float)

    @classmethod
    def from_json(cls, path: str) -> "TrainingHistory":
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def to_csv(self, path: str) -> None:
        keys = self.keys()
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            for r in self.records:
                writer.writerow({k: r.get(k) for k in keys})

    def plot(self, keys: Optional[Sequence] = None, path: Optional[str] = None, title: Optional[str] = None):
        """
        One panel per key against the epoch (matplotlib); saved as PNG when ``path`` is given.

        :param keys: Values to draw; a tuple of keys draws them as lines of one panel. By default the
                     schedule values present among ``k``, ``eps``, ``eps_step``, ``step_mean``,
                     ``grad_magnitude``, plus ``loss``, ``accuracy`` and ``val_robust_accuracy``.
        :return: The matplotlib figure.
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        if keys is None:
            wanted = ("k", "eps", "eps_step", "step_mean", "grad_magnitude", "loss", "accuracy", "val_robust_accuracy")
            keys = [k for k in wanted if any(isinstance(r.get(k), (int, float)) for r in self.records)]
        panels = [k if isinstance(k, (tuple, list)) else (k,) for k in keys]
        fig, axes = plt.subplots(len(panels), 1, figsize=(6, 1.9 * max(1, len(panels))), sharex=True, squeeze=False)
        epochs = self["epoch"]
        for ax, panel in zip(axes[:, 0], panels):
            for key in panel:
                values = [float("nan") if v is None else v for v in self[key]]
                ax.plot(epochs, values, marker="o", ms=3, label=key)
            if len(panel) > 1:
                ax.legend(fontsize=7)
            ax.set_ylabel(panel[0] if len(panel) == 1 else "")
            ax.grid(alpha=0.3)
        axes[-1, 0].set_xlabel("epoch (0-based)")
        fig.suptitle(title or f"{self.method} schedule")
        fig.tight_layout()
        if path:
            fig.savefig(path, dpi=110)
            plt.close(fig)
        return fig

    def __repr__(self) -> str:
        return f"TrainingHistory(method={self.method!r}, epochs={len(self)})"

