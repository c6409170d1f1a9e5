"""
The catastrophic-overfitting guard on a real collapse: the cheap CIFAR-subset setting where FGSM-RS collapses
(issue 27/28's lead): a single-layer CNN (Conv2d(3, 4, 3, padding=1), ReLU, Linear(4*32*32, 10), He-normal
weights and zero biases, as Andriushchenko & Flammarion 2020), eps 16/255, FGSM-RS with step 2 eps, Adam
(weight decay 5e-4) with a per-batch triangular LR 0 -> 0.003 at 2/5 of the run -> 0, batch 128, on-device
crop(4) + flip, 30 epochs, validation PGD-10 on test images 0-499 after each epoch, final clean and PGD-20 on
test images 0-999. Each run writes one JSON (resumable: existing files are skipped).

    python benchmarks/guard_collapse.py --data-dir ../shared/data --method fgsm --guard none --seeds 0,1,2
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Dict, Optional

import numpy as np
import torch
from common import load_cifar_subset, machine_info
from torch import nn

from art_accel.augmentation import RandomCropFlip
from art_accel.evaluation import evaluate_robustness
from art_accel.guard import OverfittingGuard
from art_accel.registry import get_method

HERE = os.path.dirname(os.path.abspath(__file__))
EPS = 16 / 255
EPOCHS, BATCH, LR_MAX, PEAK = 30, 128, 0.003, 0.4
#: Method -> keyword arguments (FGSM-RS at step 2 eps, the setting's collapse).
METHODS = {"fgsm": ("fgsm", {"eps_step": 2 * EPS}), "atas": ("atas", {}), "nfgsm": ("nfgsm", {}),
           "atas-authors": ("atas", {"step_bounds": "authors"}), "pgd-10": ("pgd", {"max_iter": 10})}
#: Guard variants: None (no guard) or the OverfittingGuard's keyword arguments.
GUARDS: Dict[str, Optional[Dict[str, Any]]] = {"none": None, "default": {}, "wong": {"rule": "absolute"},
                                              "passive": {"rule": "absolute", "drop": 1.0}}


def single_layer_cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 32 * 32, 10))
    for m in model:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def classifier(seed: int):
    from art.estimators.classification import PyTorchClassifier

    model = single_layer_cnn(seed)
    opt = torch.optim.Adam(model.parameters(), lr=LR_MAX, weight_decay=5e-4)
    return PyTorchClassifier(model, loss=nn.CrossEntropyLoss(), optimizer=opt, input_shape=(3, 32, 32),
                             nb_classes=10, clip_values=(0.0, 1.0), device_type="cpu")


def triangle(optimizer, total_steps: int):
    """Per-batch LR factor 0 -> 1 at ``PEAK`` of the run -> 0 (torch's LambdaLR on LR_MAX)."""
    peak = PEAK * total_steps
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: float(np.interp(i, [0, peak, total_steps], [0.0, 1.0, 0.0])))


def run(method: str, guard: str, seed: int, data, epochs: int = EPOCHS, n_autoattack: int = 0) -> Dict[str, Any]:
    """Train one run and evaluate it: clean and PGD-20 on test images 0-999, AutoAttack (standard) on the first
    ``n_autoattack`` (0: none)."""
    name, kwargs = METHODS[method]
    clf = classifier(seed)
    options = GUARDS[guard]
    trainer = get_method(name)(clf, eps=EPS, augmentation=RandomCropFlip(4), verbose=False,
                               co_guard=None if options is None else OverfittingGuard(**options), **kwargs)
    steps = epochs * int(np.ceil(data.x_train.shape[0] / BATCH))
    torch.manual_seed(seed)
    start = time.perf_counter()
    history = trainer.fit(data.x_train, data.y_train, nb_epochs=epochs, batch_size=BATCH,
                          validation_data=(data.x_test[:500], data.y_test[:500]),
                          scheduler=triangle(clf.optimizer, steps), scheduler_step="batch")
    seconds = time.perf_counter() - start
    final = evaluate_robustness(clf, data.x_test[:1000], data.y_test[:1000], EPS, attacks=("clean", "pgd20"),
                                seed=seed)
    evaluation = {k: final[k] for k in ("clean", "pgd20", "n_samples")}
    if n_autoattack:
        aa = evaluate_robustness(clf, data.x_test, data.y_test, EPS, attacks=("autoattack",), seed=seed,
                                 n_samples=n_autoattack, batch_size=n_autoattack)
        evaluation.update(autoattack=aa["autoattack"], n_autoattack=n_autoattack)
    return {"method": method, "guard": guard, "guard_options": options, "seed": seed, "epochs": epochs,
            "train_seconds": seconds, "evaluation": evaluation,
            "history": history.records, "machine": machine_info()}


def report(folder: str, out: str) -> str:
    """docs/benchmarks/guard_collapse.md from the runs' JSON: per seed, with and without the guard."""
    runs = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                rec = json.load(f)
            runs[(rec["method"], rec["guard"], rec["seed"])] = rec
    lines = ["# The catastrophic-overfitting guard on a real collapse", "",
             "Generated by `benchmarks/guard_collapse.py --report` from `benchmarks/results/guard_collapse/`. The "
             "setting: CIFAR-10 exact subset (4,000 training images), a single-layer CNN (Conv2d(3, 4, 3, padding=1), "
             "ReLU, Linear(4*32*32, 10), He-normal weights, zero biases), eps 16/255, FGSM-RS with step 2 eps, Adam "
             "(weight decay 5e-4) with a per-batch triangular LR 0 -> 0.003 at 2/5 of the run -> 0, batch 128, "
             "on-device crop(4) + flip, 30 epochs. The run with the guard is the run without it up to the first "
             "rollback (the guard touches no random stream of training).",
             "", "| method, seed | validation PGD-10 peak (epoch) | without guard: last validation / final PGD-20 | "
             "guard fired at epoch (restored epoch; slice FGSM / PGD accuracy) | with guard: last validation / "
             "final PGD-20 | training s without / with |", "|---|---|---|---|---|---|"]
    for method, guard, seed in sorted(k for k in runs if k[1] == "none"):
        base, with_guard = runs[(method, "none", seed)], runs.get((method, "default", seed))
        curve = [r["val_robust_accuracy"] for r in base["history"]]
        peak = max(curve)
        cells = [f"{method}, {seed}", f"{100 * peak:.1f}% ({curve.index(peak)})",
                 f"{100 * curve[-1]:.1f}% / {100 * base['evaluation']['pgd20']:.1f}%"]
        if with_guard is None:
            cells += ["not run", "-", f"{base['train_seconds']:.0f} / -"]
        else:
            fired = [r for r in with_guard["history"] if r.get("co_rollback")]
            cells.append(", ".join(f"{r['epoch']} ({r['co_restored_epoch']}; {100 * r['co_single_acc']:.0f}% / "
                                   f"{100 * r['co_multi_acc']:.0f}%)" for r in fired) or "never")
            last = with_guard["history"][-1]["val_robust_accuracy"]
            cells += [f"{100 * last:.1f}% / {100 * with_guard['evaluation']['pgd20']:.1f}%",
                      f"{base['train_seconds']:.0f} / {with_guard['train_seconds']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    m = next(iter(runs.values()))["machine"]
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} thread), no GPU. "
              "Guard at its defaults (`co_guard=True`: signature rule, gap 0.15, ratio 0.5, fall 0.5, step factor "
              "0.8, 3 rollbacks). Validation: PGD-10 (step eps/4, no random start) on test images 0-499; final: "
              "PGD-20 (random start) on test images 0-999.", ""]
    path = os.path.join(out, "guard_collapse.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--method", default="fgsm", choices=sorted(METHODS))
    parser.add_argument("--guard", default="none", choices=sorted(GUARDS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "guard_collapse"))
    parser.add_argument("--report", action="store_true", help="only write docs/benchmarks/guard_collapse.md")
    args = parser.parse_args(argv)
    if args.report:
        print(report(args.out, os.path.join(HERE, "..", "docs", "benchmarks")))
        return
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    data = load_cifar_subset(args.data_dir)
    for seed in [int(s) for s in args.seeds.split(",")]:
        path = os.path.join(args.out, f"{args.method}-{args.guard}-seed{seed}.json")
        if os.path.exists(path):
            print(f"{path}: done already")
            continue
        rec = run(args.method, args.guard, seed, data, args.epochs)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(rec, f, indent=1, default=float)
        os.replace(path + ".tmp", path)
        curve = [round(100 * r["val_robust_accuracy"]) for r in rec["history"]]
        print(f"{path}: PGD-20 {100 * rec['evaluation']['pgd20']:.1f}%, validation PGD-10 % {curve}")


if __name__ == "__main__":
    main()
