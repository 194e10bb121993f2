"""The encoder of CVAE-GAN (Bao et al. 2017, "CVAE-GAN: Fine-Grained Image Generation through
Asymmetric Training"). The other three networks of the paper are shared with the rest of the
library: G(z, c) is a conditional ``DCGANGenerator``, C(x) a ``Classifier`` and D(x) a
``DCGANDiscriminator`` whose features serve mean feature matching."""

from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


class CVAEEncoder(nn.Module, PyTorchModelHubMixin):
    """E(x, c) -> (mu, logvar) of q(z | x, c), each (B, z_dim)."""

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        num_classes: int = 24,
        z_dim: int = 128,
        base_width: int = 64,  # filters of the first layer; doubles per stage
    ):
        super().__init__()
        self.num_classes, self.z_dim = num_classes, z_dim
        layers: list[nn.Module] = []
        in_ch, width, size = channels + num_classes, base_width, image_size
        while size > 4:  # halve until 4 x 4 (or 7 -> 3 for 28 px)
            layers += [nn.Conv2d(in_ch, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.2, True)]
            in_ch, width, size = width, min(width * 2, 512), size // 2
        self.conv = nn.Sequential(*layers, nn.Flatten())
        self.mu = nn.Linear(in_ch * size * size, z_dim)
        self.logvar = nn.Linear(in_ch * size * size, z_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # The class enters as one-hot planes beside the colour channels.
        onehot = nn.functional.one_hot(y, self.num_classes).to(x.dtype)
        planes = onehot[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        h = self.conv(torch.cat([x, planes], dim=1))
        return self.mu(h), self.logvar(h)
