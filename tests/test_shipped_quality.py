"""The shipped checkpoints meet the gallery's quality bars, measured again here on the CPU.

For every model in the real ``weights_manifest.json``: re-run its recorded evaluation command
(same samples, same seed) on the shipped files, check that the manifest's numbers are the ones
the files give, and assert the bar set for that model. A model that is not in the manifest is
not tested; a shipped model that misses its bar (or was never measured) fails: what ships is
decided by publishing it, and then it has to be good, unless its entry declares ``below_bar``
with the reason (the page shows it): then the test asserts it really is below, so the
declaration is dropped once a retrained model meets the bar. Needs the real data root (skipped
without it)."""

from __future__ import annotations

import shlex

import pytest
import torch

from gan_models.manifest import PROJECT_ROOT, read_manifest
from training import evaluate as E
from training.data import data_root

pytestmark = pytest.mark.slow

MANIFEST = PROJECT_ROOT / "weights_manifest.json"
SHIPPED = list(read_manifest(MANIFEST)) if MANIFEST.exists() else []

# what a shipped model must reach (values of training.evaluate; fractions, not percent)
DIGIT_GANS = ("mnist-dcgan-ns", "mnist-dcgan-lsgan", "mnist-wgan-clip", "mnist-wgan-gp")
CLASSIFIER_ACCURACY = {"digits-classifier": 0.993, "faces-classifier": 0.95, "fashion-classifier": 0.91}
CLASS_ACCURACY = {"mnist-cgan": 0.98, "fashion-cgan": 0.90}
PIX2PIX_ABLATION = {"celeb24-pix2pix-edges": "celeb24-unet-l1-edges", "facades-pix2pix": "facades-unet-l1"}
# A sharpness ratio far above 1 is not sharpness but noise: the checkerboards of transposed
# convolutions early in training. No pix2pix output, nor its L1-only ablation's (which may be
# blurry: that is its point), may be noisier than the real photos by more than the emoji's factor.
PIX2PIX_NOISE_CEILING = 1.5
TOY_STABLE = {"ring-gan-stable": 0.95, "grid-gan-stable": 0.90}  # all modes, and this share of high quality
TOY_PLAIN = {"ring-gan-plain": "ring-gan-stable", "grid-gan-plain": "grid-gan-stable"}  # run shown beside it
# Stacked MNIST: the packed runs keep >= 990 of 1,000 modes with KL <= 0.1; against a quarter-width D
# the plain run must collapse (the full-width plain run keeps its modes: the README shows it, no bar)
STACKED_STABLE = ("stacked-mnist-dcgan-stable", "stacked-mnist-dcgan-stable-small-d")
STACKED_PLAIN = {"stacked-mnist-dcgan-plain-small-d": "stacked-mnist-dcgan-stable-small-d"}  # run shown beside it
# colour DCGANs, which the issue asks to measure without a bar: the gallery's own "not collapsed"
# bars. Faces: recall and coverage in faces-classifier features (real vs real: 0.84 and 1.00).
# Emoji: feature diversity at least 70% of held-out emoji's, few near-copies of training emoji, and
# as sharp as real emoji within a factor 1.5 either way (blur below, noise and checkerboards above).
FACES_GAN = {"celeb24-dcgan": {"recall": 0.3, "coverage": 0.5}}
EMOJI_GAN = {"openmoji-dcgan": {"diversity_share": 0.7, "near_copy_fraction": 0.25, "sharpness_factor": 1.5}}


def check_bars(model_id: str, m: dict, measured) -> None:
    """Assert the bar of one model on its freshly measured metrics ``m``; ``measured(id)`` gives
    another model's metrics (for comparisons with an ablation)."""
    v = m["values"]
    if model_id in CLASSIFIER_ACCURACY:
        assert v["accuracy"] >= CLASSIFIER_ACCURACY[model_id]
    elif model_id in DIGIT_GANS:
        assert m["samples"] >= 10_000
        assert all(0.07 <= f <= 0.13 for f in m["details"]["class_histogram"]), m["details"]["class_histogram"]
        assert v["confidence"] >= 0.90
        assert v["inception_score"] >= 9.0
    elif model_id in CLASS_ACCURACY:
        assert v["class_accuracy"] >= CLASS_ACCURACY[model_id]
    elif model_id == "celeb24-cvaegan":
        assert v["identity_accuracy"] >= 0.90
        assert v["swap_accuracy"] >= 0.85
    elif model_id in PIX2PIX_ABLATION:
        assert 0.8 <= v["sharpness_ratio"] <= PIX2PIX_NOISE_CEILING
        ablation = PIX2PIX_ABLATION[model_id]
        if ablation in SHIPPED:
            assert v["sharpness_ratio"] > measured(ablation)["values"]["sharpness_ratio"]
    elif model_id in PIX2PIX_ABLATION.values():
        assert v["sharpness_ratio"] <= PIX2PIX_NOISE_CEILING
    elif model_id in TOY_STABLE:
        assert v["modes"] == v["total_modes"], m["details"]["per_seed"]  # in every one of the 5 seeds
        assert v["high_quality"] >= TOY_STABLE[model_id]
    elif model_id in TOY_PLAIN:
        assert v["modes"] < v["total_modes"]  # mode collapse shows, averaged over the 5 seeds
        if TOY_PLAIN[model_id] in SHIPPED:  # and so does its geometry: dG/dz loses rank on more of z
            assert v["full_rank"] < measured(TOY_PLAIN[model_id])["values"]["full_rank"]
    elif model_id in FACES_GAN:
        assert v["recall"] >= FACES_GAN[model_id]["recall"]
        assert v["coverage"] >= FACES_GAN[model_id]["coverage"]
    elif model_id in EMOJI_GAN:
        bar = EMOJI_GAN[model_id]
        assert v["feature_diversity"] >= bar["diversity_share"] * m["reference"]["feature_diversity"]
        assert v["near_copy_fraction"] <= bar["near_copy_fraction"]
        assert 1 / bar["sharpness_factor"] <= v["sharpness_ratio"] <= bar["sharpness_factor"]
    elif model_id in STACKED_STABLE:
        assert m["samples"] >= 26_000
        assert v["modes"] >= 990
        assert v["kl"] <= 0.1
    elif model_id in STACKED_PLAIN:  # the same networks without packing: their collapse, measured
        assert m["samples"] >= 26_000
        assert v["modes"] < 990 and v["kl"] > 0.1
        if STACKED_PLAIN[model_id] in SHIPPED:
            assert v["modes"] < measured(STACKED_PLAIN[model_id])["values"]["modes"]


def recorded_settings(model_id: str, metrics: dict) -> tuple[int | None, int]:
    """(samples, seed) of the recorded command ``python -m training.evaluate <id> [--samples N] --seed S``."""
    argv = shlex.split(metrics["command"])
    assert argv[:4] == ["python", "-m", "training.evaluate", model_id], metrics["command"]
    samples = int(argv[argv.index("--samples") + 1]) if "--samples" in argv else None
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
    return samples, seed


def close(recorded: float, fresh: float, key: str) -> bool:
    """The recorded value is the one the shipped files give, up to float round-off between
    runs (thread counts, another device): 1% relative, or a tiny absolute slack near 0."""
    slack = 5e-5 if key.startswith("kid") else 2e-3
    return fresh == pytest.approx(recorded, rel=0.01, abs=slack)


@pytest.fixture(scope="module")
def context():
    root = data_root()
    if not (root / "MNIST").is_dir():
        pytest.skip(f"the real data root {root} is not here (set GAN_GALLERY_DATA)")
    return E.Context(torch.device("cpu"))


@pytest.fixture(scope="module")
def measured(context):
    """Fresh metrics by id, measured once per test session with the recorded settings."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GAN_GALLERY_ROOT", str(PROJECT_ROOT))
    mp.delenv("GAN_GALLERY_MANIFEST", raising=False)
    entries = read_manifest(MANIFEST)
    cache: dict[str, dict] = {}

    def get(model_id: str) -> dict:
        if model_id not in cache:
            metrics = entries[model_id].metrics
            assert metrics.get("values"), (
                f"{model_id} is shipped but has no metrics: run python -m training.evaluate {model_id}"
            )
            samples, seed = recorded_settings(model_id, metrics)
            cache[model_id] = E.measure(model_id, samples, seed, context)
        return cache[model_id]

    yield get
    mp.undo()


@pytest.mark.parametrize("model_id", SHIPPED or [pytest.param("none", marks=pytest.mark.skip("nothing shipped yet"))])
def test_shipped_model_meets_its_bar(model_id, measured):
    fresh = measured(model_id)
    recorded = read_manifest(MANIFEST)[model_id].metrics
    assert fresh["weights_sha256"] == recorded.get("weights_sha256", fresh["weights_sha256"]), (
        f"{model_id}: the metrics were measured on other weights; run python -m training.evaluate {model_id}"
    )
    assert fresh["feature_network_sha256"] == recorded.get("feature_network_sha256", fresh["feature_network_sha256"]), (
        f"{model_id}: measured in the features of an earlier {fresh['feature_network']}; "
        f"run python -m training.evaluate {model_id}"
    )
    for key, value in recorded["values"].items():
        assert key in fresh["values"], f"{model_id}: {key} is no longer measured"
        assert close(value, fresh["values"][key], key), (
            f"{model_id}: the manifest says {key} = {value}, the shipped files give {fresh['values'][key]}"
        )
    below_bar = read_manifest(MANIFEST)[model_id].below_bar
    if below_bar:  # shipped as a preview: the page says so, and the claim must stay true
        with pytest.raises(AssertionError):
            check_bars(model_id, fresh, measured)
    else:
        check_bars(model_id, fresh, measured)


def _metrics(values: dict, **extra) -> dict:
    return {"values": values, "samples": 10_000, "details": {}, **extra}


@pytest.mark.parametrize(
    "model_id, good, bad",
    [
        ("digits-classifier", {"accuracy": 0.9931}, {"accuracy": 0.992}),
        ("mnist-cgan", {"class_accuracy": 0.985}, {"class_accuracy": 0.97}),
        (
            "celeb24-cvaegan",
            {"identity_accuracy": 0.95, "swap_accuracy": 0.9},
            {"identity_accuracy": 0.95, "swap_accuracy": 0.8},
        ),
        (
            "ring-gan-stable",
            {"modes": 8, "total_modes": 8, "high_quality": 0.96},
            {"modes": 7.8, "total_modes": 8, "high_quality": 0.99},
        ),
        (
            "grid-gan-plain",
            {"modes": 21.4, "total_modes": 25, "full_rank": 0.87},
            {"modes": 25, "total_modes": 25, "full_rank": 0.87},
        ),
        ("stacked-mnist-dcgan-stable", {"modes": 1000, "kl": 0.08}, {"modes": 1000, "kl": 0.12}),
        ("stacked-mnist-dcgan-stable", {"modes": 995, "kl": 0.08}, {"modes": 985, "kl": 0.08}),
        ("stacked-mnist-dcgan-stable-small-d", {"modes": 1000, "kl": 0.08}, {"modes": 1000, "kl": 0.13}),
        # the plain small-D run: collapsed by both counts, and fewer modes than the packed run's
        ("stacked-mnist-dcgan-plain-small-d", {"modes": 1, "kl": 6.9}, {"modes": 1000, "kl": 0.06}),
        ("stacked-mnist-dcgan-plain-small-d", {"modes": 985, "kl": 0.2}, {"modes": 985, "kl": 0.09}),
        ("celeb24-dcgan", {"recall": 0.4, "coverage": 0.6}, {"recall": 0.4, "coverage": 0.45}),
        # pix2pix: at least 0.8, above its ablation's 0.9, and not noise; the ablation: not noise
        ("celeb24-pix2pix-edges", {"sharpness_ratio": 1.1}, {"sharpness_ratio": 0.85}),
        ("facades-pix2pix", {"sharpness_ratio": 1.4}, {"sharpness_ratio": 2.6}),
        ("facades-unet-l1", {"sharpness_ratio": 0.4}, {"sharpness_ratio": 1.8}),
        (
            "openmoji-dcgan",
            {"feature_diversity": 8.0, "near_copy_fraction": 0.1, "sharpness_ratio": 1.2},
            {"feature_diversity": 6.0, "near_copy_fraction": 0.1, "sharpness_ratio": 1.2},
        ),
        (
            "openmoji-dcgan",
            {"feature_diversity": 8.0, "near_copy_fraction": 0.1, "sharpness_ratio": 0.7},
            {"feature_diversity": 8.0, "near_copy_fraction": 0.1, "sharpness_ratio": 1.7},
        ),
    ],
)
def test_the_bars_can_fail(model_id, good, bad):
    """The bar checks themselves, on made-up numbers (runs without any shipped model)."""
    extra = {"details": {"per_seed": []}, "reference": {"feature_diversity": 10.0}, "samples": 26_000}
    # what a plain run (2D or Stacked MNIST), or a pix2pix model, is compared with
    other = _metrics({"full_rank": 1.0, "sharpness_ratio": 0.9, "modes": 1000})
    check_bars(model_id, _metrics(good, **extra), lambda _: other)
    with pytest.raises(AssertionError):
        check_bars(model_id, _metrics(bad, **extra), lambda _: other)


def test_digit_gan_bar_reads_every_class():
    hist = [0.1] * 10
    good = _metrics({"confidence": 0.95, "inception_score": 9.4}, details={"class_histogram": hist})
    check_bars("mnist-dcgan-ns", good, None)
    skewed = _metrics(
        {"confidence": 0.95, "inception_score": 9.4}, details={"class_histogram": [0.14] + [0.86 / 9] * 9}
    )
    with pytest.raises(AssertionError):
        check_bars("mnist-dcgan-ns", skewed, None)


def test_a_plain_2d_run_must_lose_rank_where_its_stabilised_run_does_not(monkeypatch):
    monkeypatch.setitem(globals(), "SHIPPED", ["ring-gan-stable"])
    plain = {"modes": 6.2, "total_modes": 8}
    check_bars("ring-gan-plain", _metrics({**plain, "full_rank": 0.1}), lambda _: _metrics({"full_rank": 0.98}))
    with pytest.raises(AssertionError):
        check_bars("ring-gan-plain", _metrics({**plain, "full_rank": 0.99}), lambda _: _metrics({"full_rank": 0.98}))


def test_pix2pix_must_beat_its_ablation(monkeypatch):
    ablation = {"values": {"sharpness_ratio": 0.9}}
    model = _metrics({"sharpness_ratio": 0.85})
    monkeypatch.setitem(globals(), "SHIPPED", ["facades-unet-l1"])
    with pytest.raises(AssertionError):
        check_bars("facades-pix2pix", model, lambda _: ablation)
    check_bars("facades-pix2pix", _metrics({"sharpness_ratio": 0.95}), lambda _: ablation)


def test_a_plain_stacked_run_must_keep_fewer_modes_than_its_packed_run(monkeypatch):
    monkeypatch.setitem(globals(), "SHIPPED", ["stacked-mnist-dcgan-stable-small-d"])
    plain = _metrics({"modes": 900, "kl": 0.5}, samples=26_000)
    check_bars("stacked-mnist-dcgan-plain-small-d", plain, lambda _: _metrics({"modes": 1000}))
    with pytest.raises(AssertionError):
        check_bars("stacked-mnist-dcgan-plain-small-d", plain, lambda _: _metrics({"modes": 880}))
