"""
The papers' own figures, drawn from a :class:`~art_accel.history.TrainingHistory`: ATAS' Figure 10 (step
size against gradient norm), M+'s Figure 6 (k and the gradient magnitude), ECAS' Figure 2 (per-sample
epsilon distribution).
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def plot_step_vs_grad_norm(history, path: Optional[str] = None):
    """
    Gradient norm sqrt(v) and step size per epoch for the tenth of samples with the smallest (D1), middle
    (D5) and largest (D10) gradient norm: the paper's Figure 10, from an ATAS history.
    """
    keys = [("grad_norm_d1", "grad_norm_d5", "grad_norm_d10"), ("step_d1", "step_d5", "step_d10"), "step_mean"]
    return history.plot(keys, path=path, title="ATAS: gradient norm and step size by gradient-norm decile")


def plot_k_and_magnitude(history, path: Optional[str] = None):
    """``k`` and the gradient magnitude ``l_X`` (with the M+ threshold when present) per epoch: the paper's
    Figure 6, from an M+ or DEAT history."""
    keys = ["k", ("grad_magnitude", "threshold") if "threshold" in history.keys() else "grad_magnitude"]
    return history.plot(keys, path=path, title=f"{history.method}: k and gradient magnitude per epoch")


def plot_eps_distribution(history, path: Optional[str] = None):
    """Share of samples at each epsilon of the space, per epoch (the paper's Figure 2), from an ECAS history."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if "eps_space" not in history.config or "eps_counts" not in history.keys():
        raise ValueError(f"plot_eps_distribution: the history of {history.method!r} has no per-sample eps "
                         "distribution (eps_space, eps_counts): it plots an ECAS history (or a trainer with "
                         "budget=EntropyEps())")
    space = history.config["eps_space"]
    counts = np.array(history["eps_counts"], dtype=float)
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bottom = np.zeros(len(shares))
    colors = plt.cm.viridis(np.linspace(0, 1, len(space)))
    for j, value in enumerate(space):
        ax.bar(history["epoch"], shares[:, j], bottom=bottom, color=colors[j], label=f"{value * 255:.3g}/255")
        bottom += shares[:, j]
    ax.plot(history["epoch"], [(e - min(space)) / (max(space) - min(space) + 1e-12) for e in history["eps"]],
            "k--", lw=1, label="cyclic eps (scaled)")
    ax.set_xlabel("epoch (0-based)")
    ax.set_ylabel("share of samples")
    ax.set_title(f"{history.method}: per-sample epsilon per epoch")
    ax.legend(fontsize=6, ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
