"""
Catastrophic or robust overfitting? Retrain one run of an overfitting setting (same configuration, method and
seed; the validation curve is compared with the committed result's), then measure clean, FGSM and PGD-20 accuracy
on the first ``--n`` training images and the first ``--n`` test images. Catastrophic overfitting breaks PGD on the
training images too while FGSM stays high there; robust overfitting keeps PGD high on the training images and
loses it on the test images. The reading rule is in docs/benchmarks/protocol.md (2026-11-30 08:17 UTC amendment).

    python benchmarks/co_signature.py --config cifar10-co-16 --method fgsm-rs --seed 0 --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Dict

import numpy as np
import torch
from common import machine_info
from configs import CONFIGS
from rules import curve, reading
from run import HERE, _write, load_data, train

from art_accel.evaluation import evaluate_robustness


def fgsm_accuracy(clf, x: np.ndarray, y: np.ndarray, eps: float, batch_size: int = 250) -> float:
    """Accuracy under textbook FGSM (no random start, one step of ``eps``), the attack catastrophic overfitting
    fits; ART's ``FastGradientMethod``."""
    from art.attacks.evasion import FastGradientMethod

    clf.model.eval()
    attack = FastGradientMethod(clf, norm=np.inf, eps=eps, batch_size=batch_size)
    x_adv = attack.generate(x, y=np.eye(clf.nb_classes)[y])
    return float((clf.predict(x_adv, batch_size=batch_size).argmax(1) == y).mean())


def measure(clf, x: np.ndarray, y: np.ndarray, eps: float, seed: int) -> Dict[str, float]:
    res = evaluate_robustness(clf, x, y, eps, attacks=("clean", "pgd20"), seed=seed)
    return {"n": int(len(y)), "clean": res["clean"], "fgsm": fgsm_accuracy(clf, x, y, eps), "pgd20": res["pgd20"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config", required=True, choices=("cifar10-co", "cifar10-co-16"))
    parser.add_argument("--method", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=1000, help="training and test images measured (each)")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    cfg = CONFIGS[args.config]
    if args.method not in cfg.methods:
        raise SystemExit(f"--method: {args.method!r} is not a method of {cfg.name} ({', '.join(cfg.methods)})")
    committed = os.path.join(HERE, "results", f"{cfg.name}__{args.method}__seed{args.seed}__e{cfg.epochs}.json")
    if not os.path.exists(committed):
        raise SystemExit(f"--seed: no committed result {committed} to reproduce")
    torch.set_num_threads(args.threads)
    data = load_data(cfg, args.data_dir)
    clf, out = train(cfg, args.method, args.seed, data)
    with open(committed, encoding="utf-8") as f:
        before = curve(json.load(f))
    again = curve(out)
    start = time.perf_counter()
    n = args.n
    record = {
        "config": cfg.name, "method": args.method, "seed": args.seed, "machine": machine_info(),
        "curve_max_abs_diff": max(abs(a - b) for a, b in zip(before, again)) if len(before) == len(again) else None,
        "train": measure(clf, data.x_train[:n], data.y_train[:n], cfg.eps, args.seed),
        "test": measure(clf, data.x_test[:n], data.y_test[:n], cfg.eps, args.seed),
    }
    record["reading"] = reading(record["train"], record["test"])
    record["eval_seconds"] = time.perf_counter() - start
    folder = os.path.join(HERE, "results", "co_signature")
    os.makedirs(folder, exist_ok=True)
    _write(record, os.path.join(folder, f"{cfg.name}__{args.method}__seed{args.seed}.json"))
    print(json.dumps(record, indent=1, default=float))


if __name__ == "__main__":
    main()
