"""MNIST / Fashion-MNIST samplers (digits) and Stacked MNIST's 1,000 modes, in the digit classifier's eyes."""

from __future__ import annotations

import torch

from gan_models.store import LoadedModel
from training import metrics as M
from training.data import digits
from training.evaluations.common import (
    FEATURE_NETWORKS,
    K_NEIGHBOURS,
    Context,
    EvaluationError,
    class_map,
    classifier_outputs,
    dataset_key,
    feature_values,
    real_outputs,
    round_sig,
    sample_images,
)

STACKED_MODES = 1000


def _digits_values(probs: torch.Tensor, feats: torch.Tensor, real_feats: torch.Tensor, seed: int) -> tuple:
    k = probs.shape[1]
    hist = M.class_histogram(probs.argmax(1), k)
    values = {
        "min_class_fraction": min(hist),
        "max_class_fraction": max(hist),
        "confidence": float(probs.max(1).values.mean()),
        "inception_score": M.inception_score(probs),
        **feature_values(real_feats, feats, seed),
    }
    return values, hist


# ----------------------------------------------------------------------------- the evaluations


def eval_digits(ctx: Context, model: LoadedModel, n: int, seed: int):
    key = dataset_key(model.entry)
    clf = ctx.model(FEATURE_NETWORKS[key])
    real_probs, real_feats, _ = real_outputs(ctx, clf, key, "test")
    images, labels = sample_images(model, n, seed)
    probs, feats = classifier_outputs(clf, images)
    values, hist = _digits_values(probs, feats, real_feats, seed)

    # reference: n real training images (a fixed random subset), measured exactly like samples;
    # the same for every model of a data set, so computed once per run
    def real_reference():
        train = digits(key, "train", ctx.data_root)
        idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]
        train_probs, train_feats = classifier_outputs(clf, train.images[idx])
        values, hist = _digits_values(train_probs, train_feats, real_feats, seed)
        values["class_accuracy"] = float((train_probs.argmax(1) == train.labels[idx]).float().mean())
        return values, hist, len(idx)

    reference, ref_hist, ref_n = ctx.cached(("digits-reference", clf.id, key, n, seed), real_reference)
    reference = dict(reference)
    details = {
        "class_histogram": [round_sig(h) for h in hist],
        "reference_class_histogram": [round_sig(h) for h in ref_hist],
        "real_data": f"{key} test split, {len(real_feats)} images",
        "reference_data": f"{ref_n} {key} training images (random subset, seed {seed}) against the same test set",
        "prdc_k": K_NEIGHBOURS,
        "kid": "mean (std in kid_std) over 50 random subsets of min(1000, N) samples, cubic polynomial kernel",
    }
    if labels is not None:
        mapped = class_map(model, clf)[labels]
        hit = probs.argmax(1) == mapped
        values["class_accuracy"] = float(hit.float().mean())
        per_class = [float(hit[labels == c].float().mean()) for c in range(model.entry.num_classes)]
        details["per_class_accuracy"] = [round_sig(a) for a in per_class]
        details["classes"] = "requested classes cycled 0..K-1, so spread evenly"
    else:
        reference.pop("class_accuracy")
    return values, reference, details, clf.id, n


def _stacked_values(preds: torch.Tensor, conf: torch.Tensor) -> tuple[dict, list[int]]:
    """preds (N, 3) digits of the R, G, B channels -> mode id 100 r + 10 g + b."""
    modes = preds[:, 0] * 100 + preds[:, 1] * 10 + preds[:, 2]
    counts = torch.bincount(modes, minlength=STACKED_MODES).tolist()
    values = {
        "modes": M.modes_captured(counts),
        "total_modes": STACKED_MODES,
        "kl": M.mode_kl(counts),
        "confidence": float(conf.mean()),
    }
    return values, counts


def eval_stacked(ctx: Context, model: LoadedModel, n: int, seed: int):
    clf = ctx.model(FEATURE_NETWORKS["stacked-mnist"])
    images, _ = sample_images(model, n, seed)
    if images.shape[1] != 3:
        raise EvaluationError(f"{model.id}: Stacked MNIST images need 3 channels, got {images.shape[1]}")
    preds, conf = [], []
    for c in range(3):
        probs, _ = classifier_outputs(clf, images[:, c : c + 1])
        preds.append(probs.argmax(1))
        conf.append(probs.max(1).values)
    values, counts = _stacked_values(torch.stack(preds, 1), torch.stack(conf, 1))
    # reference: n real Stacked MNIST images made of MNIST test digits; classifying each channel
    # of such an image is classifying that test digit, so the test-set predictions are reused.
    real_probs, _, _ = real_outputs(ctx, clf, "mnist", "test")
    idx = torch.randint(len(real_probs), (n, 3), generator=torch.Generator().manual_seed(seed))
    reference, _ = _stacked_values(real_probs.argmax(1)[idx], real_probs.max(1).values[idx])
    details = {
        "mode_histogram": counts,
        "reference_data": f"{n} Stacked MNIST images built from MNIST test digits (seed {seed})",
        "method": "each channel classified by the digit classifier; mode = 100 R + 10 G + B; KL(p || uniform) in nats",
    }
    return values, reference, details, clf.id, n
