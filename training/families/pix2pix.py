"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks"):
a U-Net generator G(x) and a 70x70 PatchGAN discriminator D(x, y) on paired images.

- D: 1/2 [BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)] on every patch logit (the paper halves D's objective);
- G: gan_weight * BCE(D(x, G(x)), 1) + l1_weight * |y - G(x)|_1, with lambda = 100 as in the paper;
- Adam(2e-4, 0.5, 0.999), optionally decaying linearly over the run's end (``lr_final``);
- random jitter (resize up ~1.12x, e.g. 256 -> 286, then a random crop back)
  and mirroring, the same for condition and target; the noise is G's dropout, kept available at
  inference (``ops.translate(dropout=True)``).

``gan_weight=0`` is the L1-only U-Net ablation through the same family (no D is built).
Data: side-by-side pairs (facades: label map -> photo, direction BtoA), or ``edges=True``: an
image folder turned into (1-channel Canny edges -> colour photo) pairs, edges computed once at load.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gan_models.networks import PatchDiscriminator, UNetGenerator
from training import losses
from training.data import BatchSampler, dataset_info, edge_pairs, image_folder, pix2pix_pairs, to_float
from training.families.cvaegan import frozen
from training.loop import Family, TrainConfig


@dataclass
class Pix2PixConfig(TrainConfig):
    dataset: str = "facades"  # side-by-side pairs below the data root, or an image folder when edges=True
    edges: bool = False  # (Canny edges -> photo) pairs made from an image folder's training split
    direction: str = "BtoA"  # pairs: BtoA maps the right half to the left (facades: label map -> photo)
    image_size: int = 256  # 128 or 256
    batch_size: int = 1  # the paper's facades setting
    g_width: int = 64  # U-Net outermost filters (doubles, capped at 8x); 32 keeps a 256 px G near 13.6M
    d_width: int = 64
    d_layers: int = 3  # 3: the 70x70 PatchGAN
    dropout: float = 0.5  # on G's three innermost decoder layers
    gan_weight: float = 1.0  # 0: the L1-only U-Net ablation (no discriminator)
    l1_weight: float = 100.0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    # the reference implementation decays over the second half (the loop applies --lr-final)
    lr_decay_from: float = 0.5
    jitter: float = 1.12  # resize factor before the random crop back to image_size (<= 1: off)
    flip: bool = True  # random mirroring
    half_weights: bool = False  # publish float16 weights (keeps a 256 px U-Net under the 30 MB limit)


def _load_pairs(cfg: Pix2PixConfig, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    if cfg.edges:
        photos = image_folder(cfg.dataset, cfg.image_size, 3, split="train" if split == "train" else "test",
                              root=cfg.data_root).images  # fmt: skip
        return edge_pairs(photos)
    return pix2pix_pairs(cfg.dataset, "train" if split == "train" else "val", cfg.image_size, cfg.direction,
                         cfg.data_root)  # fmt: skip


def _grey_to_rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class Pix2PixFamily(Family):
    config_class = Pix2PixConfig
    ema_roles = ("generator",)

    def __init__(self, cfg: Pix2PixConfig, ctx):
        super().__init__(cfg, ctx)
        self.cond, self.target = _load_pairs(cfg, "train")
        in_ch, out_ch = self.cond.shape[1], self.target.shape[1]
        self.meta = {
            "resolution": cfg.image_size,
            "channels": out_ch,
            "in_channels": in_ch,
            "dataset": dataset_info(cfg.dataset),
            "class_names": [],
            "train_pairs": len(self.cond),
            "condition": "canny edges" if cfg.edges else f"pairs {cfg.direction}",
        }
        g = UNetGenerator(cfg.image_size, in_ch, out_ch, cfg.g_width, cfg.dropout)
        self.nets = {"generator": ctx.prepare(g)}
        if cfg.gan_weight:
            self.nets["discriminator"] = ctx.prepare(PatchDiscriminator(in_ch + out_ch, cfg.d_width, cfg.d_layers))
        betas = (cfg.beta1, cfg.beta2)
        self.opts = {role: ctx.adam(net.parameters(), cfg.lr, betas) for role, net in self.nets.items()}
        self._preview_pairs = None

    def sampler(self):
        self.batches = BatchSampler(
            self.cond.to(self.ctx.device),
            self.target.to(self.ctx.device),
            batch_size=self.ctx.local_batch,
            seed=self.cfg.seed * 1000 + self.ctx.rank,
        )
        return self.batches

    def _augment(self, cond: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Random jitter (resize up, random crop back; one crop per pair) and mirroring."""
        cfg, size, n = self.cfg, cond.shape[-1], cond.shape[0]
        big = round(size * cfg.jitter)
        if big > size:
            # edge maps stay crisp (nearest); photos and label maps are resized bilinearly
            if cond.shape[1] == 1:
                cond = F.interpolate(cond, size=(big, big), mode="nearest")
            else:
                cond = F.interpolate(cond, size=(big, big), mode="bilinear", align_corners=False)
            target = F.interpolate(target, size=(big, big), mode="bilinear", align_corners=False)
            offsets = torch.randint(0, big - size + 1, (n, 2)).tolist()
            cond = torch.stack([cond[i, :, a : a + size, b : b + size] for i, (a, b) in enumerate(offsets)])
            target = torch.stack([target[i, :, a : a + size, b : b + size] for i, (a, b) in enumerate(offsets)])
        if cfg.flip:
            flip = (torch.rand(n) < 0.5).to(cond.device)[:, None, None, None]
            cond, target = torch.where(flip, cond.flip(3), cond), torch.where(flip, target.flip(3), target)
        return cond, target

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor]:
        cfg, ctx = self.cfg, self.ctx
        G, D = self.nets["generator"], self.nets.get("discriminator")
        cond, target = self._augment(to_float(batch[0]), to_float(batch[1]))
        if ctx.channels_last:
            cond, target = (t.contiguous(memory_format=torch.channels_last) for t in (cond, target))
        out: dict[str, torch.Tensor] = {}
        with ctx.autocast():
            fake = G(cond)
        g_loss = torch.zeros((), device=cond.device)
        if D is not None:
            with ctx.autocast():
                d_loss = 0.5 * losses.d_loss("ns", D(cond, target), D(cond, fake.detach()))
            self.opts["discriminator"].zero_grad(set_to_none=True)
            d_loss.backward()
            self.opts["discriminator"].step()
            with frozen(D), ctx.autocast():
                adv = losses.g_loss("ns", D(cond, fake))
            g_loss = g_loss + cfg.gan_weight * adv
            out["d"], out["g_gan"] = d_loss.detach(), adv.detach()
        l1 = (fake.float() - target).abs().mean()
        g_loss = g_loss + cfg.l1_weight * l1
        self.opts["generator"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.opts["generator"].step()
        out["l1"] = l1.detach()
        return out

    @torch.no_grad()
    def preview(self):
        """Eight held-out conditions spread over the set (training pairs if none are held out): rows of
        conditions, outputs and targets."""
        if self._preview_pairs is None:
            try:
                cond, target = _load_pairs(self.cfg, "held-out")
            except FileNotFoundError:
                cond, target = self.cond, self.target
            pick = torch.linspace(0, len(cond) - 1, min(8, len(cond))).long()  # spread over the set (identities)
            self._preview_pairs = (to_float(cond[pick], self.ctx.device), to_float(target[pick], self.ctx.device))
        cond, target = self._preview_pairs
        out = self.net("generator")(cond, dropout=False)
        return torch.cat([_grey_to_rgb(cond), out, _grey_to_rgb(target)])

    def inference_networks(self):
        return {"generator": ("unet_generator", self.net("generator"))}
