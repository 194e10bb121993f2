"""CVAE-GAN (Bao et al. 2017, "CVAE-GAN: Fine-Grained Image Generation through Asymmetric
Training") and its two ablations as the same family with parts switched off.

Four networks: an encoder E(x, c) -> (mu, logvar), a class-conditional generator G(z, c) (a
``DCGANGenerator``), a classifier C(x) over the identities and a discriminator D(x) (a
``DCGANDiscriminator``, whose last feature map serves feature matching). With x a real face of
identity c, x' = G(z ~ E(x, c), c) its reconstruction and x_p = G(z_p ~ N(0, I), c) a sample:

- E:  kl_weight * L_KL + L_rec
- G:  L_rec + gd_weight * L_GD + gc_weight * L_GC    (+ adv_weight * non-saturating loss, if asked)
- C:  cross-entropy on real faces only
- D:  -log D(x) - log(1 - D(x')) - log(1 - D(x_p))  (x' and x_p averaged as one fake batch)

where L_rec = rec_weight * 1/2 ||x - x'||^2 + rec_d_weight * 1/2 ||f_D(x) - f_D(x')||^2
+ rec_c_weight * 1/2 ||f_C(x) - f_C(x')||^2 (the paper's pairwise feature matching),
L_GD = 1/2 ||mean f_D(x) - mean f_D(x_p)||^2 over the batch and
L_GC = 1/2 sum_c ||centre_c - mean f_C(x_p of class c)||^2 (mean feature matching per class;
centre_c is a running mean of C's features of real faces of class c). Every ||.||^2 is a sum
over dimensions, averaged over the batch, as in the paper. The generator never sees the
saturating log loss: that asymmetry is what keeps the GAN part stable.

Weights: KL 3 and the three reconstruction terms 1, as the paper; L_GD 0.03 and L_GC 0.003
(the paper's 1e-3 left samples from the prior nearly untrained in short runs; at 1 they turned
into adversarial texture). Practical choices: D has spectral norm and no batch norm, so its
features are per-sample; C is in eval mode (running real-data statistics) whenever G is trained
through it; reconstructions and prior samples go through G in separate calls, since in one
mixed batch G's batch norm lets the encoder park its codes away from the prior (prior samples
then decode to noise).

Ablations (``encoder``/``discriminator``/``classifier`` switches): a plain CVAE is E + G with
L_KL + pixel L2 (blurry); a plain CGAN is G + a class-conditional D (projection) with the
non-saturating loss and no E or C (sharp, but identities can drift).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gan_models.networks import Classifier, CVAEEncoder, DCGANDiscriminator, DCGANGenerator
from training import losses
from training.data import BatchSampler, dataset_info, load_images, real_images, to_float
from training.loop import Family, TrainConfig, unwrap


@dataclass
class CVAEGANConfig(TrainConfig):
    dataset: str = "faces-celeb24"  # an image folder with one sub-folder per identity
    image_size: int = 64
    channels: int = 3
    z_dim: int = 128
    embed_dim: int = 50  # identity embedding joined to z in G
    # which networks exist: CVAE-GAN has all four; CVAE = encoder only; CGAN = discriminator only
    encoder: bool = True  # E, KL and reconstruction
    discriminator: bool = True  # D (GAN loss; its features for feature matching)
    classifier: bool = True  # C (identity cross-entropy; its features for feature matching)
    d_conditional: bool = False  # projection D on the identity (the CGAN ablation)
    g_width: int = 64
    d_width: int = 64
    e_width: int = 64
    c_width: int = 32
    c_blocks: int = 4
    c_feature_dim: int = 256
    d_batch_norm: bool = False  # D's features are matched: keep them per-sample (no batch statistics)
    spectral_norm: bool = True  # keeps the BN-free D well behaved
    # loss weights (see the module docstring): the paper's are KL 3, L_G 1, L_GD 1e-3, L_GC 1e-3;
    # L_GD and L_GC are raised here so samples from the prior get a usable signal in short runs
    kl_weight: float = 3.0
    rec_weight: float = 1.0  # pixel L2 of the reconstruction
    rec_d_weight: float = 1.0  # pairwise feature matching in D's features
    rec_c_weight: float = 1.0  # pairwise feature matching in C's features
    gd_weight: float = 0.03  # mean feature matching in D's features (samples from the prior)
    gc_weight: float = 0.003  # per-class mean feature matching in C's features
    adv_weight: float = 0.0  # non-saturating G loss on D's scores (the CGAN ablation uses 1)
    centre_momentum: float = 0.9  # running class centres of C's real features
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    flip: bool = True  # random horizontal flips of real faces
    half_weights: bool = False  # publish float16 weights


@contextlib.contextmanager
def frozen(*modules):
    """No parameter gradients for these modules inside the block (they are only differentiated through)."""
    params = [p for m in modules if m is not None for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(params, flags, strict=True):
            p.requires_grad_(f)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over dimensions, averaged over the batch."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1).mean()


def half_sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1/2 ||a - b||^2 per sample (sum over every dimension), averaged over the batch."""
    return 0.5 * (a.float() - b.float()).pow(2).flatten(1).sum(1).mean()


class CVAEGANFamily(Family):
    config_class = CVAEGANConfig

    def __init__(self, cfg: CVAEGANConfig, ctx):
        super().__init__(cfg, ctx)
        if not (cfg.encoder or cfg.discriminator):
            raise ValueError("the generator needs an encoder (reconstruction) or a discriminator (GAN loss)")
        if cfg.d_conditional and not cfg.discriminator:
            raise ValueError("d_conditional needs the discriminator")
        self.data = load_images(cfg.dataset, cfg.image_size, cfg.channels, "train", cfg.data_root)
        k = self.num_classes = len(self.data.class_names)
        self.meta = {
            "resolution": cfg.image_size,
            "channels": cfg.channels,
            "dataset": dataset_info(cfg.dataset),
            "class_names": self.data.class_names,
            "train_images": len(self.data),
        }
        nets = {"generator": DCGANGenerator(cfg.image_size, cfg.channels, cfg.z_dim, cfg.g_width, k, cfg.embed_dim)}
        if cfg.encoder:
            nets["encoder"] = CVAEEncoder(cfg.image_size, cfg.channels, k, cfg.z_dim, cfg.e_width)
        if cfg.discriminator:
            nets["discriminator"] = DCGANDiscriminator(
                cfg.image_size, cfg.channels, cfg.d_width, k if cfg.d_conditional else 0, cfg.d_batch_norm,
                cfg.spectral_norm,
            )  # fmt: skip
        if cfg.classifier:
            nets["classifier"] = Classifier(
                cfg.image_size, cfg.channels, k, cfg.c_width, cfg.c_blocks, cfg.c_feature_dim, dropout=0.3
            )
        self.nets = {role: ctx.prepare(net) for role, net in nets.items()}
        betas = (cfg.beta1, cfg.beta2)
        self.opts = {role: ctx.adam(net.parameters(), cfg.lr, betas) for role, net in self.nets.items()}
        self.ema_roles = tuple(r for r in ("generator", "encoder") if r in self.nets)
        self.centres = torch.zeros(k, cfg.c_feature_dim, device=ctx.device)  # running class centres of f_C
        self.centre_seen = torch.zeros(k, dtype=torch.bool, device=ctx.device)
        fixed = torch.Generator().manual_seed(1234)
        self.fixed_z = torch.randn(64, cfg.z_dim, generator=fixed).to(ctx.device)
        self.fixed_y = (torch.arange(64) % k).to(ctx.device)
        # eight real faces of eight identities for the reconstruction / identity-swap rows of the preview
        picks = []
        for i in range(8):  # identity i mod K, its (i // K)-th image (wrapping when a class is small)
            members = (self.data.labels == i % k).nonzero()[:, 0]
            picks.append(int(members[(i // k) % len(members)]))
        self.fixed_x = to_float(self.data.images[picks], ctx.device)
        self.fixed_x_y = self.data.labels[picks].to(ctx.device)

    def sampler(self):
        self.batches = BatchSampler(
            self.data.images.to(self.ctx.device),
            self.data.labels.to(self.ctx.device),
            batch_size=self.ctx.local_batch,
            seed=self.cfg.seed * 1000 + self.ctx.rank,
        )
        return self.batches

    def _real(self, batch):
        x, y = batch
        x = real_images(x, self.cfg.flip, self.ctx.channels_last)
        return x, y

    def _d(self, d, x, y, features: bool = False):
        return d(x, y if self.cfg.d_conditional else None, return_features=features)

    @torch.no_grad()
    def _update_centres(self, f_real: torch.Tensor, y: torch.Tensor) -> None:
        k, m = self.num_classes, self.cfg.centre_momentum
        counts = torch.bincount(y, minlength=k).float()
        sums = torch.zeros_like(self.centres).index_add_(0, y, f_real.float())
        present = counts > 0
        means = sums[present] / counts[present, None]
        old = self.centres[present]
        seen = self.centre_seen[present, None]
        self.centres[present] = torch.where(seen, m * old + (1 - m) * means, means)
        self.centre_seen |= present

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor]:
        cfg, ctx = self.cfg, self.ctx
        G, E = self.nets["generator"], self.nets.get("encoder")
        D, C = self.nets.get("discriminator"), self.nets.get("classifier")
        x, y = self._real(batch)
        n = x.shape[0]
        out: dict[str, torch.Tensor] = {}

        # C: identity cross-entropy on real faces only
        if C is not None:
            C.train()
            with ctx.autocast():
                logits = C(x)
                c_loss = F.cross_entropy(logits.float(), y)
            self.opts["classifier"].zero_grad(set_to_none=True)
            c_loss.backward()
            self.opts["classifier"].step()
            out["c"] = c_loss.detach()
            out["c_acc"] = (logits.argmax(1) == y).float().mean()

        # E and G forward: reconstructions x' from q(z | x, c) and samples x_p from the prior, in two
        # separate G calls: in one mixed batch, G's batch norm would let the reconstructions lean on
        # the prior half's statistics, and the encoder learns to move its codes away from the prior
        with ctx.autocast():
            z_p = torch.randn(n, cfg.z_dim, device=x.device)
            x_rec = None
            if E is not None:
                mu, logvar = E(x, y)
                logvar = logvar.float().clamp(-30, 20)
                z = mu.float() + torch.randn_like(mu, dtype=torch.float32) * (0.5 * logvar).exp()
                x_rec = G(z, y)
            x_p = G(z_p, y)
        fakes = x_p if x_rec is None else torch.cat([x_rec, x_p])
        y_fakes = y if x_rec is None else torch.cat([y, y])

        # D: real vs reconstructed and sampled fakes
        if D is not None:
            with ctx.autocast():
                real_score = self._d(D, x, y)
                fake_score = self._d(D, fakes.detach(), y_fakes)
                d_loss = losses.d_loss("ns", real_score, fake_score)
            self.opts["discriminator"].zero_grad(set_to_none=True)
            d_loss.backward()
            self.opts["discriminator"].step()
            out["d"] = d_loss.detach()

        # E and G: D and C are only differentiated through (C in eval mode: real-data BN statistics)
        d_net, c_net = (unwrap(D) if D is not None else None), (unwrap(C) if C is not None else None)
        if c_net is not None:
            c_net.eval()
        g_loss = torch.zeros((), device=x.device)
        with frozen(d_net, c_net), ctx.autocast():
            if d_net is not None:
                with torch.no_grad():
                    _, fd_real = self._d(d_net, x, y, features=True)
                fake_score, fd_fake = self._d(d_net, fakes, y_fakes, features=True)
                if cfg.gd_weight:
                    fd_p = fd_fake[-n:]
                    gd = 0.5 * (fd_real.float().mean(0) - fd_p.float().mean(0)).pow(2).sum()
                    g_loss = g_loss + cfg.gd_weight * gd
                    out["gd"] = gd.detach()
                if cfg.adv_weight:
                    adv = losses.g_loss("ns", fake_score)
                    g_loss = g_loss + cfg.adv_weight * adv
                    out["adv"] = adv.detach()
            if c_net is not None:
                with torch.no_grad():
                    fc_real = c_net.features(x)
                    self._update_centres(fc_real, y)
                fc_fake = c_net.features(fakes).float()
                if cfg.gc_weight:
                    # per-class mean of the samples' features against the running real centre of that class
                    fc_p = fc_fake[-n:]
                    counts = torch.bincount(y, minlength=self.num_classes).float()
                    present = counts > 0
                    sums = torch.zeros(self.num_classes, fc_p.shape[1], device=x.device).index_add(0, y, fc_p)
                    means = sums[present] / counts[present, None]
                    gc = 0.5 * (self.centres[present] - means).pow(2).sum()
                    g_loss = g_loss + cfg.gc_weight * gc
                    out["gc"] = gc.detach()
            if E is not None:
                kl = kl_divergence(mu.float(), logvar)
                rec = half_sq(x, x_rec)
                g_loss = g_loss + cfg.kl_weight * kl + cfg.rec_weight * rec
                out["kl"], out["rec"] = kl.detach(), rec.detach()
                if d_net is not None and cfg.rec_d_weight:
                    rec_d = half_sq(fd_real, fd_fake[:n])
                    g_loss = g_loss + cfg.rec_d_weight * rec_d
                    out["rec_d"] = rec_d.detach()
                if c_net is not None and cfg.rec_c_weight:
                    rec_c = half_sq(fc_real, fc_fake[:n])
                    g_loss = g_loss + cfg.rec_c_weight * rec_c
                    out["rec_c"] = rec_c.detach()
        for role in ("generator", "encoder"):
            if role in self.opts:
                self.opts[role].zero_grad(set_to_none=True)
        g_loss.backward()
        for role in ("generator", "encoder"):
            if role in self.opts:
                self.opts[role].step()
        if c_net is not None:
            c_net.train()
        out["g"] = g_loss.detach()
        return out

    @torch.no_grad()
    def preview(self):
        """Without an encoder: 64 samples (identity = index mod K). With one: 32 samples, then a row
        of real faces, their reconstructions, and two rows of identity swaps of the first two faces."""
        g = self.net("generator")
        if "encoder" not in self.nets:
            return g(self.fixed_z, self.fixed_y)
        mu, _ = self.net("encoder")(self.fixed_x, self.fixed_x_y)
        m, k = len(mu), self.num_classes
        swap_y = torch.arange(m, device=mu.device) % k
        rows = [
            g(self.fixed_z[:32], self.fixed_y[:32]),
            self.fixed_x,
            g(mu, self.fixed_x_y),
            g(mu[:1].expand(m, -1), swap_y),
            g(mu[1:2].expand(m, -1), swap_y),
        ]
        return torch.cat(rows)

    def inference_networks(self):
        nets = {"generator": ("dcgan_generator", self.net("generator"))}
        if "encoder" in self.nets:
            nets["encoder"] = ("cvae_encoder", self.net("encoder"))
        return nets

    def extra_state(self) -> dict:
        return {"centres": self.centres, "centre_seen": self.centre_seen}

    def load_extra_state(self, state: dict) -> None:
        if "centres" in state:
            self.centres.copy_(state["centres"].to(self.centres.device))
            self.centre_seen.copy_(state["centre_seen"].to(self.centre_seen.device))
