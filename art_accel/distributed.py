"""
Training under ``torch.distributed`` (DistributedDataParallel), with per-sample state sharded by dataset
index.

Launch one process per device with ``torchrun --nproc_per_node N script.py``; in the script, call
``torch.distributed.init_process_group(...)`` and train with ``fit(x, y)`` (it shards the arrays itself) or
``fit_loader`` on :func:`sharded_loader` (or a loader over any dataset yielding ``(x, y, index)`` with a
:class:`ShardedSampler`). Rank ``r`` of ``W`` owns
the samples ``r, r + W, r + 2W, ...`` for the whole run (shuffled within its shard every epoch), so each rank
keeps only its ``N / W`` rows of the per-sample state (ATAS' ``v`` and perturbations); the last ``N mod W``
samples are not used, so that every rank runs the same number of batches. The update runs through
``DistributedDataParallel`` (gradients all-reduced); the attack's input gradients run on the plain module,
with no communication (AWP's proxy gradients are averaged over the ranks). Epoch metrics, pass counts, the
M+ gradient magnitude, ATAS' and ECAS' statistics and the guard's check counts are reduced over the ranks, so
the history is the same on every rank and describes the global run. Checkpoints are written by rank 0 with the
per-sample state gathered in dataset order and every rank's RNG state; they resume on the same world size.
"""
from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def world() -> Optional[Tuple[int, int]]:
    """``(rank, world_size)`` inside an initialised process group of more than one process, else None."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist.get_rank(), dist.get_world_size()
    return None


def _all_reduce_flat(tensors, dtype: Optional[torch.dtype], divisor: int) -> None:
    """One all-reduce (sum) of all ``tensors`` flattened together (in ``dtype``, else their own), divided by
    ``divisor``, written back in place."""
    flat = torch.cat([t.reshape(-1) if dtype is None else t.reshape(-1).to(dtype) for t in tensors])
    dist.all_reduce(flat)
    if divisor != 1:
        flat /= divisor
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset:offset + n].reshape(t.shape).to(t.dtype))
        offset += n


def all_reduce_sum(*tensors: torch.Tensor) -> None:
    """Sum tensors over all ranks, in place (one collective for all of them, in float64)."""
    _all_reduce_flat(tensors, torch.float64, 1)


def all_reduce_mean(tensors: List[torch.Tensor]) -> None:
    """Average same-dtype tensors over all ranks, in place (one collective, in their own dtype)."""
    _all_reduce_flat(tensors, None, dist.get_world_size())


def setup(trainer, loader) -> Optional[Tuple[int, int]]:
    """
    ``trainer``'s shard under torch.distributed (None outside it): refuses what is not supported, checks that
    per-sample state comes with fixed shards, and wraps the update's model in DistributedDataParallel.
    """
    shard = world()
    if shard is None:
        return None
    base = trainer.objective
    if not base.ddp_ready:
        raise ValueError(f"base: {base.name!r} is not supported under DistributedDataParallel")
    if trainer.needs_index and not isinstance(getattr(loader, "sampler", None), ShardedSampler):
        raise ValueError("loader: per-sample state under DistributedDataParallel needs each rank's fixed shard: "
                         "use art_accel.distributed.sharded_loader or a ShardedSampler")
    network = trainer.network
    if network.update_model is None:
        ids = [trainer.device.index] if trainer.device.type == "cuda" else None
        network.update_model = DistributedDataParallel(network.model, device_ids=ids)
    return shard


def gather_rows(local: torch.Tensor, shard: Tuple[int, int]) -> torch.Tensor:
    """The full tensor in dataset order from every rank's rows ``rank::world`` (an all-gather)."""
    rank, size = shard
    parts: List[torch.Tensor] = [torch.empty_like(local) for _ in range(size)]
    dist.all_gather(parts, local.contiguous())
    full = torch.empty((local.shape[0] * size,) + tuple(local.shape[1:]), dtype=local.dtype, device=local.device)
    for r, part in enumerate(parts):
        full[r::size] = part
    return full


class ShardedSampler(torch.utils.data.Sampler):
    """
    The dataset positions ``rank, rank + W, ...`` (below ``N - N mod W``), the same every epoch, in an order
    shuffled per epoch (seeded by ``seed + epoch``; the loop calls ``set_epoch``).

    :param n: Size of the data set.
    :param rank: This process's rank (default: the process group's).
    :param world_size: Number of processes (default: the process group's).
    :param shuffle: Shuffle the shard every epoch.
    :param seed: Seed of the shuffles.
    """

    def __init__(self, n: int, rank: Optional[int] = None, world_size: Optional[int] = None, shuffle: bool = True,
                 seed: int = 0):
        info = world()
        self.rank = rank if rank is not None else (info[0] if info else 0)
        self.world_size = world_size if world_size is not None else (info[1] if info else 1)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank must be in [0, {self.world_size}), got {self.rank}")
        self.n, self.shuffle, self.seed, self.epoch = int(n), bool(shuffle), int(seed), 0
        self.indices = torch.arange(self.rank, self.n - self.n % self.world_size, self.world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(self.indices.tolist())
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(self.indices[torch.randperm(len(self.indices), generator=g)].tolist())


class _Indexed(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i):
        return self.x[i], self.y[i], i


def sharded_loader(x, y, batch_size: int, shuffle: bool = True, seed: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader over in-memory ``(x, y)`` yielding ``(x, y, index)`` from this rank's shard."""
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    return torch.utils.data.DataLoader(_Indexed(x, y), batch_size=batch_size,
                                       sampler=ShardedSampler(x.shape[0], shuffle=shuffle, seed=seed))
