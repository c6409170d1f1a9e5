"""
On-device random crop (with zero padding) and horizontal flip with recorded per-sample parameters, so that
the same transform can be applied to a stored perturbation and inverted when the updated perturbation is
written back (ATTA/ATAS alignment).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class CropFlipParams:
    """Per-sample crop offsets (top, left) in the padded frame and flip flags, all on the device."""

    top: torch.Tensor
    left: torch.Tensor
    flip: torch.Tensor


class RandomCropFlip:
    """
    Pad by ``padding`` pixels (zeros), crop back to the input size at a random offset per sample, and flip
    horizontally with probability 1/2: torchvision's ``RandomCrop(size, padding)`` + ``RandomHorizontalFlip``
    done on the device for a whole batch, with the parameters kept.

    :param padding: Padding on each side (4 for CIFAR-10).
    :param flip: Whether to draw horizontal flips.
    """

    def __init__(self, padding: int = 4, flip: bool = True):
        if int(padding) != padding or padding < 0:
            raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
        self.padding = int(padding)
        self.flip = bool(flip)

    def sample(self, n: int, device: torch.device) -> CropFlipParams:
        """Draw crop offsets and flips for ``n`` samples."""
        top = torch.randint(0, 2 * self.padding + 1, (n,), device=device)
        left = torch.randint(0, 2 * self.padding + 1, (n,), device=device)
        flip = torch.rand(n, device=device) < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool, device=device)
        return CropFlipParams(top, left, flip)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad the spatial dimensions: (N, C, H, W) -> (N, C, H + 2p, W + 2p)."""
        p = self.padding
        return F.pad(x, (p, p, p, p)) if p else x

    def _index(self, params: CropFlipParams, h: int, w: int):
        """Batch, row and column indices (broadcasting to (N, h, w)) of each sample's window."""
        device = params.top.device
        rows = params.top[:, None] + torch.arange(h, device=device)  # (N, h)
        cols = params.left[:, None] + torch.arange(w, device=device)  # (N, w)
        cols = torch.where(params.flip[:, None], cols.flip(1), cols)
        batch = torch.arange(rows.shape[0], device=device)[:, None, None]
        return batch, rows[:, :, None], cols[:, None, :]

    def crop(self, padded: torch.Tensor, params: CropFlipParams, h: int, w: int) -> torch.Tensor:
        """The (flipped) ``h x w`` window of each padded sample."""
        b, r, c = self._index(params, h, w)
        return padded.permute(0, 2, 3, 1)[b, r, c].permute(0, 3, 1, 2).contiguous()

    def apply(self, x: torch.Tensor, params: CropFlipParams) -> torch.Tensor:
        """Augment a batch (N, C, H, W) with the given parameters."""
        return self.crop(self.pad(x), params, x.shape[2], x.shape[3])

    def write_back(self, padded: torch.Tensor, window: torch.Tensor, params: CropFlipParams) -> torch.Tensor:
        """
        Inverse of :meth:`crop`: a copy of ``padded`` with each sample's window replaced by ``window``
        (un-flipped and put back at its offset); the rest of the padded frame is unchanged.
        """
        b, r, c = self._index(params, window.shape[2], window.shape[3])
        out = padded.permute(0, 2, 3, 1).clone()
        out[b, r, c] = window.permute(0, 2, 3, 1)
        return out.permute(0, 3, 1, 2).contiguous()
