"""
Per-epoch wall time of art-accel's PGD-AT and FGSM-RS trainers against (a) a bare PyTorch loop doing the
same passes and (b) ART's AdversarialTrainerMadryPGD / AdversarialTrainerFBFPyTorch, on the same data,
model initialisation and batch size. Runs are interleaved (the order rotates every round) and the report
gives medians of per-round ratios to the bare loop. Writes docs/benchmarks/overhead.md.

    python benchmarks/overhead.py --data-dir ../shared/data --rounds 7
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from common import load_mnist, machine_info, median, one_hot, spread

from art_accel import AdversarialTrainerFGSM, AdversarialTrainerPGD
from art_accel.models import mnist_cnn

EPS, STEP, K = 0.3, 0.1, 7


class _Net(torch.nn.Module):
    """The CNN behind a plain Module: ART's FBF trainer breaks on nn.Sequential (it reads the first layer's
    output as the logits), so every contender gets this wrapper."""

    def __init__(self):
        super().__init__()
        self.body = mnist_cnn(32)

    def forward(self, x):
        return self.body(x)


def _classifier(state):
    from art.estimators.classification import PyTorchClassifier

    model = _Net()
    model.load_state_dict(state)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return PyTorchClassifier(model, loss=torch.nn.CrossEntropyLoss(), optimizer=opt, input_shape=(1, 28, 28),
                             nb_classes=10, clip_values=(0.0, 1.0), device_type="cpu")


def bare_epoch(clf, x, y, batch_size, steps, step, random_start=True):
    """The same passes as our trainers, written as a minimal PyTorch loop (data already on the device)."""
    model, opt = clf.model, clf.optimizer
    order = torch.randperm(x.shape[0])
    for start in range(0, x.shape[0], batch_size):
        idx = order[start : start + batch_size]
        xb, yb = x[idx], y[idx]
        delta = (torch.rand_like(xb) * 2 - 1) * EPS if random_start else torch.zeros_like(xb)
        x_adv = (xb + delta).clamp(0, 1)
        model.eval()
        for _ in range(steps):
            x_adv.requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(x_adv), yb, reduction="sum"), [x_adv])
            x_adv = (x_adv.detach() + step * g.sign()).clamp(0, 1)
            x_adv = xb + (x_adv - xb).clamp(-EPS, EPS)
        model.train()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x_adv), yb).backward()
        opt.step()


def contenders(x_np, y_np, batch_size):
    from art.defences.trainer import AdversarialTrainerFBFPyTorch, AdversarialTrainerMadryPGD

    x_t, y_t = torch.from_numpy(x_np), torch.from_numpy(y_np)
    y_oh = one_hot(y_np, 10)

    def ours_pgd(clf):
        AdversarialTrainerPGD(clf, eps=EPS, eps_step=STEP, max_iter=K, verbose=False).fit(
            x_np, y_np, nb_epochs=1, batch_size=batch_size)

    def art_pgd(clf):
        AdversarialTrainerMadryPGD(clf, nb_epochs=1, batch_size=batch_size, eps=EPS, eps_step=STEP,
                                   max_iter=K).fit(x_np, y_oh)

    def ours_fgsm(clf):
        AdversarialTrainerFGSM(clf, eps=EPS, verbose=False).fit(x_np, y_np, nb_epochs=1, batch_size=batch_size)

    def art_fbf(clf):
        AdversarialTrainerFBFPyTorch(clf, eps=EPS).fit(x_np, y_oh, nb_epochs=1, batch_size=batch_size)

    return {
        "pgd7": {
            "bare": lambda clf: bare_epoch(clf, x_t, y_t, batch_size, K, STEP),
            "art-accel": ours_pgd,
            "ART AdversarialTrainerMadryPGD": art_pgd,
        },
        "fgsm-rs": {
            "bare": lambda clf: bare_epoch(clf, x_t, y_t, batch_size, 1, 1.25 * EPS),
            "art-accel": ours_fgsm,
            "ART AdversarialTrainerFBFPyTorch": art_fbf,
        },
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder with mnist.npz (default: embedded MNIST-5k)")
    parser.add_argument("--n-train", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs", "benchmarks"))
    args = parser.parse_args()
    data = load_mnist(args.data_dir)
    x_np, y_np = data.x_train[: args.n_train], data.y_train[: args.n_train]
    torch.manual_seed(0)
    init = copy.deepcopy(_Net().state_dict())
    groups = contenders(x_np, y_np, args.batch_size)
    times = {g: {name: [] for name in runs} for g, runs in groups.items()}
    for r in range(args.rounds):
        for g, runs in groups.items():
            names = list(runs)
            names = names[r % len(names):] + names[: r % len(names)]  # rotate the order every round
            for name in names:
                clf = _classifier(init)
                torch.manual_seed(r)
                np.random.seed(r)
                start = time.perf_counter()
                runs[name](clf)
                times[g][name].append(time.perf_counter() - start)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{g}/{n}={t[-1]:.2f}s" for g, d in times.items() for n, t in d.items()), flush=True)
    info = machine_info()
    lines = [
        "# Overhead of the training loop",
        "",
        "Per-epoch wall time of art-accel's trainers against a bare PyTorch loop doing the same passes and",
        "against ART's own trainers. Produced by `benchmarks/overhead.py`; do not edit by hand.",
        "",
        f"- Data: {data.name}, first {len(y_np)} training images, batch {args.batch_size}; "
        f"model: MNIST CNN (width 32), SGD; eps {EPS}, PGD step {STEP}, {K} steps; FGSM-RS step 1.25 eps.",
        f"- Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']} ({info['torch_threads']} threads, "
        f"{info['device']}), ART {info['art']}, Python {info['python']}.",
        f"- {args.rounds} interleaved rounds (order rotated each round); one epoch per run from the same "
        "initial weights; ratio = run time / bare-loop time of the same round; median and range over rounds.",
        "",
        "| setting | trainer | median s/epoch | median ratio to bare | ratio range |",
        "|---|---|---|---|---|",
    ]
    summary = {}
    for g, d in times.items():
        for name, ts in d.items():
            ratios = [t / b for t, b in zip(ts, d["bare"])]
            summary[f"{g}/{name}"] = {"seconds": ts, "ratio_median": median(ratios)}
            lines.append(f"| {g} | {name} | {median(ts):.2f} | {median(ratios):.3f} | {spread(ratios)} |")
    lines += ["", "Target: art-accel / bare <= 1.03."]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "overhead.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "overhead.json"), "w", encoding="utf-8") as f:
        json.dump({"machine": info, "times": summary}, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
