"""
The frontier's pages (robustness per second, ``frontier.py``): its points' grid, loading the committed
points, the headline (least budget reaching PGD-10's full-run robustness), the "I have T seconds" choice,
``frontier.md`` and its plot. Reads JSON only, so the report code imports it without the training code.
"""
from __future__ import annotations

import json
import os
import statistics
from typing import Any, Dict, List, Optional, Tuple

from configs import CONFIGS

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "frontier"
BASE = "cifar10-recipe"
#: The PGD-10 budget whose robustness the others are measured against (the configuration's full run).
REFERENCE = ("pgd-10", 10)
#: Method -> epoch budgets (the grid of the amendment of 2026-12-02 07:05 UTC): PGD-10 at 3/10, 1/2 and 1x the
#: configuration's 10 epochs; PGD-7 and Amata at 1/2 and 1x; ART's Madry trainer at 1x (1.5x PGD-10's time per
#: epoch here); the single-step methods at 1/2, 1x and 2x.
BUDGETS: Dict[str, Tuple[int, ...]] = {
    "pgd-10": (3, 5, 10), "pgd-7": (5, 10), "amata": (5, 10), "art-madry-pgd-10": (10,),
    "fgsm-rs": (5, 10, 20), "atas": (5, 10, 20), "nfgsm": (5, 10, 20), "mplus-deat": (5, 10, 20),
}
#: Methods whose per-epoch options scale with the run: ATAS' warm-up, the authors' 5 of 30 epochs (1/6) rounded,
#: at least 1 (cifar10-recipe's 2 at 10 epochs)
SCALED = {"atas": lambda epochs: {"warmup_epochs": max(1, round(epochs / 6))}}


def load(out: str) -> Dict[Tuple[str, int], List[Dict[str, Any]]]:
    """(method, epochs) -> its runs, by seed."""
    runs: Dict[Tuple[str, int], List[Dict[str, Any]]] = {}
    for name in sorted(os.listdir(out)) if os.path.isdir(out) else []:
        if name.startswith(NAME + "__") and name.endswith(".json"):
            with open(os.path.join(out, name), encoding="utf-8") as f:
                rec = json.load(f)
            runs.setdefault((rec["method"], rec["epochs"]), []).append(rec)
    for recs in runs.values():
        recs.sort(key=lambda r: r["seed"])
    return runs


def _mean(recs, which="best") -> float:
    return sum(r[which]["pgd20"] for r in recs) / len(recs)


def _seconds(recs) -> float:
    return statistics.median(r["train_seconds"] for r in recs)


def _complete(runs, budgets) -> Tuple[List[int], Dict[Tuple[str, int], List[Dict[str, Any]]]]:
    """The seeds every point run so far has, and each point's runs of those seeds (what the headline uses)."""
    present = {k: v for k, v in runs.items() if k[0] in budgets and v}
    common = set.intersection(*({r["seed"] for r in v} for v in present.values())) if present else set()
    seeds = sorted(common)
    return seeds, {k: [r for r in v if r["seed"] in common] for k, v in present.items()} if seeds else {}


def headline(runs, budgets=None) -> List[str]:
    """Per method the least budget at which its mean PGD-20 (best checkpoint) reaches PGD-10's full-run mean, and
    the most robust point within fractions of PGD-10's full-run time."""
    budgets = BUDGETS if budgets is None else budgets
    seeds, full = _complete(runs, budgets)
    if REFERENCE not in full:
        return [f"The reference ({REFERENCE[0]} at {REFERENCE[1]} epochs) has no runs yet: no headline.", ""]
    ref = full[REFERENCE]
    target, ref_s = _mean(ref), _seconds(ref)
    per_seed = {r["seed"]: r["best"]["pgd20"] for r in ref}
    lines = [f"Target: PGD-10's full run ({REFERENCE[1]} epochs), PGD-20 of its best checkpoint, mean of seeds "
             f"{', '.join(map(str, seeds))}: **{100 * target:.1f}%**, median training time {ref_s:.0f} s. A point "
             "reaches it when its own mean over the same seeds is at least that; the seeds column counts the "
             "seeds at or above that seed's PGD-10 full run.", "",
             "| method | least budget reaching PGD-10's full-run robustness | median training s | x PGD-10's full-run "
             "time | its mean PGD-20 | seeds at or above their PGD-10 |", "|---|---|---|---|---|---|"]
    for method, epochs_list in budgets.items():
        pts = [(e, full[(method, e)]) for e in sorted(epochs_list) if (method, e) in full]
        if not pts:
            lines.append(f"| {method} | not run | - | - | - | - |")
            continue
        hit = next(((e, recs) for e, recs in pts if _mean(recs) >= target), None)
        if hit is None:
            e, recs = max(pts, key=lambda p: _mean(p[1]))
            lines.append(f"| {method} | not reached by {max(p[0] for p in pts)} epochs (best: {e} epochs) | "
                         f"{_seconds(recs):.0f} | {_seconds(recs) / ref_s:.2f} | {100 * _mean(recs):.1f} | "
                         f"{sum(r['best']['pgd20'] >= per_seed[r['seed']] for r in recs)} of {len(recs)} |")
            continue
        e, recs = hit
        lines.append(f"| {method} | **{e} epochs** | {_seconds(recs):.0f} | {_seconds(recs) / ref_s:.2f} | "
                     f"{100 * _mean(recs):.1f} | {sum(r['best']['pgd20'] >= per_seed[r['seed']] for r in recs)} of "
                     f"{len(recs)} |")
    lines += ["", "I have T seconds (as a fraction of PGD-10's full-run time, which carries over between machines "
              "better than seconds): the point with the highest mean PGD-20 whose median training time fits.", "",
              "| T | seconds here | most robust point within T | its mean PGD-20 |", "|---|---|---|---|"]
    for fraction, method, epochs, value in budget_choice(runs, budgets):
        cell = "nothing fits" if method is None else f"{method}, {epochs} epochs"
        value_cell = "-" if value is None else f"{100 * value:.1f}"
        lines.append(f"| {fraction:g} x | {fraction * ref_s:.0f} | {cell} | {value_cell} |")
    return lines + [""]


#: The time budgets of "I have T seconds", as fractions of PGD-10's full-run median training time
FRACTIONS = (0.25, 0.5, 1.0)


def budget_choice(runs, budgets=None) -> List[Tuple[float, Optional[str], Optional[int], Optional[float]]]:
    """(fraction, method, epochs, mean PGD-20) of the most robust point (the common seeds) within each time
    budget."""
    budgets = BUDGETS if budgets is None else budgets
    _, full = _complete(runs, budgets)
    if REFERENCE not in full:
        return []
    ref_s = _seconds(full[REFERENCE])
    out = []
    for fraction in FRACTIONS:
        fits = [(_mean(recs), -_seconds(recs), k) for k, recs in full.items() if _seconds(recs) <= fraction * ref_s]
        if fits:
            value, _, (method, epochs) = max(fits)
            out.append((fraction, method, epochs, value))
        else:
            out.append((fraction, None, None, None))
    return out


def _pct(values) -> str:
    return "/".join(f"{100 * v:.1f}" for v in values)


def report(out: str, docs: str, budgets=None) -> str:
    """``docs/benchmarks/frontier.md`` and ``frontier.png`` from the committed JSON."""
    budgets = BUDGETS if budgets is None else budgets
    runs = load(out)
    base = CONFIGS[BASE]
    lines = ["# Robustness per second", "",
             f"Generated by `benchmarks/frontier.py --report` from `benchmarks/results/{NAME}/`; fixed in the "
             "protocol amendment of 2026-12-02 before its runs. Every point is `" + BASE + "` (CIFAR-10 exact subset, "
             "4,000 training images, PreAct-ResNet-18 width 8, SGD momentum 0.9 wd 5e-4, batch 128, no "
             f"augmentation, eps {255 * base.eps:.0f}/255) at its own epoch budget, the one-cycle LR to "
             f"{base.lr} planned over that budget's own length; ATAS' warm-up is the authors' 1/6 of the run, "
             "rounded, at least 1 epoch; every other option as in that configuration. The weights kept are the "
             f"best checkpoint by validation PGD-10 (the last {base.n_val} test images, step eps/4, no random start), "
             "as the ECAS authors select their model. Measured: clean and PGD-20 (step eps/4, one random start) "
             f"on test images 0-{base.n_eval - 1}, of the best checkpoint and of the last epoch. PGD-20 rather "
             "than AutoAttack: AutoAttack costs 5-9 minutes per run here, more than most of these runs' training; "
             f"on `{BASE}`'s own rows the two rank the methods alike (results.md). Training seconds exclude "
             "validation and evaluation.", "", "## Headline", ""]
    lines += headline(runs, budgets)
    lines += ["## Every point", "", "| method | epochs | seeds | median training s | PGD-20 best checkpoint: mean "
              "(per seed) | PGD-20 last epoch: mean (per seed) | best epoch per seed | clean, best checkpoint |",
              "|---|---|---|---|---|---|---|---|"]
    for method, epochs_list in budgets.items():
        for e in sorted(epochs_list):
            recs = runs.get((method, e), [])
            if not recs:
                lines.append(f"| {method} | {e} | not run | - | - | - | - | - |")
                continue
            lines.append(f"| {method} | {e} | {','.join(str(r['seed']) for r in recs)} | {_seconds(recs):.0f} | "
                         f"{100 * _mean(recs):.1f} ({_pct(r['best']['pgd20'] for r in recs)}) | "
                         f"{100 * _mean(recs, 'last'):.1f} ({_pct(r['last']['pgd20'] for r in recs)}) | "
                         f"{','.join(str(r['best_epoch']) for r in recs)} | "
                         f"{100 * sum(r['best']['clean'] for r in recs) / len(recs):.1f} |")
    if runs:
        m = next(iter(runs.values()))[0]["machine"]
        lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} thread per "
                  "run, next to one other single-thread benchmark job throughout), no GPU. The times compare the "
                  "points with each other; they are not comparable with results.md's rows, timed under other loads.",
                  "",
                  f"![PGD-20 against training seconds]({NAME}.png)"]
        _plot(runs, budgets, os.path.join(docs, f"{NAME}.png"))
    lines.append("")
    path = os.path.join(docs, f"{NAME}.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return path


def _plot(runs, budgets, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for method, epochs_list in budgets.items():
        pts = [(e, runs[(method, e)]) for e in sorted(epochs_list) if (method, e) in runs]
        if not pts:
            continue
        xs = [_seconds(recs) for _, recs in pts]
        ys = [100 * _mean(recs) for _, recs in pts]
        lo = [y - 100 * min(r["best"]["pgd20"] for r in recs) for y, (_, recs) in zip(ys, pts)]
        hi = [100 * max(r["best"]["pgd20"] for r in recs) - y for y, (_, recs) in zip(ys, pts)]
        line = ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=2, label=method)
        for x, y, (e, _) in zip(xs, ys, pts):
            ax.annotate(str(e), (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6,
                        color=line[0].get_color())
    if REFERENCE in runs:
        ax.axhline(100 * _mean(runs[REFERENCE]), color="grey", linestyle="--", linewidth=1,
                   label="PGD-10, full run")
    ax.set_xscale("log")
    ax.set_xlabel("median training seconds (log; labels: epochs)")
    ax.set_ylabel("PGD-20 accuracy, best checkpoint (%, mean; bars: seeds' range)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
