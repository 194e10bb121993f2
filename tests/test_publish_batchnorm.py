"""Publishing recomputes the BatchNorm statistics of the EMA networks (training.publish.
recalibrate_batchnorm): the loop averages weights but copies the live networks' running statistics."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from gan_models.networks import Classifier, CVAEEncoder, DCGANGenerator, MLPGenerator
from training.data import ImageSet, to_float
from training.publish import recalibrate_batchnorm


def _images(n: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, channels, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )


def test_classifier_statistics_are_those_of_the_published_weights():
    torch.manual_seed(0)
    net = Classifier(16, 1, 3, 4, 1, 8).eval()
    bn = net.conv[1]
    bn.running_mean.fill_(5.0)  # statistics of some other weights
    bn.running_var.fill_(9.0)
    data = ImageSet(_images(250, 1, 16), torch.arange(250) % 3, ["a", "b", "c"])
    family = SimpleNamespace(ema={"classifier": net}, data=data)
    assert recalibrate_batchnorm(family, samples=200, batch=50) == ["classifier"]
    # the first BatchNorm sees the first convolution's output: its mean over the 200 images used
    idx = torch.randperm(250, generator=torch.Generator().manual_seed(0))[:200]
    with torch.no_grad():
        h = net.conv[0](to_float(data.images[idx]))
    assert torch.allclose(bn.running_mean, h.mean((0, 2, 3)), atol=1e-5)
    assert not net.training and bn.momentum == 0.1


def test_generator_and_encoder_are_recalibrated_and_networks_without_batchnorm_skipped():
    torch.manual_seed(0)
    g = DCGANGenerator(28, 1, 8, 4, num_classes=3, embed_dim=4).eval()
    e = CVAEEncoder(16, 3, 3, 4, 4).eval()
    toy = MLPGenerator(2, 8, 2).eval()
    before_g = g.net[1].running_var.clone()
    before_e = e.conv[1].running_mean.clone()
    data = ImageSet(_images(40, 3, 16), torch.arange(40) % 3, ["a", "b", "c"])
    family = SimpleNamespace(ema={"generator": g, "encoder": e, "toy": toy}, data=data)
    assert recalibrate_batchnorm(family, samples=64, batch=16) == ["generator", "encoder"]
    assert not torch.equal(g.net[1].running_var, before_g)
    assert not torch.equal(e.conv[1].running_mean, before_e)
    assert int(g.net[1].num_batches_tracked) == 4  # 64 latents in batches of 16


def test_without_ema_nothing_changes():
    assert recalibrate_batchnorm(SimpleNamespace(ema={}, data=None)) == []
