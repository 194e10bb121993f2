"""Metric functions of the offline evaluation: pure functions of tensors (features, class
probabilities, images, counts), no models and no files, so each can be tested on known inputs.

Where torchmetrics has the metric it does the arithmetic: Frechet distance
(``FrechetInceptionDistance``), kernel distance (``KernelInceptionDistance``), PSNR and SSIM.
The Frechet and kernel distances are measured in the features of our own classifiers, not
Inception's: the features are computed once per image set (``training.evaluate``) and handed to
torchmetrics through ``PrecomputedFeatures``, a pass-through feature module. Written here is only
what torchmetrics lacks: precision / recall / density / coverage (Naeem et al. 2020), an
Inception-style score with our classifier, the sharpness ratio, mode counting and the
nearest-neighbour and diversity statistics.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

CHUNK = 1024  # rows of a distance matrix computed at once: 1024 x 10,000 floats = 40 MB


class PrecomputedFeatures(nn.Module):
    """torchmetrics' FID and KID accept any ``feature`` module that maps what ``update`` receives
    to (N, num_features). This one receives features already computed by our classifier and
    passes them through as float64, so each image set goes through the network once and FID,
    KID and PRDC all see the same features. ``num_features`` spares torchmetrics its probe with
    a dummy 299 x 299 Inception input."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 2 or features.shape[1] != self.num_features:
            raise ValueError(f"expected features (N, {self.num_features}), got {tuple(features.shape)}")
        return features.double()


def _check_features(real: torch.Tensor, fake: torch.Tensor) -> None:
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D), got {tuple(real.shape)} and {tuple(fake.shape)}")


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D) and (M, D):
    ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)), by torchmetrics' FID in float64."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check_features(real, fake)
    fid = FrechetInceptionDistance(feature=PrecomputedFeatures(real.shape[1]))
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return max(float(fid.compute()), 0.0)  # tiny negatives are round-off of identical sets


def kernel_distance(
    real: torch.Tensor, fake: torch.Tensor, subsets: int = 50, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel
    (x.y / D + 1)^3, averaged over ``subsets`` random subsets of ``subset_size`` (50 x 1,000 by
    default, the size capped at the smaller set; torch-fidelity's 100 subsets double the CPU time
    for a std we barely need), by torchmetrics' KernelInceptionDistance. Returns (mean, std). The subsets are
    drawn from the global RNG inside torchmetrics, so it is forked and seeded here."""
    from torchmetrics.image.kid import KernelInceptionDistance

    _check_features(real, fake)
    size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():  # "will save all extracted features": here they are the point
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=PrecomputedFeatures(real.shape[1]), subsets=subsets, subset_size=size)
    kid.update(real, real=True)
    kid.update(fake, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = kid.compute()
    return float(mean), float(std)


def _kth_neighbour_distance(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row (N,)."""
    out = []
    for start in range(0, len(x), CHUNK):
        d = torch.cdist(x[start : start + CHUNK], x)
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, -1])  # k + 1: the row itself is at 0
    return torch.cat(out)


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al. 2020, "Reliable Fidelity and
    Diversity Metrics for Generative Models"), with k-nearest-neighbour balls in feature space:

    - precision: share of fake samples inside at least one real sample's k-NN ball;
    - recall: share of real samples inside at least one fake sample's k-NN ball;
    - density: mean number of real k-NN balls holding a fake sample, divided by k (about 1 when
      the sets come from the same distribution; above 1 when fakes crowd dense real regions);
    - coverage: share of real samples whose k-NN ball holds at least one fake sample.

    Strict inequalities as in the authors' code. Distances are Euclidean, in chunks, so 10,000
    x 10,000 sets never hold the whole matrix."""
    _check_features(real, fake)
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"precision/recall need more than k={k} samples in each set")
    real, fake = real.float(), fake.float()
    r_real = _kth_neighbour_distance(real, k)  # (N,)
    r_fake = _kth_neighbour_distance(fake, k)  # (M,)
    in_real_balls = torch.zeros(len(fake))  # per fake: how many real balls contain it
    real_covered = torch.zeros(len(real), dtype=torch.bool)
    real_recalled = torch.zeros(len(real), dtype=torch.bool)
    for start in range(0, len(fake), CHUNK):
        d = torch.cdist(fake[start : start + CHUNK], real)  # (chunk, N)
        inside = d < r_real[None, :]
        in_real_balls[start : start + CHUNK] = inside.sum(1).float()
        real_covered |= inside.any(0)  # some fake in the real sample's ball
        real_recalled |= (d < r_fake[start : start + CHUNK, None]).any(0)  # real in some fake's ball
    return {
        "precision": float((in_real_balls > 0).float().mean()),
        "recall": float(real_recalled.float().mean()),
        "density": float(in_real_balls.mean() / k),
        "coverage": float(real_covered.float().mean()),
    }


def inception_score(probs: torch.Tensor) -> float:
    """Inception-style score exp(E_x KL(p(y|x) || p(y))) with class probabilities (N, K) from
    our classifier (Salimans et al. 2016 use Inception; one split over all N here). K for
    confident predictions spread evenly over K classes; 1 when every sample gets the same
    prediction."""
    p = probs.double()
    p_y = p.mean(0, keepdim=True)
    kl = (torch.xlogy(p, p) - torch.xlogy(p, p_y.expand_as(p))).sum(1)
    return float(kl.mean().exp())


def class_histogram(predictions: torch.Tensor, num_classes: int) -> list[float]:
    """Share of samples predicted as each class."""
    counts = torch.bincount(predictions.long().flatten(), minlength=num_classes).double()
    return (counts / counts.sum()).tolist()


def mode_kl(counts) -> float:
    """KL(sample mode distribution || uniform over all modes), in nats, as VEEGAN and PacGAN
    report for Stacked MNIST: 0 for a uniform histogram, log(M) when one mode takes all."""
    c = torch.as_tensor(counts, dtype=torch.float64)
    p = c / c.sum()
    return float(torch.xlogy(p, p * len(c)).sum())


def modes_captured(counts, min_count: int = 1) -> int:
    return int((torch.as_tensor(counts) >= min_count).sum())


_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian_energy(images: torch.Tensor) -> float:
    """Mean squared response of the 3x3 Laplacian over every pixel and channel of float images
    (N, C, H, W) (no padding, so borders add nothing): the high-frequency energy. Blur lowers it."""
    x = images.float()
    n, c, h, w = x.shape
    kernel = _LAPLACIAN.to(x.device)[None, None]
    total, count = 0.0, 0
    for start in range(0, n, 256):
        lap = F.conv2d(x[start : start + 256].reshape(-1, 1, h, w), kernel)
        total += float(lap.double().square().sum())
        count += lap.numel()
    return total / count


def sharpness_ratio(images: torch.Tensor, reference: torch.Tensor) -> float:
    """Laplacian energy of images / that of reference images on the same scale: 1 for
    identical sets, below 1 when the images are blurrier than the reference (typical of L1 or
    VAE decoders), above 1 for noisier ones."""
    return laplacian_energy(images) / max(laplacian_energy(reference), 1e-12)


def psnr_ssim(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """Mean per-image PSNR (dB) and SSIM (Gaussian window 11, sigma 1.5) of float images in
    [-1, 1], both measured on [0, 1] (data range 1) by torchmetrics."""
    from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

    if outputs.shape != targets.shape:
        raise ValueError(f"outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)} differ in shape")
    psnr = PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))
    ssim = StructuralSimilarityIndexMeasure(data_range=1.0)
    for start in range(0, len(outputs), 64):
        o = (outputs[start : start + 64].float().clamp(-1, 1) + 1) / 2
        t = (targets[start : start + 64].float().clamp(-1, 1) + 1) / 2
        psnr.update(o, t)
        ssim.update(o, t)
    return float(psnr.compute()), float(ssim.compute())


def mean_l1(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean absolute difference in [-1, 1] pixel space."""
    return float((outputs.double() - targets.double()).abs().mean())


def nearest_distances(query: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Euclidean distance from each query row (N, D) to its nearest reference row (M, D) -> (N,)."""
    _check_features(reference, query)
    reference = reference.float()
    chunks = [query[s : s + CHUNK].float() for s in range(0, len(query), CHUNK)]
    return torch.cat([torch.cdist(q, reference).min(1).values for q in chunks])


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs i != j of rows of x (N, D): a diversity measure."""
    n = len(x)
    if n < 2:
        raise ValueError("diversity needs at least two samples")
    x = x.float()
    total = sum(float(torch.cdist(x[s : s + CHUNK], x).double().sum()) for s in range(0, n, CHUNK))
    return total / (n * (n - 1))  # the zero diagonal adds nothing
