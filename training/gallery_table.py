"""The README's gallery table, made from the manifest: one row per model with its data set, a
summary of its measured metrics, its training length and its size
(``python -m training.evaluate --table --write-readme``)."""

from __future__ import annotations

import re
from pathlib import Path

from gan_models.manifest import ModelEntry, read_manifest
from gan_models.summary import summarise

TABLE_START, TABLE_END = "<!-- gallery-table:start -->", "<!-- gallery-table:end -->"


class TableError(ValueError):
    """The README cannot take the table (its markers are missing)."""


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
