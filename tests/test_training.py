"""The training package: every recipe runs end to end on tiny fake data to a published checkpoint
that gan_models loads; resume is exact; the losses and regularisers give their known values;
the 2D mode metric; the DDP path under torchrun; the recipe list."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from training import checkpoint, losses
from training.__main__ import main as training_main
from training.recipes import RECIPES

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _one_thread():
    """Small networks: one thread is fastest, and far faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


EMPTY_MANIFEST = {"schema_version": 1, "models": []}

# --- a tiny fake data root -------------------------------------------------------------------


def _write_idx_images(path: Path, images: np.ndarray) -> None:
    n, h, w = images.shape
    header = np.array([0x00000803, n, h, w], dtype=">u4").tobytes()
    path.write_bytes(header + images.astype(np.uint8).tobytes())


def _write_idx_labels(path: Path, labels: np.ndarray) -> None:
    header = np.array([0x00000801, len(labels)], dtype=">u4").tobytes()
    path.write_bytes(header + labels.astype(np.uint8).tobytes())


def build_fake_data(root: Path) -> Path:
    """MNIST-format IDX files for mnist/fashion (all four files, as torchvision checks), a few
    PNGs in class folders for faces-celeb24 / openmoji-64, and 512x256 side-by-side facades."""
    rng = np.random.default_rng(0)
    for folder in ("MNIST", "FashionMNIST"):
        raw = root / folder / "raw"
        raw.mkdir(parents=True)
        for prefix, n in (("train", 40), ("t10k", 20)):
            _write_idx_images(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
            _write_idx_labels(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    for name, classes, size in (("faces-celeb24", ("ada", "bo", "cy"), 112), ("openmoji-64", ("emoji",), 64)):
        for c in classes:
            (root / name / c).mkdir(parents=True)
            for i in range(5):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / name / c / f"{i:03d}.png")
    for split in ("train", "val", "test"):
        (root / "facades" / split).mkdir(parents=True)
        for i in range(1, 4):
            pixels = rng.integers(0, 256, (256, 512, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "facades" / split / f"{i}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory) -> Path:
    return build_fake_data(tmp_path_factory.mktemp("data"))


@pytest.fixture
def gallery_root(tmp_path, monkeypatch) -> Path:
    """GAN_GALLERY_ROOT at an empty gallery (manifest with no models)."""
    root = tmp_path / "gallery"
    root.mkdir()
    (root / "weights_manifest.json").write_text(json.dumps(EMPTY_MANIFEST))
    monkeypatch.setenv("GAN_GALLERY_ROOT", str(root))
    monkeypatch.delenv("GAN_GALLERY_MANIFEST", raising=False)
    return root


# settings that make any recipe tiny, applied where the recipe's config has the field
SMOKE = {
    "steps": 2,
    "batch_size": 2,
    "g_width": 8,
    "d_width": 8,
    "e_width": 8,
    "c_width": 8,
    "base_width": 8,
    "log_every": 1,
    "sample_every": 2,
    "checkpoint_every": 0,
    "device": "cpu",
    "stacked_n": 64,
    "snapshot_every": 1,
    "snapshot_points": 16,
    "eval_samples": 64,
    "critic_grid": 8,
}


def smoke_argv(name: str, run_dir: Path, data_root: Path, **extra) -> list[str]:
    fields = {f.name for f in dataclasses.fields(RECIPES[name].family.config_class)}
    settings = {k: v for k, v in {**SMOKE, **extra}.items() if k in fields}
    settings.update(run_dir=str(run_dir), data_root=str(data_root))
    argv = [name]
    for k, v in settings.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    return argv


# --- every recipe, end to end ----------------------------------------------------------------


@pytest.mark.parametrize("name", list(RECIPES))
def test_recipe_smoke_run_publishes_a_loadable_model(name, fake_data, gallery_root, tmp_path):
    import gan_models
    from gan_models.manifest import read_manifest

    assert training_main(smoke_argv(name, tmp_path / "run", fake_data)) == 0
    run = tmp_path / "run"
    summary = json.loads((run / "run.json").read_text())
    assert summary["steps"] == 2 and summary["config"]["model_id"] == name
    assert checkpoint.exists(run / "state")
    entry = read_manifest()[name]
    assert entry.task == RECIPES[name].task
    assert entry.ablation_of == RECIPES[name].ablation_of
    assert entry.training["compute"] == "float32" and entry.training["device"] == "cpu"
    model = gan_models.load_model(name)
    assert model.entry.id == name
    if entry.task == "toy2d":
        points = gan_models.toy_points(model, 5, seed=0)
        assert points.shape == (5, 2) and torch.isfinite(points).all()
        assert entry.extras["mixture"] in ("ring", "grid")
        traj = load_file(str(gallery_root / "weights" / name / "trajectory.safetensors"))
        assert traj["steps"].tolist() == [0, 1, 2]
        assert [f.path for f in entry.extra_files] == [f"weights/{name}/trajectory.safetensors"]


@pytest.mark.parametrize("name", ["celeb24-dcgan", "celeb24-cvaegan", "facades-pix2pix"])
def test_cpu_fast_run_computes_in_bf16_channels_last_and_publishes_a_loadable_model(
    name, fake_data, gallery_root, tmp_path, monkeypatch
):
    import gan_models
    from training.loop import Context

    seen = []
    plain_autocast = Context.autocast

    def spy(self):
        ctx = plain_autocast(self)
        seen.append(isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16 and self.channels_last)
        return ctx

    monkeypatch.setattr(Context, "autocast", spy)
    assert training_main(smoke_argv(name, tmp_path / "run", fake_data, cpu_fast="true")) == 0
    assert seen and all(seen)
    model = gan_models.load_model(name)  # published from channels_last networks, hash-checked
    assert all(torch.isfinite(p).all() for net in model.networks.values() for p in net.parameters())
    assert model.entry.training["compute"] == "bf16 autocast"


def test_diff_augment_feeds_the_discriminator_augmented_real_and_generated_images(
    fake_data, gallery_root, tmp_path, monkeypatch, capsys
):
    from training.families import gan

    seen = []
    plain = gan.diff_augment

    def spy(x, policy):
        out = plain(x, policy)
        seen.append((policy, x.requires_grad, torch.equal(out, x)))
        return out

    monkeypatch.setattr(gan, "diff_augment", spy)
    policy = "color,translation,cutout"
    assert training_main(smoke_argv("celeb24-dcgan", tmp_path / "run", fake_data, diff_augment=policy)) == 0
    assert len(seen) == 3 * 2, "real and generated images in D's step, generated ones in G's, for 2 steps"
    assert all(p == policy and not unchanged for p, _, unchanged in seen)
    assert any(grad for _, grad, _ in seen), "G's step augments images that carry its gradient"
    assert training_main(smoke_argv("celeb24-dcgan", tmp_path / "bad", fake_data, diff_augment="rotation")) == 2
    assert not (tmp_path / "bad").exists() and "unknown augmentation ['rotation']" in capsys.readouterr().err


def test_cpu_runs_stay_plain_fp32_unless_cpu_fast_is_asked():
    from training.loop import Context, TrainConfig

    plain = Context(TrainConfig(device="cpu"))
    assert not plain.channels_last and not isinstance(plain.autocast(), torch.autocast)
    fast = Context(TrainConfig(device="cpu", cpu_fast=True))
    with fast.autocast():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


# --- exact resume ----------------------------------------------------------------------------


def _assert_same(a, b, where="state"):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        # toy2d: PacGAN packing, several critic steps, gradient penalty, lr decay, EMA, trajectory
        ("ring-gan-stable", dict(pack=2, n_critic=2, gp_weight=0.1, lr_final=0.5, lr_decay_from=0.3, ema_beta=0.9)),
        # image GAN: BatchSampler, batch norm, EMA, sample grids
        ("mnist-dcgan-ns", dict(g_width=8, d_width=8, ema_beta=0.9, lr_final=0.1, lr_decay_from=0.5)),
        # colour DCGAN: the EMA's warm-up depends on the step a resumed run starts from
        ("openmoji-dcgan", dict(g_width=8, d_width=8)),
        # conditional: projection discriminator, mode seeking term on label-sharing halves
        ("mnist-cgan", dict(g_width=8, d_width=8, ema_beta=0.9, mode_seeking=1.0)),
        # faces classifier: per-image random transforms draw from the global RNG, warm-up
        ("faces-classifier", dict(ema_beta=0.9, warmup=4)),
    ],
)
def test_resume_is_exact(name, extra, fake_data, tmp_path, monkeypatch):
    """6 steps straight vs a run interrupted after its step-3 checkpoint and resumed."""
    from training.loop import train
    from training.publish import publish_run

    family_cls = RECIPES[name].family

    def run(folder: Path, interrupt_at: int | None = None):
        from training.__main__ import build_config

        argv = smoke_argv(name, folder, fake_data, steps=6, checkpoint_every=3, sample_every=3, **extra)[1:]
        cfg, _ = build_config(name, argv)
        if interrupt_at is None:
            return train(family_cls, cfg)
        original = family_cls.after_step

        def after_step(self, step):
            if step == interrupt_at:
                raise _Interrupt
            original(self, step)

        monkeypatch.setattr(family_cls, "after_step", after_step)
        with pytest.raises(_Interrupt):
            train(family_cls, cfg)
        monkeypatch.setattr(family_cls, "after_step", original)
        assert json.loads((folder / "run.json").read_text())["steps"] == 3
        return train(family_cls, cfg)

    straight = run(tmp_path / "straight")
    resumed = run(tmp_path / "resumed", interrupt_at=4)
    _assert_same(checkpoint.load_state(straight / "state"), checkpoint.load_state(resumed / "state"))
    roots = []
    for run_folder in (straight, resumed):
        root = run_folder / "gallery"
        root.mkdir()
        (root / "weights_manifest.json").write_text(json.dumps(EMPTY_MANIFEST))
        publish_run(run_folder, root=root)
        roots.append(root)
    files = sorted(p.relative_to(roots[0]) for p in (roots[0] / "weights").rglob("*") if p.is_file())
    assert any(p.name == "model.safetensors" for p in files)
    for rel in files:
        assert (roots[0] / rel).read_bytes() == (roots[1] / rel).read_bytes(), f"published {rel} differs"


def test_face_classifier_augments_each_image_on_its_own(fake_data, tmp_path):
    from training.__main__ import build_config
    from training.families.classifier import ClassifierFamily
    from training.loop import Context

    cfg, _ = build_config("faces-classifier", smoke_argv("faces-classifier", tmp_path, fake_data)[1:])
    assert cfg.degrees and cfg.zoom and cfg.jitter and cfg.flip  # the recipe asks for per-image augmentation
    family = ClassifierFamily(cfg, Context(cfg))
    torch.manual_seed(0)
    x = family.data.images[:1].float().div(127.5).sub(1).repeat(8, 1, 1, 1)  # one face, eight times
    out = family._augment(x)
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    assert not torch.equal(out, x)
    distinct = {tuple(img.flatten()[::97].tolist()) for img in out}
    assert len(distinct) == 8, "every copy of the face should get its own transform"
    digits_cfg, _ = build_config("digits-classifier", smoke_argv("digits-classifier", tmp_path, fake_data)[1:])
    assert ClassifierFamily(digits_cfg, Context(digits_cfg)).per_image is None  # digits keep the batch shift


def test_face_classifier_mixes_pairs_of_faces_with_soft_labels(fake_data, tmp_path):
    from training.__main__ import build_config
    from training.families.classifier import ClassifierFamily
    from training.loop import Context

    cfg, _ = build_config("faces-classifier", smoke_argv("faces-classifier", tmp_path, fake_data)[1:])
    assert cfg.mixup and cfg.cutmix  # the recipe blends faces
    family = ClassifierFamily(cfg, Context(cfg))
    k = len(family.data.class_names)
    images = family.data.images[:8]
    x, y = images.float().div(127.5).sub(1), torch.arange(len(images)) % k  # neighbours differ in identity
    torch.manual_seed(0)
    mixed, target = family.mix(x, y)
    assert mixed.shape == x.shape and target.shape == (len(x), k)
    assert torch.allclose(target.sum(1), torch.ones(len(x)))
    assert not torch.equal(mixed, x)
    assert ((target > 0).sum(1) == 2).all(), "each soft label shares its weight between two identities"
    # a training step takes the soft targets
    stats = family.train_step((images, y), 0)
    assert torch.isfinite(stats["loss"])
    digits_cfg, _ = build_config("digits-classifier", smoke_argv("digits-classifier", tmp_path, fake_data)[1:])
    assert ClassifierFamily(digits_cfg, Context(digits_cfg)).mix is None


def test_a_run_stopped_at_a_checkpoint_closes_at_that_step(fake_data, tmp_path, monkeypatch):
    """Stopped after its step-3 checkpoint, a 6-step run is closed by asking for 3 steps: the
    summary that publishing copies into the manifest then says 3 steps, not 6."""
    from training.__main__ import build_config
    from training.loop import train

    name, family_cls = "mnist-dcgan-ns", RECIPES["mnist-dcgan-ns"].family
    folder = tmp_path / "run"

    def config(steps):
        argv = smoke_argv(name, folder, fake_data, steps=steps, checkpoint_every=3, g_width=8, d_width=8)[1:]
        return build_config(name, argv)[0]

    def stop_at_4(self, step):
        if step == 4:
            raise _Interrupt

    monkeypatch.setattr(family_cls, "after_step", stop_at_4)
    with pytest.raises(_Interrupt):
        train(family_cls, config(6))
    monkeypatch.undo()
    assert json.loads((folder / "run.json").read_text())["config"]["steps"] == 6
    train(family_cls, config(3), command="python -m training mnist-dcgan-ns --steps 3")
    summary = json.loads((folder / "run.json").read_text())
    assert (summary["steps"], summary["config"]["steps"]) == (3, 3)
    assert summary["command"].endswith("--steps 3")


def test_ema_warmup_forgets_the_random_init():
    """Live weights jump from the init (0) to 1 and stay: after 50 steps the warmed-up EMA is
    within 20% of them, while a fixed 0.999 EMA still holds 95% of the init."""
    from training.loop import Family, TrainConfig, _update_ema, ema_beta

    def ema_after(steps: int, warmup: bool) -> float:
        cfg = TrainConfig(ema_beta=0.999, ema_warmup=warmup)
        family = Family(cfg, None)
        family.nets = {"g": torch.nn.Linear(1, 1, bias=False)}
        family.ema = {"g": torch.nn.Linear(1, 1, bias=False)}
        torch.nn.init.zeros_(family.ema["g"].weight)
        torch.nn.init.ones_(family.nets["g"].weight)
        for step in range(steps):
            _update_ema(family, ema_beta(cfg, step))
        return family.ema["g"].weight.item()

    assert ema_after(50, warmup=True) > 0.8
    assert ema_after(50, warmup=False) < 0.05
    betas = [ema_beta(TrainConfig(ema_beta=0.999, ema_warmup=True), t) for t in (0, 100, 1000, 10_000, 100_000)]
    assert betas == sorted(betas) and betas[0] == pytest.approx(0.1) and betas[-1] == 0.999
    assert RECIPES["openmoji-dcgan"].settings["ema_warmup"] and RECIPES["celeb24-dcgan"].settings["ema_warmup"]


def test_image_gan_learning_rates_decay_linearly_to_the_final_fraction(fake_data, tmp_path):
    from training.__main__ import build_config
    from training.families.gan import GANFamily
    from training.loop import linear_decay, train

    assert [linear_decay(t, 11, 0.5, 0.1) for t in (0, 5, 10)] == [1.0, 1.0, pytest.approx(0.1)]
    assert linear_decay(8, 11, 0.5, 0.1) == pytest.approx(1 - 0.9 * 3 / 5)
    assert linear_decay(7, 11, 0.0, 1.0) == 1.0
    argv = smoke_argv("mnist-dcgan-ns", tmp_path, fake_data, g_width=8, d_width=8, steps=11, lr_final=0.1)
    cfg, _ = build_config("mnist-dcgan-ns", argv[1:] + ["--lr-decay-from", "0.5", "--lr-g", "1e-3"])
    seen = {}

    class Recording(GANFamily):  # the loop sets the rates before each step
        def train_step(self, batch, step):
            seen[step] = {role: opt.param_groups[0]["lr"] for role, opt in self.opts.items()}
            return super().train_step(batch, step)

    train(Recording, cfg)
    for step in (0, 8, 10):
        factor = linear_decay(step, 11, 0.5, 0.1)
        assert seen[step]["generator"] == pytest.approx(1e-3 * factor)
        assert seen[step]["discriminator"] == pytest.approx(cfg.lr_d * factor)


# --- losses and regularisers -----------------------------------------------------------------

REAL = torch.tensor([1.0, -1.0])
FAKE = torch.tensor([0.0, 2.0])
# softplus(x) = log(1 + e^x): softplus(-1) = 0.313262, softplus(1) = 1.313262, softplus(0) = log 2 = 0.693147,
# softplus(2) = 2.126928, softplus(-2) = 0.126928
KNOWN = {
    # kind: (d_loss, g_loss) on REAL, FAKE
    "minimax": ((0.313262 + 1.313262) / 2 + (0.693147 + 2.126928) / 2, -(0.693147 + 2.126928) / 2),
    "ns": ((0.313262 + 1.313262) / 2 + (0.693147 + 2.126928) / 2, (0.693147 + 0.126928) / 2),
    # 0.5 * mean((r - 1)^2) = 0.5 * (0 + 4) / 2 = 1; 0.5 * mean(f^2) = 0.5 * (0 + 4) / 2 = 1; G: 0.5 * (1 + 1) / 2
    "lsgan": (2.0, 0.5),
    # mean(f) - mean(r) = 1 - 0; G: -mean(f)
    "wgan": (1.0, -1.0),
    "wgan-gp": (1.0, -1.0),
    # mean(relu(1 - r)) = (0 + 2) / 2 = 1; mean(relu(1 + f)) = (1 + 3) / 2 = 2
    "hinge": (3.0, -1.0),
}


@pytest.mark.parametrize("kind", losses.KINDS)
def test_loss_known_values(kind):
    d, g = KNOWN[kind]
    assert losses.d_loss(kind, REAL, FAKE).item() == pytest.approx(d, abs=1e-5)
    assert losses.g_loss(kind, FAKE).item() == pytest.approx(g, abs=1e-5)


def test_every_loss_has_a_known_value_and_unknown_kinds_fail():
    assert set(KNOWN) == set(losses.KINDS)
    with pytest.raises(ValueError):
        losses.d_loss("nope", REAL, FAKE)
    with pytest.raises(ValueError):
        losses.g_loss("nope", FAKE)


def _linear_critic(weight) -> torch.nn.Linear:
    critic = torch.nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([weight]))
        critic.bias.fill_(0.3)
    return critic


def test_gradient_penalty_vanishes_for_a_unit_lipschitz_linear_critic():
    real, fake = torch.randn(64, 2), torch.randn(64, 2) + 3
    assert losses.gradient_penalty(_linear_critic([0.6, 0.8]), real, fake).item() == pytest.approx(0.0, abs=1e-10)
    # |w| = 5: (5 - 1)^2 = 16 everywhere; R1 = |w|^2 = 25
    assert losses.gradient_penalty(_linear_critic([3.0, 4.0]), real, fake).item() == pytest.approx(16.0, rel=1e-5)
    assert losses.r1_penalty(_linear_critic([3.0, 4.0]), real).item() == pytest.approx(25.0, rel=1e-5)


def test_gradient_penalty_generator_makes_it_reproducible():
    critic = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    a = losses.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(3))
    b = losses.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_clip_weights_clamps_every_parameter():
    module = torch.nn.Linear(4, 3)
    with torch.no_grad():
        module.weight.copy_(torch.linspace(-1, 1, 12).reshape(3, 4))
        module.bias.copy_(torch.tensor([0.5, -0.005, -2.0]))
    losses.clip_weights(module, 0.01)
    for p in module.parameters():
        assert p.abs().max().item() <= 0.01 + 1e-9
    assert module.bias[1].item() == pytest.approx(-0.005)  # inside the bound: unchanged
    assert module.weight[0, 0].item() == pytest.approx(-0.01)


def test_mode_seeking_term_punishes_outputs_that_ignore_z():
    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    same = torch.ones(8, 1, 5, 5)  # both halves alike: z changes nothing
    varied = torch.cat([torch.zeros(4, 1, 5, 5), torch.ones(4, 1, 5, 5)])  # |f1 - f2| = 1
    assert losses.mode_seeking(same, z).item() == pytest.approx(1e5)
    expected = (z[:4] - z[4:]).abs().mean().item()  # 1 / (1 / mean |z1 - z2|)
    assert losses.mode_seeking(varied, z).item() == pytest.approx(expected, rel=1e-4)
    # its gradient pushes the two halves apart
    fake = torch.cat([torch.zeros(4, 1, 5, 5), torch.full((4, 1, 5, 5), 0.1)]).requires_grad_(True)
    losses.mode_seeking(fake, z).backward()
    assert (fake.grad[:4] > 0).all() and (fake.grad[4:] < 0).all()


def test_top_k_keeps_the_samples_the_discriminator_finds_most_real():
    scores = torch.tensor([[0.5], [-2.0], [3.0], [1.0], [-0.1], [2.0]], requires_grad=True)
    kept = losses.top_k(scores, 0.5)
    assert sorted(kept.tolist()) == [1.0, 2.0, 3.0]
    assert losses.top_k(scores, 0.01).tolist() == [3.0]  # never empty
    assert sorted(losses.top_k(scores, 1.0).tolist()) == sorted(scores.flatten().tolist())
    # G learns from the kept samples only: the dropped ones get no gradient
    losses.g_loss("ns", kept).backward()
    assert (scores.grad.flatten()[[1, 4, 0]] == 0).all() and (scores.grad.flatten()[[2, 3, 5]] != 0).all()


def test_top_k_fraction_shrinks_by_epoch_to_its_floor(monkeypatch):
    from training.families.gan import GANFamily

    seen = []
    monkeypatch.setattr(losses, "top_k", lambda scores, keep: seen.append(keep) or scores)
    family = GANFamily.__new__(GANFamily)  # the kept fraction needs only the config and the data size
    family.cfg = GANFamily.config_class(top_k=0.5, top_k_gamma=0.8, pack=1)
    family.ctx = type("Ctx", (), {"local_batch": 10})()
    family.data = [0] * 100  # ten steps to an epoch
    family._d_augmented = lambda fake, y: fake
    for step in (0, 10, 20, 50):
        family._g_loss(torch.zeros(4, 1), None, step)
    assert seen == pytest.approx([1.0, 0.8, 0.64, 0.5])


# --- the 2D mode metric ----------------------------------------------------------------------


def test_mode_coverage_on_exact_mixture_samples():
    from gan_models.mixtures import MIXTURES, mode_coverage, sample_mixture

    g = torch.Generator().manual_seed(0)
    centres, sigma = MIXTURES["ring"]
    points, _ = sample_mixture(centres, sigma, 2500, g)
    cov = mode_coverage(points, centres, sigma)
    assert cov["modes"] == 8 and cov["total_modes"] == 8
    # within 3 sigma of the centre in 2D: P(chi2_2 <= 9) = 1 - exp(-4.5) = 98.9%
    # (99.7% is the one-dimensional three-sigma share)
    assert cov["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.006)
    centres, sigma = MIXTURES["grid"]
    cov = mode_coverage(sample_mixture(centres, sigma, 2500, g)[0], centres, sigma)
    assert cov["modes"] == 25 and cov["high_quality"] > 0.98


def test_mode_coverage_on_one_mode():
    from gan_models.mixtures import MIXTURES, mode_coverage

    centres, sigma = MIXTURES["ring"]
    points = centres[3] + sigma * torch.randn(2500, 2, generator=torch.Generator().manual_seed(1))
    cov = mode_coverage(points, centres, sigma)
    assert cov["modes"] == 1 and cov["counts"][3] == round(cov["high_quality"] * 2500)
    between = (centres[0] + centres[1]) / 2 + torch.zeros(100, 2)  # halfway between modes: no quality
    assert mode_coverage(between, centres, sigma)["high_quality"] == 0.0


# --- torchrun, the command line ---------------------------------------------------------------


def test_ddp_two_cpu_processes_publish_a_checkpoint(gallery_root, tmp_path):
    import gan_models
    from gan_models.manifest import read_manifest

    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip(f"no torchrun beside {sys.executable}")
    # WGAN-GP with packing and several critic steps: the gradient penalty's double backward under DDP
    argv = smoke_argv("grid-gan-stable", tmp_path / "run", tmp_path, steps=3, batch_size=8, pack=2, g_hidden=32)
    env = {**os.environ, "GAN_GALLERY_ROOT": str(gallery_root), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT)}
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "training", *argv]
    result = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "run.json").read_text())
    assert summary["device"] == "cpu x2" and summary["steps"] == 3
    entry = read_manifest()["grid-gan-stable"]
    assert entry.training["device"] == "cpu x2" and entry.extras == {"mixture": "grid"}
    assert gan_models.toy_points(gan_models.load_model("grid-gan-stable"), 4, seed=0).shape == (4, 2)


def test_list_prints_every_recipe(capsys):
    assert training_main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(RECIPES)


def test_list_from_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "training", "--list"], cwd=PROJECT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for name in RECIPES:
        assert name in result.stdout


def test_unknown_recipe_and_bad_setting_are_refused(capsys):
    assert training_main(["no-such-recipe"]) == 2
    with pytest.raises(SystemExit):
        training_main(["ring-gan-plain", "--no-such-setting", "1"])


# --- real data (skipped where the shared data root is missing) --------------------------------


def test_real_mnist_loads_from_the_data_root():
    from training.data import data_root, digits

    root = data_root()
    if not (root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        pytest.skip(f"real MNIST not found under {root} (set GAN_GALLERY_DATA)")
    test = digits("mnist", "test", root)
    assert test.images.shape == (10_000, 1, 28, 28) and test.images.dtype == torch.uint8
    assert test.labels[0].item() == 7 and len(test.class_names) == 10


def test_recorded_command_includes_the_publish_step_of_a_no_publish_run():
    from training.publish import reproducing_command

    plain = "python -m training mnist-dcgan-ns --steps 500"
    assert reproducing_command(plain, Path("runs/x"), half=True) == plain
    split = "python -m training mnist-dcgan-ns --steps 500 --no-publish"
    assert reproducing_command(split, Path("runs/mnist-dcgan-ns"), half=True) == (
        split + " && python -m training.publish runs/mnist-dcgan-ns --half"
    )
    assert reproducing_command(split, Path("runs/my run"), half=False).endswith("training.publish 'runs/my run'")


def test_data_folders_name_what_each_data_set_reads_below_the_root():
    from training.data import data_folders

    assert data_folders("mnist") == ["MNIST"] and data_folders("stacked-mnist") == ["MNIST"]
    assert data_folders("fashion") == ["FashionMNIST"]
    assert data_folders("faces-celeb24") == ["faces-celeb24"]
