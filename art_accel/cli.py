"""
The ``art-accel`` command.

``art-accel train`` checks every argument, trains one method, saves ``model.pt`` (weights and
architecture), ``history.json``, ``history.csv`` and ``schedule.png`` to ``--out``, then evaluates it
(``evaluation.json``). ``art-accel evaluate`` evaluates a saved model, reading its architecture from the
file. ``art-accel methods`` lists the method names. A user error prints one line and exits with status 2.
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


class UsageError(ValueError):
    """A user error: printed as one line."""


#: What ``art-accel train`` prints for comparison: ART's ``AdversarialTrainerMadryPGD`` (PGD-10) on the main
#: job's data, model, budget and epochs, measured by ``benchmarks/main_job_reference.py`` (see the README).
ART_REFERENCE_FILE = "main_job_reference.json"


def _parse_params(items: List[str]) -> Dict[str, Any]:
    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--param expects key=value, got {item!r}")
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


def _attacks(spec: str) -> List[str]:
    """``--attacks`` checked before any work."""
    from art_accel.evaluation import ATTACK_PATTERN

    names = [a for a in spec.split(",") if a]
    bad = [a for a in names if not ATTACK_PATTERN.fullmatch(a)]
    if bad:
        raise UsageError(f"--attacks: unknown attack(s) {bad} (use clean, pgdK, cwK or autoattack)")
    return names


def _positive(args, names) -> None:
    for name in names:
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0, got {value}")


def _default_eps(input_shape) -> float:
    """The main job's budget: 0.1 on 28x28 digits (see the README), 8/255 otherwise."""
    return 0.1 if tuple(input_shape) == (1, 28, 28) else 8 / 255


def _load(args):
    from art_accel.data import load_dataset

    try:
        return load_dataset(args.data)
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(f"--data: {err}") from None


def _train(args) -> int:
    from art_accel.averaging import EMA
    from art_accel.evaluation import evaluate_robustness
    from art_accel.registry import get_method

    _positive(args, ("epochs", "batch_size", "n_eval", "width", "lr", "eps"))
    if args.n_train < 0 or args.autoattack < 0:
        raise UsageError("--n-train and --autoattack must be >= 0")
    try:
        cls = get_method(args.method)
    except ValueError as err:
        raise UsageError(f"--method: {err}") from None
    attacks = ["clean"] + [a for a in _attacks(args.attacks) if a != "clean"]
    params = _parse_params(args.param)
    _writable(args.out)
    if args.nproc < 1:
        raise UsageError(f"--nproc must be >= 1, got {args.nproc}")
    if args.nproc > 1 and not _launched():
        _load(args)  # --data checked once, before any process starts
        return _launch(args)
    rank = _init_distributed(args.device) if _launched() else 0
    torch.manual_seed(args.seed + rank)  # DistributedDataParallel gives every rank rank 0's initial weights
    np.random.seed(args.seed + rank)
    data = _load(args)
    if args.n_train:
        data = data._replace(x_train=data.x_train[: args.n_train], y_train=data.y_train[: args.n_train])
    eps = args.eps if args.eps is not None else _default_eps(data.input_shape)
    clf = build_classifier(data.input_shape, data.nb_classes, args.width, args.lr, args.device)
    try:
        averaging = EMA(args.averaging) if args.averaging else None
    except (TypeError, ValueError) as err:
        raise UsageError(f"--averaging: {err}") from None
    try:
        trainer = cls(clf, eps=eps, nb_epochs=args.epochs, verbose=rank == 0 and not args.quiet and sys.stderr.isatty(),
                      averaging=averaging, **params)
    except (TypeError, ValueError) as err:
        raise UsageError(f"--param / --eps: {err}") from None
    n_val = min(args.n_eval, 500)
    try:
        history = trainer.fit(data.x_train, data.y_train, nb_epochs=args.epochs, batch_size=args.batch_size,
                              validation_data=(data.x_test[:n_val], data.y_test[:n_val]))
    except (TypeError, ValueError) as err:
        if trainer.counter.training_backward():
            raise
        raise UsageError(f"--batch-size / --param: {err}") from None  # refused before the first step
    if rank != 0:  # rank 0 saves, evaluates and prints the one result
        return 0
    meta = {"input_shape": list(data.input_shape), "nb_classes": int(data.nb_classes), "width": args.width,
            "method": args.method, "eps": eps, "data": data.name}

    def write(folder: str) -> None:  # saved before the evaluation, which may take long or fail
        history.to_json(os.path.join(folder, "history.json"))
        history.to_csv(os.path.join(folder, "history.csv"))
        history.plot(path=os.path.join(folder, "schedule.png"))
        torch.save({"state_dict": clf.model.state_dict(), "meta": meta}, os.path.join(folder, "model.pt"))

    args.out = _save(args.out, write)
    results = evaluate_robustness(clf, data.x_test, data.y_test, eps, attacks=attacks, n_samples=args.n_eval)
    if args.autoattack:
        aa = evaluate_robustness(clf, data.x_test, data.y_test, eps, attacks=("autoattack",), n_samples=args.autoattack)
        results["autoattack"], results["autoattack_n_samples"] = aa["autoattack"], aa["n_samples"]
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
    _print_reference(args, eps, results)
    return 0


def _launched() -> bool:
    """Whether this process is one of several started by torch.distributed.run (``--nproc``, or torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _launch(args) -> int:
    """Start ``--nproc`` local processes of this same command with PyTorch's launcher; its exit status."""
    import subprocess

    args.launcher = True
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
               "-m", "art_accel.cli", *_without_nproc(args.argv)]
    return subprocess.run(command, check=False).returncode


def _without_nproc(argv: List[str]) -> List[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--nproc":
            skip = True
        elif not item.startswith("--nproc="):
            out.append(item)
    return out


def _init_distributed(device: str) -> int:
    """Join the process group of a launched run (nccl on CUDA, gloo on CPU); this process's rank."""
    import torch.distributed as dist

    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank()


def _print_reference(args, eps: float, results: Dict[str, Any]) -> None:
    """On the main job, what ART's own Madry PGD trainer needs for it (a measured reference, not rerun)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), ART_REFERENCE_FILE)
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as f:
        ref = json.load(f)
    job = ref["job"]
    if (args.data, args.method, args.epochs, args.n_train, args.width, args.lr, args.batch_size, args.seed) != (
            job["data"], job["method"], job["epochs"], job["n_train"], job["width"], job["lr"], job["batch_size"],
            job["seed"]) or abs(eps - job["eps"]) > 1e-12:
        return
    art, ours = ref["art_madry_pgd10"], ref["ours"]
    print(f"reference (measured once, {ref['machine']}): ART AdversarialTrainerMadryPGD (PGD-10) on this job: "
          f"{art['train_seconds']:.0f} s, clean={art['clean']:.4f} pgd20={art['pgd20']:.4f}; this job measured "
          f"there: {ours['train_seconds']:.0f} s, pgd20={ours['pgd20']:.4f} ({ref['date']})")


def _writable(out: str) -> None:
    """``--out`` can be created and written: every existing part of the path is a folder, the deepest writable."""
    folder = os.path.abspath(out)
    while not os.path.isdir(folder):
        if os.path.exists(folder):
            raise UsageError(f"--out: {out} cannot be a folder: {folder} is a file")
        folder = os.path.dirname(folder)
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--out: {out} cannot be written (no write access to {folder})")


def _save(out: str, write) -> str:
    """``write(folder)`` into ``out``; if that fails after all (the disk, a race), into a new temporary folder
    instead, said on stderr: a trained model is never lost. Returns the folder used."""
    try:
        os.makedirs(out, exist_ok=True)
        write(out)
        return out
    except OSError as err:
        import tempfile

        fallback = tempfile.mkdtemp(prefix="art-accel-run-")
        write(fallback)
        print(f"art-accel: could not write {out} ({type(err).__name__}: {err}); saved to {fallback} instead",
              file=sys.stderr)
        return fallback


def _evaluate(args) -> int:
    from art_accel.evaluation import evaluate_robustness

    _positive(args, ("n_eval", "width", "eps"))
    attacks = _attacks(args.attacks)
    if not os.path.isfile(args.model):
        raise UsageError(f"--model: no file at {args.model}")
    try:
        saved = torch.load(args.model, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UsageError(f"--model: {args.model} is not a saved model ({type(err).__name__})") from None
    meta = saved.get("meta", {}) if isinstance(saved, dict) and "state_dict" in saved else {}
    state = saved["state_dict"] if meta else saved
    data = _load(args)
    width = args.width if args.width is not None else meta.get("width")
    clf = build_classifier(data.input_shape, data.nb_classes, width, None, args.device)
    try:
        clf.model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise UsageError(f"--model: the weights do not fit the model for {data.name} (width {width}); saved by an "
                         f"older art-accel? pass --width ({str(err).splitlines()[0][:120]})") from None
    eps = args.eps if args.eps is not None else meta.get("eps", _default_eps(data.input_shape))
    results = evaluate_robustness(clf, data.x_test, data.y_test, eps, attacks=attacks, n_samples=args.n_eval)
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
    from art_accel import __version__

    parser = argparse.ArgumentParser(prog="art-accel", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--version", action="version", version=f"art-accel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--data", default="mnist5k", help="mnist5k (default) | npz:PATH | cifar10:DIR")
        p.add_argument("--eps", type=float, default=None,
                       help="L-inf budget (default 0.1 on MNIST for the one-minute main job, 8/255 otherwise)")
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
    t.add_argument("--averaging", type=float, default=0.0, metavar="DECAY",
                   help="keep an EMA of the weights with this decay, e.g. 0.999, and evaluate it (default 0: off)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="runs/latest")
    t.add_argument("--quiet", action="store_true", help="no progress bars (also off when stderr is not a terminal)")
    t.add_argument("--nproc", type=int, default=1,
                   help="train on N local processes with DistributedDataParallel (torch.distributed.run; gloo on "
                        "CPU, nccl on CUDA); --batch-size is per process")
    t.set_defaults(func=_train)

    e = sub.add_parser("evaluate", help="evaluate a saved model.pt")
    e.add_argument("--model", required=True, help="a model.pt written by art-accel train")
    common(e)
    e.add_argument("--attacks", default="clean,pgd20,cw20")
    e.set_defaults(func=_evaluate)

    m = sub.add_parser("methods", help="list the method names")
    m.set_defaults(func=_methods)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = make_parser().parse_args(argv)
    args.argv, args.launcher = argv, False
    start = time.perf_counter()
    try:
        code = args.func(args)
    except UsageError as err:
        print(f"art-accel: error: {err}", file=sys.stderr)
        return 2
    finally:
        if _launched() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    if getattr(args, "command", "") == "train" and os.environ.get("RANK", "0") == "0" and not args.launcher:
        print(f"total {time.perf_counter() - start:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
