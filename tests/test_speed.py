"""Speed features must not change results beyond a stated tolerance: the bf16 + channels_last
serving path against plain fp32, on the CPU here and on CUDA where there is one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gan_models
from gan_models.ops import generate, latents

# bf16 keeps 8 bits of mantissa: through a few layers the outputs stay within a few uint8 levels
MAX_LEVELS = 12  # largest per-pixel difference in uint8 levels (of 255)
MEAN_LEVELS = 1.5  # mean absolute difference


def _compare(model) -> tuple[int, float]:
    z = latents(model.generator.z_dim, 64, seed=3)
    labels = torch.arange(64) % model.entry.num_classes if model.entry.num_classes else None
    plain = generate(model, z, labels, fast=False).astype(int)
    fast = generate(model, z, labels, fast=True).astype(int)
    diff = np.abs(plain - fast)
    return int(diff.max()), float(diff.mean())


@pytest.mark.parametrize("model_id", ["tiny-digits", "tiny-colour", "tiny-cvaegan"])
def test_fast_path_matches_plain_on_cpu(use_gallery, model_id):
    model = gan_models.load_model(model_id, "cpu")
    worst, mean = _compare(model)
    assert worst <= MAX_LEVELS and mean <= MEAN_LEVELS, (worst, mean)


def test_fast_path_is_the_cuda_default_only(use_gallery):
    assert gan_models.load_model("tiny-digits", "cpu").fast is False


def test_fast_path_really_changes_the_arithmetic(use_gallery):
    """The comparison above could pass vacuously if autocast did nothing: it must not."""
    model = gan_models.load_model("tiny-colour", "cpu")
    z = latents(model.generator.z_dim, 8, seed=1)
    with torch.inference_mode():
        plain = model.generator(z)
        with gan_models.ops.fast_path(model, True):
            fast = model.generator(z)
    assert fast.dtype == torch.bfloat16 and not torch.equal(plain, fast.float())


def test_training_amp_is_a_no_op_on_cpu():
    from training.loop import Context, TrainConfig

    ctx = Context(TrainConfig(device="cpu", amp=True))
    with ctx.autocast():
        assert not torch.is_autocast_enabled("cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: no GPU on this machine")
def test_fast_path_matches_plain_on_cuda(use_gallery):
    model = gan_models.load_model("tiny-colour", "cuda")
    assert model.fast
    worst, mean = _compare(model)
    assert worst <= MAX_LEVELS and mean <= MEAN_LEVELS, (worst, mean)
