"""Every registered architecture on a tiny random configuration: shapes, ranges, determinism,
the PyTorchModelHubMixin round trip and golden output values; then the options of each family."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import parametrize

from gan_models.networks import (
    ARCHITECTURES,
    Classifier,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    UNetGenerator,
)

B = 4  # batch size of every test input

# Architecture -> the smallest configuration that still exercises its optional parts
# (conditioning, packing, spectral norm, several stages).
TINY = {
    "dcgan_generator": dict(image_size=28, channels=1, z_dim=8, base_width=4, num_classes=3, embed_dim=4),
    "dcgan_discriminator": dict(image_size=32, channels=3, base_width=4, num_classes=3),
    "mlp_generator": dict(z_dim=2, hidden=8, depth=2),
    "mlp_discriminator": dict(in_dim=2, hidden=8, depth=2, pack=2, spectral_norm=True),
    "cvae_encoder": dict(image_size=32, channels=3, num_classes=3, z_dim=6, base_width=4),
    "classifier": dict(image_size=28, channels=1, num_classes=5, base_width=4, blocks=2, feature_dim=8),
    "unet_generator": dict(image_size=16, in_channels=1, out_channels=3, base_width=4),
    "patch_discriminator": dict(in_channels=4, base_width=4, layers=3),
}

# Seed 0 for the weights, seed 1 for the inputs: the first values of the flattened output.
# Computed once with torch 2.14.1 on CPU; a change here means the architecture (or its
# initialisation) changed, which silently breaks every published checkpoint.
GOLDEN = {
    "dcgan_generator": [0.0529699, 0.0550395, 0.0531518, 0.055989, 0.0559903, 0.0663239],
    "dcgan_discriminator": [0.0125873, -0.0539429, 0.0383922, -0.0192523],
    "mlp_generator": [0.027724, 0.258039, -0.0646359, 0.230541, -0.127925, 0.214961],
    "mlp_discriminator": [-0.243397, -0.16655],
    "cvae_encoder": [0.00745335, -0.0452661, -0.0310441, -0.0211762, 0.0146852, 0.0307171],
    "classifier": [-0.196625, 0.238025, -0.0467936, 0.103567, -0.324094, -0.196044],
    "unet_generator": [0.0823416, -0.0196386, -0.00511131, 0.0192773, -0.0439197, -0.103323],
    "patch_discriminator": [0.565466, -0.106027, 0.618238, 0.113045, -0.0441652, 0.251797],
}


def build(arch: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return ARCHITECTURES[arch](**TINY[arch]).eval()


def inputs(arch: str, seed: int = 1) -> tuple:
    """Positional inputs of a forward pass, drawn from their own generator."""
    g = torch.Generator().manual_seed(seed)
    cfg = TINY[arch]
    labels = torch.randint(cfg.get("num_classes", 1), (B,), generator=g)
    if arch == "dcgan_generator":
        return torch.randn(B, cfg["z_dim"], generator=g), labels
    if arch in ("dcgan_discriminator", "cvae_encoder"):
        size = cfg["image_size"]
        return torch.rand(B, cfg["channels"], size, size, generator=g) * 2 - 1, labels
    if arch == "mlp_generator":
        return (torch.randn(B, cfg["z_dim"], generator=g),)
    if arch == "mlp_discriminator":
        return (torch.randn(B, cfg["in_dim"], generator=g),)
    if arch == "classifier":
        size = cfg["image_size"]
        return (torch.rand(B, cfg["channels"], size, size, generator=g) * 2 - 1,)
    if arch == "unet_generator":
        size = cfg["image_size"]
        return (torch.rand(B, cfg["in_channels"], size, size, generator=g) * 2 - 1,)
    if arch == "patch_discriminator":
        cond = torch.rand(B, 1, 32, 32, generator=g) * 2 - 1
        return cond, torch.rand(B, cfg["in_channels"] - 1, 32, 32, generator=g) * 2 - 1
    raise AssertionError(f"no inputs for {arch}: add it to TINY and inputs()")


def flat(out) -> torch.Tensor:
    """One flat tensor from a network output (the encoder returns (mu, logvar))."""
    return torch.cat([t.flatten() for t in out]) if isinstance(out, tuple) else out.flatten()


def expected_shape(arch: str) -> list[tuple[int, ...]]:
    cfg = TINY[arch]
    size = cfg.get("image_size")
    if arch == "dcgan_generator":
        return [(B, cfg["channels"], size, size)]
    if arch == "mlp_generator":
        return [(B, 2)]
    if arch == "mlp_discriminator":
        return [(B // cfg["pack"],)]
    if arch == "cvae_encoder":
        return [(B, cfg["z_dim"]), (B, cfg["z_dim"])]
    if arch == "classifier":
        return [(B, cfg["num_classes"])]
    if arch == "unet_generator":
        return [(B, cfg["out_channels"], size, size)]
    if arch == "patch_discriminator":
        return [(B, 1, 2, 2)]  # 32 px through three strided and two stride-1 convs
    return [(B,)]  # dcgan_discriminator: one score per sample


def test_tiny_configs_cover_every_architecture():
    assert set(TINY) == set(ARCHITECTURES)
    assert set(GOLDEN) == set(ARCHITECTURES)


@pytest.mark.parametrize("arch", sorted(TINY))
def test_shapes_range_and_determinism(arch):
    net = build(arch)
    x = inputs(arch)
    with torch.no_grad():
        out = net(*x)
        again = net(*x)
        other = build(arch)(*x)  # same weight seed -> same network
        different = build(arch, seed=5)(*x)
    outs = list(out) if isinstance(out, tuple) else [out]
    assert [tuple(o.shape) for o in outs] == expected_shape(arch)
    assert all(torch.isfinite(o).all() for o in outs)
    if arch in ("dcgan_generator", "unet_generator"):  # images: tanh output in [-1, 1]
        assert out.min() >= -1 and out.max() <= 1
        assert out.std() > 0  # not a constant image
    torch.testing.assert_close(flat(again), flat(out), rtol=0, atol=0)
    torch.testing.assert_close(flat(other), flat(out), rtol=0, atol=0)
    assert not torch.allclose(flat(different), flat(out))


@pytest.mark.parametrize("arch", sorted(TINY))
def test_save_pretrained_round_trip(arch, tmp_path):
    cls = ARCHITECTURES[arch]
    net = build(arch)
    net.save_pretrained(tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"config.json", "model.safetensors"} <= names  # (and a README.md model card)
    assert not any(n.endswith((".bin", ".pt", ".pth", ".pkl")) for n in names)  # no pickles
    loaded = cls.from_pretrained(tmp_path, strict=True).eval()
    assert type(loaded) is cls
    assert loaded.state_dict().keys() == net.state_dict().keys()
    x = inputs(arch)
    with torch.no_grad():
        torch.testing.assert_close(flat(loaded(*x)), flat(net(*x)), rtol=0, atol=0)


@pytest.mark.parametrize("arch", sorted(TINY))
def test_golden_values(arch):
    with torch.no_grad():
        values = flat(build(arch)(*inputs(arch)))[:6]
    torch.testing.assert_close(values, torch.tensor(GOLDEN[arch]), rtol=1e-4, atol=1e-5)


# --- DCGAN ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [0, 4])
def test_dcgan_sizes_channels_conditioning(size, channels, num_classes):
    torch.manual_seed(0)
    g = DCGANGenerator(size, channels, z_dim=8, base_width=4, num_classes=num_classes, embed_dim=3).eval()
    d = DCGANDiscriminator(size, channels, base_width=4, num_classes=num_classes).eval()
    z = torch.randn(3, 8)
    y = torch.tensor([0, 1, 2]) if num_classes else None
    with torch.no_grad():
        images = g(z, y)
        score, features = d(images, y, return_features=True)
    assert images.shape == (3, channels, size, size)
    assert images.abs().max() <= 1
    assert score.shape == (3,)
    assert features.shape == (3, d.feature_dim)
    if num_classes:
        with torch.no_grad():
            assert not torch.allclose(g(z, torch.tensor([3, 3, 3])), images)  # the label enters
            assert not torch.allclose(d(images, torch.tensor([3, 3, 3])), score)
        with pytest.raises(ValueError, match="class-conditional"):
            g(z)
        with pytest.raises(ValueError, match="class-conditional"):
            d(images)


@pytest.mark.parametrize("num_classes", [0, 4])
def test_dcgan_generator_depth_options(num_classes):
    # mlp_width and refine add layers; the plain layout (and so shipped checkpoints' keys) is unchanged
    torch.manual_seed(0)
    plain = DCGANGenerator(28, 1, z_dim=8, base_width=4, num_classes=num_classes, embed_dim=3)
    deep = DCGANGenerator(28, 1, z_dim=8, base_width=4, num_classes=num_classes, embed_dim=3, mlp_width=16, refine=1)
    assert plain.mlp is None and not any(k.startswith("mlp") for k in plain.state_dict())
    assert isinstance(plain.net[3], torch.nn.ConvTranspose2d)  # no refinement between the stages
    convs = [m for m in deep.net if isinstance(m, torch.nn.Conv2d) and not isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(convs) == 2  # one refinement at 7x7 and one at 14x14
    assert deep.mlp[0].in_features == 8 + (3 if num_classes else 0) and deep.net[0].in_channels == 16
    z = torch.randn(5, 8)
    y = torch.arange(5) % 4 if num_classes else None
    deep.train()
    out = deep(z, y)
    out.mean().backward()
    assert out.shape == (5, 1, 28, 28) and deep.mlp[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("size", [28, 64])
def test_dcgan_class_projection_does_not_swamp_the_realism_head(size):
    # With the projection's embedding at N(0, 1) over the flattened features, the class term was
    # 160-220x the head's spread at initialisation. The two terms must start comparable.
    torch.manual_seed(0)
    d = DCGANDiscriminator(size, 3, base_width=64, num_classes=10).eval()
    x, y = torch.rand(64, 3, size, size) * 2 - 1, torch.randint(10, (64,))
    with torch.no_grad():
        head = d.head(torch.nn.Sequential(*d.blocks)(x)).flatten()
        projection = d(x, y) - head
    assert projection.std() > 0  # the label still counts
    assert projection.std() < 10 * head.std()


def test_dcgan_128_and_unsupported_sizes():
    g = DCGANGenerator(128, 3, z_dim=4, base_width=2).eval()
    with torch.no_grad():
        assert g(torch.randn(1, 4)).shape == (1, 3, 128, 128)
    for bad in (16, 48, 100):
        with pytest.raises(ValueError, match="image_size"):
            DCGANGenerator(bad)
        with pytest.raises(ValueError, match="image_size"):
            DCGANDiscriminator(bad)


def test_dcgan_discriminator_without_batch_norm():
    with_bn = DCGANDiscriminator(32, 1, base_width=4)
    without = DCGANDiscriminator(32, 1, base_width=4, batch_norm=False)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in with_bn.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in without.modules())
    # Without batch norm each sample's score depends on that sample alone (what WGAN-GP needs),
    # even in training mode.
    x = torch.randn(4, 1, 32, 32)
    without.train()
    torch.testing.assert_close(without(x)[:2], without(x[:2]))


def test_dcgan_discriminator_spectral_norm():
    torch.manual_seed(0)
    d = DCGANDiscriminator(32, 3, base_width=4, num_classes=3, spectral_norm=True)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
    assert parametrize.is_parametrized(d.embed, "weight")
    d.train()
    x, y = torch.randn(8, 3, 32, 32), torch.randint(3, (8,))
    for _ in range(30):  # power iteration runs once per training forward
        d(x, y)
    d.eval()
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.05)
    plain = DCGANDiscriminator(32, 3, base_width=4)
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())


def test_dcgan_discriminator_pack():
    torch.manual_seed(0)
    d = DCGANDiscriminator(28, 1, base_width=4, pack=2).eval()
    assert d.blocks[0][0].in_channels == 2  # two grey samples stacked on channels
    x = torch.randn(6, 1, 28, 28)
    with torch.no_grad():
        out = d(x)
        assert out.shape == (3,)
        # the packed batch is judged exactly as its samples stacked by hand
        manual = x.reshape(3, 2, 28, 28)
        torch.testing.assert_close(d.head(torch.nn.Sequential(*d.blocks)(manual)).flatten(), out)
        # swapping the two members of one pack changes its score: they are judged jointly
        swapped = x.clone()
        swapped[[0, 1]] = x[[1, 0]]
        assert not torch.isclose(d(swapped)[0], out[0])
    packed_conditional = DCGANDiscriminator(28, 1, base_width=4, pack=2, num_classes=3)
    with pytest.raises(ValueError, match="packing"):
        packed_conditional(x, torch.zeros(6, dtype=torch.long))


# --- MLP (toy 2D) --------------------------------------------------------------------------


def test_mlp_discriminator_pack_and_spectral_norm():
    torch.manual_seed(0)
    d = MLPDiscriminator(hidden=8, depth=2, pack=4, spectral_norm=True).eval()
    linears = [m for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert linears[0].in_features == 8 and all(parametrize.is_parametrized(m, "weight") for m in linears)
    with torch.no_grad():
        assert d(torch.randn(12, 2)).shape == (3,)
    g = MLPGenerator(z_dim=3, hidden=8, depth=0)  # depth 0: a single linear map
    assert g(torch.randn(5, 3)).shape == (5, 2)


# --- U-Net (pix2pix) -----------------------------------------------------------------------


def _unet() -> tuple[UNetGenerator, torch.Tensor]:
    torch.manual_seed(0)
    g = UNetGenerator(image_size=16, in_channels=1, out_channels=3, base_width=4).eval()
    return g, torch.rand(2, 1, 16, 16) * 2 - 1


def test_unet_dropout_at_inference_is_seeded():
    g, x = _unet()
    with torch.no_grad():
        a = g(x, dropout=True, generator=torch.Generator().manual_seed(1))
        a2 = g(x, dropout=True, generator=torch.Generator().manual_seed(1))
        b = g(x, dropout=True, generator=torch.Generator().manual_seed(2))
        off = g(x)
    torch.testing.assert_close(a, a2, rtol=0, atol=0)  # same seed: same draw
    assert (a - b).abs().max() > 1e-3  # another seed: another draw
    assert (a - off).abs().max() > 1e-3  # dropout really acts
    assert a.abs().max() <= 1


def test_unet_without_dropout_is_deterministic():
    g, x = _unet()
    with torch.no_grad():
        ref = g(x)
        for seed in (1, 2):
            torch.testing.assert_close(g(x, dropout=False, generator=torch.Generator().manual_seed(seed)), ref)
        torch.testing.assert_close(g(x, dropout=None), ref)  # eval mode: dropout follows the mode (off)
    no_dropout = UNetGenerator(image_size=16, in_channels=1, out_channels=3, base_width=4, dropout=0.0).eval()
    with torch.no_grad():
        torch.testing.assert_close(no_dropout(x, dropout=True), no_dropout(x, dropout=False))


def test_unet_sizes():
    for size in (8, 32):
        g = UNetGenerator(image_size=size, in_channels=3, out_channels=1, base_width=2).eval()
        x = torch.rand(1, 3, size, size) * 2 - 1
        with torch.no_grad():
            assert g(x).shape == (1, 1, size, size)
            # dropout never acts on the tanh output layer, even when the U-Net is shallow
            assert g(x, dropout=True, generator=torch.Generator().manual_seed(0)).abs().max() <= 1
    for bad in (4, 24, 100):
        with pytest.raises(ValueError, match="power of two"):
            UNetGenerator(image_size=bad)


def test_classifier_stem_halves_the_input_and_round_trips(tmp_path):
    torch.manual_seed(0)
    plain = Classifier(image_size=64, channels=3, num_classes=5, base_width=4, blocks=2, feature_dim=8).eval()
    stem = Classifier(
        image_size=64, channels=3, num_classes=5, base_width=4, blocks=2, feature_dim=8, stem_stride=2
    ).eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert plain.conv(x).shape == (2, 8, 16, 16)
        assert stem.conv(x).shape == (2, 8, 8, 8)  # the strided stem, then the same two blocks
        assert stem(x).shape == (2, 5)
    assert stem.conv[0].in_channels == 3  # the evaluation code reads the input channels here
    stem.save_pretrained(tmp_path)
    again = Classifier.from_pretrained(tmp_path).eval()
    assert len(again.conv) == len(stem.conv)
    with torch.no_grad():
        torch.testing.assert_close(again(x), stem(x))


def test_classifier_flip_average_makes_eval_outputs_mirror_invariant(tmp_path):
    torch.manual_seed(0)
    net = Classifier(image_size=32, channels=3, num_classes=4, base_width=4, blocks=2, feature_dim=8, flip_average=True)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    net.eval()
    with torch.no_grad():
        logits, feats = net(x, return_features=True)
        torch.testing.assert_close(net(x.flip(-1)), logits)  # a face and its mirror get the same answer
        torch.testing.assert_close(net.features(x.flip(-1)), feats)
        # the mean of the two views' features, not of either view alone
        one_view = net.embed(net.conv(x))
        both = (one_view + net.embed(net.conv(x.flip(-1)))) / 2
        torch.testing.assert_close(feats, both)
        assert not torch.allclose(feats, one_view)
    net.train()  # training sees single views: the augmentation flips them already
    with torch.no_grad():
        assert not torch.allclose(net.features(x), net.features(x.flip(-1)))
    net.save_pretrained(tmp_path)
    assert Classifier.from_pretrained(tmp_path).flip_average is True
