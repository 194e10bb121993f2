"""GAN losses on raw discriminator scores (no sigmoid inside any network).

``d_loss(kind, real, fake)`` and ``g_loss(kind, fake)`` for
- "minimax": the original GAN (Goodfellow et al. 2014), G minimises log(1 - D(G(z)));
- "ns": non-saturating, G maximises log D(G(z)) (same paper, the variant used in practice);
- "lsgan": least squares with targets 1/0 (Mao et al. 2017);
- "wgan": the critic's Wasserstein estimate (Arjovsky et al. 2017); pair with weight clipping
  and RMSProp, or with the gradient penalty ("wgan-gp", Gulrajani et al. 2017);
- "hinge": (Lim & Ye 2017; Miyato et al. 2018).
Regularisers: ``gradient_penalty`` (WGAN-GP), ``r1_penalty`` (Mescheder et al. 2018),
``clip_weights`` (WGAN); ``top_k`` picks the generated samples G learns from (Sinha et al. 2020).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

KINDS = ("minimax", "ns", "lsgan", "wgan", "wgan-gp", "hinge")


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    real, fake = real.float(), fake.float()
    if kind in ("minimax", "ns"):
        return F.softplus(-real).mean() + F.softplus(fake).mean()  # -log D(x) - log(1 - D(G(z)))
    if kind == "lsgan":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
    if kind in ("wgan", "wgan-gp"):
        return fake.mean() - real.mean()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    raise ValueError(f"unknown loss {kind!r}; one of {KINDS}")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    fake = fake.float()
    if kind == "minimax":
        return -F.softplus(fake).mean()  # minimise log(1 - D(G(z))) = -softplus(score)
    if kind == "ns":
        return F.softplus(-fake).mean()  # -log D(G(z))
    if kind == "lsgan":
        return 0.5 * ((fake - 1) ** 2).mean()
    if kind in ("wgan", "wgan-gp", "hinge"):
        return -fake.mean()
    raise ValueError(f"unknown loss {kind!r}; one of {KINDS}")


def top_k(fake_scores: torch.Tensor, keep: float) -> torch.Tensor:
    """The ``keep`` fraction of D's scores on generated samples that D finds most real (Top-k
    training, Sinha et al. 2020): the worst samples' gradients point G across the gaps between
    modes, so dropping them leaves fewer samples between modes (between digits)."""
    scores = fake_scores.flatten()
    if keep >= 1.0:
        return scores
    return scores.topk(max(1, round(keep * scores.numel()))).values


def gradient_penalty(
    critic, real: torch.Tensor, fake: torch.Tensor, *args, generator: torch.Generator | None = None
) -> torch.Tensor:
    """E[(||grad D(x_hat)||_2 - 1)^2] on random interpolates of real and fake (WGAN-GP).
    ``generator`` draws the interpolation weights (default: the global RNG)."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat, *args).float().sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(critic, real: torch.Tensor, *args) -> torch.Tensor:
    """E[||grad D(x)||^2] on real data (R1)."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(real, *args).float().sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


def mode_seeking(fake: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mode seeking term of MSGAN (Mao et al. 2019), for a batch whose two halves share their
    conditions: 1 / (mean |G(c, z1) - G(c, z2)| / mean |z1 - z2|). Minimising it keeps the
    generator's output moving with z, so a conditional GAN cannot answer each class with one image."""
    f1, f2 = fake.float().chunk(2)
    z1, z2 = z.float().chunk(2)
    ratio = (f1 - f2).abs().mean() / (z1 - z2).abs().mean()
    return 1.0 / (ratio + eps)


@torch.no_grad()
def clip_weights(module: torch.nn.Module, c: float = 0.01) -> None:
    """WGAN's weight clipping to [-c, c], which keeps the critic (roughly) Lipschitz."""
    for p in module.parameters():
        p.clamp_(-c, c)
