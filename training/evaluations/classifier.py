"""The evaluators themselves: accuracy on the real test split."""

from __future__ import annotations

from gan_models.store import LoadedModel
from training.evaluations.common import (
    Context,
    EvaluationError,
    dataset_key,
    real_outputs,
    round_sig,
)


def eval_classifier(ctx: Context, model: LoadedModel, n: int | None, seed: int):
    key = dataset_key(model.entry)
    if key not in ("mnist", "fashion", "faces-celeb24"):
        raise EvaluationError(f"{model.id}: no test split for data set {model.entry.dataset.get('name')!r}")
    probs, _, labels = real_outputs(ctx, model, key, "test")
    if n is not None:
        probs, labels = probs[:n], labels[:n]
    hit = probs.argmax(1) == labels
    per_class = [
        round_sig(float(hit[labels == c].float().mean())) for c in range(probs.shape[1]) if (labels == c).any()
    ]
    split = "test split" if key != "faces-celeb24" else "held-out split (every 5th image per person)"
    details = {"data": f"{key} {split}, {len(labels)} images", "per_class_accuracy": per_class}
    return {"accuracy": float(hit.float().mean())}, {}, details, None, len(labels)
