"""
Checkpoints that load without executing code and are checked before they touch anything.

A checkpoint file holds ``{"payload": ..., "checksum": ...}`` where the payload contains only tensors,
plain containers, numbers, strings, booleans and None (RNG states as tensors), so that it loads with
``torch.load(..., weights_only=True)``: a crafted file cannot run code. The checksum (SHA-256 over the
payload's tensors and values) catches truncated or altered files. :func:`read_checkpoint` validates
structure, method, shapes, data set size and configuration before anything is restored; the trainer then
restores everything or nothing (:meth:`AdversarialTrainerBase._resume`). Files are written to a temporary
name, fsynced and renamed atomically.
"""
from __future__ import annotations

import hashlib
import os
import struct
from typing import Any, Dict, Optional

import torch

FORMAT = 2
REQUIRED = ("format", "method", "epoch", "n_samples", "config", "model", "optimizer", "scheduler", "history",
            "method_state", "torch_rng", "cuda_rng")


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from (the message names ``resume_from`` and says why)."""


def _feed(h, obj: Any) -> None:
    """Hash ``obj`` canonically: type tags, dict keys sorted by repr, tensors by dtype, shape and bytes."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(b"T" + str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(b"D" + struct.pack("<q", len(obj)))
        for key in sorted(obj, key=repr):
            _feed(h, key)
            _feed(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update((b"L" if isinstance(obj, list) else b"U") + struct.pack("<q", len(obj)))
        for item in obj:
            _feed(h, item)
    elif obj is None or isinstance(obj, (bool, int, float, str)):
        h.update(b"V" + type(obj).__name__.encode() + repr(obj).encode())
    else:
        raise TypeError(f"checkpoint: cannot store a {type(obj).__name__} (only tensors and plain values)")


def checksum(payload: Dict[str, Any]) -> str:
    """SHA-256 of the payload (see :func:`_feed`)."""
    h = hashlib.sha256()
    _feed(h, payload)
    return h.hexdigest()


def plain(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays turned into Python numbers and lists (storable, hashable)."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    if hasattr(obj, "tolist") and not isinstance(obj, torch.Tensor):
        return obj.tolist()
    return obj


def write_checkpoint(path: str, payload: Dict[str, Any]) -> None:
    """Write atomically: a temporary file, flushed and fsynced, then renamed over ``path``."""
    payload = dict(payload, format=FORMAT)
    data = {"payload": payload, "checksum": checksum(payload)}
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        torch.save(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable where the platform allows it
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _same_structure(stored: Any, current: Any, where: str) -> Optional[str]:
    """Where ``stored`` does not fit ``current`` (dict keys, tensor shapes and dtypes), or None."""
    if current is None or stored is None:
        return None
    if isinstance(current, torch.Tensor):
        if not isinstance(stored, torch.Tensor):
            return f"{where} should be a tensor, is a {type(stored).__name__}"
        if stored.shape != current.shape or stored.dtype != current.dtype:
            return (f"{where} has shape {tuple(stored.shape)} {stored.dtype}, this trainer needs "
                    f"{tuple(current.shape)} {current.dtype}")
        return None
    if isinstance(current, dict):
        if not isinstance(stored, dict):
            return f"{where} should be a dict, is a {type(stored).__name__}"
        if set(stored) != set(current):
            return f"{where} has keys {sorted(map(str, stored))}, this trainer needs {sorted(map(str, current))}"
        for key in current:
            problem = _same_structure(stored[key], current[key], f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(current, (list, tuple)) and isinstance(stored, (list, tuple)) and len(stored) != len(current):
        return f"{where} has {len(stored)} entries, this trainer needs {len(current)}"
    return None


def read_checkpoint(path: str, method: str, n_samples: Optional[int], config: Dict[str, Any],
                    model_state: Dict[str, Any], optimizer_state: Dict[str, Any],
                    method_state: Dict[str, Any], map_location) -> Dict[str, Any]:
    """
    Load ``path`` with ``weights_only=True`` and check it against the trainer that resumes from it; return
    the payload. Raises :class:`CheckpointError` (a ``ValueError`` naming ``resume_from``) and changes nothing.
    """
    def fail(why: str) -> CheckpointError:
        return CheckpointError(f"resume_from: {path}: {why}")

    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated, empty, not a checkpoint, or a pickle asking for code
        raise fail(f"not a readable art-accel checkpoint ({type(err).__name__}: {str(err)[:200]})") from None
    if not isinstance(data, dict) or set(data) != {"payload", "checksum"} or not isinstance(data["payload"], dict):
        raise fail("not an art-accel checkpoint (expected {'payload', 'checksum'})")
    payload = data["payload"]
    missing = [k for k in REQUIRED if k not in payload]
    if missing:
        raise fail(f"missing entries {missing}")
    if payload["format"] != FORMAT:
        raise fail(f"format {payload['format']!r}, this version reads format {FORMAT}")
    try:
        digest = checksum(payload)
    except TypeError as err:
        raise fail(str(err)) from None
    if digest != data["checksum"]:
        raise fail("checksum mismatch: the file is corrupted or was altered")
    if payload["method"] != method:
        raise fail(f"checkpoint of method {payload['method']!r}, not {method!r}")
    if n_samples is not None and payload["n_samples"] is not None and payload["n_samples"] != n_samples:
        raise fail(f"trained on {payload['n_samples']} samples, this data set has {n_samples}")
    changed = sorted(k for k in set(config) | set(payload["config"]) if payload["config"].get(k) != config.get(k))
    if changed:
        detail = ", ".join(f"{k}={payload['config'].get(k)!r} (now {config.get(k)!r})" for k in changed)
        raise fail(f"trained with another configuration: {detail}")
    for name, stored, current in (("model", payload["model"], model_state),
                                  ("method_state", payload["method_state"], method_state)):
        problem = _same_structure(stored, current, name)
        if problem:
            raise fail(problem)
    problem = _optimizer_problem(payload["optimizer"], optimizer_state)
    if problem:
        raise fail(problem)
    rng = payload["torch_rng"]
    if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8:
        raise fail("torch_rng must be a uint8 tensor")
    if not isinstance(payload["history"], dict) or not isinstance(payload["history"].get("records"), list):
        raise fail("history must hold a list of records")
    return payload


def _optimizer_problem(stored: Any, current: Dict[str, Any]) -> Optional[str]:
    if not isinstance(stored, dict) or set(stored) != {"state", "param_groups"}:
        return "optimizer state must hold 'state' and 'param_groups'"
    groups, now = stored["param_groups"], current["param_groups"]
    if len(groups) != len(now) or any(len(g.get("params", ())) != len(c["params"]) for g, c in zip(groups, now)):
        return "optimizer has another number of parameter groups or parameters"
    return None
