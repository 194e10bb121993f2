"""A bounded live 2D GAN run for the app's mode-collapse tab (the setting of VEEGAN, Srivastava
et al. 2017, and PacGAN, Lin et al. 2018): an MLP generator against an MLP discriminator on a
ring or grid of Gaussians, yielding snapshots while it trains.

Minimal version written for the app (the training package may replace it with one built on its
shared loop; the interface stays): ``live_run(mixture, loss, pack, steps, lr, seed, every)``
yields ``{step, points (N, 2) tensor, modes, high_quality, d_loss, g_loss}``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from gan_models.mixtures import MIXTURES, mode_coverage, sample_mixture
from gan_models.networks import MLPDiscriminator, MLPGenerator

MAX_STEPS = 2000  # generator steps; keeps a CPU run to seconds
LOSSES = ("gan", "wgan-gp")  # non-saturating GAN; Wasserstein with gradient penalty
MAX_PACK = 4
BATCH = 240  # divisible by every pack degree 1..4
EVAL_POINTS = 2500  # PacGAN counts modes over 2,500 samples
GP_WEIGHT = 0.1  # gradient penalty weight for the 2D critic (PacGAN's toy setting uses a small one)
CRITIC_STEPS = {"gan": 1, "wgan-gp": 2}


def _init(module: torch.nn.Module, gen: torch.Generator) -> None:
    """PyTorch's default Linear init, drawn from our own generator (never the global RNG)."""
    for m in module.modules():
        if isinstance(m, torch.nn.Linear):
            bound = 1 / math.sqrt(m.in_features)
            with torch.no_grad():
                m.weight.uniform_(-bound, bound, generator=gen)
                m.bias.uniform_(-bound, bound, generator=gen)


def _check(mixture: str, loss: str, pack: int, steps: int, lr: float, every: int) -> None:
    if mixture not in MIXTURES:
        raise ValueError(f"mixture must be one of {', '.join(MIXTURES)}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}")
    if not 1 <= int(pack) <= MAX_PACK:
        raise ValueError(f"pack must be between 1 and {MAX_PACK}")
    if not 1 <= int(steps) <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}")
    if not 0 < float(lr) <= 0.01:
        raise ValueError("learning rate must be in (0, 0.01]")
    if int(every) < 1:
        raise ValueError("every must be at least 1")


def _penalty(disc: MLPDiscriminator, real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    alpha = torch.rand(real.shape[0], 1, generator=gen)
    x_hat = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(disc(x_hat).sum(), x_hat, create_graph=True)
    grad = grad.reshape(grad.shape[0] // disc.pack, -1)  # one gradient per packed sample
    return ((grad.norm(dim=1) - 1) ** 2).mean()


def live_run(
    mixture: str = "ring",
    loss: str = "gan",
    pack: int = 1,
    steps: int = 500,
    lr: float = 1e-3,
    seed: int = 0,
    every: int = 50,
) -> Iterator[dict]:
    """Train for ``steps`` generator steps, yielding a snapshot at step 0, every ``every`` steps
    and at the end. Deterministic for a seed: all randomness comes from one torch.Generator."""
    _check(mixture, loss, pack, steps, lr, every)
    pack, steps, every = int(pack), int(steps), int(every)
    centres, sigma = MIXTURES[mixture]
    gen = torch.Generator().manual_seed(int(seed))
    g_net = MLPGenerator(z_dim=2, hidden=128, depth=3)
    d_net = MLPDiscriminator(hidden=128, depth=3, pack=pack)
    _init(g_net, gen)
    _init(d_net, gen)
    betas = (0.5, 0.9)
    opt_g = torch.optim.Adam(g_net.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(d_net.parameters(), lr=lr, betas=betas)
    z_eval = torch.randn(EVAL_POINTS, 2, generator=gen)
    softplus = torch.nn.functional.softplus

    def snapshot(step: int, d_loss: float, g_loss: float) -> dict:
        with torch.no_grad():
            points = g_net(z_eval)
        cov = mode_coverage(points, centres, sigma)
        return {
            "step": step,
            "points": points,
            "modes": cov["modes"],
            "total_modes": cov["total_modes"],
            "high_quality": cov["high_quality"],
            "d_loss": d_loss,
            "g_loss": g_loss,
        }

    yield snapshot(0, float("nan"), float("nan"))
    d_val = g_val = float("nan")
    for step in range(1, steps + 1):
        for _ in range(CRITIC_STEPS[loss]):
            real, _ = sample_mixture(centres, sigma, BATCH, gen)
            fake = g_net(torch.randn(BATCH, 2, generator=gen)).detach()
            real_s, fake_s = d_net(real), d_net(fake)
            if loss == "gan":
                d = softplus(-real_s).mean() + softplus(fake_s).mean()
            else:
                d = fake_s.mean() - real_s.mean() + GP_WEIGHT * _penalty(d_net, real, fake, gen)
            opt_d.zero_grad(set_to_none=True)
            d.backward()
            opt_d.step()
        fake_s = d_net(g_net(torch.randn(BATCH, 2, generator=gen)))
        g = softplus(-fake_s).mean() if loss == "gan" else -fake_s.mean()
        opt_g.zero_grad(set_to_none=True)
        g.backward()
        opt_g.step()
        d_val, g_val = float(d), float(g)
        if step % every == 0 or step == steps:
            yield snapshot(step, d_val, g_val)
