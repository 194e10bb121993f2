"""A small VGG-style CNN classifier. The evaluation code uses its penultimate features as the
feature space for Frechet distance, KID and precision/recall (the digit analogue of Inception
features), and CVAE-GAN uses one as its classifier C."""

from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


class Classifier(nn.Module, PyTorchModelHubMixin):
    """C(x) -> class logits; ``features(x)`` -> penultimate features (B, feature_dim)."""

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        num_classes: int = 10,
        base_width: int = 32,  # filters of the first block; doubles per block
        blocks: int = 2,  # conv-conv-pool blocks; 2 for 28 px, 3-4 for 64 px
        feature_dim: int = 128,  # size of the penultimate layer
        dropout: float = 0.3,
        stem_stride: int = 1,  # 2: a strided 5x5 stem halves the input first (4x cheaper at 64 px)
        flip_average: bool = False,  # in eval mode, average features over x and its mirror (faces)
    ):
        super().__init__()
        self.num_classes = num_classes
        self.flip_average = flip_average
        layers: list[nn.Module] = []
        in_ch, width = channels, base_width
        if stem_stride > 1:
            layers += [
                nn.Conv2d(channels, base_width, 5, stem_stride, 2, bias=False),
                nn.BatchNorm2d(base_width),
                nn.ReLU(True),
            ]
            in_ch = base_width
        for _ in range(blocks):
            layers += [
                nn.Conv2d(in_ch, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(True),
                nn.Conv2d(width, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(True),
                nn.MaxPool2d(2),  # spatial / 2
            ]
            in_ch, width = width, width * 2
        self.conv = nn.Sequential(*layers)
        self.embed = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),  # (B, in_ch, 1, 1): any input size works
            nn.Flatten(),
            nn.Linear(in_ch, feature_dim),
            nn.BatchNorm1d(feature_dim),
            nn.ReLU(True),
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.flip_average and not self.training):
            return self.embed(self.conv(x))
        # an identity does not change in a mirror; the mean over both views is steadier than either,
        # and averaging features averages the (linear) head's logits too. One batch holds both views.
        f = self.embed(self.conv(torch.cat([x, x.flip(-1)])))
        return (f[: len(x)] + f[len(x) :]) / 2

    def forward(self, x: torch.Tensor, return_features: bool = False):
        f = self.features(x)
        logits = self.head(self.dropout(f))
        return (logits, f) if return_features else logits
