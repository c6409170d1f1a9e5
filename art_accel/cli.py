"""
The ``art-accel`` command.

``art-accel train`` trains one method, evaluates it and writes ``history.json``, ``history.csv``,
``schedule.png``, ``evaluation.json`` and ``model.pt`` to ``--out``. ``art-accel evaluate`` evaluates a
saved model. ``art-accel methods`` lists the method names.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional

import numpy as np
import torch


def _parse_params(items: List[str]) -> Dict[str, Any]:
    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--param expects key=value, got {item!r}")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def build_classifier(input_shape, nb_classes: int, width: Optional[int] = None, lr: Optional[float] = None,
                     device: str = "auto"):
    """
    The default model for a data set and its ART classifier: the small MNIST CNN with Adam (lr 1e-3) for
    1x28x28 inputs; PreAct-ResNet-18 (``width``, default 16) with SGD (lr 0.1, momentum 0.9, weight decay
    5e-4) otherwise. No standardisation: inputs in [0, 1].
    """
    from art.estimators.classification import PyTorchClassifier

    from art_accel.models import PreActResNet18, mnist_cnn

    if tuple(input_shape) == (1, 28, 28):
        model = mnist_cnn(width or 32, nb_classes)
        opt = torch.optim.Adam(model.parameters(), lr=lr or 1e-3)
    else:
        model = PreActResNet18(width or 16, nb_classes, in_channels=input_shape[0])
        opt = torch.optim.SGD(model.parameters(), lr=lr or 0.1, momentum=0.9, weight_decay=5e-4)
    if device == "auto":
        device = "gpu" if torch.cuda.is_available() else "cpu"
    return PyTorchClassifier(model, loss=torch.nn.CrossEntropyLoss(), optimizer=opt, input_shape=tuple(input_shape),
                             nb_classes=nb_classes, clip_values=(0.0, 1.0), device_type=device)


def _train(args) -> int:
    from art_accel.data import load_dataset
    from art_accel.evaluation import evaluate_robustness
    from art_accel.registry import get_method

    cls = get_method(args.method)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    data = load_dataset(args.data)
    if args.n_train:
        data = data._replace(x_train=data.x_train[: args.n_train], y_train=data.y_train[: args.n_train])
    eps = args.eps if args.eps is not None else (0.3 if data.input_shape == (1, 28, 28) else 8 / 255)
    clf = build_classifier(data.input_shape, data.nb_classes, args.width, args.lr, args.device)
    trainer = cls(clf, eps=eps, verbose=not args.quiet, **_parse_params(args.param))
    n_val = min(args.n_eval, 500)
    history = trainer.fit(data.x_train, data.y_train, nb_epochs=args.epochs, batch_size=args.batch_size,
                          validation_data=(data.x_test[:n_val], data.y_test[:n_val]))
    attacks = ["clean"] + [a for a in args.attacks.split(",") if a]
    results = evaluate_robustness(clf, data.x_test, data.y_test, eps, attacks=attacks, n_samples=args.n_eval)
    if args.autoattack:
        aa = evaluate_robustness(clf, data.x_test, data.y_test, eps, attacks=("autoattack",), n_samples=args.autoattack)
        results["autoattack"], results["autoattack_n_samples"] = aa["autoattack"], aa["n_samples"]
    os.makedirs(args.out, exist_ok=True)
    history.to_json(os.path.join(args.out, "history.json"))
    history.to_csv(os.path.join(args.out, "history.csv"))
    history.plot(path=os.path.join(args.out, "schedule.png"))
    torch.save(clf.model.state_dict(), os.path.join(args.out, "model.pt"))
    summary = {
        "method": args.method, "data": data.name, "eps": eps, "epochs": args.epochs,
        "train_seconds": history.total("seconds"), "forward_passes": history.total("forward_passes"),
        "backward_passes": history.total("backward_passes"), **results,
    }
    with open(os.path.join(args.out, "evaluation.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    rob = "  ".join(f"{a}={results[a]:.4f}" for a in attacks[1:] + (["autoattack"] if args.autoattack else []))
    print(f"{args.method} on {data.name} (eps={eps:.4g}, {args.epochs} epochs): clean={results['clean']:.4f}  {rob}  "
          f"(n={results['n_samples']})")
    print(f"train time {summary['train_seconds']:.1f} s, {summary['backward_passes']} backward passes, "
          f"{summary['forward_passes']} forward passes -> {args.out}")
    return 0


def _evaluate(args) -> int:
    from art_accel.data import load_dataset
    from art_accel.evaluation import evaluate_robustness

    data = load_dataset(args.data)
    clf = build_classifier(data.input_shape, data.nb_classes, args.width, None, args.device)
    clf.model.load_state_dict(torch.load(args.model, map_location=clf.device))
    eps = args.eps if args.eps is not None else (0.3 if data.input_shape == (1, 28, 28) else 8 / 255)
    results = evaluate_robustness(clf, data.x_test, data.y_test, eps, attacks=args.attacks.split(","),
                                  n_samples=args.n_eval)
    print(json.dumps(results, indent=1))
    return 0


def _methods(_args) -> int:
    from art_accel.registry import METHODS

    for name, factory in sorted(METHODS.items()):
        cls = getattr(factory, "func", factory)
        extra = ", ".join(f"{k}={v!r}" for k, v in getattr(factory, "keywords", {}).items())
        print(f"{name:14s} {cls.__name__}" + (f"({extra})" if extra else ""))
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="art-accel", description=__doc__.strip().splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--data", default="mnist5k", help="mnist5k (default) | npz:PATH | cifar10:DIR")
        p.add_argument("--eps", type=float, default=None, help="L-inf budget (default 0.3 MNIST, 8/255 otherwise)")
        p.add_argument("--width", type=int, default=None, help="model width (CNN 32, PreAct-ResNet-18 16)")
        p.add_argument("--n-eval", type=int, default=1000, help="test samples for PGD/CW evaluation")
        p.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"))

    t = sub.add_parser("train", help="train one method, evaluate it and save the history and model")
    t.add_argument("--method", default="atas", help="method name, default atas (art-accel methods lists them)")
    common(t)
    t.add_argument("--epochs", type=int, default=5)
    t.add_argument("--n-train", type=int, default=0, help="use only the first N training samples (0: all)")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--param", action="append", default=[], help="method parameter key=value (repeatable)")
    t.add_argument("--attacks", default="pgd20,cw20", help="comma-separated pgdK/cwK attacks after training")
    t.add_argument("--autoattack", type=int, default=0, help="also run AutoAttack on this many test samples")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="runs/latest")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=_train)

    e = sub.add_parser("evaluate", help="evaluate a saved model.pt")
    e.add_argument("--model", required=True)
    common(e)
    e.add_argument("--attacks", default="clean,pgd20,cw20")
    e.set_defaults(func=_evaluate)

    m = sub.add_parser("methods", help="list the method names")
    m.set_defaults(func=_methods)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = make_parser().parse_args(argv)
    start = time.perf_counter()
    code = args.func(args)
    if getattr(args, "command", "") == "train":
        print(f"total {time.perf_counter() - start:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
