"""
The signature every public trainer shows: its own parameters, then the loop's common parameters as
keyword-only parameters with the loop's defaults.
"""
from __future__ import annotations

import functools
import inspect

from art_accel.trainers.base import AdversarialTrainerBase

#: Keyword arguments every public trainer passes on to :class:`AdversarialTrainerBase`.
COMMON_PARAMETERS = ("nb_epochs", "batch_size", "attack_mode", "augmentation", "verbose", "schedule", "budget",
                     "co_guard", "averaging", "precision", "memory_format")


def with_common_parameters(init):
    """
    Give a public trainer's ``__init__(self, classifier, ..., **kwargs)`` the signature it really has: its own
    parameters followed by :data:`COMMON_PARAMETERS` as keyword-only parameters with the base's defaults
    (what ``inspect.signature`` and the API reference show). Any other keyword raises a ``TypeError`` naming
    it (with the class's ``argument_hints`` when it has one for it).
    """
    own = inspect.signature(init)
    params = [p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    base = inspect.signature(AdversarialTrainerBase.__init__).parameters
    params += [base[name].replace(kind=inspect.Parameter.KEYWORD_ONLY) for name in COMMON_PARAMETERS
               if name not in own.parameters]
    signature = own.replace(parameters=params)
    accepted = set(signature.parameters)

    @functools.wraps(init)
    def checked(self, *args, **kwargs):
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            hints = getattr(type(self), "argument_hints", {})
            hint = "; ".join(f"{name}: {hints[name]}" for name in unknown if name in hints)
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) {unknown}"
                            + (f" ({hint})" if hint else f"; it takes {sorted(accepted - {'self'})}"))
        return init(self, *args, **kwargs)

    checked.__signature__ = signature
    return checked
