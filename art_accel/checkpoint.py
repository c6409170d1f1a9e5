"""
Checkpoints that load without executing code and are checked before they touch anything.

A checkpoint file holds ``{"payload": ..., "checksum": ...}`` where the payload contains only tensors,
plain containers, numbers, strings, booleans and None (RNG states as tensors), so that it loads with
``torch.load(..., weights_only=True)``: a crafted file cannot run code. The checksum (SHA-256 over the
payload's tensors and values) catches truncated or altered files. :func:`read_checkpoint` validates
structure, method, shapes, data set size and configuration before anything is restored;
:func:`resume_trainer` then restores everything or nothing. Files are written to a temporary name, fsynced
and renamed atomically.
"""
from __future__ import annotations

import copy
import hashlib
import os
import struct
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import torch

from art_accel import distributed
from art_accel.history import TrainingHistory

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
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")  # 0-dim too (Adam's step)
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


def _verified_payload(path: str, map_location, fail) -> Dict[str, Any]:
    """The payload of ``path``, loaded with ``weights_only=True``, complete, of this format and checksummed."""
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
    return payload


def load_weights(classifier, path: str, averaged: bool = True) -> int:
    """
    Load the model weights of an art-accel checkpoint (``checkpoint_path=``, ``best_checkpoint_path=`` or
    ``save_checkpoint``) into ``classifier`` for evaluation, e.g. ``art_accel.load_weights(clf, "best.pt")``;
    return the epoch they are from. Checked like ``resume_from`` (``weights_only=True``, checksum, the model's
    layers and shapes) before anything is changed; the optimizer and the trainer are not touched.

    :param classifier: An ART ``PyTorchClassifier`` with the checkpoint's architecture.
    :param path: The checkpoint file.
    :param averaged: For a run with ``averaging=``: the averaged weights (default), else the live ones.
    """
    def fail(why: str) -> CheckpointError:
        return CheckpointError(f"load_weights: {path}: {why}")

    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise FileNotFoundError(f"load_weights: no checkpoint at {path}")
    payload = _verified_payload(path, classifier.device, fail)
    average = (payload["method_state"].get("averaging") or {}).get("average") if averaged else None
    weights = payload["model"] if average is None else average
    problem = _same_structure(weights, {k: v.float() if v.is_floating_point() else v
                                        for k, v in classifier.model.state_dict().items()}
                              if average is not None else classifier.model.state_dict(), "model")
    if problem:
        raise fail(problem)
    with torch.no_grad():
        for k, v in classifier.model.state_dict().items():
            v.copy_(weights[k].to(v.dtype))
    return int(payload["epoch"])


def read_checkpoint(path: str, method: str, n_samples: Optional[int], config: Dict[str, Any],
                    model_state: Dict[str, Any], optimizer_state: Dict[str, Any],
                    method_state: Dict[str, Any], map_location) -> Dict[str, Any]:
    """
    Load ``path`` with ``weights_only=True`` and check it against the trainer that resumes from it; return
    the payload. Raises :class:`CheckpointError` (a ``ValueError`` naming ``resume_from``) and changes nothing.
    """
    def fail(why: str) -> CheckpointError:
        return CheckpointError(f"resume_from: {path}: {why}")

    payload = _verified_payload(path, map_location, fail)
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


def _weights_finite(model: torch.nn.Module) -> bool:
    """Whether every floating-point parameter and buffer of ``model`` is finite (one host read)."""
    tensors = [t for t in model.state_dict().values() if t.is_floating_point()]
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()) if tensors else True


class RandomStates(NamedTuple):
    """torch's CPU random state and, on CUDA, the device's (what a checkpoint holds for one process)."""

    cpu: torch.Tensor
    cuda: Optional[List[torch.Tensor]]

    @classmethod
    def now(cls, device: torch.device) -> "RandomStates":
        return cls(torch.get_rng_state(), torch.cuda.get_rng_state_all() if device.type == "cuda" else None)

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)


def checkpoint_payload(trainer, scheduler) -> Dict[str, Any]:
    """What a trainer's checkpoint holds after its last finished epoch (RNG states of every rank under DDP)."""
    history = trainer.history
    if history is None or not history.records:
        raise ValueError("save_checkpoint: nothing trained yet")
    if not _weights_finite(trainer.network.model):
        raise FloatingPointError(f"save_checkpoint: the weights after epoch {history.records[-1]['epoch']} "
                                 "are not finite; nothing was written")
    states = RandomStates.now(trainer.device)
    rng = states.cpu
    if trainer.shard is not None:  # every rank's RNG state; rank 0 writes
        rng = distributed.gather_rows(rng[None], trainer.shard)
    return plain({
        "method": trainer.method_name,
        "epoch": history.records[-1]["epoch"],
        "n_samples": trainer.n_samples,
        "config": history.config,
        "model": trainer.network.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "history": history.to_dict(),
        "method_state": trainer.method_state(),
        "torch_rng": rng,
        "cuda_rng": states.cuda,
    })


def resume_trainer(trainer, path: str, scheduler, n_samples: Optional[int]) -> Tuple[TrainingHistory, int]:
    """Validate ``path`` against ``trainer``, then restore all of it or, on any failure, none of it; return the
    history and the next epoch."""
    model, optimizer = trainer.network.model, trainer.optimizer
    payload = read_checkpoint(path, trainer.method_name, n_samples, plain(trainer.config()), model.state_dict(),
                              optimizer.state_dict(), trainer.method_state(), trainer.device)
    backup = ({k: v.detach().clone() for k, v in model.state_dict().items()},
              copy.deepcopy(optimizer.state_dict()), None if scheduler is None else scheduler.state_dict(),
              copy.deepcopy(trainer.method_state()), torch.get_rng_state())
    try:
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None and payload["scheduler"] is not None:
            scheduler.load_state_dict(payload["scheduler"])
        trainer.load_method_state(payload["method_state"])
        rng = payload["torch_rng"].cpu()
        if trainer.shard is not None:
            if rng.dim() != 2 or rng.shape[0] != trainer.shard[1]:
                raise ValueError(f"the checkpoint holds RNG states of {rng.shape[0] if rng.dim() == 2 else 1} "
                                 f"ranks; resume on the same world size ({trainer.shard[1]} now)")
            rng = rng[trainer.shard[0]].clone()  # its own storage: set_rng_state reads from its start
        torch.set_rng_state(rng)
        if payload["cuda_rng"] is not None and trainer.device.type == "cuda":
            torch.cuda.set_rng_state_all(payload["cuda_rng"])
        history = TrainingHistory.from_dict(payload["history"])
    except Exception as err:
        model.load_state_dict(backup[0])
        optimizer.load_state_dict(backup[1])
        if scheduler is not None:
            scheduler.load_state_dict(backup[2])
        trainer.load_method_state(backup[3])
        torch.set_rng_state(backup[4])
        raise CheckpointError(f"resume_from: {path}: could not be restored, nothing was changed "
                              f"({type(err).__name__}: {str(err)[:200]})") from None
    return history, int(payload["epoch"]) + 1
