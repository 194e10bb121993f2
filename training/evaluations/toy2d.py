"""2D mixtures: modes captured, high-quality share and where dG/dz loses rank, over several seeds."""

from __future__ import annotations

import torch

from gan_models.mixtures import MIXTURES, mode_coverage, sample_mixture
from gan_models.ops import latent_jacobians, numerical_ranks
from gan_models.store import LoadedModel
from training.evaluations.common import (
    Context,
    EvaluationError,
    round_sig,
)

TOY_SEEDS = 5  # toy2d: sampling seeds seed .. seed + 4


def eval_toy2d(ctx: Context, model: LoadedModel, n: int, seed: int):
    mixture = model.entry.extras.get("mixture")
    if mixture not in MIXTURES:
        raise EvaluationError(f"{model.id}: extras.mixture must be one of {sorted(MIXTURES)}, got {mixture!r}")
    centres, sigma = MIXTURES[mixture]
    extras = model.entry.extras  # a model trained on a non-standard mixture records its own
    if "centres" in extras:
        centres = torch.tensor(extras["centres"], dtype=torch.float32)
    sigma = float(extras.get("sigma", sigma))
    seeds = list(range(seed, seed + TOY_SEEDS))
    runs, full_rank = zip(*(_toy_seed(model, n, s, centres, sigma) for s in seeds), strict=True)
    real = [
        mode_coverage(sample_mixture(centres, sigma, n, torch.Generator().manual_seed(s))[0], centres, sigma)
        for s in seeds
    ]

    def summary(rs):
        return {
            "modes": sum(r["modes"] for r in rs) / len(rs),
            "min_modes": min(r["modes"] for r in rs),
            "total_modes": len(centres),
            "high_quality": sum(r["high_quality"] for r in rs) / len(rs),
        }

    values = {**summary(runs), "full_rank": sum(full_rank) / len(full_rank)}

    details = {
        "mixture": mixture,
        "sigma": sigma,
        "seeds": seeds,
        "per_seed": [
            {
                "seed": s,
                "modes": r["modes"],
                "high_quality": round_sig(r["high_quality"]),
                "full_rank": round_sig(f),
                "counts": r["counts"],
            }
            for s, r, f in zip(seeds, runs, full_rank, strict=True)
        ],
        "method": "high quality = within 3 sigma of the nearest centre; a mode is captured by >= 1 such sample",
        "full_rank_method": "share of the latents where dG/dz has rank 2 (gan_models.ops.numerical_ranks)",
        "reference_data": f"{n} points drawn from the true mixture, per seed",
    }
    return values, summary(real), details, None, n


def _toy_seed(model: LoadedModel, n: int, seed: int, centres: torch.Tensor, sigma: float) -> tuple[dict, float]:
    """One sampling seed of a 2D run -> (its mode coverage, the share of its n latents where the
    generator's Jacobian has full rank: elsewhere a patch of z is squeezed onto a curve or a point,
    the local face of mode collapse, Localized GAN). One pass gives the points and the Jacobians."""
    _, points, values = latent_jacobians(model, n, seed)
    ranks, _ = numerical_ranks(values, points.shape[1])
    return mode_coverage(points, centres, sigma), float((ranks == values.shape[1]).float().mean())
