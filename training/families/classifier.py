"""Classifiers the evaluation code relies on (digits, clothing, face identities), trained on the
real training split only, with augmentation; the EMA copy is what ships.

Digits get one random shift per batch. Faces, with about 75 images per person, need more: each
image gets its own flip, rotation, zoom, shift and colour jitter (torchvision's v2 transforms),
so the classifier learns identities rather than the 1,808 training photos; MixUp or CutMix
(torchvision's v2 batch transforms) can then blend pairs of them, soft labels and all."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

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
    stem_stride: int = 1  # 2: a strided stem halves the input first (64 px faces)
    flip_average: bool = False  # the shipped network averages its features over each image and its mirror
    # per-image augmentation (0: off): rotation up to +-degrees, zoom by up to +-zoom,
    # brightness/contrast/saturation jitter of that strength; with any on, shift and flip are per image too
    degrees: float = 0.0
    zoom: float = 0.0
    jitter: float = 0.0
    warmup: int = 0  # steps of linear learning-rate warm-up before the cosine decay
    # batch mixing with soft labels (0: off): MixUp (Zhang et al. 2018) and CutMix (Yun et al. 2019)
    # Beta(alpha, alpha) parameters; with both on, each batch gets one of the two at random
    mixup: float = 0.0
    cutmix: float = 0.0


class ClassifierFamily(Family):
    config_class = ClassifierConfig
    ema_roles = ("classifier",)

    def __init__(self, cfg: ClassifierConfig, ctx):
        if cfg.lr_final != 1.0:  # train_step sets the rate itself, over the loop's decay
            raise ValueError("the classifier keeps its own warm-up and cosine schedule: --lr-final does not apply")
        super().__init__(cfg, ctx)
        self.data = load_images(cfg.dataset, cfg.image_size, cfg.channels, "train", cfg.data_root)
        k = len(self.data.class_names)
        net = Classifier(
            cfg.image_size,
            cfg.channels,
            k,
            cfg.base_width,
            cfg.blocks,
            cfg.feature_dim,
            cfg.dropout,
            cfg.stem_stride,
            flip_average=cfg.flip_average,
        )
        self.per_image = self._per_image_transform() if cfg.degrees or cfg.zoom or cfg.jitter else None
        self.mix = self._mix_transform(k)
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

    def _per_image_transform(self) -> v2.Transform:
        cfg = self.cfg
        steps: list[v2.Transform] = [v2.RandomHorizontalFlip()] if cfg.flip else []
        shift = cfg.shift / cfg.image_size
        steps.append(v2.RandomAffine(cfg.degrees, translate=(shift, shift), scale=(1 - cfg.zoom, 1 + cfg.zoom)))
        if cfg.jitter:
            steps.append(v2.ColorJitter(cfg.jitter, 1.5 * cfg.jitter, 2 * cfg.jitter))
        return v2.Compose(steps)

    def _mix_transform(self, num_classes: int) -> v2.Transform | None:
        mixes: list[v2.Transform] = []
        if self.cfg.mixup:
            mixes.append(v2.MixUp(alpha=self.cfg.mixup, num_classes=num_classes))
        if self.cfg.cutmix:
            mixes.append(v2.CutMix(alpha=self.cfg.cutmix, num_classes=num_classes))
        return v2.RandomChoice(mixes) if mixes else None

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_image is not None:  # the transforms work on [0, 1]; each image draws its own parameters
            return torch.stack([self.per_image(img) for img in (x + 1) / 2]) * 2 - 1
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
        if self.cfg.warmup:
            lr *= min(1.0, (step + 1) / self.cfg.warmup)
        for group in self.opts["classifier"].param_groups:
            group["lr"] = lr
        x = self._augment(to_float(x))
        target = y
        if self.mix is not None:  # soft targets: the two labels weighted by their share of the image
            x, target = self.mix(x, y)
        with self.ctx.autocast():
            logits = self.nets["classifier"](x)
            loss = F.cross_entropy(logits.float(), target, label_smoothing=self.cfg.label_smoothing)
        self.opts["classifier"].zero_grad(set_to_none=True)
        loss.backward()
        self.opts["classifier"].step()
        dominant = target.argmax(1) if target.ndim == 2 else y  # mixed batches: the larger share's label
        return {"loss": loss.detach(), "acc": (logits.argmax(1) == dominant).float().mean()}

    def inference_networks(self):
        return {"classifier": ("classifier", self.net("classifier"))}
