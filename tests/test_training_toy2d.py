"""The toy2d family (2D ring / grid GANs) and the app's live run built on it."""

from __future__ import annotations

import math

import pytest
import torch

from gan_models.mixtures import MIXTURES
from training import losses
from training.families.toy2d import Toy2DConfig, Toy2DFamily, mixture_spec
from training.loop import build
from training.toy2d_live import MAX_STEPS, live_config, live_run

TINY = dict(g_hidden=16, g_depth=2, d_hidden=16, d_depth=2, batch_size=8, device="cpu", eval_samples=100)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small networks: one thread is fastest, and far faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _family(**settings) -> Toy2DFamily:
    torch.manual_seed(0)
    return build(Toy2DFamily, Toy2DConfig(**{**TINY, **settings}))


def _steps(family: Toy2DFamily, n: int) -> list[dict]:
    batches = family.sampler()
    out = []
    for step in range(n):
        out.append(family.train_step(next(batches), step))
        family.after_step(step + 1)
    return out


def test_mixtures_and_their_settings():
    centres, sigma = mixture_spec(Toy2DConfig(mixture="ring"))
    assert torch.equal(centres, MIXTURES["ring"][0]) and sigma == 0.01
    centres, sigma = mixture_spec(Toy2DConfig(mixture="grid"))
    assert torch.equal(centres, MIXTURES["grid"][0]) and sigma == 0.05
    centres, sigma = mixture_spec(Toy2DConfig(mixture="ring", radius=2.0, sigma=0.1))
    assert centres.norm(dim=1).allclose(torch.full((8,), 2.0)) and sigma == 0.1
    with pytest.raises(ValueError):
        mixture_spec(Toy2DConfig(mixture="spiral"))


def test_real_points_come_fresh_from_the_seeded_sampler():
    family = _family(mixture="grid", pack=3)
    batches = family.sampler()
    a, b = next(batches), next(batches)
    assert a.shape == (8 * 3, 2) and not torch.equal(a, b)  # packing draws batch x pack points
    state = batches.state_dict()
    c = next(batches)
    batches.load_state_dict(state)
    assert torch.equal(next(batches), c)
    d = torch.cdist(a, MIXTURES["grid"][0]).min(dim=1).values
    assert (d < 0.05 * 6).all()


@pytest.mark.parametrize(
    "settings",
    [
        dict(loss="ns"),
        dict(loss="minimax", spectral_norm=True),
        dict(loss="lsgan", pack=2),
        dict(loss="wgan", optimizer="rmsprop", clip=0.01, n_critic=3),
        dict(loss="wgan-gp", gp_weight=10.0, n_critic=2, pack=4),
        dict(loss="hinge", r1_weight=1.0, lr_final=0.1),
    ],
)
def test_every_loss_trains(settings):
    family = _family(**settings)
    before = [p.detach().clone() for p in family.nets["generator"].parameters()]
    out = _steps(family, 3)
    assert all(torch.isfinite(o["d"]) and torch.isfinite(o["g"]) for o in out)
    after = list(family.nets["generator"].parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    if settings.get("clip"):
        assert max(p.abs().max().item() for p in family.nets["discriminator"].parameters()) <= 0.01 + 1e-9


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError):
        _family(loss="nope")


def test_packing_judges_points_jointly():
    family = _family(pack=4)
    d = family.nets["discriminator"]
    assert d.net[0].in_features == 8
    assert d(torch.randn(12, 2)).shape == (3,)


def test_gradient_penalty_is_taken_on_whole_packs(monkeypatch):
    seen = []
    original = losses.gradient_penalty

    def spy(critic, real, fake, *args, **kw):
        seen.append(real.shape)
        return original(critic, real, fake, *args, **kw)

    monkeypatch.setattr(losses, "gradient_penalty", spy)
    _steps(_family(loss="wgan-gp", gp_weight=1.0, pack=2), 1)
    assert seen == [torch.Size([8, 4])]  # 8 packs of 2 points: one interpolate per pack


def test_trajectory_format_and_extras(tmp_path):
    family = _family(mixture="grid", snapshot_every=2, steps=5, snapshot_points=32, critic_grid=8)
    _steps(family, 5)
    t = family.trajectory_tensors()
    assert t["steps"].tolist() == [0, 2, 4, 5] and t["steps"].dtype == torch.int64
    assert t["points"].shape == (4, 32, 2) and t["points"].dtype == torch.float32
    assert t["critic"].shape == (4, 8, 8) and t["critic"].dtype == torch.float32
    assert t["extent"].tolist() == [-6.0, 6.0, -6.0, 6.0]
    assert t["modes"].dtype == torch.int64 and t["high_quality"].dtype == torch.float32
    assert ((t["modes"] >= 0) & (t["modes"] <= 25)).all()
    # the last snapshot is the generator as it is now, from the fixed latents
    assert torch.equal(t["points"][-1], family.generate(32))
    assert family.coverage()["modes"] == t["modes"][-1].item()
    paths, extras = family.publish_extras(tmp_path)
    assert extras == {"mixture": "grid"} and [p.name for p in paths] == ["trajectory.safetensors"]
    from safetensors.torch import load_file

    loaded = load_file(str(paths[0]))
    assert set(loaded) == {"steps", "points", "critic", "extent", "modes", "high_quality"}
    assert torch.equal(loaded["critic"], t["critic"])


def test_critic_map_rows_are_y_and_columns_are_x():
    family = _family(critic_grid=5)
    d = family.nets["discriminator"]
    with torch.no_grad():  # make D(x, y) = y exactly: last layer reads one hidden unit fed by y
        for p in d.parameters():
            p.zero_()
        d.net[0].weight[0, 1] = 1.0
        d.net[0].bias[0] = 10.0  # keep the LeakyReLU in its linear part
        d.net[2].weight[0, 0] = 1.0
        d.net[4].weight[0, 0] = 1.0
    scores = family.critic_map()
    xmin, xmax, ymin, ymax = family.extent.tolist()
    assert scores[:, 0].tolist() == pytest.approx((torch.linspace(ymin, ymax, 5) + 10).tolist())
    assert torch.allclose(scores, scores[:, :1].expand(5, 5))


def test_non_standard_mixture_is_recorded_in_extras(tmp_path):
    family = _family(mixture="ring", sigma=0.05, radius=2.0, snapshot_every=1)
    _steps(family, 1)
    _, extras = family.publish_extras(tmp_path)
    assert extras["mixture"] == "ring" and extras["sigma"] == 0.05 and len(extras["centres"]) == 8


# --- the live run --------------------------------------------------------------------------


def test_live_run_yields_bounded_frames_and_replays():
    frames = list(live_run("ring", "ns", pack=2, steps=30, lr=1e-3, seed=3, every=10))
    assert [f["step"] for f in frames] == [0, 10, 20, 30]
    for f in frames:
        assert f["points"].shape == (2500, 2) and f["points"].dtype == torch.float32
        assert 0 <= f["modes"] <= 8 and f["total_modes"] == 8 and 0.0 <= f["high_quality"] <= 1.0
    assert math.isnan(frames[0]["d_loss"]) and all(math.isfinite(f["g_loss"]) for f in frames[1:])
    again = list(live_run("ring", "ns", pack=2, steps=30, lr=1e-3, seed=3, every=10))
    assert all(torch.equal(a["points"], b["points"]) for a, b in zip(frames, again, strict=True))
    other = list(live_run("ring", "ns", pack=2, steps=30, lr=1e-3, seed=4, every=10))
    assert not torch.equal(frames[-1]["points"], other[-1]["points"])


def test_live_run_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    for _ in live_run("grid", "wgan-gp", pack=1, steps=3, lr=1e-3, seed=0, every=1):
        pass
    assert torch.equal(torch.rand(3), expected)


def test_live_run_reuses_the_family_step(monkeypatch):
    calls = []
    original = Toy2DFamily.train_step

    def counting(self, batch, step):
        calls.append(step)
        return original(self, batch, step)

    monkeypatch.setattr(Toy2DFamily, "train_step", counting)
    list(live_run("ring", "hinge", pack=1, steps=4, lr=1e-3, seed=0, every=2))
    assert calls == [0, 1, 2, 3]


@pytest.mark.parametrize("loss", [*losses.KINDS, "gan"])
def test_live_run_knows_every_loss(loss):
    frames = list(live_run("grid", loss, pack=1, steps=2, lr=1e-3, seed=0, every=2))
    assert frames[-1]["step"] == 2 and frames[-1]["total_modes"] == 25


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(steps=MAX_STEPS + 1),
        dict(steps=0),
        dict(pack=5),
        dict(pack=0),
        dict(pack=1.5),
        dict(lr=0.0),
        dict(lr=0.02),
        dict(lr=float("nan")),
        dict(loss="sigmoid"),
        dict(mixture="spiral"),
        dict(every=0),
    ],
)
def test_live_run_refuses_out_of_bounds(kwargs):
    args = dict(mixture="ring", loss="ns", pack=1, steps=10, lr=1e-3, seed=0, every=5) | kwargs
    with pytest.raises(ValueError):
        next(live_run(**args))


def test_live_config_accepts_slider_floats():
    cfg = live_config("ring", "gan", 2.0, 100.0, 0.01, 0)
    assert cfg.pack == 2 and cfg.steps == 100 and cfg.loss == "ns" and cfg.lr_g == 0.01
