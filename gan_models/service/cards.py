"""The Gallery tab and the /list_models API: model cards from the manifest, grouped, each with its
data set's terms, metrics beside the real data's and the commands that made them."""

from __future__ import annotations

import html
import json

from ..manifest import ModelEntry
from ..summary import summarise
from .base import NO_MODELS, GalleryBase

# The Gallery tab's groups of cards, in page order: (heading, one line on what the group is)
GALLERY_SECTIONS = (
    ("Models", ""),
    ("Below their quality bar", "Shipped as previews: each card says which bar it misses and why."),
    ("Ablations", "Each takes one part out of a model above, to show what that part does."),
    ("Evaluators", "The classifiers that every number of this gallery is measured with."),
)

# Terms of the data sets, shown beside the manifest's licence (README "Data and licences").
DATASET_TERMS = {
    "celeb24": "non-commercial research only",
    "openmoji": "CC BY-SA 4.0; images made by the model are CC BY-SA 4.0 too",
}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(json.dumps(value)[:200])


class CardRequests(GalleryBase):
    """Model cards from the manifest (their pictures come from ``Gallery.card_image``)."""

    def sections(self) -> list[tuple[str, str, list[ModelEntry]]]:
        """Every manifest entry in the Gallery tab's groups (``GALLERY_SECTIONS``; each group in
        manifest order, empty ones left out): the showcase first, never an evaluator or a preview."""
        groups: dict[str, list[ModelEntry]] = {title: [] for title, _ in GALLERY_SECTIONS}
        for e in self.store.entries.values():
            if e.task == "classifier":
                groups["Evaluators"].append(e)
            elif e.ablation_of:
                groups["Ablations"].append(e)
            else:
                groups["Below their quality bar" if e.below_bar else "Models"].append(e)
        return [(title, note, groups[title]) for title, note in GALLERY_SECTIONS if groups[title]]

    def describe(self, entry: ModelEntry) -> dict:
        """One model's card data (also the /list_models API)."""
        model = self.store.models.get(entry.id)
        name = entry.dataset.get("name", "")
        terms = next((t for key, t in DATASET_TERMS.items() if key in name.lower()), None)
        return {
            "id": entry.id,
            "title": entry.title,
            "description": entry.description,
            "task": entry.task,
            "architecture": entry.architecture,
            "dataset": name,
            "licence": entry.dataset.get("licence", ""),
            "terms": terms,
            "credit": entry.dataset.get("credit"),
            "resolution": entry.resolution,
            "channels": entry.channels,
            "class_names": list(entry.class_names),
            "available": model is not None,
            "reason": self.store.errors.get(entry.id) if model is None else None,
            "revision": self.revision(entry),
            "parameters": model.parameter_count() if model else None,
            "file_bytes": sum(f.bytes for net in entry.networks.values() for f in net.files),
            "training_command": entry.training.get("command"),
            "metrics_command": entry.metrics.get("command"),
            "metrics": entry.metrics,
            "below_bar": entry.below_bar,
            "ablation_of": entry.ablation_of,
        }

    def list_models(self) -> list[dict]:
        return [self.describe(e) for e in self.store.entries.values()]

    def notice(self) -> str:
        """The banner on top of the page: what is missing and how to make it."""
        lines = []
        if not self.store.entries:
            lines.append(f"**{NO_MODELS}**")
        if self.requested_unknown:
            lines.append(f"GAN_GALLERY_MODELS names models the manifest lacks: {', '.join(self.requested_unknown)}.")
        if self.store.errors:
            lines.append(f"**{len(self.store.errors)} model(s) are missing or refused.** Train each with:")
            for model_id, reason in self.store.errors.items():
                cmd = self.store.entries[model_id].training.get("command", "python -m training --list")
                lines.append(f"- `{model_id}`: `{cmd}` ({html.escape(reason[:200])})")
        if self.store.models:
            lines.append(f"{len(self.store.models)} model(s) loaded on {self.store.device}.")
        return "\n".join(lines)

    def overview_markdown(self) -> str:
        """Every model in one table, group by group as the cards follow: its measured numbers at a glance."""
        rows = ["| Model | Group | Data | Measured |", "|---|---|---|---|"]
        for title, _, entries in self.sections():
            for e in entries:
                cells = [f"{e.title} (`{e.id}`)", title, e.dataset.get("name", ""), summarise(e.metrics)]
                rows.append("| " + " | ".join(html.escape(c).replace("|", "\\|") for c in cells) + " |")
        return "\n".join(rows)

    def card_markdown(self, entry: ModelEntry) -> str:
        d = self.describe(entry)
        esc = html.escape
        out = [f"### {esc(d['title'])}  \n`{d['id']}` · {d['task']} · {esc(d['architecture'])}", esc(d["description"])]
        licence = f"**Data set:** {esc(d['dataset'])} — licence: **{esc(d['licence'])}**"
        if d["terms"] and d["terms"].split(";")[0].lower() not in d["licence"].lower():
            licence += f" (**{esc(d['terms'])}**)"
        if d["credit"]:
            licence += f"; credit: {esc(d['credit'])}"
        out.append(licence)
        if d["ablation_of"]:
            out.append(f"**An ablation** of `{esc(d['ablation_of'])}`, shown beside it: what the full model adds.")
        if d["below_bar"]:
            out.append(f"**Below its quality bar:** {esc(d['below_bar'])}")
        if not d["available"]:
            out.append(f"**Unavailable:** {esc(d['reason'] or '')}")
        else:
            out.append(
                f"**Parameters:** {d['parameters']:,} · **files:** {d['file_bytes'] / 2**20:.2f} MB · "
                f"**revision:** `{d['revision']}`"
            )
        metrics = entry.metrics
        if metrics.get("values"):
            meta = []
            if "samples" in metrics:
                meta.append(f"{_fmt(metrics['samples'])} samples")
            if "seed" in metrics:
                meta.append(f"seed {_fmt(metrics['seed'])}")
            if metrics.get("feature_network"):
                meta.append(f"features: {esc(str(metrics['feature_network']))}")
            ref = metrics.get("reference", {}) or {}
            rows = ["| metric | value | real data |", "|---|---|---|"]
            for k, v in metrics["values"].items():
                rows.append(f"| {esc(str(k))} | {_fmt(v)} | {_fmt(ref[k]) if k in ref else ''} |")
            out.append(f"**Measured:** {esc(summarise(metrics))}")
            # folded: a dozen rows per card made the Gallery tab about 18,000 px long
            summary = f"<b>Every metric</b> ({', '.join(meta) or 'no sample count recorded'})"
            out.append(f"<details><summary>{summary}</summary>\n\n" + "\n".join(rows) + "\n\n</details>")
        else:
            out.append(f"**Metrics:** not measured yet (measure with `python -m training.evaluate {d['id']}`).")
        out.append(f"**Trained with:** `{d['training_command']}`")
        if d["metrics_command"]:
            out.append(f"**Measured with:** `{d['metrics_command']}`")
        return "\n\n".join(out)
