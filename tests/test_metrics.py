"""The metric functions of training.metrics on inputs whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from training import metrics as M


def gaussian(n: int, d: int, seed: int, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    return mean + std * torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- precision / recall / density / coverage


def test_prdc_of_identical_sets_is_one():
    x = gaussian(500, 8, 0)
    r = M.prdc(x, x.clone(), k=5)
    assert r["precision"] == 1.0 and r["recall"] == 1.0 and r["coverage"] == 1.0
    assert r["density"] == pytest.approx(1.0, abs=0.02)  # each ball holds itself and k - 1 neighbours


def test_prdc_of_same_distribution_is_high():
    r = M.prdc(gaussian(1000, 4, 0), gaussian(1000, 4, 1), k=5)
    assert r["precision"] > 0.8 and r["recall"] > 0.8 and r["coverage"] > 0.8
    assert 0.7 < r["density"] < 1.3


def test_prdc_of_far_apart_sets_is_zero():
    r = M.prdc(gaussian(300, 8, 0), gaussian(300, 8, 1, mean=50.0), k=5)
    assert r == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_separates_fidelity_from_diversity():
    """A collapsed generator (all fakes near one real point) is precise but covers little."""
    real = gaussian(1000, 2, 0)
    fake = 0.01 * gaussian(1000, 2, 1)  # a tight blob at the centre of the real cloud
    r = M.prdc(real, fake, k=5)
    assert r["precision"] > 0.95
    assert r["recall"] < 0.1 and r["coverage"] < 0.1
    assert r["density"] > 0.5  # every fake lies in about k real balls: density rates fidelity, not spread


def test_prdc_chunks_agree_with_one_block(monkeypatch):
    real, fake = gaussian(300, 3, 0), gaussian(250, 3, 1, mean=0.5)
    whole = M.prdc(real, fake)
    monkeypatch.setattr(M, "CHUNK", 37)
    assert M.prdc(real, fake) == whole


def test_prdc_refuses_too_few_samples():
    with pytest.raises(ValueError):
        M.prdc(gaussian(5, 2, 0), gaussian(50, 2, 1), k=5)


# ---------------------------------------------------------------- Frechet and kernel distances


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = gaussian(2000, 16, 0)
    assert M.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("shift, std", [(1.0, 1.0), (0.5, 2.0)])
def test_frechet_distance_of_gaussians_matches_the_closed_form(shift, std):
    """N(0, I) vs N(m, s^2 I) in D dims: ||m||^2 + D (1 - s)^2."""
    d = 4
    real = gaussian(40_000, d, 0)
    fake = gaussian(40_000, d, 1, mean=shift, std=std)
    expected = d * shift**2 + d * (1 - std) ** 2
    assert M.frechet_distance(real, fake) == pytest.approx(expected, rel=0.05, abs=0.02)


def test_frechet_distance_grows_with_the_shift():
    real = gaussian(3000, 8, 0)
    values = [M.frechet_distance(real, gaussian(3000, 8, 1, mean=m)) for m in (0.0, 0.5, 1.0)]
    assert values[0] < values[1] < values[2]


def test_kernel_distance_is_near_zero_for_one_distribution_and_positive_when_shifted():
    real = gaussian(1500, 8, 0)
    same, _ = M.kernel_distance(real, gaussian(1500, 8, 1), subsets=20, subset_size=500)
    shifted, _ = M.kernel_distance(real, gaussian(1500, 8, 1, mean=1.0), subsets=20, subset_size=500)
    assert abs(same) < 0.01
    assert shifted > 0.1


def test_kernel_distance_is_reproducible_and_caps_the_subset_size():
    real, fake = gaussian(60, 4, 0), gaussian(40, 4, 1, mean=0.3)
    a = M.kernel_distance(real, fake, subsets=10, subset_size=1000, seed=3)
    torch.rand(5)  # the global RNG moving on must not matter
    assert M.kernel_distance(real, fake, subsets=10, subset_size=1000, seed=3) == a


def test_feature_module_refuses_wrong_shapes():
    with pytest.raises(ValueError):
        M.frechet_distance(gaussian(10, 4, 0), gaussian(10, 5, 1))
    with pytest.raises(ValueError):
        M.PrecomputedFeatures(4)(torch.zeros(3, 5))


# ---------------------------------------------------------------- Inception-style score, modes


def test_inception_score_of_a_perfect_uniform_classifier_is_k():
    k = 10
    probs = F.one_hot(torch.arange(1000) % k, k).float()
    assert M.inception_score(probs) == pytest.approx(k)


def test_inception_score_of_a_constant_classifier_is_one():
    probs = torch.softmax(torch.tensor([2.0, 1.0, 0.5]), 0).expand(100, 3)
    assert M.inception_score(probs) == pytest.approx(1.0)
    assert M.inception_score(F.one_hot(torch.zeros(50, dtype=torch.long), 10).float()) == pytest.approx(1.0)


def test_inception_score_of_uncertain_predictions_is_low():
    assert M.inception_score(torch.full((100, 10), 0.1)) == pytest.approx(1.0)
    half = torch.full((100, 10), 0.05)
    half[torch.arange(100), torch.arange(100) % 10] = 0.55  # confident-ish, spread evenly
    assert 1.0 < M.inception_score(half) < 10.0


def test_class_histogram():
    assert M.class_histogram(torch.tensor([0, 0, 1, 3]), 4) == [0.5, 0.25, 0.0, 0.25]


def test_mode_kl_of_a_uniform_histogram_is_zero():
    assert M.mode_kl([26] * 1000) == pytest.approx(0.0, abs=1e-12)


def test_mode_kl_of_a_single_mode_is_log_m():
    counts = [0] * 1000
    counts[123] = 26_000
    assert M.mode_kl(counts) == pytest.approx(math.log(1000))
    assert M.modes_captured(counts) == 1


def test_mode_kl_of_half_the_modes_is_log_two():
    counts = [2] * 500 + [0] * 500
    assert M.mode_kl(counts) == pytest.approx(math.log(2))
    assert M.modes_captured(counts) == 500


# ---------------------------------------------------------------- images


def images(n: int = 8, c: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def blur(x: torch.Tensor) -> torch.Tensor:
    kernel = torch.full((x.shape[1], 1, 3, 3), 1 / 9)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=x.shape[1])


def test_sharpness_ratio_is_one_for_identical_images():
    x = images()
    assert M.sharpness_ratio(x, x.clone()) == pytest.approx(1.0)


def test_sharpness_ratio_is_below_one_for_a_blurred_copy():
    x = images()
    once, twice = M.sharpness_ratio(blur(x), x), M.sharpness_ratio(blur(blur(x)), x)
    assert twice < once < 0.5
    assert M.sharpness_ratio(x, blur(x)) > 2  # the sharp one against the blurred one


def test_sharpness_of_a_flat_image_is_zero():
    assert M.laplacian_energy(torch.full((2, 1, 16, 16), 0.3)) == 0.0


def test_psnr_and_ssim_sanity():
    x = images(4, 3, 32)
    psnr_same, ssim_same = M.psnr_ssim(x, x.clone())
    assert ssim_same == pytest.approx(1.0, abs=1e-4)
    assert psnr_same > 60
    # uniform error of 0.1 in [-1, 1] = 0.05 on [0, 1]: PSNR = 10 log10(1 / 0.05^2) = 26.02 dB
    shifted = (x * 0.8 + 0.1).clamp(-1, 1)  # keep clear of clamping
    base = x * 0.8
    psnr, ssim = M.psnr_ssim(shifted, base)
    assert psnr == pytest.approx(26.02, abs=0.05)
    assert ssim < 1.0
    noisy_psnr, noisy_ssim = M.psnr_ssim((x + 0.3 * images(4, 3, 32, 1)).clamp(-1, 1), x)
    assert noisy_psnr < psnr and noisy_ssim < ssim_same - 0.01
    with pytest.raises(ValueError):
        M.psnr_ssim(x, x[:, :1])


def test_mean_l1():
    x = images(2, 1, 8)
    assert M.mean_l1(x, x) == 0.0
    assert M.mean_l1(torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), -0.5)) == pytest.approx(0.5)


def test_nearest_distances_and_diversity():
    ref = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    q = torch.tensor([[1.0, 0.0], [10.0, 3.0], [0.0, 0.0]])
    assert M.nearest_distances(q, ref).tolist() == pytest.approx([1.0, 3.0, 0.0], abs=1e-4)
    # pairs of (0,0), (3,4), (0,8): distances 5, 8, 5 -> mean 6
    assert M.mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 8.0]])) == pytest.approx(6.0)
    assert M.mean_pairwise_distance(torch.ones(5, 3)) == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(ValueError):
        M.mean_pairwise_distance(torch.ones(1, 3))
