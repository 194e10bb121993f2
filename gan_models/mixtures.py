"""2D Gaussian mixtures with known modes, and the mode-coverage metric of VEEGAN
(Srivastava et al. 2017) and PacGAN (Lin et al. 2018): a sample is high quality when it lies
within 3 sigma of its nearest centre; a mode is captured when at least one high-quality sample
is assigned to it (PacGAN's count over 2,500 samples)."""

from __future__ import annotations

import math

import torch


def ring_centres(modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    """Centres at angles 2*pi*k/modes on a circle, shaped (modes, 2)."""
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_centres(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Centres on a side x side grid centred at 0: {-4,-2,0,2,4}^2 for the defaults."""
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(ticks, ticks)


MIXTURES = {
    # name -> (centres, sigma), as PacGAN sets them
    "ring": (ring_centres(8, 1.0), 0.01),
    "grid": (grid_centres(5, 2.0), 0.05),
}


def sample_mixture(centres: torch.Tensor, sigma: float, n: int, generator: torch.Generator | None = None):
    """n points from the equal-weight mixture; returns (points (n, 2), mode index (n,))."""
    idx = torch.randint(len(centres), (n,), generator=generator)
    return centres[idx] + sigma * torch.randn(n, 2, generator=generator), idx


def mode_coverage(points: torch.Tensor, centres: torch.Tensor, sigma: float, min_count: int = 1) -> dict:
    """Modes captured and the share of high-quality samples (within 3 sigma of a centre)."""
    points = points.detach().float().cpu()
    dist = torch.cdist(points, centres.float())  # (n, modes)
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= 3 * sigma
    counts = torch.bincount(nearest[good], minlength=len(centres))
    return {
        "modes": int((counts >= min_count).sum()),
        "total_modes": len(centres),
        "high_quality": float(good.float().mean()),
        "counts": counts.tolist(),
        "samples": len(points),
    }
