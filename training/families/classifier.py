"""Classifiers the evaluation code relies on (digits, clothing, face identities), trained on the
real training split only, with light augmentation; the EMA copy is what ships."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gan_models.networks import Classifier
from training.data import BatchSampler, dataset_info, load_images, to_float
from training.loop import Family, TrainConfig


@dataclass
class ClassifierConfig(TrainConfig):
    dataset: str = "mnist"  # mnist | fashion | an image folder (faces-celeb24)
    image_size: int = 28
    channels: int = 1
    base_width: int = 32
    blocks: int = 2
    feature_dim: int = 128
    dropout: float = 0.3
    lr: float = 1e-3
    weight_decay: float = 5e-4
    shift: int = 2  # random translation in pixels (augmentation)
    flip: bool = False  # random horizontal flips (faces)
    label_smoothing: float = 0.0


class ClassifierFamily(Family):
    config_class = ClassifierConfig
    ema_roles = ("classifier",)

    def __init__(self, cfg: ClassifierConfig, ctx):
        super().__init__(cfg, ctx)
        self.data = load_images(cfg.dataset, cfg.image_size, cfg.channels, "train", cfg.data_root)
        k = len(self.data.class_names)
        net = Classifier(cfg.image_size, cfg.channels, k, cfg.base_width, cfg.blocks, cfg.feature_dim, cfg.dropout)
        self.nets = {"classifier": ctx.prepare(net)}
        self.opts = {
            "classifier": torch.optim.AdamW(self.nets["classifier"].parameters(), cfg.lr, weight_decay=cfg.weight_decay)
        }
        self.meta = {
            "resolution": cfg.image_size,
            "channels": cfg.channels,
            "dataset": dataset_info(cfg.dataset),
            "class_names": self.data.class_names,
            "train_images": len(self.data),
        }

    def sampler(self):
        return BatchSampler(
            self.data.images.to(self.ctx.device),
            self.data.labels.to(self.ctx.device),
            batch_size=self.ctx.local_batch,
            seed=self.cfg.seed * 1000 + self.ctx.rank,
        )

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        s = self.cfg.shift
        if s:  # random translation by padding and cropping, one offset per batch
            dx, dy = torch.randint(-s, s + 1, (2,)).tolist()
            x = torch.roll(F.pad(x, (s, s, s, s), value=-1.0), (dy, dx), (2, 3))[..., s:-s, s:-s]
        if self.cfg.flip:
            flip = torch.rand(x.shape[0], device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x

    def train_step(self, batch, step: int):
        x, y = batch
        # cosine learning-rate decay over the run: a stable end point to ship
        lr = self.cfg.lr * 0.5 * (1 + torch.cos(torch.tensor(step / self.cfg.steps * torch.pi))).item()
        for group in self.opts["classifier"].param_groups:
            group["lr"] = lr
        with self.ctx.autocast():
            logits = self.nets["classifier"](self._augment(to_float(x)))
            loss = F.cross_entropy(logits.float(), y, label_smoothing=self.cfg.label_smoothing)
        self.opts["classifier"].zero_grad(set_to_none=True)
        loss.backward()
        self.opts["classifier"].step()
        return {"loss": loss.detach(), "acc": (logits.argmax(1) == y).float().mean()}

    def inference_networks(self):
        return {"classifier": ("classifier", self.net("classifier"))}
