"""Finding, verifying and loading checkpoint files.

Resolution order for each file: the local ``weights/<id>/`` folder; else ``hf_hub_download``
from the manifest's pinned repo and revision (it honours HF_HUB_OFFLINE and the cache); else
an error that names the model and the command that trains it. Each file is read into memory
once, hashed, and those same bytes are parsed, so nothing can swap the file in between.
Only safetensors are parsed: no pickle is ever loaded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors

from .manifest import FileRecord, ModelEntry, weights_root
from .networks import ARCHITECTURES

MAX_FILE_BYTES = 512 * 1024 * 1024


class WeightsError(RuntimeError):
    """A checkpoint file is missing, differs from the manifest, or does not load."""


class WeightsMissing(WeightsError):
    """A checkpoint file is neither on disk nor obtainable from the Hub."""


def _hub_fetch(entry: ModelEntry, record: FileRecord) -> Path:
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url

    repo_id, revision = entry.hub["repo_id"], entry.hub["revision"]
    name = Path(record.path).relative_to(entry.folder).as_posix()
    try:  # the cache first: no network at all when the file is there
        return Path(hf_hub_download(repo_id, name, revision=revision, local_files_only=True))
    except Exception:
        if constants.is_offline_mode():
            raise
    # Not cached: one HEAD without retries first. hf_hub_download alone retries an unreachable Hub
    # with back-off for ~23 s per file, which would hold the app's start-up for minutes.
    get_hf_file_metadata(hf_hub_url(repo_id, name, revision=revision))
    return Path(hf_hub_download(repo_id, name, revision=revision))


def read_verified(entry: ModelEntry, record: FileRecord, root: Path | None = None) -> bytes:
    """Return the bytes of one file after checking its size and SHA-256 against the manifest."""
    local = (root or weights_root()) / record.path
    if local.is_file():
        source = local
    elif entry.hub:
        try:
            source = _hub_fetch(entry, record)
        except Exception as e:  # offline without cache, 404, network down: all mean "missing"
            raise WeightsMissing(
                f"model {entry.id!r}: {record.path} is not on disk and could not be fetched from "
                f"{entry.hub['repo_id']}@{entry.hub['revision']} ({type(e).__name__}: {e}). "
                f"Train it with: {entry.training['command']}"
            ) from None
    else:
        raise WeightsMissing(
            f"model {entry.id!r}: {record.path} is missing. Train it with: {entry.training['command']}"
        )
    with open(source, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) != record.bytes:
        raise WeightsError(
            f"model {entry.id!r}: {record.path} has {len(data)} bytes, the manifest says {record.bytes}; refused"
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != record.sha256:
        raise WeightsError(
            f"model {entry.id!r}: {record.path} has SHA-256 {digest[:12]}..., the manifest says "
            f"{record.sha256[:12]}...; refused"
        )
    return data


def load_state(entry: ModelEntry, record: FileRecord, data: bytes) -> dict[str, torch.Tensor]:
    """Parse verified safetensors bytes; refuse anything that is not clean, finite float data."""
    if data[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05") or data[:2] == b"PK":
        raise WeightsError(f"model {entry.id!r}: {record.path} is a pickle or zip archive, not safetensors; refused")
    try:
        state = load_safetensors(data)
    except Exception as e:
        raise WeightsError(f"model {entry.id!r}: {record.path} is not a valid safetensors file ({e})") from None
    for name, t in state.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise WeightsError(f"model {entry.id!r}: {record.path} tensor {name!r} holds NaN or inf; refused")
    return state


def load_network(entry: ModelEntry, role: str, device: torch.device | str = "cpu") -> torch.nn.Module:
    """Build one network of a model from its verified config.json and model.safetensors."""
    net = entry.networks[role]
    cfg_record, w_record = net.file("config.json"), net.file("model.safetensors")
    try:
        config = json.loads(read_verified(entry, cfg_record))
        module = ARCHITECTURES[net.architecture](**config)
    except WeightsError:
        raise
    except Exception as e:
        raise WeightsError(f"model {entry.id!r}: {cfg_record.path} does not build a {net.architecture} ({e})") from None
    state = load_state(entry, w_record, read_verified(entry, w_record))
    expected = set(module.state_dict())
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise WeightsError(
            f"model {entry.id!r}: {w_record.path} tensors do not match {net.architecture}: "
            f"missing {missing[:5]}, unexpected {extra[:5]}"
        )
    try:
        module.load_state_dict(state, strict=True)  # copy_ casts half-precision files to float32
    except RuntimeError as e:
        raise WeightsError(f"model {entry.id!r}: {w_record.path} does not fit {net.architecture}: {e}") from None
    return module.to(device).eval().requires_grad_(False)


def file_record(path: Path, root: Path | None = None) -> dict:
    """The manifest record of a file on disk (used when publishing)."""
    root = root or weights_root()
    data = Path(path).read_bytes()
    return {
        "path": Path(path).resolve().relative_to(root.resolve()).as_posix(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
