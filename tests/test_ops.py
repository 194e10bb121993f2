"""Inference operations on the tiny gallery: seeding, labels, truncation, interpolation, the
CVAE-GAN encoder, pix2pix dropout draws, the Jacobian spectrum and the 2D mode-coverage metric."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from gan_models import (
    LoadedModel,
    classify,
    encode,
    interpolate,
    jacobian_spectrum,
    latent_jacobians,
    latents,
    load_model,
    sample,
    swap_identity,
    toy_points,
    translate,
    vary_latent,
)
from gan_models.mixtures import MIXTURES, grid_centres, mode_coverage, ring_centres, sample_mixture
from gan_models.ops import MAX_SEED, generate, interpolate_latents, lerp, numerical_ranks, slerp, warm_up


@pytest.fixture(scope="module")
def models(tiny_gallery):
    """Every tiny model, loaded once for the module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_GALLERY_ROOT", str(tiny_gallery))
        mp.delenv("GAN_GALLERY_MANIFEST", raising=False)
        ids = ["tiny-digits", "tiny-colour", "tiny-cvaegan", "tiny-pix2pix", "tiny-classifier", "tiny-toy"]
        return {model_id.removeprefix("tiny-"): load_model(model_id, "cpu") for model_id in ids}


def with_generator(model: LoadedModel, generator: torch.nn.Module) -> LoadedModel:
    return LoadedModel(model.entry, {**model.networks, "generator": generator}, model.device)


# --- sample --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, shape", [("digits", (28, 28, 1)), ("colour", (32, 32, 3)), ("cvaegan", (64, 64, 3))])
def test_sample_shape_and_dtype(models, name, shape):
    images = sample(models[name], 5, seed=1)
    assert images.shape == (5, *shape) and images.dtype == np.uint8
    assert images.std() > 0


def test_sample_is_seeded(models):
    m = models["colour"]
    a, b, c = sample(m, 4, seed=11), sample(m, 4, seed=11), sample(m, 4, seed=12)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).max() > 0
    for i in range(4):  # each image of another seed differs
        assert not np.array_equal(a[i], c[i])
    np.testing.assert_array_equal(sample(m, 2, seed=11), a[:2])  # the first latents do not depend on n


def test_sample_leaves_the_global_rng_alone(models):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    first = sample(models["digits"], 2, seed=5)
    assert torch.equal(torch.rand(3), expected)
    torch.manual_seed(123)  # and the global seed does not change the images
    np.testing.assert_array_equal(sample(models["digits"], 2, seed=5), first)


def test_class_label_is_honoured(models):
    m = models["digits"]
    threes, fives = sample(m, 4, seed=2, label=3), sample(m, 4, seed=2, label=5)
    assert not np.array_equal(threes, fives)
    cycling = sample(m, 10, seed=2)  # no label: classes 0..9 in turn, same latents
    for k in (0, 3, 9):
        np.testing.assert_array_equal(cycling[k], sample(m, 10, seed=2, label=k)[k])
    z = latents(m.generator.z_dim, 2, seed=2)
    a = generate(m, z, torch.tensor([1, 1]))
    assert not np.array_equal(a, generate(m, z, torch.tensor([2, 2])))


@pytest.mark.parametrize("label", [-1, 10, 1.5, "3", [1], float("nan")])
def test_bad_label_raises(models, label):
    with pytest.raises(ValueError, match="class"):
        sample(models["digits"], 2, seed=0, label=label)


def test_label_on_a_model_without_classes_raises(models):
    with pytest.raises(ValueError, match="has no classes"):
        sample(models["colour"], 2, seed=0, label=0)


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 2**64, 1.5, None, "7", float("nan"), float("inf")])
def test_bad_seed_raises(models, seed):
    with pytest.raises(ValueError, match="seed"):
        sample(models["colour"], 2, seed=seed)


def test_extreme_valid_seeds(models):
    for seed in (0, MAX_SEED, 7.0, np.int64(7)):
        assert sample(models["colour"], 1, seed=seed).shape == (1, 32, 32, 3)
    np.testing.assert_array_equal(sample(models["colour"], 1, seed=7.0), sample(models["colour"], 1, seed=7))


@pytest.mark.parametrize("truncation", [0, -0.5, float("nan")])
def test_bad_truncation_raises(models, truncation):
    with pytest.raises(ValueError, match="truncation"):
        sample(models["colour"], 2, seed=0, truncation=truncation)


@pytest.mark.parametrize("t", [0.1, 0.5, 1.0, 2.0])
def test_truncation_keeps_latents_inside(t):
    z = latents(64, 200, seed=3, truncation=t)
    assert z.abs().max() <= t
    # redrawn, not clamped: hardly any component sits exactly on the bound
    assert (z.abs() == t).float().mean() < 0.01
    assert z.std() > 0.4 * min(t, 1)
    untouched = latents(64, 200, seed=3)
    torch.testing.assert_close(latents(64, 200, seed=3, truncation=100.0), untouched)
    kept = untouched.abs() <= t  # components already inside keep their values
    torch.testing.assert_close(z[kept], untouched[kept])


def test_truncated_samples_differ_and_are_seeded(models):
    m = models["colour"]
    a = sample(m, 3, seed=4, truncation=0.5)
    np.testing.assert_array_equal(a, sample(m, 3, seed=4, truncation=0.5))
    assert not np.array_equal(a, sample(m, 3, seed=4))


def test_only_sampling_tasks_sample(models):
    with pytest.raises(ValueError, match="does not sample"):
        sample(models["pix2pix"], 1, seed=0)


# --- interpolation -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_interpolation_endpoints(method):
    a, b = latents(128, 2, seed=9)
    path = interpolate_latents(a, b, 7, method)
    assert path.shape == (7, 128)
    torch.testing.assert_close(path[0], a, atol=1e-5, rtol=0)
    torch.testing.assert_close(path[-1], b, atol=1e-5, rtol=0)
    unit = path / path.norm(dim=1, keepdim=True)
    away = torch.arccos((unit * unit[0]).sum(1).clamp(-1, 1))  # angle from a: grows all the way to b
    assert (away[1:] > away[:-1]).all()
    if method == "lerp":  # evenly spaced along the line
        steps = (path[1:] - path[:-1]).norm(dim=1)
        assert steps.max() / steps.min() < 1.001


def test_slerp_keeps_norms_of_gaussian_latents():
    a, b = latents(512, 2, seed=10)
    t = torch.linspace(0, 1, 9)
    expected = (a.norm() + b.norm()) / 2
    norms = slerp(a, b, t).norm(dim=1)
    assert ((norms - expected).abs() / expected).max() < 0.05
    assert lerp(a, b, t)[4].norm() / expected < 0.8  # straight lines cut through the shell


def test_slerp_of_parallel_latents_falls_back_to_lerp():
    a = torch.ones(8)
    t = torch.linspace(0, 1, 3)
    for b in (2 * a, -a):
        out = slerp(a, b, t)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, lerp(a, b, t))


def test_interpolation_arguments():
    a, b = latents(4, 2, seed=0)
    with pytest.raises(ValueError, match="method"):
        interpolate_latents(a, b, 5, "cubic")
    with pytest.raises(ValueError, match="steps"):
        interpolate_latents(a, b, 1)


@pytest.mark.parametrize("steps", [2, 6])
def test_interpolate_frames(models, steps):
    m = models["digits"]
    frames = interpolate(m, 1, 2, steps)
    assert frames.shape == (steps, 28, 28, 1) and frames.dtype == np.uint8
    ends = np.stack([sample(m, 1, seed=1, label=0)[0], sample(m, 1, seed=2, label=0)[0]])
    assert np.abs(frames[[0, -1]].astype(int) - ends.astype(int)).max() <= 1
    lerped = interpolate(m, 1, 2, steps, method="lerp")
    assert np.abs(lerped[[0, -1]].astype(int) - ends.astype(int)).max() <= 1
    labelled = interpolate(m, 1, 2, steps, label=7)
    assert not np.array_equal(labelled, frames)
    assert interpolate(models["colour"], 3, 4, steps).shape == (steps, 32, 32, 3)


# --- CVAE-GAN ------------------------------------------------------------------------------


def test_encode_and_swap_identity(models):
    m = models["cvaegan"]
    faces = sample(m, 2, seed=6, label=1)
    z = encode(m, faces, [1, 1])
    assert z.shape == (2, m.networks["encoder"].z_dim) and z.dtype == torch.float32
    assert torch.isfinite(z).all() and not torch.equal(z[0], z[1])
    assert not torch.equal(encode(m, faces, torch.tensor([2, 2])), z)  # the identity enters
    swapped = swap_identity(m, faces[0], 1)
    assert swapped.shape == (3, 64, 64, 3) and swapped.dtype == np.uint8
    assert not np.array_equal(swapped[0], swapped[2])
    for bad in (-1, 3, 0.5):
        with pytest.raises(ValueError, match="identity"):
            swap_identity(m, faces[0], bad)
    varied = vary_latent(m, 2, 4, seed=8)
    assert varied.shape == (4, 64, 64, 3)
    np.testing.assert_array_equal(varied, sample(m, 4, seed=8, label=2))


# --- pix2pix -------------------------------------------------------------------------------


def _condition() -> np.ndarray:
    edges = np.zeros((32, 32, 1), np.uint8)
    edges[8:24, 8] = edges[8:24, 23] = edges[8, 8:24] = edges[23, 8:24] = 255
    return edges


def test_translate_without_dropout_is_deterministic(models):
    m = models["pix2pix"]
    out = translate(m, _condition())
    assert out.shape == (1, 32, 32, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(translate(m, _condition(), seed=5), out)
    np.testing.assert_array_equal(translate(m, _condition(), draws=4), out)  # draws need dropout


def test_translate_with_dropout_draws(models):
    m = models["pix2pix"]
    draws = translate(m, _condition(), dropout=True, draws=3, seed=1)
    assert draws.shape == (3, 32, 32, 3)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        assert np.abs(draws[i].astype(int) - draws[j].astype(int)).max() > 0
    np.testing.assert_array_equal(translate(m, _condition(), dropout=True, draws=3, seed=1), draws)
    other = translate(m, _condition(), dropout=True, draws=3, seed=2)
    assert not np.array_equal(other, draws)
    with pytest.raises(ValueError, match="seed"):
        translate(m, _condition(), dropout=True, seed=-3)


# --- Jacobian spectrum ---------------------------------------------------------------------


def test_jacobian_spectrum_is_sorted_and_full(models):
    m = models["colour"]
    s = jacobian_spectrum(m, seed=3)
    assert s.shape == (m.generator.z_dim,)
    assert (s[:-1] >= s[1:]).all() and (s >= 0).all()
    assert s[-1] > 1e-4 * s[0]  # a random generator has full rank
    torch.testing.assert_close(jacobian_spectrum(m, seed=3), s)
    assert jacobian_spectrum(models["digits"], seed=3, label=4).shape == (models["digits"].generator.z_dim,)
    assert jacobian_spectrum(models["toy"], seed=3).shape == (2,)


def test_jacobian_spectrum_matches_finite_differences(models):
    m = models["digits"]
    g = copy.deepcopy(m.generator).double()
    z, y, h = latents(g.z_dim, 1, seed=4)[0].double(), torch.tensor([4]), 1e-5
    steps = torch.eye(g.z_dim, dtype=torch.float64) * h  # central differences, one z direction per row
    with torch.no_grad():
        out = g(torch.cat([z + steps, z - steps]), y.expand(2 * g.z_dim)).flatten(1)
    jac = ((out[: g.z_dim] - out[g.z_dim :]) / (2 * h)).T  # (outputs, z_dim)
    expected = torch.linalg.svdvals(jac).float()
    torch.testing.assert_close(jacobian_spectrum(m, seed=4, label=4), expected, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("dead", [1, 5])
def test_jacobian_spectrum_detects_rank_loss(models, dead):
    m = models["colour"]
    g = copy.deepcopy(m.generator)
    with torch.no_grad():
        g.net[0].weight[:dead] = 0  # z dimensions 0..dead-1 no longer reach the image
    s = jacobian_spectrum(with_generator(m, g), seed=3)
    assert (s < 1e-6 * s[0]).sum() == dead
    assert s[-dead - 1] > 1e-4 * s[0]


def test_latent_jacobians_match_one_jacobian_at_a_time(models):
    m = models["toy"]
    z, points, values = latent_jacobians(m, 6, seed=2)
    assert z.shape == (6, 2) and points.shape == (6, 2) and values.shape == (6, 2)
    torch.testing.assert_close(z, latents(2, 6, seed=2))
    torch.testing.assert_close(points, toy_points(m, 6, seed=2))
    for i in range(6):
        jac = torch.autograd.functional.jacobian(lambda zz: m.generator(zz[None])[0], z[i])
        torch.testing.assert_close(values[i], torch.linalg.svdvals(jac), rtol=1e-4, atol=1e-7)


def _generator_with_output(m: LoadedModel, weight: list[list[float]]) -> LoadedModel:
    """The toy generator with its last layer replaced: its rows say which directions the points can take."""
    g = copy.deepcopy(m.generator)
    last = g.net[-1]
    with torch.no_grad():
        last.weight.copy_(
            torch.tensor(weight) @ torch.randn(2, last.in_features, generator=torch.Generator().manual_seed(0))
        )
    return with_generator(m, g)


@pytest.mark.parametrize(
    "weight, rank", [([[1.0, 0.0], [0.0, 1.0]], 2), ([[1.0, 0.0], [2.0, 0.0]], 1), ([[0.0, 0.0], [0.0, 0.0]], 0)]
)
def test_numerical_ranks_tell_a_plane_from_a_curve_from_a_point(models, weight, rank):
    """Outputs spanning the plane have rank 2; outputs on a line (dependent tangent vectors)
    rank 1; a generator whose output ignores z rank 0."""
    _, _, values = latent_jacobians(_generator_with_output(models["toy"], weight), 50, seed=1)
    ranks, tol = numerical_ranks(values, outputs=2)
    assert (ranks == rank).float().mean() > 0.9, ranks
    assert tol <= 1e-5 * float(values.max())


def test_numerical_ranks_use_one_tolerance_for_the_whole_generator():
    values = torch.tensor([[100.0, 1.0], [1.0, 1e-3], [1e-4, 1e-12], [0.0, 0.0]])
    ranks, tol = numerical_ranks(values, outputs=2)
    assert tol == pytest.approx(2 * torch.finfo(torch.float32).eps * 100)
    assert ranks.tolist() == [2, 2, 1, 0]


# --- toy 2D and mode coverage --------------------------------------------------------------


def test_toy_points(models):
    pts = toy_points(models["toy"], 100, seed=1)
    assert pts.shape == (100, 2) and pts.dtype == torch.float32
    torch.testing.assert_close(toy_points(models["toy"], 100, seed=1), pts)
    assert not torch.equal(toy_points(models["toy"], 100, seed=2), pts)


def test_mixture_centres():
    ring = ring_centres(8, 1.0)
    assert ring.shape == (8, 2)
    torch.testing.assert_close(ring.norm(dim=1), torch.ones(8))
    torch.testing.assert_close(ring[2], torch.tensor([0.0, 1.0]), atol=1e-6, rtol=0)
    grid = grid_centres(5, 2.0)
    assert grid.shape == (25, 2) and set(grid[:, 0].tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}


@pytest.mark.parametrize("name, modes", [("ring", 8), ("grid", 25)])
def test_mode_coverage_on_exact_samples(name, modes):
    centres, sigma = MIXTURES[name]
    points, idx = sample_mixture(centres, sigma, 2500, torch.Generator().manual_seed(0))
    cov = mode_coverage(points, centres, sigma)
    assert (cov["modes"], cov["total_modes"], cov["samples"]) == (modes, modes, 2500)
    # Within 3 sigma of the centre in 2D: P(chi_2 <= 3) = 1 - exp(-9/2) = 98.9% (the 1D rule's
    # 99.7% holds per coordinate, not for the distance).
    assert cov["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    assert sum(cov["counts"]) == round(cov["high_quality"] * 2500)
    assert cov["counts"] == pytest.approx(torch.bincount(idx, minlength=modes).tolist(), abs=20)


def test_mode_coverage_of_a_collapsed_generator():
    centres, sigma = MIXTURES["ring"]
    points = centres[3] + sigma * torch.randn(2500, 2, generator=torch.Generator().manual_seed(1))
    cov = mode_coverage(points, centres, sigma)
    assert cov["modes"] == 1 and cov["counts"][3] == sum(cov["counts"])
    assert cov["high_quality"] > 0.97
    far = mode_coverage(torch.full((100, 2), 5.0), centres, sigma)  # everything off the ring
    assert far["modes"] == 0 and far["high_quality"] == 0.0
    between = (centres[0] + centres[1]) / 2  # on no mode at all
    assert mode_coverage(between.expand(50, 2), centres, sigma)["modes"] == 0
    assert mode_coverage(points, centres, sigma, min_count=3000)["modes"] == 0


# --- classifier and warm-up ----------------------------------------------------------------


def test_classify(models):
    probs = classify(models["classifier"], sample(models["digits"], 3, seed=0))
    assert probs.shape == (3, 10)
    torch.testing.assert_close(probs.sum(1), torch.ones(3))


def test_warm_up_every_task(models):
    for m in models.values():
        warm_up(m)
