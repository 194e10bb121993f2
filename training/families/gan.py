"""Image GANs with one step function for every loss: DCGAN (Radford et al. 2016) and its
class-conditional form (CGAN, Mirza & Osindero 2014), trained as minimax / non-saturating GAN,
LSGAN, WGAN (weight clipping + RMSProp), WGAN-GP, or hinge with spectral norm; PacGAN packing,
R1 and DiffAugment as options."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gan_models.networks import DCGANDiscriminator, DCGANGenerator
from training import losses
from training.augment import diff_augment, parse_policy
from training.data import BatchSampler, dataset_info, load_images, real_images
from training.loop import Family, TrainConfig, unwrap


@dataclass
class GANConfig(TrainConfig):
    dataset: str = "mnist"  # mnist | fashion | stacked-mnist | image folder name or path
    image_size: int = 28  # 28, 32, 64
    channels: int = 1
    conditional: bool = False  # class-conditional G and D (projection)
    z_dim: int = 100
    g_width: int = 64  # generator base filters
    d_width: int = 64  # discriminator base filters
    g_mlp: int = 0  # hidden width of the generator's MLP on z (0: none)
    g_refine: int = 0  # extra 3x3 conv layers per generator resolution
    embed_dim: int = 50  # label embedding size (conditional)
    mode_seeking: float = 0.0  # MSGAN weight: keeps G's output varying with z (for each label) (0: off)
    top_k: float = 1.0  # smallest fraction of generated samples G learns from (Top-k training; 1: all)
    top_k_gamma: float = 0.99  # the kept fraction starts at 1 and shrinks by this factor each epoch
    loss: str = "ns"  # minimax | ns | lsgan | wgan | wgan-gp | hinge
    optimizer: str = "adam"  # adam | rmsprop (WGAN with clipping)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 1  # D steps per G step
    clip: float = 0.0  # WGAN weight clipping bound (0: off)
    gp_weight: float = 0.0  # WGAN-GP lambda (10 in the paper)
    r1_weight: float = 0.0  # R1 gamma (0: off)
    d_batch_norm: bool = True  # off for gradient-penalty critics
    spectral_norm: bool = False
    pack: int = 1  # PacGAN degree
    flip: bool = False  # random horizontal flips of real images (faces, emoji)
    diff_augment: str = ""  # DiffAugment policy for D's inputs, e.g. "color,translation,cutout" (small data sets)
    stacked_n: int = 128_000  # Stacked MNIST training images

    def __post_init__(self):
        """Refuse a bad loss or augmentation when the config is made, before any data is read."""
        if self.loss not in losses.KINDS:
            raise ValueError(f"loss must be one of {losses.KINDS}")
        parse_policy(self.diff_augment)


class GANFamily(Family):
    config_class = GANConfig
    ema_roles = ("generator",)

    def __init__(self, cfg: GANConfig, ctx):
        super().__init__(cfg, ctx)
        self.num_classes = 0
        self.meta = {"resolution": cfg.image_size, "channels": cfg.channels, "dataset": dataset_info(cfg.dataset)}
        if cfg.conditional:  # the class count comes from the data: read its names now
            self.data = load_images(cfg.dataset, cfg.image_size, cfg.channels, "train", cfg.data_root, cfg.stacked_n)
            self.num_classes = len(self.data.class_names)
            self.meta["class_names"] = self.data.class_names
        else:
            self.data = None
            self.meta["class_names"] = []
        g = DCGANGenerator(
            cfg.image_size,
            cfg.channels,
            cfg.z_dim,
            cfg.g_width,
            self.num_classes,
            cfg.embed_dim,
            cfg.g_mlp,
            cfg.g_refine,
        )
        d = DCGANDiscriminator(
            cfg.image_size, cfg.channels, cfg.d_width, self.num_classes, cfg.d_batch_norm, cfg.spectral_norm, cfg.pack
        )
        self.nets = {"generator": ctx.prepare(g), "discriminator": ctx.prepare(d)}
        make = (
            (lambda p, lr: ctx.rmsprop(p, lr))
            if cfg.optimizer == "rmsprop"
            else (lambda p, lr: ctx.adam(p, lr, (cfg.beta1, cfg.beta2)))
        )
        self.opts = {
            "generator": make(self.nets["generator"].parameters(), cfg.lr_g),
            "discriminator": make(self.nets["discriminator"].parameters(), cfg.lr_d),
        }
        fixed = torch.Generator().manual_seed(1234)
        self.fixed_z = torch.randn(64, cfg.z_dim, generator=fixed).to(ctx.device)
        self.fixed_y = (torch.arange(64) % max(self.num_classes, 1)).to(ctx.device)

    def sampler(self):
        cfg = self.cfg
        if self.data is None:
            self.data = load_images(cfg.dataset, cfg.image_size, cfg.channels, "train", cfg.data_root, cfg.stacked_n)
            self.meta["class_names"] = []
        self.meta["train_images"] = len(self.data)
        batch = self.ctx.local_batch * self.cfg.pack
        self.batches = BatchSampler(
            self.data.images.to(self.ctx.device),
            self.data.labels.to(self.ctx.device),
            batch_size=batch,
            seed=cfg.seed * 1000 + self.ctx.rank,
        )
        return self.batches

    def _real(self, batch):
        x, y = batch
        x = real_images(x, self.cfg.flip, self.ctx.channels_last)
        return x, (y if self.num_classes else None)

    def _generate(self, n: int, y, z=None):
        z = torch.randn(n, self.cfg.z_dim, device=self.ctx.device) if z is None else z
        return self.nets["generator"](z, y) if y is not None else self.nets["generator"](z)

    def _d(self, x, y):
        d = self.nets["discriminator"]
        return d(x, y) if y is not None else d(x)

    def _d_augmented(self, x, y):
        """D's judgement of real or generated images through the DiffAugment policy (if any); the
        penalties (GP, R1) keep reading the plain images."""
        return self._d(diff_augment(x, self.cfg.diff_augment), y)

    def _g_loss(self, fake, y, step: int) -> torch.Tensor:
        scores = self._d_augmented(fake, y)
        if self.cfg.top_k < 1.0:
            epoch = step * self.ctx.local_batch * self.cfg.pack / len(self.data)
            scores = losses.top_k(scores, max(self.cfg.top_k, self.cfg.top_k_gamma**epoch))
        return losses.g_loss(self.cfg.loss, scores)

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor]:
        cfg, ctx = self.cfg, self.ctx
        D = self.nets["discriminator"]
        opt_g, opt_d = self.opts["generator"], self.opts["discriminator"]
        for i in range(cfg.n_critic):
            x, y = self._real(batch if i == 0 else next(self.batches))
            with ctx.autocast():
                with torch.no_grad():
                    fake = self._generate(x.shape[0], y)
                real_score, fake_score = self._d_augmented(x, y), self._d_augmented(fake, y)
                d_loss = losses.d_loss(cfg.loss, real_score, fake_score)
                if cfg.gp_weight:
                    d_loss = d_loss + cfg.gp_weight * losses.gradient_penalty(self._d, x, fake, y)
                if cfg.r1_weight:
                    d_loss = d_loss + 0.5 * cfg.r1_weight * losses.r1_penalty(self._d, x, y)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            if cfg.clip:
                losses.clip_weights(D, cfg.clip)
        with ctx.autocast():
            if cfg.mode_seeking:  # two halves with the same labels and different z
                half = x.shape[0] // 2
                y = None if y is None else y[:half].repeat(2)
                z = torch.randn(2 * half, cfg.z_dim, device=ctx.device)
                fake = self._generate(2 * half, y, z)
                g_loss = self._g_loss(fake, y, step) + cfg.mode_seeking * losses.mode_seeking(fake, z)
            else:
                fake = self._generate(x.shape[0], y)
                g_loss = self._g_loss(fake, y, step)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        return {"d": d_loss.detach(), "g": g_loss.detach()}

    @torch.no_grad()
    def preview(self):
        g = self.net("generator")
        return g(self.fixed_z, self.fixed_y) if self.num_classes else g(self.fixed_z)

    def inference_networks(self):
        return {"generator": ("dcgan_generator", self.net("generator"))}

    @property
    def discriminator(self):
        return unwrap(self.nets["discriminator"])
