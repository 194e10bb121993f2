"""pix2pix networks (Isola et al. 2017): a U-Net generator with skip connections and a
70x70 PatchGAN discriminator. Noise enters only as dropout, which the paper keeps on at test
time; here it is drawn from an explicit ``torch.Generator`` so each request is reproducible
and concurrent requests never share random state."""

from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


class UNetGenerator(nn.Module, PyTorchModelHubMixin):
    """G(x) -> translated image in [-1, 1], same size as x. Downsamples to 1 x 1."""

    def __init__(
        self,
        image_size: int = 256,  # 128 or 256 (any power of two >= 8)
        in_channels: int = 3,
        out_channels: int = 3,
        base_width: int = 64,  # filters of the outermost layer; doubles, capped at 8x
        dropout: float = 0.5,  # on the three innermost decoder layers, as in the paper
    ):
        super().__init__()
        if image_size < 8 or image_size & (image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
        self.image_size, self.dropout = image_size, dropout
        depth = image_size.bit_length() - 1  # downsamplings to reach 1 x 1
        widths = [min(base_width * 2**i, base_width * 8) for i in range(depth)]
        self.down = nn.ModuleList()
        in_ch = in_channels
        for i, w in enumerate(widths):
            layers: list[nn.Module] = [nn.Conv2d(in_ch, w, 4, 2, 1, bias=False)]
            if 0 < i < depth - 1:  # no norm on the outermost and the 1x1 bottleneck
                layers.append(nn.InstanceNorm2d(w, affine=True))
            self.down.append(nn.Sequential(*layers))
            in_ch = w
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            out_w = widths[i - 1] if i > 0 else out_channels
            in_w = widths[i] * (1 if i == depth - 1 else 2)  # skip connections double the input
            layers = [nn.ReLU(True), nn.ConvTranspose2d(in_w, out_w, 4, 2, 1, bias=i == 0)]
            layers.append(nn.InstanceNorm2d(out_w, affine=True) if i > 0 else nn.Tanh())
            self.up.append(nn.Sequential(*layers))
        # indices into self.up: the three innermost decoder layers, never the output (tanh) layer
        self.dropout_layers = {i for i in (0, 1, 2) if i < depth - 1}

    def forward(
        self, x: torch.Tensor, dropout: bool | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``dropout``: None follows train/eval mode; True keeps it on at inference."""
        use_dropout = self.training if dropout is None else dropout
        skips = []
        for i, layer in enumerate(self.down):
            x = layer(x if i == 0 else nn.functional.leaky_relu(x, 0.2))
            skips.append(x)
        x = skips.pop()
        for i, layer in enumerate(self.up):
            if i > 0:
                x = torch.cat([x, skips.pop()], dim=1)
            x = layer(x)
            if use_dropout and self.dropout > 0 and i in self.dropout_layers:
                rng_device = x.device if generator is None else generator.device
                keep = torch.rand(x.shape, generator=generator, device=rng_device).to(x.device)
                x = x * (keep >= self.dropout).to(x.dtype) / (1 - self.dropout)
        return x


class PatchDiscriminator(nn.Module, PyTorchModelHubMixin):
    """D(condition, image) -> a map of raw patch scores (B, 1, h, w); 70x70 receptive field
    with the default three strided layers."""

    def __init__(self, in_channels: int = 6, base_width: int = 64, layers: int = 3):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, base_width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = base_width
        for i in range(1, layers + 1):
            out_w = base_width * min(2**i, 8)
            stride = 2 if i < layers else 1
            blocks += [
                nn.Conv2d(width, out_w, 4, stride, 1, bias=False),
                nn.InstanceNorm2d(out_w, affine=True),
                nn.LeakyReLU(0.2, True),
            ]
            width = out_w
        blocks.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([condition, image], dim=1))
