"""Inference operations the app and users call. Each is a plain function of a loaded model,
seeded by a per-call ``torch.Generator`` (never the global RNG, so concurrent requests cannot
disturb each other) and run under ``torch.inference_mode()``. Latents are drawn on the CPU so
one seed gives the same z on every device."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from .images import from_uint8, to_uint8
from .store import LoadedModel

MAX_SEED = 2**63 - 1


def _whole(value, what: str) -> int:
    """``value`` as an int; a ValueError (never a TypeError) for None, text, fractions, NaN or inf."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what} must be a whole number, got {value!r}") from None
    if isinstance(value, str) or number != value:
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    return number


def _rng(seed: int) -> torch.Generator:
    seed = _whole(seed, "seed")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and {MAX_SEED}")
    return torch.Generator("cpu").manual_seed(seed)


def latents(z_dim: int, n: int, seed: int, truncation: float | None = None) -> torch.Tensor:
    """n standard-normal latents from a seed; with ``truncation`` t, every component with
    |z| > t is redrawn until it falls inside (the truncation trick of BigGAN)."""
    g = _rng(seed)
    z = torch.randn(n, z_dim, generator=g)
    if truncation is not None:
        if not truncation > 0:  # also refuses NaN, which would turn every latent into NaN
            raise ValueError(f"truncation must be positive, got {truncation!r}")
        for _ in range(100):
            bad = z.abs() > truncation
            if not bad.any():
                break
            z[bad] = torch.randn(int(bad.sum()), generator=g)
        z = z.clamp(-truncation, truncation)
    return z


def _labels(model: LoadedModel, n: int, label: int | None, seed: int) -> torch.Tensor | None:
    k = model.entry.num_classes
    if k == 0:
        if label is not None:
            raise ValueError(f"model {model.id!r} has no classes")
        return None
    if label is None:  # cycle through the classes so a grid shows each
        return torch.arange(n) % k
    label = _whole(label, "class")
    if not 0 <= label < k:
        raise ValueError(f"class must be between 0 and {k - 1} for model {model.id!r}")
    return torch.full((n,), label, dtype=torch.long)


def fast_path(model: LoadedModel, enabled: bool | None = None):
    """bf16 autocast where the model is on the fast path (CUDA by default); a no-op otherwise.
    tests/test_speed.py holds fast and plain outputs within a stated tolerance."""
    on = model.fast if enabled is None else enabled
    if not on:
        return contextlib.nullcontext()
    return torch.autocast(model.device.type, dtype=torch.bfloat16)


@torch.inference_mode()
def generate(
    model: LoadedModel, z: torch.Tensor, labels: torch.Tensor | None = None, fast: bool | None = None
) -> np.ndarray:
    """Decode latents (and labels) through the generator -> uint8 (N, H, W, C)."""
    g = model.generator
    y = labels.to(model.device) if labels is not None else None
    with fast_path(model, fast):
        out = g(z.to(model.device), y) if y is not None else g(z.to(model.device))
    return to_uint8(out)


def sample(
    model: LoadedModel, n: int, seed: int, label: int | None = None, truncation: float | None = None
) -> np.ndarray:
    """n images from seed (and class, where the model has classes) -> uint8 (N, H, W, C)."""
    if model.entry.task not in ("sample", "cvae-gan"):
        raise ValueError(f"model {model.id!r} is a {model.entry.task} model and does not sample images")
    z = latents(model.generator.z_dim, n, seed, truncation)
    return generate(model, z, _labels(model, n, label, seed))


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t[:, None]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985), which keeps latents at the norm a Gaussian
    prior expects; falls back to lerp when a and b are (anti)parallel."""
    an, bn = a / a.norm(), b / b.norm()
    omega = torch.arccos((an * bn).sum().clamp(-1, 1))
    if omega.abs() < 1e-4 or (torch.pi - omega).abs() < 1e-4:
        return lerp(a, b, t)
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so)[:, None] * a + (torch.sin(t * omega) / so)[:, None] * b


def interpolate_latents(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    if method not in ("lerp", "slerp"):
        raise ValueError("method must be 'lerp' or 'slerp'")
    if steps < 2:
        raise ValueError("steps must be at least 2")
    t = torch.linspace(0, 1, steps)
    return (slerp if method == "slerp" else lerp)(a, b, t)


def interpolate(
    model: LoadedModel, seed_a: int, seed_b: int, steps: int, method: str = "slerp", label: int | None = None
) -> np.ndarray:
    """Frames from seed_a's latent to seed_b's -> uint8 (steps, H, W, C)."""
    z_dim = model.generator.z_dim
    z = interpolate_latents(latents(z_dim, 1, seed_a)[0], latents(z_dim, 1, seed_b)[0], steps, method)
    labels = _labels(model, steps, 0 if label is None and model.entry.num_classes else label, seed_a)
    return generate(model, z, labels)


@torch.inference_mode()
def encode(model: LoadedModel, images: np.ndarray, labels: torch.Tensor | list[int]) -> torch.Tensor:
    """CVAE-GAN: faces uint8 (N, H, W, C) at the model's resolution -> z = mu of q(z | x, c)."""
    x = from_uint8(images, model.device)
    mu, _ = model.networks["encoder"](x, torch.as_tensor(labels, device=model.device))
    return mu.cpu()


@torch.inference_mode()
def classify(model: LoadedModel, images: np.ndarray) -> torch.Tensor:
    """Class probabilities (N, K) from a model's classifier network."""
    x = from_uint8(images, model.device)
    return model.networks["classifier"](x).softmax(1).cpu()


def swap_identity(model: LoadedModel, image: np.ndarray, source_label: int) -> np.ndarray:
    """Encode one face under its identity, decode the same z under every identity -> (K, H, W, C)."""
    k = model.entry.num_classes
    source_label = _whole(source_label, "identity")
    if not 0 <= source_label < k:
        raise ValueError(f"identity must be between 0 and {k - 1}")
    z = encode(model, image[None], [source_label])
    return generate(model, z.expand(k, -1), torch.arange(k))


def vary_latent(model: LoadedModel, label: int, n: int, seed: int) -> np.ndarray:
    """One identity under n random z (the reverse of swap_identity) -> (n, H, W, C)."""
    return sample(model, n, seed, label=label)


@torch.inference_mode()
def translate(
    model: LoadedModel, condition: np.ndarray, dropout: bool = False, draws: int = 1, seed: int = 0
) -> np.ndarray:
    """pix2pix: a uint8 condition image (H, W, C) at the model's resolution -> ``draws`` outputs
    (draws, H, W, C). With test-time dropout each draw is a different sample of G(x, z)."""
    g = _rng(seed)
    x = from_uint8(condition[None], model.device)
    outs = [model.generator(x, dropout=dropout, generator=g) for _ in range(draws if dropout else 1)]
    return to_uint8(torch.cat(outs))


def jacobian_spectrum(model: LoadedModel, seed: int, label: int | None = None) -> torch.Tensor:
    """Singular values of dG/dz at one latent, largest first. Directions with (near) zero
    singular value are where G's tangent vectors become dependent: locally the generator maps
    a whole direction of z to the same output, the geometric face of mode collapse (Localized
    GAN, Qi et al. 2018)."""
    g = model.generator
    z = latents(g.z_dim, 1, seed).to(model.device)
    y = _labels(model, 1, label, seed)
    y = y.to(model.device) if y is not None else None

    def flat(zz):
        out = g(zz[None], y) if y is not None else g(zz[None])
        return out.flatten()

    # Forward mode: z_dim tangents in one vectorised pass instead of one backward pass per
    # output pixel (0.03 s instead of 11 s for a 28 px DCGAN on two CPU cores; same values).
    with torch.enable_grad():
        jac = torch.func.jacfwd(flat)(z[0])  # (outputs, z_dim)
    return torch.linalg.svdvals(jac.float()).cpu()


def latent_jacobians(model: LoadedModel, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """dG/dz at n latents of an unconditional generator -> (z (n, z_dim), G(z) flattened
    (n, outputs), the singular values of each Jacobian (n, min(outputs, z_dim)), largest first).
    Meant for small outputs (the 2D runs): memory grows as n * outputs * z_dim."""
    g = model.generator
    z = latents(g.z_dim, n, seed).to(model.device)
    with torch.enable_grad():
        jac = torch.func.vmap(torch.func.jacfwd(lambda zz: g(zz[None]).flatten()))(z)  # (n, outputs, z_dim)
    with torch.inference_mode():
        points = g(z).flatten(1)
    # float64 for the decomposition: a Jacobian of float32 values, its small singular values exact
    return z.cpu(), points.float().cpu(), torch.linalg.svdvals(jac.double()).float().cpu()


def numerical_ranks(values: torch.Tensor, outputs: int) -> tuple[torch.Tensor, float]:
    """Rank of each Jacobian from its singular values (n, k) -> (ranks (n,), tolerance). One
    tolerance for the whole generator, numpy's matrix_rank rule for float32 applied to the stack:
    max(outputs, k) * eps * the largest singular value of them all. So a Jacobian of zeros (a
    region of z mapped to one point) has rank 0 and one whose columns are parallel (a region
    mapped to a curve) has rank 1, however the generator stretches elsewhere."""
    scale = float(values.max()) if values.numel() else 0.0
    tol = max(outputs, values.shape[1]) * float(torch.finfo(torch.float32).eps) * scale
    return (values > tol).sum(dim=1), tol


@torch.inference_mode()
def toy_points(model: LoadedModel, n: int, seed: int) -> torch.Tensor:
    """n generated 2D points -> (n, 2)."""
    g = model.generator
    return g(latents(g.z_dim, n, seed).to(model.device)).float().cpu()


def warm_up(model: LoadedModel) -> None:
    """One small forward per network so the first request does not pay for lazy init."""
    task = model.entry.task
    if task in ("sample", "cvae-gan"):
        sample(model, 2, 0)
    elif task == "toy2d":
        toy_points(model, 2, 0)
    elif task == "pix2pix":
        size, ch = model.entry.resolution, model.generator.down[0][0].in_channels
        translate(model, np.zeros((size, size, ch), np.uint8))
    elif task == "classifier":
        size, ch = model.entry.resolution, model.entry.channels
        classify(model, np.zeros((2, size, size, ch), np.uint8))
