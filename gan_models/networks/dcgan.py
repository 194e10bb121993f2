"""DCGAN generator and discriminator (Radford et al. 2016), optionally class-conditional.

The generator doubles the spatial size with strided transposed convolutions from a
``start`` x ``start`` seed (7 for 28 px, 4 for 32 and 64 px). The discriminator mirrors it.
Class conditioning: the generator concatenates a label embedding to z (Mirza & Osindero 2014);
the discriminator uses a projection term (Miyato & Koyama 2018) on its globally pooled last
features, which trains more stably than concatenating labels to the image.
"""

from __future__ import annotations

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

SUPPORTED_SIZES = {28: 7, 32: 4, 64: 4, 128: 4}  # image size -> size of the first feature map


def _layout(image_size: int) -> tuple[int, int]:
    """Return (start size, number of x2 up/down-sampling stages) for an image size."""
    if image_size not in SUPPORTED_SIZES:
        raise ValueError(f"image_size must be one of {sorted(SUPPORTED_SIZES)}, got {image_size}")
    start = SUPPORTED_SIZES[image_size]
    return start, (image_size // start).bit_length() - 1


def _refinements(width: int, count: int) -> list[nn.Module]:
    """``count`` size-preserving 3x3 conv + BN + ReLU layers at ``width`` channels."""
    return [
        m
        for _ in range(count)
        for m in (nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True))
    ]


class DCGANGenerator(nn.Module, PyTorchModelHubMixin):
    """G(z[, y]) -> image in [-1, 1], shaped (B, channels, image_size, image_size)."""

    def __init__(
        self,
        image_size: int = 64,  # 28, 32, 64 or 128
        channels: int = 3,  # 1 grey, 3 colour
        z_dim: int = 100,  # latent size
        base_width: int = 64,  # filters of the last hidden layer; doubles per stage towards z
        num_classes: int = 0,  # 0: unconditional; else labels are embedded and joined to z
        embed_dim: int = 50,  # size of the label embedding when conditional
        mlp_width: int = 0,  # hidden width of a 2-layer MLP on z before the first feature map (0: none)
        refine: int = 0,  # 3x3 convolutions added after each hidden feature map (0: none)
    ):
        super().__init__()
        self.image_size, self.channels, self.z_dim = image_size, channels, z_dim
        self.num_classes = num_classes
        start, stages = _layout(image_size)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        in_dim = z_dim + (embed_dim if num_classes else 0)
        # An unconditional G must carve z-space into disconnected modes (digits); the DCGAN stack
        # has a single linear map before its first ReLU, so an MLP there gives it room to.
        self.mlp = None
        if mlp_width:
            self.mlp = nn.Sequential(
                nn.Linear(in_dim, mlp_width, bias=False),
                nn.BatchNorm1d(mlp_width),
                nn.ReLU(True),
                nn.Linear(mlp_width, mlp_width, bias=False),
                nn.BatchNorm1d(mlp_width),
                nn.ReLU(True),
            )
            in_dim = mlp_width
        width = base_width * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_dim, width, start, 1, 0, bias=False),  # (width, start, start)
            nn.BatchNorm2d(width),
            nn.ReLU(True),
            *_refinements(width, refine),
        ]
        for _ in range(stages - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),  # spatial x2
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
                *_refinements(width // 2, refine),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]  # (channels, size, size)
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if y is None:
                raise ValueError("this generator is class-conditional: pass labels y")
            z = torch.cat([z, self.embed(y)], dim=1)
        if self.mlp is not None:
            z = self.mlp(z)
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module, PyTorchModelHubMixin):
    """D(x[, y]) -> one raw score per (packed) sample: no sigmoid, so every loss
    (minimax via BCE-with-logits, LSGAN, WGAN critic, hinge) reads the same output."""

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        base_width: int = 64,  # filters of the first layer; doubles per stage
        num_classes: int = 0,  # 0: unconditional; else a projection term on the label
        batch_norm: bool = True,  # off for WGAN-GP critics (the penalty is per sample)
        spectral_norm: bool = False,  # spectral normalisation on every weight (Miyato et al. 2018)
        pack: int = 1,  # PacGAN: judge `pack` samples jointly, stacked on channels
    ):
        super().__init__()
        self.pack = pack
        start, stages = _layout(image_size)
        wrap = _sn if spectral_norm else (lambda m: m)
        blocks: list[nn.Module] = []
        width, in_ch = base_width, channels * pack
        for i in range(stages):
            block = [wrap(nn.Conv2d(in_ch, width, 4, 2, 1, bias=not batch_norm or i == 0))]
            if batch_norm and i > 0:  # no norm on the first layer, as in DCGAN
                block.append(nn.BatchNorm2d(width))
            block.append(nn.LeakyReLU(0.2, True))
            blocks.append(nn.Sequential(*block))
            in_ch, width = width, width * 2
        self.blocks = nn.ModuleList(blocks)  # last output: (in_ch, start, start)
        self.head = wrap(nn.Conv2d(in_ch, 1, start, 1, 0))
        self.feature_dim = in_ch * start * start
        self.embed = None
        if num_classes:  # one vector per class over the channels, as in the projection paper
            embed = nn.Embedding(num_classes, in_ch)
            # Embedding's default N(0, 1) init over all flattened features made the class term
            # 160-220x the realism head's spread at the start: D judged little but the class.
            # Xavier keeps the two comparable.
            nn.init.xavier_uniform_(embed.weight)
            self.embed = wrap(embed)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, return_features: bool = False):
        if self.pack > 1:  # (B, C, H, W) -> (B / pack, C * pack, H, W)
            b, c, h, w = x.shape
            x = x.reshape(b // self.pack, c * self.pack, h, w)
        for block in self.blocks:
            x = block(x)
        features = x.flatten(1)
        out = self.head(x).flatten(1)  # (B, 1)
        if self.embed is not None:
            if y is None:
                raise ValueError("this discriminator is class-conditional: pass labels y")
            if self.pack > 1:
                raise ValueError("packing and class projection are not combined")
            pooled = x.mean((2, 3))  # mean, not sum, so the term's scale does not grow with the map
            out = out + (self.embed(y) * pooled).sum(1, keepdim=True)
        out = out.squeeze(1)
        return (out, features) if return_features else out
