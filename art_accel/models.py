"""
Small models for examples, tests and benchmarks: an MNIST CNN and PreAct-ResNet-18 with a width option.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def mnist_cnn(width: int = 32, nb_classes: int = 10) -> nn.Sequential:
    """
    Two conv layers and two linear layers for 1x28x28 inputs (an ``nn.Sequential``).

    :param width: Channels of the first conv layer (the second has twice as many).
    """
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * 7 * 7, 128), nn.ReLU(),
        nn.Linear(128, nb_classes),
    )


class PreActBlock(nn.Module):
    """Pre-activation basic block (He et al., 2016)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet18(nn.Module):
    """
    PreAct-ResNet-18 for 3x32x32 inputs, the standard model of fast adversarial training papers.

    :param width: Channels of the first stage (64 in the papers; 16 keeps CPU runs feasible).
    :param nb_classes: Number of classes.
    """

    def __init__(self, width: int = 64, nb_classes: int = 10, in_channels: int = 3):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        layers, planes_in = [], width
        for i, stride in enumerate((1, 2, 2, 2)):
            planes = width * 2**i
            layers += [PreActBlock(planes_in, planes, stride), PreActBlock(planes, planes, 1)]
            planes_in = planes
        self.layers = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(planes_in)
        self.linear = nn.Linear(planes_in, nb_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(self.conv1(x))
        out = F.relu(self.bn(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)
