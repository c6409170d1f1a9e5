"""
Method names used by the CLI and the benchmarks, mapped to trainer classes. Each method module registers
itself here; every class takes ``(classifier, eps=..., **kwargs)``.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Dict

from art_accel.trainers import amata, atas, atta, awp, baselines, ecas, gaat, mplus

METHODS: Dict[str, Callable] = {
    "pgd": baselines.AdversarialTrainerPGD,
    "fgsm": baselines.AdversarialTrainerFGSM,
    "free": baselines.AdversarialTrainerFree,
    "trades": baselines.AdversarialTrainerTRADES,
    "mart": baselines.AdversarialTrainerMART,
    "atas": atas.AdversarialTrainerATAS,
    "atta": atta.AdversarialTrainerATTA,
    "amata": amata.AdversarialTrainerAmata,
    "amata-free": partial(amata.AdversarialTrainerAmata, base="free"),
    "amata-fgsm": partial(amata.AdversarialTrainerAmata, base="fgsm"),
    "awp": awp.AdversarialTrainerAWP,
    "ecas": ecas.AdversarialTrainerECAS,
    "ecas-trades": partial(ecas.AdversarialTrainerECAS, base="trades"),
    "ecas-awp": partial(ecas.AdversarialTrainerECAS, base="awp"),
    "gaat": gaat.AdversarialTrainerGAAT,
    "gaat-diag": partial(gaat.AdversarialTrainerGAAT, hessian="diagonal"),
    "dat-gaat": partial(gaat.AdversarialTrainerGAAT, delay_epochs=2),
    "deat": mplus.AdversarialTrainerDEAT,
    "deat-3": partial(mplus.AdversarialTrainerDEAT, criterion="every_d", d=3),
    "deat-40": partial(mplus.AdversarialTrainerDEAT, criterion="accuracy", accuracy_threshold=0.4),
    "mplus-pgd": partial(mplus.AdversarialTrainerMPlus, base="pgd"),
    "mplus-free": partial(mplus.AdversarialTrainerMPlus, base="free"),
    "mplus-trades": partial(mplus.AdversarialTrainerMPlus, base="trades"),
    "mplus-mart": partial(mplus.AdversarialTrainerMPlus, base="mart"),
}


def get_method(name: str) -> Callable:
    """The trainer class registered under ``name``."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {name!r}") from None
