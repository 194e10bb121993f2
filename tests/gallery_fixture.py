"""A tiny gallery with random weights for every task, built in a temporary folder, so the
loading, operations, app and reliability tests cover every code path before (and besides)
the shipped checkpoints. The shipped weights are tested by tests that read the real manifest."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from gan_models.mixtures import MIXTURES, mode_coverage
from gan_models.networks import Classifier, CVAEEncoder, DCGANGenerator, MLPGenerator, UNetGenerator
from gan_models.weights import file_record
from training.publish import publish_networks, upsert_entry

DIGITS = [str(i) for i in range(10)]


def _entry(model_id, task, networks, resolution, channels, class_names=(), **extra):
    return {
        "id": model_id,
        "title": f"Tiny {task} model",
        "description": "Random weights for tests.",
        "task": task,
        "architecture": task,
        "dataset": {"name": "synthetic", "licence": "test only"},
        "resolution": resolution,
        "channels": channels,
        "class_names": list(class_names),
        "networks": networks,
        "training": {"command": f"python -m training tiny --id {model_id}", "device": "cpu"},
        "metrics": {},
        **extra,
    }


def write_trajectory(root: Path, model_id: str, generator: MLPGenerator, mixture: str, snapshots: int = 3) -> dict:
    """The toy2d replay file: per snapshot, generated points, the critic on a grid, and the
    mode counters (see training's toy2d family for the real one)."""
    centres, sigma = MIXTURES[mixture]
    z = torch.randn(256, generator.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        points = torch.stack([generator(z) * (1 + 0.1 * i) for i in range(snapshots)])
    cov = [mode_coverage(p, centres, sigma) for p in points]
    tensors = {
        "steps": torch.arange(snapshots) * 100,
        "points": points,
        "critic": torch.randn(snapshots, 32, 32),
        "extent": torch.tensor([-1.5, 1.5, -1.5, 1.5]),
        "modes": torch.tensor([c["modes"] for c in cov]),
        "high_quality": torch.tensor([c["high_quality"] for c in cov]),
    }
    path = root / "weights" / model_id / "trajectory.safetensors"
    save_file(tensors, str(path))
    return file_record(path, root)


def build_tiny_gallery(root: Path) -> Path:
    """Write weights/ and weights_manifest.json for one tiny model of every task under root."""
    torch.manual_seed(0)
    root = Path(root)
    models = [
        (
            "tiny-digits",
            "sample",
            {"generator": ("dcgan_generator", DCGANGenerator(28, 1, 16, 8, 10, 8))},
            28,
            1,
            DIGITS,
        ),
        ("tiny-colour", "sample", {"generator": ("dcgan_generator", DCGANGenerator(32, 3, 16, 8))}, 32, 3, ()),
        (
            "tiny-cvaegan",
            "cvae-gan",
            {
                "generator": ("dcgan_generator", DCGANGenerator(64, 3, 16, 8, 3, 8)),
                "encoder": ("cvae_encoder", CVAEEncoder(64, 3, 3, 16, 8)),
            },
            64,
            3,
            ("Ada", "Bo", "Cy"),
        ),
        ("tiny-pix2pix", "pix2pix", {"generator": ("unet_generator", UNetGenerator(32, 1, 3, 8))}, 32, 3, ()),
        ("tiny-classifier", "classifier", {"classifier": ("classifier", Classifier(28, 1, 10, 8))}, 28, 1, DIGITS),
        ("tiny-toy", "toy2d", {"generator": ("mlp_generator", MLPGenerator(2, 32, 2))}, 2, 2, ()),
    ]
    for model_id, task, nets, res, ch, classes in models:
        networks = publish_networks(model_id, nets, root)
        extra = {}
        if task == "toy2d":
            extra = {
                "extras": {"mixture": "ring"},
                "extra_files": [write_trajectory(root, model_id, nets["generator"][1], "ring")],
            }
        upsert_entry(_entry(model_id, task, networks, res, ch, classes, **extra), root)
    return root / "weights_manifest.json"
