"""
Prediction entropy, and ECAS' entropy thresholds calibrated as its paper describes (analysis helpers: they
change no weights).
"""
from __future__ import annotations

import copy
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from art_accel.network import Network, eval_mode
from art_accel.validation import check_classifier, check_inputs


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats per row, with 0 log 0 = 0 (no NaN for saturated softmax)."""
    return torch.special.entr(probs).sum(1)


def calibrate_entropy_thresholds(classifier, x, untrained: Optional[torch.nn.Module] = None,
                                 batch_size: int = 256, seed: int = 0) -> Tuple[float, float]:
    """
    ``(h_low, h_high)`` as the paper describes: ``h_low`` is the mean entropy of the (trained) classifier on
    ``x``; ``h_high`` that of an untrained model (by default a copy of the classifier's model with every
    layer re-initialised by ``reset_parameters``, seeded).

    :param classifier: A trained ART ``PyTorchClassifier``.
    :param x: Inputs (numpy or torch), e.g. a slice of the training set.
    :param untrained: The untrained model to use instead of a re-initialised copy.
    :return: ``(h_low, h_high)`` in nats.
    """
    check_classifier(classifier)
    xt = check_inputs(x, classifier).to(classifier.device)
    net = Network(classifier)
    if untrained is None:
        untrained = copy.deepcopy(net.model)
        torch.manual_seed(seed)
        for module in untrained.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def mean_entropy(model) -> float:
        total = 0.0
        with eval_mode(model), torch.no_grad():
            for start in range(0, xt.shape[0], batch_size):
                probs = F.softmax(net.logits(xt[start: start + batch_size], "analysis", model=model), dim=1)
                total += float(entropy(probs).sum())
        return total / xt.shape[0]

    return mean_entropy(net.model), mean_entropy(untrained.to(classifier.device))
