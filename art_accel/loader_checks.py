"""
Batches from a loader, checked without a per-batch host synchronisation.

What is on the host is checked there, for free, before it reaches the device: the batch's form, shapes and
dtypes; labels and dataset indices that come as numpy arrays or CPU tensors (as a ``DataLoader`` yields
them) are checked in full (range, one-hot rows, index repeats within the epoch). Inputs are checked in full
on the first batch of each epoch, before any step; on later batches their range and finiteness are
accumulated in device flags and read once at the end of the epoch. Labels or indices already on an
accelerator are handled the same way (indices are then checked with one read per batch, because an index
out of range would fault on the device).
"""
from __future__ import annotations

from typing import Iterable, Iterator, Optional, Tuple

import numpy as np
import torch

from art_accel.contract import Batch
from art_accel.validation import check_inputs, has_batchnorm, labels_to_indices


def _host(a, name: str, epoch: int):
    """``a`` as a tensor (numpy arrays wrapped without copy); anything else is rejected naming ``name``."""
    if isinstance(a, torch.Tensor):
        return a
    if isinstance(a, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a))
    raise TypeError(f"loader: epoch {epoch}: {name} must be a numpy array or a torch tensor, got {type(a).__name__}")


class CheckedBatches:
    """
    Iterates a loader's batches as ``(x, y, index)`` on the device, checked (see the module docstring).

    :param loader: A re-iterable of ``(x, y)`` or ``(x, y, index)`` batches.
    :param classifier: The ART classifier (input shape, classes, clip values, device).
    :param n_samples: Size of the data set (None if unknown).
    :param needs_index: Whether the trainer keeps per-sample state (``index`` required, repeats rejected).
    """

    def __init__(self, loader: Iterable, classifier, n_samples: Optional[int], needs_index: bool,
                 shard: Optional[Tuple[int, int]] = None):
        self.loader, self.classifier = loader, classifier
        self.n_samples, self.needs_index, self.shard = n_samples, needs_index, shard
        self.device = classifier.device
        self.shape = tuple(classifier.input_shape)
        clip = classifier.clip_values
        self.clip = None if clip is None else (float(np.min(clip[0])), float(np.max(clip[1])))

    def epoch(self, epoch: int) -> Iterator:
        visited = np.zeros(self.n_samples, dtype=bool) if self.needs_index and self.n_samples else None
        bad = torch.zeros(3, dtype=torch.bool, device=self.device)  # inputs, labels, indices
        count = 0
        for item in self.loader:
            if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
                raise ValueError(f"loader: epoch {epoch}: batches must be (x, y) or (x, y, index), got "
                                 f"{type(item).__name__}")
            x = _host(item[0], "x", epoch)
            if not x.is_floating_point():
                raise ValueError(f"loader: epoch {epoch}: x must be floating point in the classifier's clip range "
                                 f"{self.clip}, got {x.dtype} (for 0..255 images divide by 255)")
            if tuple(x.shape[1:]) != self.shape or x.shape[0] == 0:
                raise ValueError(f"loader: epoch {epoch}: x batches must have shape (B, "
                                 f"{', '.join(map(str, self.shape))}), got {tuple(x.shape)}")
            y = self._labels(_host(item[1], "y", epoch), x.shape[0], epoch, bad, first=count == 0)
            index = self._index(item[2], x.shape[0], epoch, bad, visited) if len(item) == 3 else None
            if self.needs_index and index is None:
                raise ValueError("loader: this trainer keeps per-sample state: batches must be (x, y, index) "
                                 "with index the dataset positions")
            x = x.to(self.device, torch.float32, non_blocking=True)
            if count == 0:
                check_inputs(x, self.classifier, f"loader: epoch {epoch}: x")
            else:
                bad[0] |= ~torch.isfinite(x).all()
                if self.clip is not None:
                    lo, hi = torch.aminmax(x)
                    bad[0] |= (lo < self.clip[0] - 1e-6) | (hi > self.clip[1] + 1e-6)
            count += 1
            yield x, y, index
        if count == 0:
            raise ValueError(f"loader: epoch {epoch}: the loader yielded no batches (empty, or a one-shot iterator "
                             "already consumed: pass a DataLoader or a list)")
        problems = [what for what, flag in zip(("x has NaN/inf or values outside the clip range",
                                                "labels out of range or not whole numbers",
                                                "index out of range"), bad.tolist()) if flag]
        if problems:
            raise ValueError(f"loader: epoch {epoch}: " + "; ".join(problems))

    def _labels(self, y: torch.Tensor, n: int, epoch: int, bad: torch.Tensor, first: bool) -> torch.Tensor:
        nb = self.classifier.nb_classes
        if y.shape[0] != n:
            raise ValueError(f"loader: epoch {epoch}: a batch has {n} inputs and {y.shape[0]} labels")
        if y.device.type == "cpu" or first:
            return labels_to_indices(y, nb, n, f"loader: epoch {epoch}: y").to(self.device, non_blocking=True)
        if y.dim() == 2 and y.shape[1] == nb:
            return y.argmax(1)
        y = y.reshape(-1)
        out_of_range = (y < 0) | (y >= nb)
        bad[1] |= (out_of_range | (y != y.round())).any() if y.is_floating_point() else out_of_range.any()
        return y.long()

    def _index(self, index, n: int, epoch: int, bad: torch.Tensor, visited) -> torch.Tensor:
        index = _host(index, "index", epoch)
        if index.is_floating_point() or index.dtype == torch.bool or index.is_complex():
            raise ValueError(f"loader: epoch {epoch}: index must hold integer dataset positions, got {index.dtype}")
        index = index.reshape(-1)
        if index.shape[0] != n:
            raise ValueError(f"loader: epoch {epoch}: a batch has {n} inputs and {index.shape[0]} indices")
        if self.needs_index:
            if self.n_samples is None:
                raise ValueError("loader: per-sample state needs the data set size: a loader with a sized dataset")
            host = index.cpu().numpy()  # free for CPU indices (a DataLoader's); one read for device ones
            lo, hi = int(host.min()), int(host.max())
            if lo < 0 or hi >= self.n_samples:
                raise ValueError(f"loader: epoch {epoch}: index must be dataset positions in [0, {self.n_samples}), "
                                 f"got [{lo}, {hi}]")
            if np.unique(host).size != host.size or visited[host].any():
                raise ValueError(f"loader: epoch {epoch}: index repeats a dataset position within the epoch; "
                                 "each sample's state must be updated once per epoch (use a sampler without "
                                 "replacement and the dataset's own positions)")
            visited[host] = True
            if self.shard is not None and (host % self.shard[1] != self.shard[0]).any():
                raise ValueError(f"loader: epoch {epoch}: rank {self.shard[0]} got dataset positions of another "
                                 "rank's shard (use art_accel.distributed.ShardedSampler)")
        return index.to(self.device, torch.int64, non_blocking=True)


def check_loader(loader, n_batches: Optional[int], n_samples: Optional[int], nb_epochs: int,
                 model: torch.nn.Module) -> None:
    """Up-front checks of a loader: re-iterable, not empty, no lone final sample for BatchNorm."""
    if not hasattr(loader, "__iter__"):
        raise TypeError(f"loader must be an iterable of batches (a DataLoader), got {type(loader).__name__}")
    if iter(loader) is loader and nb_epochs > 1:
        raise ValueError("loader is a one-shot iterator (a generator): it cannot be read for several epochs; "
                         "pass a DataLoader or a list")
    if n_batches == 0:
        raise ValueError("loader is empty")
    size = getattr(loader, "batch_size", None)
    if (size and n_samples and not getattr(loader, "drop_last", False) and n_samples % size == 1
            and n_samples > 1 and has_batchnorm(model)):
        raise ValueError(f"loader: its last batch has one sample ({n_samples} samples, batch_size {size}), "
                         "which BatchNorm cannot train on: use drop_last=True or another batch_size")


class GetBatchLoader:
    """Re-iterable view of an ART ``DataGenerator`` as ``steps`` numpy batches per epoch."""

    def __init__(self, generator, steps: int):
        self.generator, self.steps = generator, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        for _ in range(self.steps):
            yield self.generator.get_batch()


class ArrayBatches:
    """
    ``fit``'s batches of in-memory data on the device, reshuffled each epoch (``torch.randperm``), with their
    dataset positions. A lone last sample joins the previous batch when the model has BatchNorm (which cannot
    train on a batch of one sample).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, batchnorm: bool):
        self.x, self.y, self.shuffle = x, y, shuffle
        n = x.shape[0]
        self.starts = list(range(0, n, batch_size))
        if len(self.starts) > 1 and n - self.starts[-1] == 1 and batchnorm:
            self.starts.pop()
        self.ends = self.starts[1:] + [n]

    def __len__(self) -> int:
        return len(self.starts)

    def epoch(self, _epoch: int) -> Iterator:
        n, device = self.x.shape[0], self.x.device
        order = torch.randperm(n, device=device) if self.shuffle else torch.arange(n, device=device)
        for start, end in zip(self.starts, self.ends):
            idx = order[start:end]
            yield Batch(self.x[idx], self.y[idx], idx)


class _WithIndex(torch.utils.data.Dataset):
    """A map-style dataset whose items ``(x, y)`` come back as ``(x, y, position)``."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        item = self.dataset[i]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValueError("generator: its dataset's items must be (x, y) to be given their dataset positions; "
                             "or train with trainer.fit_loader(loader) on a loader yielding (x, y, index)")
        return item[0], item[1], i


def with_index(loader: torch.utils.data.DataLoader) -> torch.utils.data.DataLoader:
    """The same loader (sampler, batches, collation, workers) over its dataset with each item's position added,
    for trainers with per-sample state; refused with the one line to write instead where it cannot be done."""
    dataset = loader.dataset
    if isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__len__"):
        raise ValueError("generator: its DataLoader reads an iterable dataset, whose samples have no positions; "
                         "this trainer keeps per-sample state: train with trainer.fit_loader(loader) on a loader "
                         "yielding (x, y, index)")
    return torch.utils.data.DataLoader(_WithIndex(dataset), batch_sampler=loader.batch_sampler,
                                       collate_fn=loader.collate_fn, num_workers=loader.num_workers,
                                       pin_memory=loader.pin_memory)


def loader_of(generator, needs_index: bool = False):
    """What ``fit_generator`` reads of an ART ``DataGenerator``: a ``PyTorchDataGenerator``'s DataLoader (with
    dataset positions added when ``needs_index``), or ``get_batch()`` (numpy batches, copied to the device one by
    one) ``ceil(size / batch_size)`` times an epoch."""
    from art.data_generators import DataGenerator

    if not isinstance(generator, DataGenerator):
        raise TypeError(f"generator must be an art.data_generators.DataGenerator, got {type(generator)!r}")
    loader = getattr(generator, "iterator", None)
    if isinstance(loader, torch.utils.data.DataLoader):
        return with_index(loader) if needs_index else loader
    if needs_index:
        raise ValueError(f"generator: a {type(generator).__name__} yields batches without their dataset positions, "
                         "and this trainer keeps per-sample state: wrap the data in a PyTorchDataGenerator over a "
                         "DataLoader, or train with trainer.fit_loader(loader) on a loader yielding (x, y, index)")
    return GetBatchLoader(generator, -(-generator.size // generator.batch_size))
