"""
Every part a method is made of, importable from one place (``from art_accel.parts import MPlusSteps``):
derived, not hand-kept. It holds the contract's names (:mod:`art_accel.contract`: ``Part``, ``Batch``,
``StepOutput``, ``STAGES``) and every :class:`~art_accel.contract.Part` subclass defined in the modules of
the registered methods (:mod:`art_accel.registry`), the objectives, the schedules and the guard.
:data:`CATALOGUE` maps each part's name to the module that defines it.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Dict

from art_accel.contract import STAGES, Batch, Part, StepOutput
from art_accel.registry import method_modules

#: Modules holding parts besides the methods' own.
LIBRARY_MODULES = ("art_accel.trainers.objectives", "art_accel.schedules", "art_accel.guard", "art_accel.averaging")


def _catalogue() -> Dict[str, type]:
    found: Dict[str, type] = {}
    for name in (*LIBRARY_MODULES, *method_modules()):
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, Part) and value.__module__ == name \
                    and not attr.startswith("_"):
                found[attr] = value
    return found


_PARTS = _catalogue()
#: Part name -> the module that defines it.
CATALOGUE: Dict[str, str] = {name: cls.__module__ for name, cls in _PARTS.items()}
globals().update(_PARTS)

__all__ = ["Batch", "CATALOGUE", "Part", "STAGES", "StepOutput", *_PARTS]
