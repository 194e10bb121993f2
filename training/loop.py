"""The one training loop every recipe shares (the stylegan3 shape: one loop, small families).

A family (``training/families/*.py``) subclasses ``Family``: it builds its networks and
optimisers through the ``Context`` (device, bf16 autocast, channels_last, fused optimisers,
torch.compile, DDP), draws batches from a seeded sampler, and implements ``train_step``. The loop
owns everything else: progress bar with live losses, TensorBoard, sample grids from fixed
latents, the EMA copies of the inference networks, checkpoint and exact resume (networks,
optimisers, EMA, step and every RNG), and, on the main process only, all writing.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from training import checkpoint


@dataclass
class TrainConfig:
    """Loop settings every recipe shares; a family's config dataclass extends it."""

    model_id: str = ""  # the gallery id this run publishes as
    steps: int = 1000  # optimisation steps (generator steps for GANs)
    batch_size: int = 64  # global batch; split across processes under torchrun
    seed: int = 0
    data_root: str | None = None  # None: GAN_GALLERY_DATA or ../shared/data
    run_dir: str = ""  # default runs/<model_id>
    log_every: int = 50  # steps between logged losses
    sample_every: int = 500  # steps between sample grids (0: never)
    checkpoint_every: int = 1000  # steps between resume checkpoints (0: only at the end)
    lr_final: float = 1.0  # every optimiser's rate decays linearly to this fraction at the last step (1.0: off)...
    lr_decay_from: float = 0.0  # ...starting at this fraction of the run (constant before)
    ema_beta: float = 0.999  # EMA of inference networks' weights; 0 disables
    ema_warmup: bool = False  # beta rises as (1 + t) / (10 + t) up to ema_beta: a short run's EMA forgets the init
    device: str | None = None  # None: cuda when present, else cpu
    amp: bool = True  # bf16 autocast on CUDA (ignored on the CPU)
    channels_last: bool = True  # on CUDA
    compile: bool = False  # torch.compile the networks (CUDA)
    # bf16 autocast and channels_last on the CPU as well: about 2x per step where the CPU has native
    # bf16 (AVX512-BF16, AMX); off by default so CPU runs stay bit-exact (tests, exact resume)
    cpu_fast: bool = False
    resume: bool = True  # continue from run_dir's checkpoint when there is one


class Context:
    """Where and how a run computes: device, precision, distribution."""

    def __init__(self, cfg: TrainConfig, single_process: bool = False):
        """``single_process`` ignores torchrun's environment (publishing on rank 0 after a run)."""
        self.cfg = cfg
        self.world_size = 1 if single_process else int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = 0 if single_process else int(os.environ.get("RANK", "0"))
        self.distributed = self.world_size > 1
        if cfg.device:
            self.device = torch.device(cfg.device)
        else:
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.distributed:
            import torch.distributed as dist

            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.cuda = self.device.type == "cuda"
        if self.cuda:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def local_batch(self) -> int:
        return max(1, self.cfg.batch_size // self.world_size)

    @property
    def channels_last(self) -> bool:
        """Whether networks and image batches use the channels_last layout."""
        return self.cfg.channels_last if self.cuda else self.cfg.cpu_fast

    def autocast(self):
        """bf16 autocast on CUDA (``amp``) and on the CPU only when ``cpu_fast`` asks for it: by
        default CPU results must match the plain path."""
        if self.cuda and self.cfg.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        if not self.cuda and self.cfg.cpu_fast:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @property
    def compute(self) -> str:
        """The arithmetic ``autocast`` gives this run, as run.json and the manifest record it."""
        return "bf16 autocast" if isinstance(self.autocast(), torch.autocast) else "float32"

    def prepare(self, module: nn.Module) -> nn.Module:
        """Move to the device (channels_last if asked), compile if asked, wrap in DDP if distributed."""
        module = module.to(self.device)
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.cuda else None
            module = DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)
        if self.cfg.compile and self.cuda:
            module = torch.compile(module)
        return module

    def adam(self, params, lr: float, betas=(0.5, 0.999), **kw) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=self.cuda or None, **kw)

    def rmsprop(self, params, lr: float) -> torch.optim.Optimizer:
        return torch.optim.RMSprop(params, lr=lr, foreach=self.cuda or None)


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module under torch.compile and DDP wrappers."""
    module = getattr(module, "_orig_mod", module)
    module = getattr(module, "module", module)
    return getattr(module, "_orig_mod", module)


class Family:
    """What a model family brings to the loop. Subclasses set ``nets`` (trainable, prepared),
    ``opts``, ``ema_roles`` and ``meta``, and implement the methods below."""

    config_class: type[TrainConfig] = TrainConfig
    ema_roles: tuple[str, ...] = ()  # networks whose EMA copy is published (e.g. the generator)

    def __init__(self, cfg: TrainConfig, ctx: Context):
        self.cfg, self.ctx = cfg, ctx
        self.nets: dict[str, nn.Module] = {}
        self.opts: dict[str, torch.optim.Optimizer] = {}
        self.ema: dict[str, nn.Module] = {}
        self.meta: dict = {}  # class_names, resolution, channels, dataset: saved with the run

    def sampler(self):
        """An iterator of batches with state_dict/load_state_dict (see data.BatchSampler)."""
        raise NotImplementedError

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor]:
        """One optimisation step; returns detached losses (the loop reads them only to log)."""
        raise NotImplementedError

    def preview(self) -> torch.Tensor | None:
        """Images in [-1, 1] from fixed latents for the sample grid, or None."""
        return None

    def inference_networks(self) -> dict[str, tuple[str, nn.Module]]:
        """role -> (architecture name, module) to publish; EMA copies where there are."""
        raise NotImplementedError

    def net(self, role: str) -> nn.Module:
        """The network to run inference with: the EMA copy if any, else the trained one."""
        return self.ema[role] if role in self.ema else unwrap(self.nets[role])

    def after_step(self, step: int) -> None:
        """Hook after each step (the toy2d family records its trajectory here)."""

    def publish_extras(self, folder: Path) -> tuple[list[Path], dict]:
        """Extra files written into the model's weights folder, and the entry's ``extras``."""
        return [], {}

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())  # states load onto the run's device; RNG states live on the CPU
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _state(family: Family, sampler, step: int) -> dict:
    return {
        "step": step,
        "nets": {k: unwrap(v).state_dict() for k, v in family.nets.items()},
        "opts": {k: v.state_dict() for k, v in family.opts.items()},
        "ema": {k: v.state_dict() for k, v in family.ema.items()},
        "sampler": sampler.state_dict(),
        "rng": _rng_state(),
        "extra": family.extra_state(),
    }


def _load(family: Family, sampler, state: dict) -> int:
    for k, v in state["nets"].items():
        unwrap(family.nets[k]).load_state_dict(v)
    for k, v in state["opts"].items():
        family.opts[k].load_state_dict(v)
    for k, v in state["ema"].items():
        family.ema[k].load_state_dict(v)
    sampler.load_state_dict(state["sampler"])
    _set_rng_state(state["rng"])
    family.load_extra_state(state["extra"])
    return state["step"]


def linear_decay(step: int, steps: int, decay_from: float, final: float) -> float:
    """Learning-rate factor at 0-based ``step``: 1 until ``decay_from`` of the run, then falling
    linearly to ``final`` at the last step (pix2pix's schedule; settles a GAN's oscillation)."""
    if final == 1.0:
        return 1.0
    start = int(decay_from * steps)
    progress = max(step - start, 0) / max(steps - 1 - start, 1)
    return 1 - (1 - final) * min(progress, 1.0)


def _scale_learning_rates(family: Family, base_lrs: list[list[float]], factor: float) -> None:
    for opt, lrs in zip(family.opts.values(), base_lrs, strict=True):
        for group, lr in zip(opt.param_groups, lrs, strict=True):
            group["lr"] = lr * factor


def ema_beta(cfg: TrainConfig, step: int) -> float:
    """The EMA decay at 0-based ``step``. At 0.999 the random init still weighs 30% after 1,200
    steps; the warm-up (TensorFlow's ``num_updates`` rule) averages over about the last 10% of a run
    until the fixed decay takes over."""
    return min(cfg.ema_beta, (1 + step) / (10 + step)) if cfg.ema_warmup else cfg.ema_beta


@torch.no_grad()
def _update_ema(family: Family, beta: float) -> None:
    for role, ema in family.ema.items():
        live = unwrap(family.nets[role])
        for e, p in zip(ema.parameters(), live.parameters(), strict=True):
            e.lerp_(p.detach().float(), 1 - beta)
        for e, b in zip(ema.buffers(), live.buffers(), strict=True):
            e.copy_(b)


def run_dir(cfg: TrainConfig) -> Path:
    return Path(cfg.run_dir or Path("runs") / cfg.model_id)


def build(family_cls: type[Family], cfg: TrainConfig, ctx: Context | None = None) -> Family:
    family = family_cls(cfg, ctx or Context(cfg))
    if cfg.ema_beta > 0:
        family.ema = {r: copy.deepcopy(unwrap(family.nets[r])).eval().requires_grad_(False) for r in family.ema_roles}
    return family


def train(family_cls: type[Family], cfg: TrainConfig, command: str | None = None) -> Path:
    """Train to cfg.steps (resuming when a checkpoint exists); returns the run folder."""
    from torch.utils.tensorboard import SummaryWriter
    from torchvision.utils import save_image
    from tqdm import tqdm

    ctx = Context(cfg)
    torch.manual_seed(cfg.seed + ctx.rank)
    out = run_dir(cfg)
    family = build(family_cls, cfg, ctx)
    # the rates the optimisers were built with, before a resumed state brings decayed ones
    base_lrs = [[group["lr"] for group in opt.param_groups] for opt in family.opts.values()]
    sampler = family.sampler()
    state_path = out / "state"
    step = 0
    if cfg.resume and checkpoint.exists(state_path):
        step = _load(family, sampler, checkpoint.load_state(state_path, ctx.device))
    writer = SummaryWriter(out / "tb") if ctx.is_main else None
    wall = 0.0
    summary_path = out / "run.json"
    if step and summary_path.exists():
        wall = json.loads(summary_path.read_text()).get("wall_time_s", 0.0)
    if ctx.is_main and step and step == cfg.steps:
        # a run stopped at a checkpoint and closed at that step: record the command that says so
        _write_summary(out, family, cfg, ctx, step, wall, command)
    started = time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=step, disable=not ctx.is_main, dynamic_ncols=True, desc=cfg.model_id)
    while step < cfg.steps:
        if cfg.lr_final != 1.0:
            _scale_learning_rates(family, base_lrs, linear_decay(step, cfg.steps, cfg.lr_decay_from, cfg.lr_final))
        losses = family.train_step(next(sampler), step)
        if family.ema:
            _update_ema(family, ema_beta(cfg, step))
        step += 1
        family.after_step(step)
        if ctx.is_main and (step % cfg.log_every == 0 or step == cfg.steps):
            values = {k: float(v) for k, v in losses.items()}
            for k, v in values.items():
                writer.add_scalar(f"loss/{k}", v, step)
            bar.set_postfix({k: f"{v:.3f}" for k, v in values.items()}, refresh=False)
        if ctx.is_main and cfg.sample_every and (step % cfg.sample_every == 0 or step == cfg.steps):
            images = family.preview()
            if images is not None:
                (out / "samples").mkdir(parents=True, exist_ok=True)
                save_image(images.float() * 0.5 + 0.5, out / "samples" / f"{step:07d}.png", nrow=8)
                writer.add_images("samples", images.float()[:64] * 0.5 + 0.5, step)
        if ctx.is_main and (step == cfg.steps or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0)):
            checkpoint.save_state(_state(family, sampler, step), state_path)
            _write_summary(out, family, cfg, ctx, step, wall + time.perf_counter() - started, command)
        bar.update(1)
    bar.close()
    if writer:
        writer.close()
    return out


def _write_summary(out: Path, family: Family, cfg: TrainConfig, ctx: Context, step, wall, command) -> None:
    device = torch.cuda.get_device_name(ctx.device) if ctx.cuda else "cpu"
    summary = {
        "family": type(family).__name__,
        "config": dataclasses.asdict(cfg),
        "meta": family.meta,
        "steps": step,
        "wall_time_s": round(wall, 1),
        "device": f"{device} x{ctx.world_size}" if ctx.distributed else device,
        "compute": ctx.compute,
        "command": command or "python -m training " + " ".join(sys.argv[1:]),
        "torch": torch.__version__,
    }
    (out / "run.json").write_text(json.dumps(summary, indent=2))


def load_trained(family_cls: type[Family], run: Path) -> Family:
    """Rebuild a family from a run folder (config + final state), for publishing."""
    summary = json.loads((Path(run) / "run.json").read_text())
    fields = {f.name for f in dataclasses.fields(family_cls.config_class)}
    cfg = family_cls.config_class(**{k: v for k, v in summary["config"].items() if k in fields})
    cfg.device = "cpu"
    family = build(family_cls, cfg, Context(cfg, single_process=True))
    state = checkpoint.load_state(Path(run) / "state")
    for k, v in state["nets"].items():
        unwrap(family.nets[k]).load_state_dict(v)
    for k, v in state["ema"].items():
        family.ema[k].load_state_dict(v)
    family.load_extra_state(state["extra"])
    family.meta = summary["meta"]
    return family
