"""
Per-sample state kept across epochs, indexed by dataset position, on the classifier's device (ATAS' moving
average v_i and the carried perturbation delta_i; ATTA's delta_i).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch


class PerSampleState:
    """
    Named tensors of shape ``(n, *shape)``; rows are read and written by dataset position.

    :param n: Number of samples in the data set.
    :param device: Device the tensors live on.
    :param shard: ``(rank, world_size)`` under DistributedDataParallel: this process holds only the rows of the
                  samples ``rank, rank + W, ...`` (``n // W`` rows; see :mod:`art_accel.distributed`).
    """

    def __init__(self, n: int, device: torch.device, shard: Optional[Tuple[int, int]] = None):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = int(n)
        self.device = device
        self.shard = shard
        self.rows = self.n // shard[1] if shard else self.n
        self._tensors: Dict[str, torch.Tensor] = {}

    def register(self, name: str, shape: Tuple[int, ...] = (), fill: float = 0.0) -> torch.Tensor:
        """Create (or re-create) ``name`` filled with ``fill``."""
        self._tensors[name] = torch.full((self.rows,) + tuple(shape), float(fill), device=self.device)
        return self._tensors[name]

    def _local(self, index: torch.Tensor) -> torch.Tensor:
        """Rows of dataset positions (this rank's own positions under a shard)."""
        return index if self.shard is None else index // self.shard[1]

    def __contains__(self, name: str) -> bool:
        return name in self._tensors

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._tensors[name]

    def get(self, name: str, index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` of ``name`` (a copy)."""
        return self._tensors[name][self._local(index)]

    def set(self, name: str, index: torch.Tensor, values: torch.Tensor) -> None:
        """Write rows ``index`` of ``name``."""
        self._tensors[name][self._local(index)] = values.to(self._tensors[name].dtype)

    def nbytes(self) -> int:
        """Memory held by all tensors."""
        return sum(t.numel() * t.element_size() for t in self._tensors.values())

    def state_dict(self) -> Dict[str, torch.Tensor]:
        """All rows in dataset order (gathered from every rank under a shard: a collective call)."""
        if self.shard is None:
            return {k: v.detach().clone() for k, v in self._tensors.items()}
        from art_accel.distributed import gather_rows

        return {k: gather_rows(v.detach(), self.shard) for k, v in self._tensors.items()}

    def load_state_dict(self, state: Dict[str, torch.Tensor]) -> None:
        """Rows in dataset order (under a shard, this rank keeps its own)."""
        expected = self.rows * (self.shard[1] if self.shard else 1)
        for k, v in state.items():
            if v.shape[0] != expected:
                raise ValueError(f"state {k!r} has {v.shape[0]} rows, expected {expected}")
        for k, v in state.items():
            v = v if self.shard is None else v[self.shard[0]::self.shard[1]]
            self._tensors[k] = v.to(self.device).clone()
