"""
How a trainer's keyword arguments become parts (``schedule=``, ``budget=``, ``co_guard=``, ``averaging=``) and
which declared capabilities may appear only once (:mod:`art_accel.contract`).
"""
from __future__ import annotations

from typing import List, Sequence

from art_accel.contract import Part
from art_accel.guard import OverfittingGuard


def as_parts(value, name: str) -> List[Part]:
    """``schedule=`` / ``budget=`` as a list of parts of that stage."""
    if value is None:
        return []
    parts = [value] if isinstance(value, Part) else list(value) if isinstance(value, (list, tuple)) else None
    if parts is None or not all(isinstance(p, Part) for p in parts):
        raise TypeError(f"{name} must be a part (art_accel.parts) or a list of parts, got {value!r}")
    for p in parts:
        if p.stage != name:
            raise ValueError(f"{name}: {type(p).__name__} is a {p.stage} part; pass it as {p.stage}=")
    return parts


def guard_parts(value) -> List[Part]:
    """``co_guard=`` as a list of at most one guard part."""
    if value is None or value is False:
        return []
    return [OverfittingGuard()] if value is True else one_part(value, "guard", "co_guard", "True, False or an "
                                                                "art_accel.guard.OverfittingGuard")


def one_part(value, stage: str, name: str, what: str) -> List[Part]:
    """``name=`` (a part of ``stage``, or None) as a list of at most one part."""
    if value is None:
        return []
    if isinstance(value, Part) and value.stage == stage:
        return [value]
    raise TypeError(f"{name} must be {what}, got {value!r}")


def one_each(having: Sequence[Part], what: str) -> None:
    """Refuse two parts declaring the same exclusive capability."""
    if len(having) > 1:
        raise ValueError(f"parts: {type(having[0]).__name__} and {type(having[1]).__name__} would both set {what}; "
                         "a trainer takes one")
