"""2D toy GANs on a ring of 8 or a grid of 25 Gaussians, the setting in which VEEGAN
(Srivastava et al. 2017) and PacGAN (Lin et al. 2018) measure mode collapse.

One step function for every loss of ``training.losses`` (minimax, non-saturating, LSGAN, WGAN
with clipping, WGAN-GP, hinge), with PacGAN packing, several critic steps per generator step and
spectral norm as options. Real points are sampled fresh every step from a seeded generator, and
the latents from another; both states live in the checkpoint, so a resumed run is exact.

Along the run the family records a trajectory (``after_step`` every ``snapshot_every`` steps):
generated points from fixed latents, the critic's scores on a grid over the plane, and the modes
and high-quality share of ``mixtures.mode_coverage`` on ``eval_samples`` fixed-latent samples.
It is published as ``weights/<id>/trajectory.safetensors`` (format in docs/DEVELOPING.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from gan_models.mixtures import MIXTURES, grid_centres, mode_coverage, ring_centres
from gan_models.networks import MLPDiscriminator, MLPGenerator
from training import losses
from training.loop import Family, TrainConfig, unwrap

TRAJECTORY_FILE = "trajectory.safetensors"


@dataclass
class Toy2DConfig(TrainConfig):
    mixture: str = "ring"  # ring (8 modes on a circle) | grid (5 x 5 modes)
    sigma: float | None = None  # standard deviation of each mode; None: PacGAN's (ring 0.01, grid 0.05)
    radius: float = 1.0  # ring radius
    spacing: float = 2.0  # grid spacing
    z_dim: int = 2
    g_hidden: int = 400
    g_depth: int = 4
    d_hidden: int = 200
    d_depth: int = 3
    loss: str = "ns"  # minimax | ns | lsgan | wgan | wgan-gp | hinge
    optimizer: str = "adam"  # adam | rmsprop (WGAN with clipping)
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 1  # D steps per G step
    clip: float = 0.0  # WGAN weight clipping bound (0: off)
    gp_weight: float = 0.0  # WGAN-GP lambda (0: off)
    r1_weight: float = 0.0  # R1 gamma: zero-centred gradient penalty on real packs (0: off)
    spectral_norm: bool = False
    pack: int = 1  # PacGAN degree: D judges this many points jointly
    snapshot_every: int = 100  # steps between trajectory snapshots (0: none)
    snapshot_points: int = 512  # generated points kept per snapshot
    critic_grid: int = 64  # critic scores on a critic_grid x critic_grid grid
    eval_samples: int = 2500  # samples for the modes / high-quality counters
    # loop settings that differ for 2D toys
    steps: int = 5000
    batch_size: int = 500
    ema_beta: float = 0.0
    sample_every: int = 0
    log_every: int = 100
    checkpoint_every: int = 1000


def mixture_spec(cfg: Toy2DConfig) -> tuple[torch.Tensor, float]:
    """(centres (modes, 2), sigma) of the configured mixture."""
    if cfg.mixture not in MIXTURES:
        raise ValueError(f"mixture must be one of {sorted(MIXTURES)}")
    centres = ring_centres(8, cfg.radius) if cfg.mixture == "ring" else grid_centres(5, cfg.spacing)
    sigma = MIXTURES[cfg.mixture][1] if cfg.sigma is None else float(cfg.sigma)
    return centres, sigma


class MixtureSampler:
    """Fresh real points every step from a seeded generator (state in the checkpoint)."""

    def __init__(self, centres: torch.Tensor, sigma: float, n: int, seed: int, device):
        self.centres, self.sigma, self.n, self.device = centres, sigma, n, device
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return self

    def __next__(self) -> torch.Tensor:
        idx = torch.randint(len(self.centres), (self.n,), generator=self.generator)
        points = self.centres[idx] + self.sigma * torch.randn(self.n, 2, generator=self.generator)
        return points.to(self.device)

    def state_dict(self) -> dict:
        return {"rng": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["rng"].cpu())


class Toy2DFamily(Family):
    config_class = Toy2DConfig
    ema_roles = ("generator",)  # only when ema_beta > 0 (off by default for toys)

    def __init__(self, cfg: Toy2DConfig, ctx):
        super().__init__(cfg, ctx)
        if cfg.loss not in losses.KINDS:
            raise ValueError(f"loss must be one of {losses.KINDS}")
        if cfg.pack < 1:
            raise ValueError("pack must be >= 1")
        self.centres, self.sigma = mixture_spec(cfg)
        g = MLPGenerator(cfg.z_dim, cfg.g_hidden, cfg.g_depth)
        d = MLPDiscriminator(2, cfg.d_hidden, cfg.d_depth, cfg.pack, cfg.spectral_norm)
        self.nets = {"generator": ctx.prepare(g), "discriminator": ctx.prepare(d)}
        if cfg.optimizer == "rmsprop":
            self.opts = {k: ctx.rmsprop(v.parameters(), lr) for k, v, lr in self._nets_lrs()}
        else:
            betas = (cfg.beta1, cfg.beta2)
            self.opts = {k: ctx.adam(v.parameters(), lr, betas) for k, v, lr in self._nets_lrs()}
        # latents from the family's own generator: independent of the global RNG, saved with the run
        self.noise = torch.Generator(ctx.device).manual_seed(cfg.seed * 1000 + 17 + ctx.rank)
        fixed = torch.Generator().manual_seed(1234)
        self.fixed_z = torch.randn(max(cfg.eval_samples, cfg.snapshot_points), cfg.z_dim, generator=fixed)
        self.fixed_z = self.fixed_z.to(ctx.device)
        m = float(self.centres.abs().max()) * 1.5
        self.extent = torch.tensor([-m, m, -m, m])
        self.trajectory: dict[str, list] = {k: [] for k in ("steps", "points", "critic", "modes", "high_quality")}
        self.meta = {
            "resolution": 2,
            "channels": 2,
            "task": "toy2d",
            "mixture": cfg.mixture,
            "sigma": self.sigma,
            "dataset": {
                "name": f"2D {cfg.mixture} of {len(self.centres)} Gaussians (sigma {self.sigma:g})",
                "licence": "synthetic",
                "credit": "the ring and grid of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018)",
            },
            "class_names": [],
        }

    def _nets_lrs(self):
        nets, cfg = self.nets, self.cfg
        return [("generator", nets["generator"], cfg.lr_g), ("discriminator", nets["discriminator"], cfg.lr_d)]

    def sampler(self):
        n = self.ctx.local_batch * self.cfg.pack
        self.batches = MixtureSampler(
            self.centres, self.sigma, n, self.cfg.seed * 1000 + self.ctx.rank, self.ctx.device
        )
        return self.batches

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, device=self.ctx.device, generator=self.noise)

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor]:
        cfg, ctx = self.cfg, self.ctx
        if step == 0 and cfg.snapshot_every and not self.trajectory["steps"]:
            self._snapshot(0)  # the untrained generator starts the trajectory
        G, D = self.nets["generator"], self.nets["discriminator"]
        opt_g, opt_d = self.opts["generator"], self.opts["discriminator"]
        n = batch.shape[0]
        for i in range(cfg.n_critic):
            real = batch if i == 0 else next(self.batches)
            with ctx.autocast():
                with torch.no_grad():
                    fake = G(self._z(n))
                scores = D(torch.cat([real, fake]))  # one pass: packs never straddle the halves
                real_score, fake_score = scores.chunk(2)
                d_loss = losses.d_loss(cfg.loss, real_score, fake_score)
                if cfg.gp_weight:
                    # interpolate whole packs: the critic's input is the packed vector
                    flat = 2 * cfg.pack
                    gp = losses.gradient_penalty(
                        lambda v: D(v.reshape(-1, 2)),
                        real.reshape(-1, flat),
                        fake.reshape(-1, flat),
                        generator=self.noise,
                    )
                    d_loss = d_loss + cfg.gp_weight * gp
                if cfg.r1_weight:
                    r1 = losses.r1_penalty(lambda v: D(v.reshape(-1, 2)), real.reshape(-1, 2 * cfg.pack))
                    d_loss = d_loss + 0.5 * cfg.r1_weight * r1
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            if cfg.clip:
                losses.clip_weights(D, cfg.clip)
        with ctx.autocast():
            g_loss = losses.g_loss(cfg.loss, D(G(self._z(n))))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        out = {"d": d_loss.detach(), "g": g_loss.detach()}
        if self.trajectory["modes"]:
            out["modes"] = self.trajectory["modes"][-1].float()
            out["hq"] = self.trajectory["high_quality"][-1]
        return out

    def after_step(self, step: int) -> None:
        every = self.cfg.snapshot_every
        if self.ctx.is_main and every and (step % every == 0 or step == self.cfg.steps):
            self._snapshot(step)

    # --- what the trajectory and the app see -------------------------------------------------

    @torch.no_grad()
    def generate(self, n: int | None = None) -> torch.Tensor:
        """Points from the fixed latents (the first n of them), on the CPU, float32."""
        z = self.fixed_z if n is None else self.fixed_z[:n]
        return self.net("generator")(z).float().cpu()

    def coverage(self, points: torch.Tensor | None = None) -> dict:
        """mixtures.mode_coverage of ``eval_samples`` fixed-latent points."""
        if points is None:
            points = self.generate()
        return mode_coverage(points[: self.cfg.eval_samples], self.centres, self.sigma)

    @torch.no_grad()
    def critic_map(self) -> torch.Tensor:
        """Critic scores (G, G) on a grid over ``extent``: row i is y, column j is x. With packing
        each grid point is judged as a pack of copies of itself."""
        xmin, xmax, ymin, ymax = self.extent.tolist()
        k = self.cfg.critic_grid
        ys, xs = torch.linspace(ymin, ymax, k), torch.linspace(xmin, xmax, k)
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        points = torch.stack([xx, yy], dim=-1).reshape(-1, 2).repeat_interleave(self.cfg.pack, 0)
        d = unwrap(self.nets["discriminator"])
        was_training = d.training
        d.eval()  # no power-iteration update of spectral norm while looking
        scores = d(points.to(self.ctx.device)).float().cpu().reshape(k, k)
        d.train(was_training)
        return scores

    def _snapshot(self, step: int) -> None:
        points = self.generate()
        cov = self.coverage(points)
        t = self.trajectory
        t["steps"].append(torch.tensor(step, dtype=torch.int64))
        t["points"].append(points[: self.cfg.snapshot_points].clone())
        t["critic"].append(self.critic_map())
        t["modes"].append(torch.tensor(cov["modes"], dtype=torch.int64))
        t["high_quality"].append(torch.tensor(cov["high_quality"], dtype=torch.float32))

    def trajectory_tensors(self) -> dict[str, torch.Tensor]:
        """The replay file's tensors (docs/DEVELOPING.md)."""
        t = self.trajectory
        if not t["steps"]:
            self._snapshot(0)
        return {
            "steps": torch.stack(t["steps"]).to(torch.int64),
            "points": torch.stack(t["points"]).float().contiguous(),
            "critic": torch.stack(t["critic"]).float().contiguous(),
            "extent": self.extent.float(),
            "modes": torch.stack(t["modes"]).to(torch.int64),
            "high_quality": torch.stack(t["high_quality"]).float(),
        }

    def inference_networks(self):
        return {"generator": ("mlp_generator", self.net("generator"))}

    def publish_extras(self, folder: Path) -> tuple[list[Path], dict]:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        path = folder / TRAJECTORY_FILE
        save_file(self.trajectory_tensors(), str(path))
        extras = {"mixture": self.cfg.mixture}
        standard_centres, standard_sigma = MIXTURES[self.cfg.mixture]
        if self.sigma != standard_sigma or not torch.equal(self.centres, standard_centres):
            extras.update(sigma=self.sigma, centres=self.centres.tolist())
        return [path], extras

    def extra_state(self) -> dict:
        return {"noise": self.noise.get_state(), "trajectory": {k: list(v) for k, v in self.trajectory.items()}}

    def load_extra_state(self, state: dict) -> None:
        if "noise" in state:
            self.noise.set_state(state["noise"].cpu())
        traj = state.get("trajectory", {})
        self.trajectory = {k: [v.cpu() for v in traj.get(k, [])] for k in self.trajectory}
