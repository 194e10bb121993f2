"""Loaded models: one ``LoadedModel`` per manifest entry, and a ``ModelStore`` that loads each
once, keeps it resident on the GPU when there is one, and remembers which failed and why."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

import torch

from .manifest import ModelEntry, read_manifest
from .weights import WeightsError, load_network, read_verified

log = logging.getLogger(__name__)


def default_device() -> torch.device:
    """CUDA when present, else the CPU; GAN_GALLERY_DEVICE overrides (e.g. 'cpu')."""
    name = os.environ.get("GAN_GALLERY_DEVICE")
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class LoadedModel:
    entry: ModelEntry
    networks: dict[str, torch.nn.Module]
    device: torch.device
    extras: dict[str, bytes] = field(default_factory=dict)  # verified extra files by name
    fast: bool = False  # bf16 autocast + channels_last (the CUDA serving path; see bench/generation.py)

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def generator(self) -> torch.nn.Module:
        return self.networks["generator"]

    def parameter_count(self) -> int:
        return sum(p.numel() for net in self.networks.values() for p in net.parameters())

    def file_bytes(self) -> int:
        return sum(f.bytes for net in self.entry.networks.values() for f in net.files)


def load_entry(entry: ModelEntry, device: torch.device | str | None = None) -> LoadedModel:
    device = torch.device(device) if device is not None else default_device()
    networks = {role: load_network(entry, role, device) for role in entry.networks}
    extras = {os.path.basename(f.path): read_verified(entry, f) for f in entry.extra_files}
    fast = device.type == "cuda" and os.environ.get("GAN_GALLERY_FAST", "1") != "0"
    if fast:
        networks = {role: net.to(memory_format=torch.channels_last) for role, net in networks.items()}
    return LoadedModel(entry, networks, device, extras, fast)


def list_models() -> list[ModelEntry]:
    """Every model of the manifest, in manifest order."""
    return list(read_manifest().values())


def load_model(model_id: str, device: torch.device | str | None = None) -> LoadedModel:
    """Load one model by id, verifying every file against the manifest."""
    entries = read_manifest()
    if model_id not in entries:
        raise KeyError(f"unknown model {model_id!r}; known: {', '.join(entries) or 'none'}")
    return load_entry(entries[model_id], device)


class ModelStore:
    """Loads the manifest's models once; serves the ones that loaded and reports the others."""

    def __init__(self, device: torch.device | str | None = None, only: list[str] | None = None):
        self.device = torch.device(device) if device is not None else default_device()
        self.entries = read_manifest()
        if only:
            unknown = sorted(set(only) - set(self.entries))
            if unknown:
                log.warning("GAN_GALLERY_MODELS names unknown models %s", unknown)
            self.entries = {k: v for k, v in self.entries.items() if k in only}
        self.models: dict[str, LoadedModel] = {}
        self.errors: dict[str, str] = {}
        self._lock = threading.Lock()

    def load_all(self, warm_up: bool = True) -> None:
        from .ops import warm_up as _warm_up

        for model_id, entry in self.entries.items():
            try:
                model = load_entry(entry, self.device)
                if warm_up:
                    _warm_up(model)
            except WeightsError as e:
                self.errors[model_id] = str(e)
                log.error("model %s unavailable: %s", model_id, e)
                continue
            with self._lock:
                self.models[model_id] = model

    def get(self, model_id: str) -> LoadedModel:
        if model_id in self.models:
            return self.models[model_id]
        if model_id in self.errors:
            raise LookupError(f"model {model_id!r} is unavailable: {self.errors[model_id]}")
        raise LookupError(f"unknown model {model_id!r}")

    def ready(self) -> bool:
        return bool(self.models) or not self.entries
