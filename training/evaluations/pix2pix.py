"""pix2pix: L1, PSNR, SSIM and sharpness on held-out pairs, dropout off."""

from __future__ import annotations

import torch

from gan_models.images import to_uint8
from gan_models.manifest import ModelEntry
from gan_models.store import LoadedModel
from training import metrics as M
from training.data import edge_pairs, image_folder, pix2pix_pairs, to_float
from training.evaluations.common import (
    Context,
    EvaluationError,
    dataset_key,
)

PIX2PIX_BATCH = 16


def _heldout_pairs(ctx: Context, entry: ModelEntry) -> tuple[torch.Tensor, torch.Tensor, str]:
    key, size = dataset_key(entry), entry.resolution
    if key == "facades":
        cond, target = pix2pix_pairs("facades", "val", size, "BtoA", ctx.data_root)
        return cond, target, f"facades val split, {len(cond)} pairs, label map -> photo (BtoA), {size} px"
    if key == "faces-celeb24":
        photos = image_folder("faces-celeb24", size, 3, "test", ctx.data_root).images
        cond, target = edge_pairs(photos)
        what = f"faces-celeb24 held-out faces, {len(cond)} pairs, Canny(100, 200) edges -> face, {size} px"
        return cond, target, what
    raise EvaluationError(f"{entry.id}: no held-out pairs for data set {entry.dataset.get('name')!r}")


@torch.inference_mode()
def eval_pix2pix(ctx: Context, model: LoadedModel, n: int | None, seed: int):
    cond, target, what = _heldout_pairs(ctx, model.entry)
    if n is not None:
        cond, target = cond[:n], target[:n]
    g = model.generator
    outputs = []
    for s in range(0, len(cond), PIX2PIX_BATCH):
        y = g(to_float(cond[s : s + PIX2PIX_BATCH], model.device), dropout=False)
        outputs.append(torch.from_numpy(to_uint8(y)).permute(0, 3, 1, 2))
    out, tgt = to_float(torch.cat(outputs)), to_float(target)
    psnr, ssim = M.psnr_ssim(out, tgt)
    values = {"l1": M.mean_l1(out, tgt), "psnr": psnr, "ssim": ssim, "sharpness_ratio": M.sharpness_ratio(out, tgt)}
    details = {
        "data": what,
        "dropout": "off (deterministic: one output per input)",
        "psnr_ssim": "mean per image on [0, 1]; SSIM Gaussian window 11, sigma 1.5",
        "sharpness": "mean squared Laplacian of outputs / of the ground-truth targets",
    }
    return values, {}, details, None, len(out)
