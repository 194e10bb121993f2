"""The README's gallery table, made from the manifest: one row per model with its data set, a
summary of its measured metrics, its training length and its size
(``python -m training.evaluate --table --write-readme``)."""

from __future__ import annotations

import re
from pathlib import Path

from gan_models.manifest import ModelEntry, read_manifest

TABLE_START, TABLE_END = "<!-- gallery-table:start -->", "<!-- gallery-table:end -->"


class TableError(ValueError):
    """The README cannot take the table (its markers are missing)."""


def _pct(x) -> str:
    return f"{100 * x:.1f}%"


def _g(x, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def summarise(metrics: dict) -> str:
    """One table cell from a ``metrics`` object."""
    if not metrics or not metrics.get("values"):
        return "not measured yet"
    v, ref, det = metrics["values"], metrics.get("reference", {}), metrics.get("details", {})
    kind = det.get("evaluation")
    n, fnet = metrics.get("samples"), metrics.get("feature_network")
    parts: list[str] = []
    if kind == "digits":
        parts = [
            f"FD {_g(v['frechet_distance'])} (real {_g(ref.get('frechet_distance', float('nan')))})",
            f"KID {v['kid']:.4f}",
            f"P/R {v['precision']:.2f}/{v['recall']:.2f}",
            f"D/C {v['density']:.2f}/{v['coverage']:.2f}",
            f"IS {v['inception_score']:.2f}",
            f"conf {v['confidence']:.3f}",
            f"classes {_pct(v['min_class_fraction'])}–{_pct(v['max_class_fraction'])}",
        ]
        if "class_accuracy" in v:
            parts.append(f"class acc {_pct(v['class_accuracy'])}")
    elif kind == "stacked":
        parts = [f"modes {v['modes']}/{v['total_modes']}", f"KL {v['kl']:.3f} (real {ref.get('kl', 0):.3f})"]
    elif kind == "toy2d":
        parts = [
            f"modes {_g(v['modes'])}/{v['total_modes']} (min {v['min_modes']})",
            f"high quality {_pct(v['high_quality'])}",
            *([f"full-rank dG/dz {_pct(v['full_rank'])}"] if "full_rank" in v else []),
            f"{len(det.get('seeds', []))} seeds",
        ]
    elif kind == "faces":
        parts = [
            f"FD {_g(v['frechet_distance'])} (train {_g(ref.get('frechet_distance', float('nan')))})",
            f"P/R {v['precision']:.2f}/{v['recall']:.2f}",
            f"D/C {v['density']:.2f}/{v['coverage']:.2f}",
            f"sharpness {v['sharpness_ratio']:.2f}",
        ]
    elif kind == "identity":
        parts = [f"identity acc {_pct(v['identity_accuracy'])}", f"sharpness {v['sharpness_ratio']:.2f}"]
    elif kind == "cvae-gan":
        parts = [
            f"identity acc {_pct(v['identity_accuracy'])}",
            f"swap acc {_pct(v['swap_accuracy'])}",
            f"recon L1 {v['reconstruction_l1']:.3f}",
            f"sharpness {v['sharpness_ratio']:.2f}",
        ]
    elif kind == "pix2pix":
        parts = [
            f"L1 {v['l1']:.3f}",
            f"PSNR {v['psnr']:.2f} dB",
            f"SSIM {v['ssim']:.3f}",
            f"sharpness {v['sharpness_ratio']:.2f}",
            "dropout off",
        ]
    elif kind == "emoji":
        parts = [
            f"NN-RMS to train {v['nn_rms_to_train']:.3f} (held-out {ref.get('nn_rms_to_train', 0):.3f})",
            f"near copies {_pct(v['near_copy_fraction'])}",
            f"diversity {v['feature_diversity']:.2f} (real {ref.get('feature_diversity', 0):.2f})",
            f"sharpness {v['sharpness_ratio']:.2f}",
        ]
    elif kind == "classifier":
        parts = [f"test acc {_pct(v['accuracy'])}"]
    else:
        parts = [f"{k} {_g(x)}" for k, x in v.items()]
    scope = f"{n:,} {'pairs' if kind == 'pix2pix' else 'images' if kind == 'classifier' else 'samples'}"
    scope += f", seed {metrics.get('seed')}" if kind not in ("classifier", "pix2pix") else ""
    if fnet:
        scope += f", {fnet} features"
    return " · ".join(parts) + f" ({scope})"


def _size(entry: ModelEntry) -> str:
    total = sum(f.bytes for net in entry.networks.values() for f in net.files)
    return f"{total / 1e6:.1f} MB" if total >= 1e5 else f"{total / 1e3:.0f} kB"


def gallery_table(entries: dict[str, ModelEntry] | None = None) -> str:
    """The README's gallery table (model, data, metrics and whether they miss the bar, training
    steps and device, size), generated from the manifest."""
    entries = read_manifest() if entries is None else entries
    rows = ["| Model | Data | Metrics | Trained | Size |", "|---|---|---|---|---|"]
    for e in entries.values():
        cell = summarise(e.metrics).replace("|", "\\|") + (" · **below its bar**" if e.below_bar else "")
        steps = e.training.get("steps")
        trained = f"{steps:,} steps" if isinstance(steps, int) else "steps not recorded"
        trained += f", {e.training.get('device', 'device not recorded')}"
        rows.append(f"| {e.title} (`{e.id}`) | {e.dataset.get('name', '')} | {cell} | {trained} | {_size(e)} |")
    return "\n".join(rows) + "\n"


def write_readme_table(table: str, readme: Path) -> None:
    text = readme.read_text()
    pattern = re.compile(re.escape(TABLE_START) + r".*?" + re.escape(TABLE_END), re.S)
    if not pattern.search(text):
        raise TableError(f"{readme} has no {TABLE_START} ... {TABLE_END} markers")
    text = pattern.sub(lambda _: f"{TABLE_START}\n{table}{TABLE_END}", text, count=1)
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(readme)
