"""
Method names used by the CLI and the benchmarks, mapped to trainer classes. Each method module registers
itself here; every class takes ``(classifier, eps=..., **kwargs)``.
"""
from __future__ import annotations

from typing import Dict, Type

from art_accel.trainers import atas, baselines

METHODS: Dict[str, Type] = {
    "pgd": baselines.AdversarialTrainerPGD,
    "fgsm": baselines.AdversarialTrainerFGSM,
    "free": baselines.AdversarialTrainerFree,
    "trades": baselines.AdversarialTrainerTRADES,
    "mart": baselines.AdversarialTrainerMART,
    "atas": atas.AdversarialTrainerATAS,
    "atta": atas.AdversarialTrainerATTA,
}


def get_method(name: str) -> Type:
    """The trainer class registered under ``name``."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {name!r}") from None
