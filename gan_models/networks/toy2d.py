"""MLP generator and discriminator for 2D toy distributions (rings and grids of Gaussians),
the setting in which VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018) measure
mode collapse."""

from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn


def _mlp(in_dim: int, hidden: int, depth: int, out_dim: int, act: nn.Module, wrap=None):
    wrap = wrap or (lambda m: m)
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [wrap(nn.Linear(in_dim if i == 0 else hidden, hidden)), act]
    layers.append(wrap(nn.Linear(hidden if depth else in_dim, out_dim)))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module, PyTorchModelHubMixin):
    """G(z) -> points in the plane, shaped (B, 2)."""

    def __init__(self, z_dim: int = 2, hidden: int = 400, depth: int = 4, out_dim: int = 2):
        super().__init__()
        self.z_dim = z_dim
        self.net = _mlp(z_dim, hidden, depth, out_dim, nn.ReLU(True))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module, PyTorchModelHubMixin):
    """D(x) -> raw score per (packed) sample; with ``pack`` > 1 it judges that many points
    jointly (PacGAN), which penalises a generator that puts them all on one mode."""

    def __init__(
        self,
        in_dim: int = 2,
        hidden: int = 200,
        depth: int = 3,
        pack: int = 1,  # PacGAN degree
        spectral_norm: bool = False,
    ):
        super().__init__()
        self.pack = pack
        self.net = _mlp(in_dim * pack, hidden, depth, 1, nn.LeakyReLU(0.2, True), _sn if spectral_norm else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0] // self.pack, -1)  # (B / pack, in_dim * pack)
        return self.net(x).squeeze(1)
