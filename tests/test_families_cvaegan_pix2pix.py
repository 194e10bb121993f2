"""Smoke tests of the CVAE-GAN and pix2pix families: tiny configs on tiny fake data, trained for a
few steps through the shared loop, published into a temporary gallery and loaded back through
gan_models (swap_identity, translate); plus the loss terms and the ablation switches."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from training.loop import build, train, unwrap
from training.recipes import RECIPES

K = 3  # identities in the fake face set
TINY_CVAE = dict(image_size=32, z_dim=8, embed_dim=4, g_width=8, d_width=4, e_width=4, c_width=4, c_feature_dim=16)
TINY_P2P = dict(g_width=4, d_width=4, batch_size=2)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks run fastest on one thread (and much faster on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """faces/<3 identities>/<5 PNGs> (4 train + 1 held out each) and facades/train/<3 side-by-side JPEGs>."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for c in range(K):
        folder = root / "faces" / f"person_{c}"
        folder.mkdir(parents=True)
        for i in range(5):
            base = np.zeros((40, 40, 3), np.uint8)
            base[..., c] = 200  # each identity has its own colour
            base[10:30, 10 + i : 30 + i] = 255  # and a white square that moves
            noise = rng.integers(0, 30, base.shape, dtype=np.uint8)
            Image.fromarray(base + noise).save(folder / f"{i:02d}.png")
    (root / "facades" / "train").mkdir(parents=True)
    for i in range(3):
        pair = rng.integers(0, 255, (256, 512, 3), dtype=np.uint8)
        Image.fromarray(pair).save(root / "facades" / "train" / f"{i + 1}.jpg")
    return root


@pytest.fixture
def gallery(tmp_path, monkeypatch):
    """An empty gallery root that gan_models and training.publish both use."""
    root = tmp_path / "gallery"
    root.mkdir()
    (root / "weights_manifest.json").write_text(json.dumps({"schema_version": 1, "models": []}))
    monkeypatch.setenv("GAN_GALLERY_ROOT", str(root))
    monkeypatch.delenv("GAN_GALLERY_MANIFEST", raising=False)
    return root


def _config(recipe_id: str, tmp_path, **overrides):
    recipe = RECIPES[recipe_id]
    settings = {**recipe.settings, "model_id": recipe_id, "run_dir": str(tmp_path / "run"), "device": "cpu"}
    settings.update(steps=2, batch_size=4, log_every=1, sample_every=2, ema_beta=0.9)
    settings.update(overrides)
    return recipe.family, recipe.family.config_class(**settings)


def _train_publish_load(recipe_id, tmp_path, **overrides):
    from gan_models import load_model
    from training.publish import publish_run

    family, cfg = _config(recipe_id, tmp_path, **overrides)
    run = train(family, cfg, command="pytest")
    assert (run / "samples" / "0000002.png").exists()
    entry = publish_run(run)
    return entry, load_model(recipe_id, "cpu")


@pytest.mark.parametrize("recipe_id", ["celeb24-cvaegan", "celeb24-cvae"])
def test_cvaegan_trains_publishes_and_swaps(recipe_id, data_root, gallery, tmp_path):
    from gan_models import ops

    entry, model = _train_publish_load(recipe_id, tmp_path, dataset=str(data_root / "faces"), **TINY_CVAE)
    assert entry["task"] == model.entry.task == "cvae-gan"
    assert set(model.networks) == {"generator", "encoder"}
    assert list(model.entry.class_names) == [f"person_{c}" for c in range(K)]
    assert (model.entry.resolution, model.entry.channels) == (32, 3)
    face = np.array(Image.open(data_root / "faces" / "person_1" / "04.png").resize((32, 32)))
    swapped = ops.swap_identity(model, face, 1)
    assert swapped.shape == (K, 32, 32, 3) and swapped.dtype == np.uint8
    assert ops.sample(model, 2, seed=0, label=2).shape == (2, 32, 32, 3)


def test_cgan_ablation_publishes_a_class_conditional_sampler(data_root, gallery, tmp_path):
    from gan_models import ops

    entry, model = _train_publish_load("celeb24-cgan", tmp_path, dataset=str(data_root / "faces"), **TINY_CVAE)
    assert entry["task"] == "sample" and set(model.networks) == {"generator"}
    a, b = ops.sample(model, 2, seed=3, label=0), ops.sample(model, 2, seed=3, label=0)
    assert a.shape == (2, 32, 32, 3) and np.array_equal(a, b)


@pytest.mark.parametrize(
    ("recipe_id", "in_ch", "half"),
    [("facades-pix2pix", 3, True), ("celeb24-unet-l1-edges", 1, False)],
)
def test_pix2pix_trains_publishes_and_translates(recipe_id, in_ch, half, data_root, gallery, tmp_path):
    from gan_models import ops

    data = dict(dataset=str(data_root / "faces")) if in_ch == 1 else dict(data_root=str(data_root))
    entry, model = _train_publish_load(recipe_id, tmp_path, image_size=32, half_weights=half, **data, **TINY_P2P)
    assert entry["task"] == "pix2pix" and set(model.networks) == {"generator"}
    assert model.entry.channels == 3 and model.generator.down[0][0].in_channels == in_ch
    weights = gallery / "weights" / recipe_id / "generator" / "model.safetensors"
    with safe_open(str(weights), "pt") as f:
        dtype = f.get_tensor(next(iter(f.keys()))).dtype
    assert dtype == (torch.float16 if half else torch.float32)
    assert entry["training"]["precision"] == ("float16 weights" if half else "float32 weights")
    condition = np.zeros((32, 32, in_ch), np.uint8)
    condition[8:24, 8:24] = 255
    draws = ops.translate(model, condition, dropout=True, draws=2, seed=1)
    assert draws.shape == (2, 32, 32, 3)
    assert np.array_equal(draws, ops.translate(model, condition, dropout=True, draws=2, seed=1))
    assert ops.translate(model, condition).shape == (1, 32, 32, 3)


@pytest.mark.parametrize("recipe_id", ["facades-pix2pix", "facades-unet-l1"])
def test_facades_recipes_publish_the_trained_generator_not_an_average(recipe_id, data_root, gallery, tmp_path):
    """The paper's pix2pix has no weight average (an EMA measurably blurred ours): the run keeps
    no EMA copy and the published generator is the trained one, weight for weight."""
    from training import checkpoint
    from training.publish import publish_run

    assert RECIPES[recipe_id].settings["ema_beta"] == 0.0
    family, cfg = _config(recipe_id, tmp_path, data_root=str(data_root), image_size=32, **TINY_P2P)
    cfg.ema_beta = RECIPES[recipe_id].settings["ema_beta"]
    run = train(family, cfg, command="pytest")
    state = checkpoint.load_state(run / "state")
    assert state["ema"] == {}
    publish_run(run)
    weights = gallery / "weights" / recipe_id / "generator" / "model.safetensors"
    with safe_open(str(weights), "pt") as f:
        published = {k: f.get_tensor(k) for k in f.keys()}
    trained = state["nets"]["generator"]
    assert set(published) == set(trained)
    for k, v in trained.items():
        assert torch.equal(published[k], v.to(published[k].dtype)), k


def test_cvaegan_loss_terms_are_finite_and_fall(data_root, tmp_path):
    """Every term of CVAE-GAN is present and finite; on one repeated batch the classifier's
    cross-entropy and the reconstruction error fall."""
    faces = str(data_root / "faces")
    family, cfg = _config("celeb24-cvaegan", tmp_path, dataset=faces, lr=1e-3, batch_size=8, **TINY_CVAE)
    torch.manual_seed(0)
    fam = build(family, cfg)
    batch = next(fam.sampler())
    history = [fam.train_step(batch, step) for step in range(12)]
    terms = {"c", "c_acc", "d", "gd", "gc", "kl", "rec", "rec_d", "rec_c", "g"}
    for out in history:
        assert set(out) == terms
        assert all(math.isfinite(float(v)) for v in out.values())
    for term in ("c", "rec"):
        assert float(history[-1][term]) < float(history[0][term]), term


@pytest.mark.parametrize(
    ("recipe_id", "roles", "terms"),
    [
        ("celeb24-cvae", {"generator", "encoder"}, {"kl", "rec", "g"}),
        ("celeb24-cgan", {"generator", "discriminator"}, {"d", "adv", "g"}),
        ("celeb24-cvaegan", {"generator", "encoder", "discriminator", "classifier"}, None),
    ],
)
def test_cvaegan_switches_remove_networks(recipe_id, roles, terms, data_root, tmp_path):
    family, cfg = _config(recipe_id, tmp_path, dataset=str(data_root / "faces"), **TINY_CVAE)
    fam = build(family, cfg)
    assert set(fam.nets) == set(fam.opts) == roles
    assert set(fam.inference_networks()) == {"generator", "encoder"} & roles
    out = fam.train_step(next(fam.sampler()), 0)
    if terms is not None:
        assert set(out) == terms
    if "discriminator" in roles:  # the CGAN ablation's D is class-conditional (projection), CVAE-GAN's is not
        conditional = unwrap(fam.nets["discriminator"]).embed is not None
        assert conditional == (recipe_id == "celeb24-cgan")


def test_cvaegan_needs_a_way_to_train_the_generator(data_root, tmp_path):
    family, cfg = _config("celeb24-cvae", tmp_path, dataset=str(data_root / "faces"), encoder=False, **TINY_CVAE)
    with pytest.raises(ValueError, match="encoder"):
        build(family, cfg)


def test_pix2pix_l1_ablation_has_no_discriminator(data_root, tmp_path):
    family, cfg = _config("facades-unet-l1", tmp_path, data_root=str(data_root), image_size=32, **TINY_P2P)
    fam = build(family, cfg)
    assert set(fam.nets) == set(fam.opts) == {"generator"}
    assert set(fam.train_step(next(fam.sampler()), 0)) == {"l1"}
    family, cfg = _config("facades-pix2pix", tmp_path, data_root=str(data_root), image_size=32, **TINY_P2P)
    fam = build(family, cfg)
    assert set(fam.nets) == {"generator", "discriminator"}
    out = fam.train_step(next(fam.sampler()), 0)
    assert set(out) == {"d", "g_gan", "l1"} and all(math.isfinite(float(v)) for v in out.values())


@pytest.mark.parametrize("recipe_id", ["facades-pix2pix", "celeb24-cvaegan"])
def test_loop_holds_then_decays_every_optimisers_rate_across_a_resume(recipe_id, data_root, tmp_path):
    """The loop's schedule: constant through lr_decay_from, then linear to lr_final x the start at the
    last step, for each optimiser; a resumed run decays from the configured rate, not the saved one."""
    data = dict(dataset=str(data_root / "faces"), **TINY_CVAE) if "cvae" in recipe_id else dict(image_size=32)
    data.update(TINY_P2P if "pix2pix" in recipe_id else {})
    seen: dict[int, dict[str, float]] = {}
    family, cfg = _config(recipe_id, tmp_path, data_root=str(data_root), lr=1e-3, lr_final=0.0, **data)

    class Recording(family):
        def train_step(self, batch, step):
            seen[step] = {role: opt.param_groups[0]["lr"] for role, opt in self.opts.items()}
            return super().train_step(batch, step)

    train(Recording, dataclasses.replace(cfg, steps=10, lr_decay_from=0.5, checkpoint_every=0))
    assert len(seen[0]) >= 2  # every optimiser, not only the generator's
    for role in seen[0]:
        assert seen[0][role] == seen[5][role] == 1e-3  # constant through step int(0.5 x 10)
        assert seen[7][role] == pytest.approx(1e-3 * 0.5)  # halfway from step 5 to the last step
        assert seen[9][role] == 0.0
    # raise the run to 12 steps, decaying from step 10: the saved optimisers hold rate 0 from step 9
    train(Recording, dataclasses.replace(cfg, steps=12, lr_decay_from=10 / 12, checkpoint_every=0))
    assert all(lr == 1e-3 for lr in seen[10].values()) and all(lr == 0.0 for lr in seen[11].values())


def test_classifier_refuses_the_loops_decay(tmp_path):
    family, cfg = _config("digits-classifier", tmp_path, lr_final=0.1)
    with pytest.raises(ValueError, match="cosine schedule"):
        build(family, cfg)


def test_pix2pix_augmentation_keeps_pairs_aligned(data_root, tmp_path):
    """Jitter and mirroring crop and flip condition and target identically."""
    family, cfg = _config("facades-pix2pix", tmp_path, data_root=str(data_root), image_size=32, **TINY_P2P)
    fam = build(family, cfg)
    x = torch.linspace(-1, 1, 32 * 32).reshape(1, 1, 32, 32).expand(4, 3, -1, -1).contiguous()
    torch.manual_seed(0)
    cond, target = fam._augment(x, x.clone())
    assert cond.shape == target.shape == (4, 3, 32, 32)
    assert torch.allclose(cond, target)
    assert not torch.allclose(cond, x)  # something moved


def test_edge_pairs_are_one_channel_binary(data_root, tmp_path):
    faces = str(data_root / "faces")
    family, cfg = _config("celeb24-pix2pix-edges", tmp_path, dataset=faces, image_size=32, **TINY_P2P)
    fam = build(family, cfg)
    assert fam.cond.shape == (4 * K, 1, 32, 32) and fam.target.shape == (4 * K, 3, 32, 32)
    assert set(fam.cond.unique().tolist()) <= {0, 255} and fam.cond.max() == 255
    assert fam.meta["channels"] == 3 and fam.meta["in_channels"] == 1


def test_cvaegan_resume_restores_class_centres(data_root, tmp_path):
    """The running class centres of C's features travel with the checkpoint."""
    from training import checkpoint

    family, cfg = _config("celeb24-cvaegan", tmp_path, dataset=str(data_root / "faces"), **TINY_CVAE)
    run = train(family, cfg, command="pytest")
    saved = checkpoint.load_state(run / "state")["extra"]
    assert bool(saved["centre_seen"].any()) and float(saved["centres"].abs().sum()) > 0
    fam = build(family, cfg)
    fam.load_extra_state(saved)
    assert torch.equal(fam.centres, saved["centres"]) and torch.equal(fam.centre_seen, saved["centre_seen"])
    cfg.steps = 3  # resumes from step 2
    train(family, cfg, command="pytest")
    assert json.loads((run / "run.json").read_text())["steps"] == 3
