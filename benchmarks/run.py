"""
Run a benchmark configuration: one JSON result per (config, method, seed) under --results, reused when it
exists (resumable), then the report (docs/benchmarks/results.md and PNG plots). Never downloads.

    python benchmarks/run.py --config mnist --data-dir ../shared/data --seeds 0,1
    python benchmarks/run.py --config cifar10-subset --data-dir ../shared/data --methods pgd-10,atas --seeds 0,1
    python benchmarks/run.py --config smoke          # CI: a few batches of the embedded MNIST-5k
    python benchmarks/run.py --config mnist-recipe --methods pgd-10 --seeds 0,1,2 --probe --data-dir ...
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from common import load_cifar_subset, load_mnist, machine_info, one_hot
from configs import CONFIGS, METHODS, Config, method_spec
from tqdm.auto import tqdm

import art_accel
from art_accel.augmentation import RandomCropFlip
from art_accel.data import load_mnist5k
from art_accel.evaluation import evaluate_robustness
from art_accel.models import PreActResNet18, mnist_cnn
from art_accel.registry import get_method
from art_accel.schedules import EpsRamp

HERE = os.path.dirname(os.path.abspath(__file__))


class _Net(torch.nn.Module):
    """Every model behind a plain Module (ART's FBF trainer misreads nn.Sequential outputs)."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body(x)


def load_data(cfg: Config, data_dir: str):
    if cfg.data == "mnist5k":
        data = load_mnist5k()
    elif cfg.data == "mnist":
        if not data_dir:
            raise SystemExit("--data-dir is required for the mnist configuration (folder with mnist.npz)")
        data = load_mnist(data_dir)
    else:
        if not data_dir:
            raise SystemExit("--data-dir is required for the CIFAR configurations")
        data = load_cifar_subset(data_dir)
    if cfg.n_train:
        data = data._replace(x_train=data.x_train[: cfg.n_train], y_train=data.y_train[: cfg.n_train])
    return data


def make_classifier(cfg: Config, seed: int, input_shape, nb_classes: int, awp_proxy: bool = False):
    """The configuration's classifier; ``awp_proxy``: with the AWP authors' proxy optimiser (plain SGD lr 0.01)."""
    from art.estimators.classification import PyTorchClassifier

    torch.manual_seed(seed)
    body = mnist_cnn(cfg.width, nb_classes) if cfg.model == "cnn" else PreActResNet18(cfg.width, nb_classes)
    model = _Net(body)
    if awp_proxy:
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return PyTorchClassifier(model, loss=torch.nn.CrossEntropyLoss(), optimizer=opt, input_shape=input_shape,
                             nb_classes=nb_classes, clip_values=(0.0, 1.0), device_type="cpu")


class SampleCounter:
    """Forward/backward sample counts through module hooks, for ART's trainers (their batches vary)."""

    def __init__(self, model):
        self.fwd = self.bwd = 0
        model.register_forward_hook(self._forward)
        model.register_full_backward_hook(self._backward)

    def _forward(self, module, inputs, output):
        self.fwd += output.shape[0]

    def _backward(self, module, grad_in, grad_out):
        self.bwd += grad_out[0].shape[0]


def run_art(name: str, kwargs: Dict[str, Any], clf, cfg: Config, data, seed: int, on_epoch=None) -> Dict[str, Any]:
    from art.attacks.evasion import ProjectedGradientDescent
    from art.defences.trainer import (
        AdversarialTrainerAWPPyTorch,
        AdversarialTrainerFBFPyTorch,
        AdversarialTrainerMadryPGD,
        AdversarialTrainerTRADESPyTorch,
    )

    eps, k = cfg.eps, kwargs.get("max_iter", 10)
    y_oh = one_hot(data.y_train, 10)
    pgd = ProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=eps / 4, max_iter=k, num_random_init=1,
                                   batch_size=cfg.batch_size, verbose=False)
    if name == "ART:madry":
        trainer = AdversarialTrainerMadryPGD(clf, nb_epochs=cfg.epochs, batch_size=cfg.batch_size, eps=eps,
                                             eps_step=eps / 4, max_iter=k, num_random_init=1)
        if cfg.lr_schedule != "constant" or cfg.eps_ramp or on_epoch is not None:
            return run_art_recipe(trainer, trainer.attack, clf, cfg, data, y_oh, on_epoch, per_batch=True)
        fit = lambda: trainer.fit(data.x_train, y_oh)  # noqa: E731
    elif name == "ART:fbf":
        if kwargs.get("train_mode"):
            restore_train_mode_after_attacks(clf)
        trainer = AdversarialTrainerFBFPyTorch(clf, eps=eps, use_amp=False)
        fit = lambda: trainer.fit(data.x_train, y_oh, nb_epochs=cfg.epochs, batch_size=cfg.batch_size)  # noqa: E731
    elif name == "ART:trades":
        trainer = AdversarialTrainerTRADESPyTorch(clf, pgd, beta=6.0)
        if cfg.lr_schedule != "constant" or cfg.eps_ramp or on_epoch is not None:
            return run_art_recipe(trainer, pgd, clf, cfg, data, y_oh, on_epoch, per_batch=False)
        fit = lambda: trainer.fit(data.x_train, y_oh, nb_epochs=cfg.epochs, batch_size=cfg.batch_size)  # noqa: E731
    else:
        # the AWP authors' set-up for PGD-AT: a proxy copy trained by plain SGD lr 0.01 (no momentum, no weight
        # decay), gamma 0.01; ART keeps the proxy optimiser across batches, as the authors do
        proxy = make_classifier(cfg, seed, clf.input_shape, 10, awp_proxy=True)
        warmup = kwargs.get("warmup", 0)

        def awp(warmup_epochs: int):
            return AdversarialTrainerAWPPyTorch(clf, proxy, pgd, mode="PGD", gamma=0.01, beta=6.0,
                                                warmup=warmup_epochs)

        if cfg.lr_schedule != "constant" or cfg.eps_ramp or on_epoch is not None:
            # ART counts its warm-up in the epochs of one fit call; the recipe's one-epoch fits run a trainer built
            # with warmup=1 (its epoch 0 is a warm-up epoch) for the first `warmup` epochs, then one with warmup=0
            # (the proxy's plain SGD keeps no state, so this is ART's fit(nb_epochs) with warmup=`warmup`)
            return run_art_recipe(awp(0), pgd, clf, cfg, data, y_oh, on_epoch, per_batch=False,
                                  warmup=(warmup, awp(1)), fit_per_batch=bool(kwargs.get("fit_per_batch")))
        trainer = awp(warmup)
        fit = lambda: trainer.fit(data.x_train, y_oh, nb_epochs=cfg.epochs, batch_size=cfg.batch_size)  # noqa: E731
    counter = SampleCounter(clf.model)
    start = time.perf_counter()
    fit()
    seconds = time.perf_counter() - start
    return {
        "train_seconds": seconds,
        # sample passes over batch size: batch-equivalent passes (ART splits batches inside its attacks)
        "forward_passes": counter.fwd / cfg.batch_size,
        "backward_passes": counter.bwd / cfg.batch_size,
        "history": None,
    }


def restore_train_mode_after_attacks(clf) -> None:
    """
    ART's FBF trainer never calls ``model.train()``: its attack's ``loss_gradient`` leaves the model in eval mode,
    so its update trains a BatchNorm model on the running statistics it never updates (on cifar10-recipe it
    stays at chance). This puts the model back in train mode after each ``loss_gradient`` (the attack itself
    still runs in eval mode, as ART's), so the update sees batch statistics; nothing else changes.
    """
    original = clf.loss_gradient

    def loss_gradient(*args, **kwargs):
        grad = original(*args, **kwargs)
        clf.model.train()
        return grad

    clf.loss_gradient = loss_gradient


class BestWeights:
    """
    Keeps a copy of the model's weights from the epoch with the highest ``val_robust_accuracy`` so far (the
    first of equal ones, as ``best_checkpoint_path``): the best checkpoint by validation robust accuracy, as the
    ECAS authors select their model. Called after each epoch's record (``fit(callbacks=[...])`` for our trainers,
    ``run_art_recipe`` for ART's), outside the timed epoch.
    """

    def __init__(self):
        self.model: Optional[torch.nn.Module] = None
        self.epoch: Optional[int] = None
        self.value: Optional[float] = None
        self.state: Optional[Dict[str, torch.Tensor]] = None

    def __call__(self, trainer, record: Dict[str, Any]) -> bool:
        value = record.get("val_robust_accuracy")
        self.model = trainer.get_classifier().model
        if value is not None and (self.value is None or value > self.value):
            self.epoch, self.value = record["epoch"], value
            self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return False

    def load(self) -> None:
        """Put the kept weights into the model."""
        if self.model is None or self.state is None:
            raise RuntimeError("no validation record was seen: nothing to load")
        self.model.load_state_dict(self.state)


def run_art_recipe(trainer, attack, clf, cfg: Config, data, y_oh, on_epoch=None, per_batch: bool = True,
                   warmup=(0, None), fit_per_batch: bool = False) -> Dict[str, Any]:
    """
    An ART trainer under the configuration's recipe, through ART's documented API only, one ``fit(nb_epochs=1)``
    per epoch. The one-cycle scheduler goes through ``fit(scheduler=...)``: ART's Madry trainer (``per_batch``)
    passes it to ``PyTorchClassifier.fit``, which ART calls once per batch, so it steps once per batch as ours;
    ART's TRADES and AWP trainers would step it once at the end of each epoch, so for them it is planned over the
    epochs (one LR per epoch: ART's recipe, said in their rows) and stepped here after each one-epoch ``fit``:
    their ``fit`` accepts only subclasses of torch's deprecated ``_LRScheduler``, which ``OneCycleLR`` is not in
    torch 2.x, so it cannot be passed in. The eps warm-up sets ``attack``'s eps (the
    trainer's ``ProjectedGradientDescent``) before each epoch (step eps/4 of the full eps throughout, as our
    ``EpsRamp``). Between epochs: the same validation as our trainers (clean and PGD-10, step eps/4, no random
    start, full eps, on the same slice), not counted as training time; then ``on_epoch(trainer, record)`` if given.
    ``warmup``: (epochs, trainer) that trains the first epochs instead (ART's AWP warm-up, see ``run_art``).
    ``fit_per_batch``: for a trainer whose ``fit`` cannot step a per-batch scheduler, call its ``fit(nb_epochs=1)``
    once per batch of a fresh permutation each epoch (one batch per call, ``batch_size`` = the batch) and step the
    per-batch one-cycle after each call, so the LR follows the same per-batch schedule as ours and ART's Madry
    (the amendment of 2026-12-04 17:01 UTC).
    """
    batches = -(-len(data.y_train) // cfg.batch_size)
    per_batch_lr = per_batch or fit_per_batch
    scheduler = None
    if cfg.lr_schedule == "onecycle":
        steps = cfg.epochs * batches if per_batch_lr else cfg.epochs
        scheduler = torch.optim.lr_scheduler.OneCycleLR(clf.optimizer, max_lr=cfg.lr, total_steps=steps)
    counter = SampleCounter(clf.model)
    x_val, y_val = data.x_test[-cfg.n_val:], data.y_test[-cfg.n_val:]
    records, elapsed = [], 0.0
    for epoch in range(cfg.epochs):
        eps = EpsRamp(cfg.eps_ramp).eps_at(cfg.eps, epoch) if cfg.eps_ramp else cfg.eps
        attack.set_params(eps=eps)
        lr = float(clf.optimizer.param_groups[0]["lr"])
        fwd, bwd = counter.fwd, counter.bwd
        start = time.perf_counter()
        fitter = warmup[1] if epoch < warmup[0] else trainer
        if fit_per_batch:
            order = np.random.permutation(len(data.y_train))
            for b in range(batches):
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                fitter.fit(data.x_train[idx], y_oh[idx], nb_epochs=1, batch_size=len(idx))
                if scheduler is not None:
                    scheduler.step()
        else:
            fitter.fit(data.x_train, y_oh, nb_epochs=1, batch_size=cfg.batch_size,
                       **({"scheduler": scheduler} if per_batch else {}))
        if scheduler is not None and not per_batch_lr:
            scheduler.step()  # where ART's TRADES / AWP would step it: at the end of the epoch
        seconds = time.perf_counter() - start
        elapsed += seconds
        fwd_epoch, bwd_epoch = counter.fwd - fwd, counter.bwd - bwd  # before validation, whose hooks also count
        val = evaluate_robustness(clf, x_val, y_val, cfg.eps, attacks=("clean", "pgd10"), eps_step=cfg.eps / 4)
        records.append({"epoch": epoch, "lr": lr, "eps": eps, "seconds": seconds, "elapsed_seconds": elapsed,
                        "forward_passes": fwd_epoch / cfg.batch_size, "backward_passes": bwd_epoch / cfg.batch_size,
                        "val_accuracy": val["clean"], "val_robust_accuracy": val["pgd10"]})
        counter.fwd, counter.bwd = fwd + fwd_epoch, bwd + bwd_epoch
        if on_epoch is not None:
            on_epoch(trainer, records[-1])
    recipe = ("one-cycle LR through fit kwargs (stepped per batch)" if per_batch else
              "one-cycle LR stepped per batch, one fit(nb_epochs=1) per batch" if fit_per_batch else
              "one-cycle LR planned over the epochs, stepped after each one-epoch fit") + ", eps set per epoch"
    if warmup[0]:
        recipe += f", AWP from epoch {warmup[0]} (warmup={warmup[0]})"
    return {
        "train_seconds": elapsed,
        "forward_passes": counter.fwd / cfg.batch_size,
        "backward_passes": counter.bwd / cfg.batch_size,
        "history": {"method": f"ART {type(trainer).__name__}", "config": {"recipe": recipe}, "records": records},
    }


def authors_milestones(epochs: int) -> List[int]:
    """The ATAS authors' LR decay epochs, 80% and 93% of the run rounded (24 and 28 of their 30)."""
    return [round(0.8 * epochs), round(0.93 * epochs)]


def run_ours(name: str, kwargs: Dict[str, Any], clf, cfg: Config, data, on_epoch=None) -> Dict[str, Any]:
    recipe = {}
    if cfg.eps_ramp and not name.startswith("ecas"):
        recipe["schedule"] = EpsRamp(cfg.eps_ramp)
    if cfg.crop_padding:
        recipe["augmentation"] = RandomCropFlip(cfg.crop_padding)
    trainer = get_method(name)(clf, eps=cfg.eps, nb_epochs=cfg.epochs, verbose=False, **kwargs, **recipe)
    scheduler, step = None, "epoch"
    if cfg.lr_schedule == "onecycle":
        batches = -(-len(data.y_train) // cfg.batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(clf.optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * batches)
        step = "batch"
    elif cfg.lr_schedule == "authors":
        scheduler = torch.optim.lr_scheduler.MultiStepLR(clf.optimizer, authors_milestones(cfg.epochs), gamma=0.1)
    n_val = cfg.n_val
    history = trainer.fit(data.x_train, data.y_train, nb_epochs=cfg.epochs, batch_size=cfg.batch_size,
                          validation_data=(data.x_test[-n_val:], data.y_test[-n_val:]), scheduler=scheduler,
                          scheduler_step=step, **({} if on_epoch is None else {"callbacks": [on_epoch]}))
    return {
        "train_seconds": history.total("seconds"),
        "forward_passes": history.total("forward_passes"),
        "backward_passes": history.total("backward_passes"),
        "history": history.to_dict(),
    }


def time_to_target(history, target: float):
    if not history:
        return None
    for rec in history["records"]:
        if (rec.get("val_robust_accuracy") or 0.0) >= target:
            return rec["elapsed_seconds"]
    return None


def weights_path(path: str) -> str:
    """Where a run's final weights are kept for a later AutoAttack (``*.pt`` is git-ignored: never committed)."""
    folder = os.path.join(os.path.dirname(path), "models")
    return os.path.join(folder, os.path.basename(path)[: -len(".json")] + ".pt")


def _write(record: Dict[str, Any], path: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, default=float)
    os.replace(tmp, path)


def autoattack(clf, cfg: Config, data, seed: int) -> Dict[str, Any]:
    x_eval, y_eval = data.x_test[: cfg.n_eval], data.y_test[: cfg.n_eval]
    return evaluate_robustness(clf, x_eval, y_eval, cfg.eps, attacks=("autoattack",), seed=seed,
                               n_samples=cfg.n_autoattack, batch_size=cfg.n_autoattack)


def train(cfg: Config, method: str, seed: int, data, on_epoch=None, kwargs: Optional[Dict[str, Any]] = None):
    """Build the seeded classifier and train ``method`` on it: ``(classifier, training record)``. Every run and
    every rerun (``co_signature.py``, ``frontier.py``) trains through here, so a rerun repeats the run.
    ``on_epoch(trainer, record)`` after each validated epoch (``BestWeights``; ART's FBF, TRADES and AWP have no
    epochs to hook: not supported there); ``kwargs`` replace the method's keyword arguments."""
    name, spec = method_spec(cfg, method)
    kwargs = spec if kwargs is None else kwargs
    if name.startswith("ART:") and (cfg.crop_padding or cfg.lr_schedule == "authors"):
        raise ValueError(f"{method}: ART's trainers are not run under {cfg.name}'s augmentation / LR schedule")
    if on_epoch is not None and name.startswith("ART:") and name != "ART:madry":
        raise ValueError(f"{method}: ART's trainer runs all its epochs in one fit; on_epoch is not supported")
    clf = make_classifier(cfg, seed, data.input_shape, data.nb_classes)
    torch.manual_seed(seed)
    np.random.seed(seed)
    if name.startswith("ART:"):
        out = run_art(name, kwargs, clf, cfg, data, seed, on_epoch)
    else:
        out = run_ours(name, kwargs, clf, cfg, data, on_epoch)
    return clf, out


def run_one(cfg: Config, method: str, seed: int, data, path: str, autoattack_later: bool = False) -> Dict[str, Any]:
    name, kwargs = method_spec(cfg, method)
    clf, out = train(cfg, method, seed, data)
    n_eval = cfg.n_eval
    x_eval, y_eval = data.x_test[:n_eval], data.y_test[:n_eval]
    results = evaluate_robustness(clf, x_eval, y_eval, cfg.eps, attacks=("clean", "pgd20", "cw20"), seed=seed)
    if cfg.n_autoattack and not autoattack_later:
        aa = autoattack(clf, cfg, data, seed)
        results["autoattack"] = aa["autoattack"]
        results["seconds"]["autoattack"] = aa["seconds"]["autoattack"]
    record = {
        "config": cfg.name, "method": method, "seed": seed, "impl": name, "kwargs": kwargs,
        "eps": cfg.eps, "epochs": cfg.epochs, "n_train": int(len(data.y_train)), "n_eval": n_eval,
        "n_autoattack": cfg.n_autoattack, "machine": machine_info(), "art_accel": art_accel.__version__, **out,
        "evaluation": results,
        "time_per_backward_pass": out["train_seconds"] / max(out["backward_passes"], 1),
        "time_to_target": time_to_target(out["history"], cfg.target),
    }
    if cfg.n_autoattack and autoattack_later:
        os.makedirs(os.path.dirname(weights_path(path)), exist_ok=True)
        torch.save(clf.model.state_dict(), weights_path(path))
    _write(record, path)
    return record


def autoattack_later(cfg: Config, method: str, seed: int, data, path: str) -> Optional[Dict[str, Any]]:
    """AutoAttack on a finished run's saved weights (loaded with weights_only=True), written into its result."""
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    if "autoattack" in record["evaluation"] or not cfg.n_autoattack:
        return None
    clf = make_classifier(cfg, seed, data.input_shape, data.nb_classes)
    clf.model.load_state_dict(torch.load(weights_path(path), map_location="cpu", weights_only=True))
    aa = autoattack(clf, cfg, data, seed)
    record["evaluation"]["autoattack"] = aa["autoattack"]
    record["evaluation"]["seconds"]["autoattack"] = aa["seconds"]["autoattack"]
    record["autoattack_machine"] = machine_info()
    _write(record, path)
    return record


def _same_settings(path: str, kwargs: Dict[str, Any], cfg: Config) -> bool:
    """A finished result is reused only if it was produced with the method's current settings and evaluation."""
    with open(path, encoding="utf-8") as f:
        rec = json.load(f)
    return rec.get("kwargs") == kwargs and rec.get("n_autoattack") == cfg.n_autoattack


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config", default="smoke", choices=sorted(CONFIGS))
    parser.add_argument("--methods", default="", help="comma-separated (default: the configuration's list)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--epochs", type=int, default=0, help="override the configuration's epochs")
    parser.add_argument("--data-dir", default="", help="folder with mnist.npz / cifar10_exact_subset.npz")
    parser.add_argument("--results", default=os.path.join(HERE, "results"), help="JSON results folder")
    parser.add_argument("--report", default=os.path.join(HERE, "..", "docs", "benchmarks"),
                        help="folder of results.md and the plots ('' to skip the report)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    parser.add_argument("--force", action="store_true", help="rerun finished results")
    parser.add_argument("--autoattack-later", action="store_true",
                        help="no AutoAttack now; keep the weights (git-ignored) for --autoattack-only")
    parser.add_argument("--autoattack-only", action="store_true",
                        help="run the missing AutoAttack of finished results from their kept weights")
    parser.add_argument("--probe", action="store_true",
                        help="check a recipe: no AutoAttack, results in results/probe/, no report")
    args = parser.parse_args(argv)
    cfg = CONFIGS[args.config]
    if args.probe:
        cfg = Config(**{**cfg.__dict__, "n_autoattack": 0})
        args.results, args.report = os.path.join(args.results, "probe"), ""
    if args.epochs:
        cfg = Config(**{**cfg.__dict__, "epochs": args.epochs})
    methods = [m for m in args.methods.split(",") if m] or list(cfg.methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; known: {sorted(METHODS)}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_data(cfg, args.data_dir)
    os.makedirs(args.results, exist_ok=True)
    jobs = [(m, s) for s in seeds for m in methods]
    bar = tqdm(jobs, desc=cfg.name, unit="run")
    for method, seed in bar:
        path = os.path.join(args.results, f"{cfg.name}__{method}__seed{seed}__e{cfg.epochs}.json")
        bar.set_postfix_str(f"{method} seed {seed}")
        if args.autoattack_only:
            if os.path.exists(path) and os.path.exists(weights_path(path)):
                rec = autoattack_later(cfg, method, seed, data, path)
                if rec is not None:
                    tqdm.write(f"{cfg.name} {method} seed {seed}: AA {rec['evaluation']['autoattack']:.3f}")
            continue
        if os.path.exists(path) and not args.force and _same_settings(path, method_spec(cfg, method)[1], cfg):
            continue
        rec = run_one(cfg, method, seed, data, path, autoattack_later=args.autoattack_later)
        ev = rec["evaluation"]
        tqdm.write(f"{cfg.name} {method} seed {seed}: {rec['train_seconds']:.1f} s, "
                   f"{rec['backward_passes']:.0f} BP, clean {ev['clean']:.3f}, pgd20 {ev['pgd20']:.3f}, "
                   f"cw20 {ev['cw20']:.3f}, AA {ev.get('autoattack', float('nan')):.3f}")
    if args.report:
        from report import write_report

        write_report(args.results, args.report)


if __name__ == "__main__":
    main()
