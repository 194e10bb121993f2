"""Publishing: inference networks -> ``weights/<id>/<role>/`` in the PyTorchModelHubMixin layout
(config.json + model.safetensors), SHA-256 and sizes into ``weights_manifest.json``.
Discriminators and optimiser state stay in the run folder."""

from __future__ import annotations

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
