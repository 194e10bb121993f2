"""``weights_manifest.json``: the single list of what the gallery serves, validated on load.

Schema (version 1)::

    {"schema_version": 1,
     "models": [{
        "id": "mnist-dcgan-ns",                 # [a-z0-9-]+, unique; weights live in weights/<id>/
        "title": "DCGAN, non-saturating loss",  # one line for the page
        "description": "...",                   # a paragraph: what it is and what it shows
        "task": "sample",                       # sample | cvae-gan | pix2pix | toy2d | classifier
        "architecture": "dcgan",                # family name shown to users
        "dataset": {"name": "MNIST", "licence": "CC BY-SA 3.0", "credit": "LeCun, Cortes & Burges"},
        "resolution": 28, "channels": 1,
        "class_names": ["0", ..., "9"],         # [] when the model has no classes
        "networks": {                           # role -> network; roles by task, see REQUIRED_ROLES
           "generator": {"architecture": "dcgan_generator",   # a key of networks.ARCHITECTURES
                         "files": [{"path": "weights/<id>/generator/config.json", "sha256": "<64 hex>", "bytes": 301},
                                   {"path": "weights/<id>/generator/model.safetensors", ...}]}},
        "extra_files": [...],                   # optional, same file records (e.g. a 2D trajectory)
        "extras": {"mixture": "ring"},          # optional, task-specific settings (toy2d: mixture name)
        "hub": {"repo_id": "org/name", "revision": "<commit>"},  # optional: where missing files come from
        "training": {"command": "python -m training ...", "device": "cpu", "steps": 2000, "wall_time_s": 61.0},
        "metrics": {"command": "python -m training.evaluate <id>", "values": {...}, "details": {...}},
        "below_bar": "why",                     # optional: shipped although it misses its quality bar
                                                # (tests/test_shipped_quality.py holds this honest)
        "ablation_of": "celeb24-cvaegan"        # optional: an ablation, shown beside (after) that model
     }]}

Paths are relative to the project root; on the Hub a file's name is its path below weights/<id>/.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_VERSION = 1
TASKS = ("sample", "cvae-gan", "pix2pix", "toy2d", "classifier")
REQUIRED_ROLES = {
    "sample": {"generator"},
    "cvae-gan": {"generator", "encoder"},
    "pix2pix": {"generator"},
    "toy2d": {"generator"},
    "classifier": {"classifier"},
}
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


class ManifestError(ValueError):
    """The manifest is malformed; the message names the model and field."""


@dataclass(frozen=True)
class FileRecord:
    path: str  # relative to the project root
    sha256: str
    bytes: int


@dataclass(frozen=True)
class NetworkRecord:
    architecture: str
    files: tuple[FileRecord, ...]

    def file(self, name: str) -> FileRecord:
        for f in self.files:
            if Path(f.path).name == name:
                return f
        raise ManifestError(f"network has no file {name!r}")


@dataclass(frozen=True)
class ModelEntry:
    id: str
    title: str
    task: str
    architecture: str
    dataset: dict
    resolution: int
    channels: int
    class_names: tuple[str, ...]
    networks: dict[str, NetworkRecord]
    training: dict
    description: str = ""
    metrics: dict = field(default_factory=dict)
    hub: dict | None = None
    extra_files: tuple[FileRecord, ...] = ()
    extras: dict = field(default_factory=dict)
    below_bar: str | None = None  # shipped although it misses its quality bar, and why
    ablation_of: str | None = None  # the model this one is an ablation of (the menus list it after)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def folder(self) -> str:
        return f"weights/{self.id}"


def weights_root() -> Path:
    """Where manifest paths resolve: the project, or GAN_GALLERY_ROOT (tests, custom galleries)."""
    return Path(os.environ.get("GAN_GALLERY_ROOT", PROJECT_ROOT))


def manifest_path() -> Path:
    return Path(os.environ.get("GAN_GALLERY_MANIFEST", weights_root() / "weights_manifest.json"))


def _need(d: dict, key: str, kind, where: str):
    if key not in d:
        raise ManifestError(f"{where}: missing field {key!r}")
    if not isinstance(d[key], kind) or (kind is int and isinstance(d[key], bool)):
        raise ManifestError(f"{where}: field {key!r} must be {getattr(kind, '__name__', kind)}")
    return d[key]


def _file(d, where: str, model_id: str) -> FileRecord:
    if not isinstance(d, dict):
        raise ManifestError(f"{where}: a file record must be an object")
    path = _need(d, "path", str, where)
    p = Path(path)
    if p.is_absolute() or ".." in p.parts or p.parts[:2] != ("weights", model_id):
        raise ManifestError(f"{where}: path {path!r} must lie under weights/{model_id}/")
    sha = _need(d, "sha256", str, where)
    if not _SHA.match(sha):
        raise ManifestError(f"{where}: sha256 of {path!r} must be 64 lowercase hex digits")
    size = _need(d, "bytes", int, where)
    if size < 0:
        raise ManifestError(f"{where}: bytes of {path!r} must be >= 0")
    return FileRecord(path, sha, size)


def parse_entry(d: dict, architectures) -> ModelEntry:
    if not isinstance(d, dict):
        raise ManifestError("every model entry must be an object")
    model_id = _need(d, "id", str, "model entry")
    where = f"model {model_id!r}"
    if not _ID.match(model_id):
        raise ManifestError(f"{where}: id must match {_ID.pattern}")
    task = _need(d, "task", str, where)
    if task not in TASKS:
        raise ManifestError(f"{where}: task {task!r} is not one of {', '.join(TASKS)}")
    dataset = _need(d, "dataset", dict, where)
    for key in ("name", "licence"):
        _need(dataset, key, str, f"{where}: dataset")
    nets = _need(d, "networks", dict, where)
    missing = REQUIRED_ROLES[task] - set(nets)
    if missing:
        raise ManifestError(f"{where}: task {task!r} needs networks {sorted(missing)}")
    networks = {}
    for role, net in nets.items():
        w = f"{where}: network {role!r}"
        if not isinstance(net, dict):
            raise ManifestError(f"{w} must be an object")
        arch = _need(net, "architecture", str, w)
        if arch not in architectures:
            raise ManifestError(f"{w}: unknown architecture {arch!r}")
        files = tuple(_file(f, w, model_id) for f in _need(net, "files", list, w))
        names = sorted(Path(f.path).name for f in files)
        if names != ["config.json", "model.safetensors"]:  # each exactly once
            raise ManifestError(f"{w}: files must be config.json and model.safetensors, got {names}")
        networks[role] = NetworkRecord(arch, files)
    hub = d.get("hub")
    if hub is not None:
        if not isinstance(hub, dict):
            raise ManifestError(f"{where}: hub must be an object")
        _need(hub, "repo_id", str, f"{where}: hub")
        _need(hub, "revision", str, f"{where}: hub")
    training = _need(d, "training", dict, where)
    _need(training, "command", str, f"{where}: training")
    metrics = d.get("metrics", {})
    if not isinstance(metrics, dict) or (metrics and "command" not in metrics):
        raise ManifestError(f"{where}: metrics must be an object with the 'command' that measured them")
    class_names = _need(d, "class_names", list, where)
    if not all(isinstance(c, str) for c in class_names):
        raise ManifestError(f"{where}: class_names must be strings")
    channels = _need(d, "channels", int, where)
    resolution = _need(d, "resolution", int, where)
    if task != "toy2d" and (channels not in (1, 3) or resolution < 1):
        raise ManifestError(f"{where}: channels must be 1 or 3 and resolution positive")
    return ModelEntry(
        id=model_id,
        title=_need(d, "title", str, where),
        task=task,
        architecture=_need(d, "architecture", str, where),
        dataset=dataset,
        resolution=resolution,
        channels=channels,
        class_names=tuple(class_names),
        networks=networks,
        training=training,
        description=d.get("description", ""),
        metrics=metrics,
        hub=hub,
        extra_files=tuple(_file(f, f"{where}: extra_files", model_id) for f in d.get("extra_files", [])),
        extras=d.get("extras", {}) if isinstance(d.get("extras", {}), dict) else {},
        below_bar=_below_bar(d, where),
        ablation_of=_ablation_of(d, where, model_id),
    )


def _below_bar(d: dict, where: str) -> str | None:
    note = d.get("below_bar")
    if note is not None and (not isinstance(note, str) or not note.strip()):
        raise ManifestError(f"{where}: below_bar must be a non-empty explanation")
    return note


def _ablation_of(d: dict, where: str, model_id: str) -> str | None:
    """The id of the full model; it need not be shipped yet (an ablation may be published first)."""
    of = d.get("ablation_of")
    if of is not None and (not isinstance(of, str) or not _ID.match(of) or of == model_id):
        raise ManifestError(f"{where}: ablation_of must be the id of another model")
    return of


def parse_manifest(data) -> dict[str, ModelEntry]:
    """Validate a decoded manifest and return its entries by id."""
    from .networks import ARCHITECTURES

    if not isinstance(data, dict):
        raise ManifestError("the manifest must be a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ManifestError(f"schema_version must be {SCHEMA_VERSION}, got {version!r}")
    models = data.get("models")
    if not isinstance(models, list):
        raise ManifestError("field 'models' must be a list")
    entries: dict[str, ModelEntry] = {}
    for d in models:
        entry = parse_entry(d, ARCHITECTURES)
        if entry.id in entries:
            raise ManifestError(f"model {entry.id!r} appears twice")
        entries[entry.id] = entry
    return entries


def read_manifest(path: Path | None = None) -> dict[str, ModelEntry]:
    path = Path(path or manifest_path())
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"no manifest at {path}") from None
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path} is not valid JSON: {e}") from None
    return parse_manifest(data)


def raw_manifest(path: Path | None = None) -> dict:
    """The manifest as plain JSON data, for tools that rewrite it (training.publish)."""
    path = Path(path or manifest_path())
    if not path.exists():
        return {"schema_version": SCHEMA_VERSION, "models": []}
    return json.loads(path.read_text())


def write_manifest(data: dict, path: Path | None = None) -> None:
    """Validate, then write atomically so a reader never sees half a file."""
    parse_manifest(data)
    path = Path(path or manifest_path())
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
