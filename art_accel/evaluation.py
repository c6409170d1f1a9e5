"""
Robustness evaluation: clean accuracy, PGD-k and CW-k through ART's own ``ProjectedGradientDescent``, and
AutoAttack (standard) through ``pyautoattack``.

Costs per evaluated sample (one network pass = one forward or backward on the sample's batch):

- ``clean``: 1 forward.
- ``pgdK``: ART's PGD, K steps of size ``eps/4`` (2/255 at 8/255) from a uniform random start: K forwards
  and K backwards, plus 2 prediction forwards inside ART's ``generate``, plus 1 forward to score.
- ``cwK``: the same PGD on the margin loss ``max_{j != y} z_j - z_y`` (an ART ``PyTorchClassifier`` twin of
  the model with that loss).
- ``autoattack``: Croce & Hein's standard ensemble (APGD-CE, APGD-T with 9 targets, FAB-T with 9 targets,
  Square with 5,000 queries), each run only on the points still robust: up to about 100 + 900 + 900 passes
  plus 5,000 queries per sample. On a CPU, keep ``n_samples`` small.
"""
from __future__ import annotations

import re
import time
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn

from art_accel.attacks import OnDevicePGD, cross_entropy_sum
from art_accel.network import Network
from art_accel.robust_accuracy import correct_under
from art_accel.validation import (
    check_budget,
    check_choice,
    check_classifier,
    check_inputs,
    check_int,
    check_number,
    labels_to_indices,
)


class MarginLoss(nn.Module):
    """CW margin ``max_{j != y} z_j - z_y`` summed over the batch; labels as indices or one-hot."""

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if y.dim() == 2:
            y = y.argmax(1)
        y = y.long()
        true = logits.gather(1, y[:, None]).squeeze(1)
        others = logits.masked_fill(nn.functional.one_hot(y, logits.shape[1]).bool(), float("-inf"))
        return (others.max(1).values - true).sum()


class _Standardised(nn.Module):
    """The classifier's model with its mean/std applied, for attacks that call a plain module."""

    def __init__(self, network: Network):
        super().__init__()
        self.network = network
        self.model = network.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.logits(x, "evaluation")


def _margin_twin(classifier):
    from art.estimators.classification import PyTorchClassifier

    mean_std = None
    for op in classifier.preprocessing_operations:
        mean_std = (np.asarray(op.mean), np.asarray(op.std))
    return PyTorchClassifier(
        classifier.model, loss=MarginLoss(), input_shape=classifier.input_shape, nb_classes=classifier.nb_classes,
        clip_values=classifier.clip_values, preprocessing=mean_std,
        device_type="gpu" if classifier.device.type == "cuda" else "cpu",
    )


def _on_device_accuracy(classifier, attack, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                        loss: Optional[nn.Module]) -> float:
    """Accuracy under an ART attack object's settings, run on the device by :class:`OnDevicePGD`."""
    network = Network(classifier)
    adversary = OnDevicePGD.from_art(attack, network, model_mode="eval")
    adversary.phase = "evaluation"
    correct = torch.zeros((), dtype=torch.int64, device=network.device)
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size].to(network.device)
        yb = y[start:start + batch_size].to(network.device)
        correct += correct_under(network, adversary, xb, yb, "evaluation",
                                 loss_fn=cross_entropy_sum if loss is None else loss)
    network.model.eval()
    return float(correct) / x.shape[0]


def _accuracy(classifier, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    pred = classifier.predict(x, batch_size=batch_size)
    return float((pred.argmax(1) == y).mean())


#: The attack names ``evaluate_robustness`` understands: clean, pgdK, cwK (K steps) and autoattack.
ATTACK_PATTERN = re.compile(r"clean|autoattack|(pgd|cw)[1-9]\d*")


def evaluate_robustness(
    classifier,
    x,
    y,
    eps: float,
    attacks: Sequence[str] = ("clean", "pgd20", "cw20"),
    eps_step: Optional[float] = None,
    n_samples: Optional[int] = None,
    batch_size: int = 256,
    seed: int = 0,
    verbose: bool = False,
    engine: str = "on_device",
) -> Dict[str, float]:
    """
    Accuracy of ``classifier`` under each attack on ``(x, y)`` (the model is left in eval mode).

    :param classifier: An ART ``PyTorchClassifier``.
    :param x: Test inputs ``(N, *input_shape)``, numpy or torch; evaluate on unpadded images.
    :param y: Labels, indices or one-hot.
    :param eps: L-inf budget.
    :param attacks: Any of ``"clean"``, ``"pgdK"``, ``"cwK"`` (K steps) and ``"autoattack"`` (default clean, PGD-20 and
                    CW-20; AutoAttack only when asked: it is slow, use ``n_samples``).
    :param eps_step: PGD/CW step (default ``eps / 4``).
    :param n_samples: Evaluate on the first ``n_samples`` only (state the number when reporting).
    :param batch_size: Batch size for ART's attacks and AutoAttack.
    :param seed: Seed for the random starts and AutoAttack.
    :param verbose: Progress output from ART and AutoAttack.
    :param engine: ``"on_device"`` (default): PGD-k and CW-k built from ART's ``ProjectedGradientDescent``
                   objects (their settings) and run by :meth:`OnDevicePGD.from_art` on the device, on the
                   whole batch (tested equal in accuracy to ART's ``generate``, without its two prediction
                   passes per sample and its parameter gradients); ``"art"``: through ART's ``generate``.
    :return: ``{attack: accuracy, ..., "n_samples": n, "seconds": {attack: s}}``.
    """
    from art.attacks.evasion import ProjectedGradientDescent

    check_classifier(classifier)
    engine = check_choice(engine, "engine", ("on_device", "art"))
    eps = check_budget(check_number(eps, "eps", low=0.0), "eps", classifier)
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    step = eps / 4 if eps_step is None else check_number(eps_step, "eps_step", low=0.0, low_open=True)
    xt = check_inputs(x, classifier)
    yt = labels_to_indices(y, classifier.nb_classes, xt.shape[0])
    if n_samples is not None:
        xt, yt = xt[:n_samples], yt[:n_samples]
    parsed = []
    for name in attacks:
        m = re.fullmatch(r"(pgd|cw)(\d+)", name)
        if not ATTACK_PATTERN.fullmatch(name):
            raise ValueError(f"attacks: unknown attack {name!r} (use 'clean', 'pgdK', 'cwK' or 'autoattack')")
        parsed.append((name, m))
    x_np, y_np = xt.numpy(), yt.numpy()
    classifier.model.eval()
    results: Dict[str, float] = {"n_samples": int(len(y_np))}
    seconds: Dict[str, float] = {}
    results["seconds"] = seconds
    for name, m in parsed:
        start = time.perf_counter()
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            if name == "clean":
                results[name] = _accuracy(classifier, x_np, y_np, batch_size)
            elif name == "autoattack":
                results[name] = _autoattack(classifier, xt, yt, eps, batch_size, seed, verbose)
            else:
                target = classifier if m.group(1) == "pgd" else _margin_twin(classifier)
                pgd = ProjectedGradientDescent(target, norm=np.inf, eps=eps, eps_step=step,
                                               max_iter=int(m.group(2)), num_random_init=1, batch_size=batch_size,
                                               verbose=verbose)
                if engine == "art":
                    results[name] = _accuracy(classifier, pgd.generate(x_np, y_np), y_np, batch_size)
                else:
                    loss = None if m.group(1) == "pgd" else MarginLoss()
                    results[name] = _on_device_accuracy(classifier, pgd, xt, yt, batch_size, loss)
        except Exception as err:
            raise EvaluationError(f"evaluate_robustness: {name} failed ({type(err).__name__}: {err}); the results "
                                  "computed before it are in this error's .results", results) from err
        seconds[name] = time.perf_counter() - start
    return results


class EvaluationError(RuntimeError):
    """An attack failed; ``results`` holds what was computed before it."""

    def __init__(self, message: str, results: Dict[str, float]):
        super().__init__(message)
        self.results = results


def _autoattack(classifier, x: torch.Tensor, y: torch.Tensor, eps: float, batch_size: int, seed: int,
                verbose: bool) -> float:
    import logging

    try:
        from pyautoattack import AutoAttack
    except ImportError as err:  # pragma: no cover - exercised only without the test extra
        raise ImportError("AutoAttack needs pyautoattack: pip install pyautoattack") from err
    device = classifier.device
    model = _Standardised(Network(classifier)).eval()
    adversary = AutoAttack(model, device=device, eps=eps, norm="Linf", seed=seed, version="standard")
    logging.getLogger("auto-attack").setLevel(logging.DEBUG if verbose else logging.WARNING)
    _, y_adv = adversary.run_standard_evaluation(x.to(device), y.to(device), batch_size=batch_size)
    return float((y_adv.cpu() == y).float().mean())
