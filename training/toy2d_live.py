"""A short 2D GAN run streamed to the app's "make collapse happen" panel.

``live_run`` builds the toy2d family through ``training.loop.build`` and calls its own
``train_step``: the panel trains exactly what the recipes train, only smaller and bounded.
Every run is seeded and draws from its own generators, so the same settings replay the same run.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from gan_models.mixtures import MIXTURES
from training import losses
from training.families.toy2d import Toy2DConfig, Toy2DFamily
from training.loop import Context, build

MAX_STEPS = 2000
MAX_PACK = 4
MAX_LR = 0.01
EVAL_POINTS = 2500  # points per frame, from fixed latents; PacGAN counts modes over 2,500 samples
ALIASES = {"gan": "ns"}  # the app's name for the non-saturating GAN

# what each loss needs besides its learning rate (the usual companions of each paper)
LOSS_SETTINGS = {
    "minimax": dict(beta1=0.5, beta2=0.999),
    "ns": dict(beta1=0.5, beta2=0.999),
    "lsgan": dict(beta1=0.5, beta2=0.999),
    "hinge": dict(beta1=0.5, beta2=0.999),
    "wgan": dict(optimizer="rmsprop", clip=0.01, n_critic=5),
    "wgan-gp": dict(gp_weight=0.1, n_critic=5, beta1=0.5, beta2=0.9),
}
# small networks (the recipes' depth, narrower) keep a 2,000-step run within seconds on a CPU
NETWORK = dict(z_dim=2, g_hidden=128, g_depth=3, d_hidden=128, d_depth=3, batch_size=256)


def _integer(value, name: str, low: int, high: int) -> int:
    """An integral number (a slider may send 2.0) within [low, high]."""
    try:
        ok = not isinstance(value, bool) and int(value) == value and low <= int(value) <= high
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an integer from {low} to {high}")
    return int(value)


def live_config(mixture: str, loss: str, pack: int, steps: int, lr: float, seed: int) -> Toy2DConfig:
    """The bounded configuration a live run trains; raises ValueError outside the bounds."""
    if mixture not in MIXTURES:
        raise ValueError(f"mixture must be one of {sorted(MIXTURES)}")
    loss = ALIASES.get(loss, loss)
    if loss not in losses.KINDS:
        raise ValueError(f"loss must be one of {losses.KINDS} (or 'gan' for 'ns')")
    pack, steps = _integer(pack, "pack", 1, MAX_PACK), _integer(steps, "steps", 1, MAX_STEPS)
    lr = float(lr)
    if not 0 < lr <= MAX_LR:  # also false for NaN
        raise ValueError(f"learning rate must be in (0, {MAX_LR}]")
    return Toy2DConfig(
        model_id=f"live-{mixture}",
        mixture=mixture,
        loss=loss,
        pack=pack,
        steps=steps,
        lr_g=lr,
        lr_d=lr,
        seed=int(seed),
        device="cpu",
        ema_beta=0.0,
        snapshot_every=0,
        snapshot_points=EVAL_POINTS,
        eval_samples=EVAL_POINTS,
        **NETWORK,
        **LOSS_SETTINGS[loss],
    )


def live_run(
    mixture: str = "ring",
    loss: str = "ns",
    pack: int = 1,
    steps: int = 1000,
    lr: float = 1e-3,
    seed: int = 0,
    every: int = 50,
) -> Iterator[dict]:
    """Train a small 2D GAN and yield at step 0, every ``every`` steps and at the last step
    ``{"step", "points" (2500, 2) float tensor, "modes", "total_modes", "high_quality", "d_loss",
    "g_loss"}``: points from fixed latents, modes and high quality from ``mixtures.mode_coverage``
    on them (losses are NaN at step 0). The same arguments give the same frames."""
    cfg = live_config(mixture, loss, pack, steps, lr, seed)
    every = _integer(every, "every", 1, 10**9)
    with torch.random.fork_rng(devices=[]):  # initial weights from the seed, global RNG untouched
        torch.manual_seed(cfg.seed)
        family = build(Toy2DFamily, cfg, Context(cfg, single_process=True))  # never joins a torchrun group
    batches = family.sampler()  # real points and latents come from the family's own generators

    def frame(step: int, d_loss: float, g_loss: float) -> dict:
        points = family.generate()
        cov = family.coverage(points)
        return {
            "step": step,
            "points": points,
            "modes": cov["modes"],
            "total_modes": cov["total_modes"],
            "high_quality": cov["high_quality"],
            "d_loss": d_loss,
            "g_loss": g_loss,
        }

    yield frame(0, float("nan"), float("nan"))
    for step in range(cfg.steps):
        out = family.train_step(next(batches), step)
        done = step + 1
        if done % every == 0 or done == cfg.steps:
            yield frame(done, float(out["d"]), float(out["g"]))
