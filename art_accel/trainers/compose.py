"""
Composition of a method with a base trainer: ``Method(..., base="trades")`` returns an instance of the
class that combines the method's mixin with the base's trainer class.
"""
from __future__ import annotations

from typing import Dict

from art_accel.validation import check_choice


class ComposedByBase:
    """
    Mixin for a method class used as a facade: its ``bases`` (set after the composed classes are defined)
    maps each ``base`` name to the composed class that ``Method(..., base=name)`` instantiates. Composed
    subclasses inherit ``bases`` but are instantiated directly.
    """

    bases: Dict[str, type] = {}
    default_base = "pgd"

    def __new__(cls, *args, **kwargs):
        if "bases" in vars(cls):
            base = kwargs.get("base", cls.default_base)
            cls = cls.bases[check_choice(base, "base", tuple(cls.bases))]
        return object.__new__(cls)
