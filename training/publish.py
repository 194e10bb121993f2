"""Publishing: inference networks -> ``weights/<id>/<role>/`` in the PyTorchModelHubMixin layout
(config.json + model.safetensors), SHA-256 and sizes into ``weights_manifest.json``.
Discriminators and optimiser state stay in the run folder."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import torch

from gan_models.manifest import raw_manifest, weights_root, write_manifest
from gan_models.weights import file_record


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """Strip DDP and torch.compile wrappers so saved names carry no prefixes."""
    module = getattr(module, "module", module)
    return getattr(module, "_orig_mod", module)


def save_network(module: torch.nn.Module, folder: Path, half: bool = False) -> None:
    """save_pretrained writes config.json and model.safetensors; ``half`` stores fp16 tensors
    (loading casts them back to float32), halving the file."""
    module = unwrap(module)
    folder.mkdir(parents=True, exist_ok=True)
    if half:
        import copy

        module = copy.deepcopy(module).half()
    module.save_pretrained(folder)


BN_CALIBRATION_SAMPLES = 5_000
BN_CALIBRATION_BATCH = 100


def _calibration_batches(family, net: torch.nn.Module, samples: int, batch: int, seed: int):
    """Inputs like those the network sees in use, by network type: latents (and uniform labels)
    for a DCGAN generator, unaugmented training images (and labels) for a classifier or a CVAE
    encoder. None when there is nothing to feed it."""
    from gan_models.networks import Classifier, CVAEEncoder, DCGANGenerator
    from training.data import to_float

    g = torch.Generator().manual_seed(seed)
    if isinstance(net, DCGANGenerator):
        for start in range(0, samples, batch):
            n = min(batch, samples - start)
            z = torch.randn(n, net.z_dim, generator=g)
            yield (z, torch.randint(net.num_classes, (n,), generator=g)) if net.num_classes else (z,)
        return
    data = getattr(family, "data", None)
    if not isinstance(net, (Classifier, CVAEEncoder)) or data is None:
        return
    idx = torch.randperm(len(data.images), generator=g)[:samples]
    for start in range(0, len(idx), batch):
        x = to_float(data.images[idx[start : start + batch]])
        yield (x, data.labels[idx[start : start + batch]]) if isinstance(net, CVAEEncoder) else (x,)


@torch.no_grad()
def recalibrate_batchnorm(family, samples: int = BN_CALIBRATION_SAMPLES, batch: int = BN_CALIBRATION_BATCH) -> list:
    """Recompute the BatchNorm running statistics of the EMA networks that get published.

    The loop averages weights (EMA) but copies BatchNorm running statistics from the live
    network: statistics of other weights. In eval mode that mismatch costs accuracy (the digit
    classifier: 97.9% instead of 99.4% on the MNIST test set) and shifts generated images. As
    ``torch.optim.swa_utils.update_bn`` does for averaged weights, the statistics are measured
    again: a cumulative average over ``samples`` inputs in train mode. Returns the roles redone."""
    redone = []
    for role, net in family.ema.items():
        norms = [
            m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        ]
        batches = list(_calibration_batches(family, net, samples, batch, seed=0)) if norms else []
        if not batches:
            continue
        device = next(net.parameters()).device
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over all calibration batches
        was_training = net.training
        net.train()
        for inputs in batches:
            net(*(t.to(device) for t in inputs))
        net.train(was_training)
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        redone.append(role)
    return redone


def publish_networks(
    model_id: str,
    networks: dict[str, tuple[str, torch.nn.Module]],
    root: Path | None = None,
    half: bool = False,
) -> dict:
    """Write each (architecture, module) by role under weights/<id>/ and return the manifest's
    ``networks`` object with the files' SHA-256 and sizes."""
    root = Path(root or weights_root())
    model_dir = root / "weights" / model_id
    if model_dir.exists():
        shutil.rmtree(model_dir)
    out = {}
    for role, (architecture, module) in networks.items():
        folder = model_dir / role
        save_network(module, folder, half=half)
        out[role] = {
            "architecture": architecture,
            "files": [file_record(folder / name, root) for name in ("config.json", "model.safetensors")],
        }
    return out


def upsert_entry(entry: dict, root: Path | None = None) -> None:
    """Insert or replace one model entry in the manifest (validated, written atomically).
    Metrics already measured for the same id are kept only if the caller passes them."""
    root = Path(root or weights_root())
    path = root / "weights_manifest.json"
    data = raw_manifest(path)
    models = [m for m in data["models"] if m.get("id") != entry["id"]]
    old = next((m for m in data["models"] if m.get("id") == entry["id"]), None)
    position = data["models"].index(old) if old else len(models)
    models.insert(position, entry)
    data["models"] = models
    write_manifest(data, path)


def reproducing_command(command: str, run: Path, half: bool) -> str:
    """The command that makes the published files: a ``--no-publish`` run is followed by the
    publish step that wrote them (with ``--half`` when it was asked for there)."""
    if "--no-publish" not in shlex.split(command):
        return command
    return f"{command} && python -m training.publish {shlex.quote(str(run))}" + (" --half" if half else "")


def publish_run(run: Path, half: bool = False, root: Path | None = None) -> dict:
    """Publish a finished run folder: inference networks, extra files and a manifest entry.
    Metrics are left empty: a new checkpoint must be measured again (training.evaluate)."""
    import datetime
    import json

    from training.loop import load_trained
    from training.recipes import RECIPES, families

    run = Path(run)
    summary = json.loads((run / "run.json").read_text())
    command = reproducing_command(summary["command"], run, half)
    half = half or bool(summary["config"].get("half_weights", False))  # a recipe may ask for float16 files
    family = load_trained(families()[summary["family"]], run)
    recalibrate_batchnorm(family)  # the EMA copies carry the live networks' BatchNorm statistics
    model_id = summary["config"]["model_id"]
    recipe = RECIPES.get(model_id)
    root = Path(root or weights_root())
    networks = publish_networks(model_id, family.inference_networks(), root, half=half)
    extra_paths, extras = family.publish_extras(root / "weights" / model_id)
    meta = summary["meta"]
    entry = {
        "id": model_id,
        "title": recipe.title if recipe else model_id,
        "description": recipe.description if recipe else "",
        "task": recipe.task if recipe else meta.get("task", "sample"),
        "architecture": recipe.architecture if recipe else summary["family"],
        "dataset": meta["dataset"],
        "resolution": meta["resolution"],
        "channels": meta["channels"],
        "class_names": list(meta.get("class_names", [])),
        "networks": networks,
        "training": {
            "command": command,
            "device": summary["device"],
            "steps": summary["steps"],
            "batch_size": summary["config"]["batch_size"],
            "wall_time_s": summary["wall_time_s"],
            "date": datetime.date.today().isoformat(),
            "torch": summary["torch"],
            "precision": "float16 weights" if half else "float32 weights",
            "compute": summary.get("compute", "not recorded"),  # run.json from before it was recorded
        },
        "metrics": {},
    }
    if recipe and recipe.ablation_of:
        entry["ablation_of"] = recipe.ablation_of
    if extra_paths:
        entry["extra_files"] = [file_record(p, root) for p in extra_paths]
    if extras:
        entry["extras"] = extras
    upsert_entry(entry, root)
    return entry


def halve_shipped(model_id: str, root: Path | None = None) -> dict:
    """Store an already shipped float32 model as float16: the networks are read from their
    verified files, so the result is exactly what ``publish --half`` of the same run writes (it
    casts after the BatchNorm recalibration too). Metrics are cleared: measure again."""
    from gan_models.manifest import read_manifest
    from gan_models.weights import load_network

    root = Path(root or weights_root())
    entry = read_manifest(root / "weights_manifest.json").get(model_id)
    if entry is None:
        raise SystemExit(f"{model_id!r} is not in {root / 'weights_manifest.json'}")
    raw = next(m for m in raw_manifest(root / "weights_manifest.json")["models"] if m["id"] == model_id)
    if raw["training"].get("precision") == "float16 weights":
        raise SystemExit(f"{model_id} already ships float16 weights")
    nets = {role: (raw["networks"][role]["architecture"], load_network(entry, role)) for role in raw["networks"]}
    model_dir = root / "weights" / model_id
    extras = {p.relative_to(model_dir) for p in model_dir.rglob("*") if p.is_file()} - {
        Path(role) / name for role in nets for name in ("config.json", "model.safetensors", "README.md")
    }
    if extras:  # publish_networks replaces the folder; extra files would need their run
        raise SystemExit(f"{model_id} ships extra files ({sorted(map(str, extras))}); publish its run with --half")
    raw["networks"] = publish_networks(model_id, nets, root, half=True)
    command = raw["training"]["command"]
    raw["training"]["command"] = command if command.endswith(" --half") else command + " --half"
    raw["training"]["precision"] = "float16 weights"
    raw["metrics"] = {}
    upsert_entry(raw, root)
    return raw


def push_to_hub(model_id: str, repo_id: str, root: Path | None = None) -> str:
    """Upload weights/<id>/ to a Hub repo; returns the commit to pin in the manifest's ``hub``."""
    from huggingface_hub import HfApi

    root = Path(root or weights_root())
    api = HfApi()
    api.create_repo(repo_id, exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, folder_path=root / "weights" / model_id)
    return info.oid


def main(argv: list[str] | None = None) -> int:
    import argparse

    from gan_models.manifest import raw_manifest, write_manifest

    parser = argparse.ArgumentParser(prog="python -m training.publish", description=__doc__)
    parser.add_argument("run", help="a run folder, e.g. runs/mnist-dcgan-ns")
    parser.add_argument("--half", action="store_true", help="store float16 weights (half the size)")
    parser.add_argument("--push-to-hub", metavar="REPO", help="also upload to this Hugging Face repo")
    parser.add_argument(
        "--halve", action="store_true", help="RUN is a shipped model id: rewrite its float32 files as float16"
    )
    args = parser.parse_args(argv)
    if args.halve:
        halve_shipped(args.run)
        print(f"{args.run} now ships float16 weights; measure it again with python -m training.evaluate")
        return 0
    entry = publish_run(Path(args.run), half=args.half)
    print(f"published {entry['id']}")
    if args.push_to_hub:
        commit = push_to_hub(entry["id"], args.push_to_hub)
        data = raw_manifest()
        for m in data["models"]:
            if m["id"] == entry["id"]:
                m["hub"] = {"repo_id": args.push_to_hub, "revision": commit}
        write_manifest(data)
        print(f"pushed to {args.push_to_hub}@{commit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
