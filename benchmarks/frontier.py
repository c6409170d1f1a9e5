"""
Robustness per second (evidence v3, issue 28; protocol amendment of 2026-12-02): each method of ``BUDGETS`` trained
at several epoch budgets under ``cifar10-recipe`` (the one-cycle LR planned over each run's own length), the
best checkpoint by validation PGD-10 kept (as the ECAS authors select their model), then clean and PGD-20 of the
best and of the last epoch on the configuration's evaluation images. One JSON per (method, epochs, seed) under
``results/frontier/`` (resumable); ``--shard i/n`` runs every n-th point, for two workers at once.

    python benchmarks/frontier.py --data-dir ../shared/data --seeds 0,1,2 --shard 0/2
    python benchmarks/frontier.py --report
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Any, Dict, List, Tuple

import torch
from common import machine_info
from configs import CONFIGS, Config, method_spec
from frontier_pages import (  # noqa: F401  (the pages' names, used here and by frontier.X callers)
    BASE,
    BUDGETS,
    FRACTIONS,
    HERE,
    NAME,
    REFERENCE,
    SCALED,
    _complete,
    budget_choice,
    headline,
    load,
    report,
)
from run import BestWeights, load_data, train

import art_accel
from art_accel.evaluation import evaluate_robustness


def points(budgets: Dict[str, Tuple[int, ...]], seeds: List[int]) -> List[Tuple[str, int, int]]:
    """Every (method, epochs, seed), seed by seed, the methods interleaved: the first seeds finish first."""
    out = []
    for seed in seeds:
        for i in range(max(len(b) for b in budgets.values())):
            out += [(m, b[i], seed) for m, b in budgets.items() if i < len(b)]
    return out


def result_path(out: str, method: str, epochs: int, seed: int) -> str:
    return os.path.join(out, f"{NAME}__{method}__e{epochs}__seed{seed}.json")


def run_point(base: Config, method: str, epochs: int, seed: int, data) -> Dict[str, Any]:
    """Train one budget and evaluate its best and last weights (clean and PGD-20, the configuration's images)."""
    cfg = Config(**{**base.__dict__, "epochs": epochs, "n_autoattack": 0})
    kwargs = {**method_spec(cfg, method)[1], **SCALED.get(method, lambda e: {})(epochs)}
    best = BestWeights()
    clf, out = train(cfg, method, seed, data, on_epoch=best, kwargs=kwargs)
    x_eval, y_eval = data.x_test[: cfg.n_eval], data.y_test[: cfg.n_eval]
    last = evaluate_robustness(clf, x_eval, y_eval, cfg.eps, attacks=("clean", "pgd20"), seed=seed)
    best.load()
    best_eval = evaluate_robustness(clf, x_eval, y_eval, cfg.eps, attacks=("clean", "pgd20"), seed=seed)
    history = out["history"]
    records = history["records"] if history else []
    return {
        "benchmark": NAME, "base": base.name, "method": method, "epochs": epochs, "seed": seed, "kwargs": kwargs,
        "train_seconds": out["train_seconds"], "backward_passes": out["backward_passes"],
        "best_epoch": best.epoch, "best_val_robust_accuracy": best.value,
        "best": {k: best_eval[k] for k in ("clean", "pgd20")}, "last": {k: last[k] for k in ("clean", "pgd20")},
        "n_eval": cfg.n_eval, "n_val": cfg.n_val,
        "curve": [[r["elapsed_seconds"], r["val_robust_accuracy"]] for r in records],
        "machine": machine_info(), "art_accel": art_accel.__version__,
    }


def run_points(base: Config, todo: List[Tuple[str, int, int]], data, out: str) -> List[str]:
    """Train every point without a result file yet; returns the files written."""
    os.makedirs(out, exist_ok=True)
    written = []
    for method, epochs, seed in todo:
        path = result_path(out, method, epochs, seed)
        if os.path.exists(path):
            continue
        rec = run_point(base, method, epochs, seed, data)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(rec, f, indent=1, default=float)
        os.replace(path + ".tmp", path)
        written.append(path)
        print(f"{path}: {rec['train_seconds']:.0f} s, best epoch {rec['best_epoch']}, PGD-20 best "
              f"{100 * rec['best']['pgd20']:.1f}% / last {100 * rec['last']['pgd20']:.1f}%", flush=True)
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--methods", default=",".join(BUDGETS), help=f"of {', '.join(BUDGETS)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--shard", default="0/1", help="i/n: run every n-th point starting at the i-th")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(HERE, "results", NAME))
    parser.add_argument("--docs", default=os.path.join(HERE, "..", "docs", "benchmarks"))
    parser.add_argument("--report", action="store_true", help=f"only write {NAME}.md and its plot")
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in BUDGETS]
    if unknown:
        parser.error(f"--methods: unknown {unknown}; choose from {list(BUDGETS)}")
    try:
        index, count = (int(v) for v in args.shard.split("/"))
        if not 0 <= index < count:
            raise ValueError
    except ValueError:
        parser.error(f"--shard: expected i/n with 0 <= i < n, got {args.shard!r}")
    if not args.report:
        torch.set_num_threads(args.threads)
        base = CONFIGS[BASE]
        todo = points({m: BUDGETS[m] for m in methods}, [int(s) for s in args.seeds.split(",")])[index::count]
        run_points(base, todo, load_data(base, args.data_dir), args.out)
    print(report(args.out, args.docs))


if __name__ == "__main__":
    main()
