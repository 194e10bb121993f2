"""Training throughput: the DCGAN 64 px recipe on faces-celeb24 and pix2pix 256 px on facades,
with every speed feature on (data resident on the device, bf16 autocast, channels_last, fused
optimisers, torch.compile on CUDA; ``cpu_fast`` bf16 autocast and channels_last on the CPU) against
all of them off (eager fp32, each batch read and decoded from disk), and between them the resident
data alone, side by side in one run, at the recipe's batch size and a small one.

    python bench/training.py [--steps 20] [--device cuda] [--only dcgan|pix2pix]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import sync, table, write  # noqa: E402
from training import data  # noqa: E402
from training.loop import build  # noqa: E402
from training.recipes import RECIPES  # noqa: E402


class DiskSampler:
    """The slow baseline: every batch opened and decoded from the image files."""

    def __init__(self, files: list[Path], size: int, batch: int, pairs: bool, device):
        self.files, self.size, self.batch, self.pairs, self.device = files, size, batch, pairs, device
        self.rng = np.random.default_rng(0)

    def _load(self, path: Path):
        with Image.open(path) as img:
            img = img.convert("RGB")
            if not self.pairs:
                return np.asarray(img.resize((self.size, self.size), Image.BICUBIC)).transpose(2, 0, 1), 0
            w, h = img.size
            photo, label = (img.crop(box).resize((self.size, self.size), Image.BICUBIC) for box in
                            ((0, 0, w // 2, h), (w // 2, 0, w, h)))  # fmt: skip
            return np.asarray(label).transpose(2, 0, 1), np.asarray(photo).transpose(2, 0, 1)

    def __next__(self):
        items = [self._load(self.files[i]) for i in self.rng.integers(len(self.files), size=self.batch)]
        a = torch.from_numpy(np.stack([x for x, _ in items])).to(self.device)
        if self.pairs:
            return a, torch.from_numpy(np.stack([y for _, y in items])).to(self.device)
        return a, torch.zeros(self.batch, dtype=torch.long, device=self.device)


def measure(recipe_id: str, batch: int, mode: str, steps: int, device: str) -> float:
    """``mode``: plain (disk, fp32), resident (data in memory, fp32) or fast (every feature)."""
    fast = mode == "fast"
    recipe = RECIPES[recipe_id]
    cfg = recipe.family.config_class(model_id=recipe_id, **recipe.settings)
    cfg = dataclasses.replace(
        cfg, batch_size=batch, device=device, amp=fast, channels_last=fast, compile=fast and device == "cuda",
        cpu_fast=fast and device == "cpu", run_dir="/tmp/bench-run", sample_every=0, ema_beta=cfg.ema_beta,
    )  # fmt: skip
    family = build(recipe.family, cfg)
    sampler = family.sampler()
    if mode == "plain":  # slow path: fp32, no fused optimisers, data from disk
        for opt in family.opts.values():
            for group in opt.param_groups:
                group["fused"] = False
        root = data.data_root(cfg.data_root)
        if recipe_id.startswith("facades"):
            sampler = DiskSampler(sorted((root / "facades" / "train").glob("*.jpg")), cfg.image_size, batch, True,
                                  family.ctx.device)  # fmt: skip
        else:
            sampler = DiskSampler(sorted((root / cfg.dataset).glob("*/*.jpg")), cfg.image_size, batch, False,
                                  family.ctx.device)  # fmt: skip
    for step in range(3):  # warm-up (and compilation)
        family.train_step(next(sampler), step)
    sync(family.ctx.device)
    start = time.perf_counter()
    for step in range(steps):
        family.train_step(next(sampler), step)
    sync(family.ctx.device)
    return batch * steps / (time.perf_counter() - start)


MODES = ("plain", "resident", "fast")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", choices=["dcgan", "pix2pix"])
    parser.add_argument("--small", action="store_true", help="CPU-sized batches (recipe batch / 8)")
    parser.add_argument("--out", default="bench/results/training.json")
    args = parser.parse_args(argv)
    cases = []
    if args.only in (None, "dcgan"):
        b = RECIPES["celeb24-dcgan"].settings["batch_size"]
        cases += [("celeb24-dcgan", b // 8 if args.small else b), ("celeb24-dcgan", 64)]
    if args.only in (None, "pix2pix"):
        cases += [("facades-pix2pix", RECIPES["facades-pix2pix"].settings.get("batch_size", 1)), ("facades-pix2pix", 1)]
    rows = []
    for recipe_id, batch in dict.fromkeys(cases):
        plain, resident, fast = (measure(recipe_id, batch, m, args.steps, args.device) for m in MODES)
        rows.append({"recipe": recipe_id, "batch": batch, "plain_img_s": round(plain, 1),
                     "resident_img_s": round(resident, 1), "fast_img_s": round(fast, 1),
                     "speedup": round(fast / plain, 2), "features_speedup": round(fast / resident, 2)})  # fmt: skip
        print(table(rows[-1:], list(rows[-1])), flush=True)
    print(table(rows, list(rows[0])))
    write({"steps": args.steps, "rows": rows}, args.out, torch.device(args.device))


if __name__ == "__main__":
    main()
