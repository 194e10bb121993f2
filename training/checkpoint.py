"""Full training state without pickle: every tensor into safetensors, the nested structure
(optimiser state dicts with int keys, scalars, RNG states) into JSON beside it. Written to a
temporary name and moved into place with ``os.replace``, so a crash never leaves half a file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def _flatten(obj, tensors: dict[str, torch.Tensor]):
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):  # keys may be ints (optimiser state): keep them as pairs
        return {"__dict__": [[_flatten(k, tensors), _flatten(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_flatten(v, tensors) for v in obj]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot checkpoint a {type(obj).__name__}")


def _unflatten(obj, tensors: dict[str, torch.Tensor]):
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {_unflatten(k, tensors): _unflatten(v, tensors) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def save_state(state: dict, path: Path) -> None:
    """Write ``path``.safetensors and ``path``.json atomically (json last: it marks completion)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, tensors)
    st, js = path.with_suffix(".safetensors"), path.with_suffix(".json")
    save_file(tensors, str(st) + ".tmp")
    os.replace(str(st) + ".tmp", st)
    js.with_suffix(".json.tmp").write_text(json.dumps(skeleton))
    os.replace(js.with_suffix(".json.tmp"), js)


def load_state(path: Path, device: torch.device | str = "cpu") -> dict:
    path = Path(path)
    tensors = load_file(str(path.with_suffix(".safetensors")), device=str(device))
    return _unflatten(json.loads(path.with_suffix(".json").read_text()), tensors)


def exists(path: Path) -> bool:
    path = Path(path)
    return path.with_suffix(".json").exists() and path.with_suffix(".safetensors").exists()
