"""Differentiable augmentation for small data sets (DiffAugment, Zhao et al. 2020).

The same kind of random colour change, translation and cutout is applied to real and generated
images on their way into the discriminator, in both its step and the generator's. With only a few
thousand images (faces-celeb24 trains on 1,808) a discriminator otherwise memorises the training
set: its loss falls towards zero and the generator stops gaining coverage. Every operation is
differentiable in the image, so the generator's gradient passes through it, and the generated
distribution is not pushed towards augmented images. Randomness comes from torch's global
generator, which the loop's checkpoints save and restore.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

TRANSLATION = 1 / 8  # largest shift, as a fraction of the image side (the paper's 0.125)
CUTOUT = 1 / 2  # side of the erased square, as a fraction of the image side


def _color(x: torch.Tensor) -> torch.Tensor:
    """Random brightness, saturation and contrast per image (images in [-1, 1])."""
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    if x.shape[1] > 1:
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def _translation(x: torch.Tensor) -> torch.Tensor:
    """Shift each image by a whole number of pixels (up to TRANSLATION of its side), zeros entering."""
    n, _, h, w = x.shape
    shift = torch.stack(
        [torch.randint(-int(side * TRANSLATION + 0.5), int(side * TRANSLATION + 0.5) + 1, (n,)) for side in (w, h)],
        dim=1,
    ).to(x.device)
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = -2 * shift / torch.tensor([w, h], device=x.device)  # output(i) = input(i - shift)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False).to(x.dtype)


def _cutout(x: torch.Tensor) -> torch.Tensor:
    """Zero a square of CUTOUT of the side at a random centre in each image (clipped at the border)."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    centre_y = torch.randint(0, h + 1 - size_y % 2, (n, 1, 1), device=x.device)
    centre_x = torch.randint(0, w + 1 - size_x % 2, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = centre_y - size_y // 2, centre_x - size_x // 2
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return x * (~inside).unsqueeze(1).to(x.dtype)


OPERATIONS = {"color": _color, "translation": _translation, "cutout": _cutout}


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation,cutout"`` -> its operations, refusing unknown names; "" -> none."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [p for p in names if p not in OPERATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown}; choose from {sorted(OPERATIONS)}")
    return names


def diff_augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    """Apply the policy's operations in order, each with fresh randomness per image."""
    for name in parse_policy(policy):
        x = OPERATIONS[name](x)
    return x
