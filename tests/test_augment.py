"""DiffAugment: each operation does what it says, keeps gradients, and is reproducible."""

import pytest
import torch

from training import augment


def _images(n=8, c=3, size=16, seed=0):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_translation_moves_whole_images_by_whole_pixels_with_zeros_entering():
    x = _images(size=16) + 3  # no pixel is 0, so entering zeros are visible
    torch.manual_seed(0)
    out = augment.diff_augment(x, "translation")
    for img, moved in zip(x, out, strict=True):
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(
                moved[:, max(dy, 0) : 16 + min(dy, 0), max(dx, 0) : 16 + min(dx, 0)],
                img[:, max(-dy, 0) : 16 + min(-dy, 0), max(-dx, 0) : 16 + min(-dx, 0)],
            )
        ]
        assert len(matches) == 1, "each image is its original shifted by one whole-pixel offset within 1/8"
        dy, dx = matches[0]
        assert (moved == 0).sum() == 3 * (16 * 16 - (16 - abs(dy)) * (16 - abs(dx)))
    assert any(not torch.equal(a, b) for a, b in zip(x, out, strict=True))


def test_cutout_erases_one_square_of_at_most_a_quarter_per_image():
    x = _images(n=64, size=16) + 3
    torch.manual_seed(1)
    out = augment.diff_augment(x, "cutout")
    erased = out[:, 0] == 0
    assert torch.equal(erased.unsqueeze(1).expand_as(out), out == 0), "all channels erased together"
    areas = erased.flatten(1).sum(1)
    assert (areas > 0).all() and (areas <= 64).all() and (areas == 64).any()
    for mask in erased:  # a rectangle: its bounding box is all erased
        rows, cols = mask.any(1).nonzero().squeeze(1), mask.any(0).nonzero().squeeze(1)
        assert mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()
    kept = ~erased.unsqueeze(1).expand_as(out)
    assert torch.equal(out[kept], x[kept])


def test_color_changes_each_image_by_its_own_brightness_saturation_and_contrast():
    x = _images(n=16)
    torch.manual_seed(2)
    out = augment.diff_augment(x, "color")
    assert out.shape == x.shape
    shifts = (out - x).mean(dim=(1, 2, 3))
    assert shifts.std() > 0.05, "each image gets its own random change"
    grey = _images(n=4, c=1)
    assert augment.diff_augment(grey, "color").shape == grey.shape  # no saturation on one channel


def test_the_generator_gradient_passes_through_every_operation():
    x = _images().requires_grad_()
    augment.diff_augment(x, "color,translation,cutout").square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_same_seed_same_augmentation_and_empty_policy_is_identity():
    x = _images()
    torch.manual_seed(3)
    a = augment.diff_augment(x, "color,translation,cutout")
    torch.manual_seed(3)
    b = augment.diff_augment(x, "color,translation,cutout")
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert augment.diff_augment(x, "") is x


def test_an_unknown_operation_is_refused_by_name():
    with pytest.raises(ValueError, match="rotation"):
        augment.parse_policy("color,rotation")
