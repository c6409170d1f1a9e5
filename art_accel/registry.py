"""
The one hand-kept list of methods: the names the CLI and the benchmarks use, each the trainer class of a
module in :mod:`art_accel.trainers` (``"module:Class"``) and the keyword arguments that make the named
variant. The package's exports and the parts catalogue (:mod:`art_accel.parts`) are derived from it; every
class takes ``(classifier, eps=..., **kwargs)``.
"""
from __future__ import annotations

import importlib
from functools import partial
from typing import Any, Callable, Dict, List, Tuple

ENTRIES: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "pgd": ("baselines:AdversarialTrainerPGD", {}),
    "fgsm": ("baselines:AdversarialTrainerFGSM", {}),
    "free": ("baselines:AdversarialTrainerFree", {}),
    "trades": ("baselines:AdversarialTrainerTRADES", {}),
    "mart": ("baselines:AdversarialTrainerMART", {}),
    "atas": ("atas:AdversarialTrainerATAS", {}),
    "atta": ("atta:AdversarialTrainerATTA", {}),
    "amata": ("amata:AdversarialTrainerAmata", {}),
    "amata-free": ("amata:AdversarialTrainerAmata", {"base": "free"}),
    "amata-fgsm": ("amata:AdversarialTrainerAmata", {"base": "fgsm"}),
    "awp": ("awp:AdversarialTrainerAWP", {}),
    "ecas": ("ecas:AdversarialTrainerECAS", {}),
    "ecas-trades": ("ecas:AdversarialTrainerECAS", {"base": "trades"}),
    "ecas-awp": ("ecas:AdversarialTrainerECAS", {"base": "awp"}),
    "gaat": ("gaat:AdversarialTrainerGAAT", {}),
    "gaat-diag": ("gaat:AdversarialTrainerGAAT", {"hessian": "diagonal"}),
    "dat-gaat": ("gaat:AdversarialTrainerGAAT", {"delay_epochs": 2}),
    "deat": ("mplus:AdversarialTrainerDEAT", {}),
    "deat-3": ("mplus:AdversarialTrainerDEAT", {"criterion": "every_d", "d": 3}),
    "deat-40": ("mplus:AdversarialTrainerDEAT", {"criterion": "accuracy", "accuracy_threshold": 0.4}),
    "mplus-pgd": ("mplus:AdversarialTrainerMPlus", {"base": "pgd"}),
    "mplus-free": ("mplus:AdversarialTrainerMPlus", {"base": "free"}),
    "mplus-trades": ("mplus:AdversarialTrainerMPlus", {"base": "trades"}),
    "mplus-mart": ("mplus:AdversarialTrainerMPlus", {"base": "mart"}),
    "nfgsm": ("nfgsm:AdversarialTrainerNFGSM", {}),
    # the names the docs, the benchmarks and results.md use
    "pgd-10": ("baselines:AdversarialTrainerPGD", {"max_iter": 10}),
    "pgd-7": ("baselines:AdversarialTrainerPGD", {"max_iter": 7}),
    "fgsm-rs": ("baselines:AdversarialTrainerFGSM", {}),
    "mplus-deat": ("mplus:AdversarialTrainerMPlus", {"base": "free"}),
}


def _resolve(target: str) -> type:
    module, name = target.split(":")
    return getattr(importlib.import_module(f"art_accel.trainers.{module}"), name)


#: Name -> trainer class (or the class with the variant's keyword arguments bound).
METHODS: Dict[str, Callable] = {
    name: partial(_resolve(target), **kwargs) if kwargs else _resolve(target)
    for name, (target, kwargs) in ENTRIES.items()
}


def trainer_classes() -> List[type]:
    """Every registered trainer class, once each, in registry order."""
    classes: List[type] = []
    for target, _ in ENTRIES.values():
        cls = _resolve(target)
        if cls not in classes:
            classes.append(cls)
    return classes


def method_modules() -> List[str]:
    """The modules of the registered methods (``art_accel.trainers.<module>``), in registry order."""
    return list(dict.fromkeys(f"art_accel.trainers.{target.split(':')[0]}" for target, _ in ENTRIES.values()))


def get_method(name: str) -> Callable:
    """The trainer class registered under ``name``."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {name!r}") from None
