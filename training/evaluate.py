"""``python -m training.evaluate <model-id>``: measure a published model and record the numbers
in its ``weights_manifest.json`` entry (``metrics``), with the exact command that reproduces them.

    python -m training.evaluate mnist-dcgan-ns [--samples N] [--seed S] [--data-root P] [--device D]
    python -m training.evaluate --all            # every model of the manifest
    python -m training.evaluate --table          # the README's gallery table, from the manifest
    python -m training.evaluate --table --write-readme   # ... written between the README's markers

Models are loaded through ``gan_models.load_model`` (every file checked against the manifest)
and generated images go through the same uint8 conversion the app uses. What is measured
depends on the model (see ``evaluation_kind`` and the README's "Evaluation" section):

- digits (MNIST / Fashion-MNIST samplers): class histogram, mean confidence, Inception-style
  score, Frechet distance, KID, precision / recall / density / coverage in the penultimate
  features of the ``digits-classifier`` (``fashion-classifier``) against the 10,000 test images;
  class accuracy for class-conditional models; reference: N real training images, measured alike;
- Stacked MNIST: modes captured of 1,000 and KL to uniform (each channel read by the digit classifier);
- toy2d: modes captured, share of high-quality samples and share of latents where dG/dz has full
  rank (the geometric view of collapse), 5 sampling seeds;
- faces (celeb24-dcgan): Frechet distance, KID, PRDC in ``faces-classifier`` features against the
  held-out faces, sharpness ratio; class-conditional faces (the CGAN ablation): identity accuracy;
- CVAE-GAN: identity accuracy, swap accuracy, reconstruction L1, sharpness ratio;
- OpenMoji: nearest-training-image distance (memorisation), diversity, sharpness ratio;
- pix2pix: L1, PSNR, SSIM and sharpness ratio on held-out pairs, dropout off;
- classifiers: accuracy on the real test split.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from gan_models.images import to_uint8
from gan_models.manifest import PROJECT_ROOT, ModelEntry, manifest_path, raw_manifest, read_manifest, write_manifest
from gan_models.mixtures import MIXTURES, mode_coverage, sample_mixture
from gan_models.ops import generate, latent_jacobians, latents, numerical_ranks
from gan_models.store import LoadedModel, default_device, load_model
from training import metrics as M
from training.data import DATASETS, digits, edge_pairs, image_folder, pix2pix_pairs, to_float

BATCH = 500  # images per forward pass (28-64 px); pix2pix uses PIX2PIX_BATCH
PIX2PIX_BATCH = 16
K_NEIGHBOURS = 5  # PRDC's k, as Naeem et al. recommend
TOY_SEEDS = 5  # toy2d: sampling seeds seed .. seed + 4
STACKED_MODES = 1000
NEAR_COPY_QUANTILE = 0.05

# evaluation kind -> default number of generated samples (None: every held-out item)
DEFAULT_SAMPLES = {
    "digits": 10_000,
    "stacked": 26_000,
    "toy2d": 2_500,
    "faces": 1_000,
    "identity": 1_200,  # 50 per identity of faces-celeb24
    "cvae-gan": 1_200,  # and as many identity swaps
    "emoji": 1_000,
    "pix2pix": None,
    "classifier": None,
}
FEATURE_NETWORKS = {"mnist": "digits-classifier", "fashion": "fashion-classifier", "stacked-mnist": "digits-classifier"}
FACES_CLASSIFIER = "faces-classifier"


class EvaluationError(RuntimeError):
    """The model cannot be measured (unknown data set, missing feature network, ...)."""


# ----------------------------------------------------------------------------- what to measure


_ID_PREFIXES = (
    ("stacked-mnist", "stacked-mnist"),
    ("mnist", "mnist"),
    ("digits", "mnist"),
    ("fashion", "fashion"),
    ("celeb24", "faces-celeb24"),
    ("faces", "faces-celeb24"),
    ("facades", "facades"),
    ("openmoji", "openmoji-64"),
)


def dataset_key(entry: ModelEntry) -> str | None:
    """The training.data name of the entry's data set: from its dataset name, else its id."""
    name = entry.dataset.get("name")
    for key, info in DATASETS.items():
        if info["name"] == name:
            return key
    for prefix, key in _ID_PREFIXES:
        if entry.id.startswith(prefix):
            return key
    return None


def evaluation_kind(entry: ModelEntry) -> str:
    if entry.task in ("classifier", "toy2d", "pix2pix", "cvae-gan"):
        return entry.task
    key = dataset_key(entry)
    if entry.id.startswith("stacked-mnist") or key == "stacked-mnist":
        return "stacked"
    if key in ("mnist", "fashion"):
        return "digits"
    if key == "faces-celeb24":
        return "identity" if entry.num_classes else "faces"
    if key == "openmoji-64":
        return "emoji"
    raise EvaluationError(f"model {entry.id!r}: no evaluation for data set {entry.dataset.get('name')!r}")


# ----------------------------------------------------------------------------- shared helpers


@dataclass
class Context:
    """Device, data root and what several evaluations share: loaded models and real-data
    features (the 10,000 MNIST test features serve every digit model of an ``--all`` run)."""

    device: torch.device
    data_root: str | None = None
    models: dict[str, LoadedModel] = field(default_factory=dict)
    cache: dict = field(default_factory=dict)

    def model(self, model_id: str) -> LoadedModel:
        if model_id not in self.models:
            try:
                self.models[model_id] = load_model(model_id, self.device)
            except KeyError:
                raise EvaluationError(
                    f"feature network {model_id!r} is not in the manifest: train and publish it first "
                    f"(python -m training {model_id})"
                ) from None
        return self.models[model_id]

    def cached(self, key, compute):
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


@torch.inference_mode()
def classifier_outputs(clf: LoadedModel, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, C, H, W) -> (class probabilities (N, K), penultimate features (N, D)),
    resized (bilinear, antialiased) to the classifier's resolution where they differ."""
    net = clf.networks["classifier"]
    size = clf.entry.resolution
    in_ch = net.conv[0].in_channels
    probs, feats = [], []
    for start in range(0, len(images), BATCH):
        x = to_float(images[start : start + BATCH], clf.device)
        if x.shape[1] != in_ch:
            if x.shape[1] != 1:
                raise EvaluationError(f"{clf.id} reads {in_ch}-channel images, got {x.shape[1]} channels")
            x = x.expand(-1, in_ch, -1, -1)
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        logits, f = net(x, return_features=True)
        probs.append(logits.float().softmax(1).cpu())
        feats.append(f.float().cpu())
    return torch.cat(probs), torch.cat(feats)


def generate_images(model: LoadedModel, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Latents (and labels) -> uint8 (N, C, H, W), in batches, through the app's uint8 conversion;
    always in float32 (never the bf16 fast path), so numbers agree across devices."""
    out = []
    for start in range(0, len(z), BATCH):
        y = labels[start : start + BATCH] if labels is not None else None
        out.append(torch.from_numpy(generate(model, z[start : start + BATCH], y, fast=False)))
    return torch.cat(out).permute(0, 3, 1, 2).contiguous()


def sample_images(model: LoadedModel, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The same images as ``gan_models.sample(model, n, seed)``: z from the seed, classes cycled
    0, 1, ..., K-1, 0, ... (so they are spread evenly) for class-conditional models."""
    z = latents(model.generator.z_dim, n, seed)
    labels = torch.arange(n) % model.entry.num_classes if model.entry.num_classes else None
    return generate_images(model, z, labels), labels


def class_map(model: LoadedModel, clf: LoadedModel) -> torch.Tensor:
    """Index of each of the model's classes among the classifier's: by name; by position when
    both were trained on the same data set with as many classes (names spelt differently)."""
    names = list(clf.entry.class_names)
    if all(c in names for c in model.entry.class_names):
        return torch.tensor([names.index(c) for c in model.entry.class_names])
    if len(names) == model.entry.num_classes and dataset_key(model.entry) == dataset_key(clf.entry):
        return torch.arange(len(names))
    raise EvaluationError(f"{clf.id} does not know the classes {list(model.entry.class_names)[:5]} of {model.id}")


def _r(x: float, digits: int = 6) -> float:
    """Round for the manifest (6 significant digits is far below run-to-run noise)."""
    return float(f"{x:.{digits}g}")


def _rounded(values: dict) -> dict:
    return {k: (_r(v) if isinstance(v, float) else v) for k, v in values.items()}


def feature_values(real_feats: torch.Tensor, fake_feats: torch.Tensor, seed: int) -> dict:
    """Frechet distance, KID and PRDC of fake features against real ones."""
    kid, kid_std = M.kernel_distance(real_feats, fake_feats, seed=seed)
    return {
        "frechet_distance": M.frechet_distance(real_feats, fake_feats),
        "kid": kid,
        "kid_std": kid_std,
        **M.prdc(real_feats, fake_feats, K_NEIGHBOURS),
    }


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
# Each returns (values, reference, details, feature_network, samples).


def _real_outputs(ctx: Context, clf: LoadedModel, key: str, split: str):
    """Classifier outputs and labels of a whole real split, cached per run."""

    def compute():
        if key in ("mnist", "fashion"):
            data = digits(key, split, ctx.data_root)
        else:
            data = image_folder(key, clf.entry.resolution, clf.entry.channels, split, ctx.data_root)
        probs, feats = classifier_outputs(clf, data.images)
        return probs, feats, data.labels

    return ctx.cached(("outputs", clf.id, key, split), compute)


def eval_digits(ctx: Context, model: LoadedModel, n: int, seed: int):
    key = dataset_key(model.entry)
    clf = ctx.model(FEATURE_NETWORKS[key])
    real_probs, real_feats, _ = _real_outputs(ctx, clf, key, "test")
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
        "class_histogram": [_r(h) for h in hist],
        "reference_class_histogram": [_r(h) for h in ref_hist],
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
        details["per_class_accuracy"] = [_r(a) for a in per_class]
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
    real_probs, _, _ = _real_outputs(ctx, clf, "mnist", "test")
    idx = torch.randint(len(real_probs), (n, 3), generator=torch.Generator().manual_seed(seed))
    reference, _ = _stacked_values(real_probs.argmax(1)[idx], real_probs.max(1).values[idx])
    details = {
        "mode_histogram": counts,
        "reference_data": f"{n} Stacked MNIST images built from MNIST test digits (seed {seed})",
        "method": "each channel classified by the digit classifier; mode = 100 R + 10 G + B; KL(p || uniform) in nats",
    }
    return values, reference, details, clf.id, n


def eval_toy2d(ctx: Context, model: LoadedModel, n: int, seed: int):
    mixture = model.entry.extras.get("mixture")
    if mixture not in MIXTURES:
        raise EvaluationError(f"{model.id}: extras.mixture must be one of {sorted(MIXTURES)}, got {mixture!r}")
    centres, sigma = MIXTURES[mixture]
    extras = model.entry.extras  # a model trained on a non-standard mixture records its own
    if "centres" in extras:
        centres = torch.tensor(extras["centres"], dtype=torch.float32)
    sigma = float(extras.get("sigma", sigma))
    seeds = list(range(seed, seed + TOY_SEEDS))
    runs, full_rank = zip(*(_toy_seed(model, n, s, centres, sigma) for s in seeds), strict=True)
    real = [
        mode_coverage(sample_mixture(centres, sigma, n, torch.Generator().manual_seed(s))[0], centres, sigma)
        for s in seeds
    ]

    def summary(rs):
        return {
            "modes": sum(r["modes"] for r in rs) / len(rs),
            "min_modes": min(r["modes"] for r in rs),
            "total_modes": len(centres),
            "high_quality": sum(r["high_quality"] for r in rs) / len(rs),
        }

    values = {**summary(runs), "full_rank": sum(full_rank) / len(full_rank)}

    details = {
        "mixture": mixture,
        "sigma": sigma,
        "seeds": seeds,
        "per_seed": [
            {
                "seed": s,
                "modes": r["modes"],
                "high_quality": _r(r["high_quality"]),
                "full_rank": _r(f),
                "counts": r["counts"],
            }
            for s, r, f in zip(seeds, runs, full_rank, strict=True)
        ],
        "method": "high quality = within 3 sigma of the nearest centre; a mode is captured by >= 1 such sample",
        "full_rank_method": "share of the latents where dG/dz has rank 2 (gan_models.ops.numerical_ranks)",
        "reference_data": f"{n} points drawn from the true mixture, per seed",
    }
    return values, summary(real), details, None, n


def _toy_seed(model: LoadedModel, n: int, seed: int, centres: torch.Tensor, sigma: float) -> tuple[dict, float]:
    """One sampling seed of a 2D run -> (its mode coverage, the share of its n latents where the
    generator's Jacobian has full rank: elsewhere a patch of z is squeezed onto a curve or a point,
    the local face of mode collapse, Localized GAN). One pass gives the points and the Jacobians."""
    _, points, values = latent_jacobians(model, n, seed)
    ranks, _ = numerical_ranks(values, points.shape[1])
    return mode_coverage(points, centres, sigma), float((ranks == values.shape[1]).float().mean())


def eval_faces(ctx: Context, model: LoadedModel, n: int, seed: int):
    clf = ctx.model(FACES_CLASSIFIER)
    _, real_feats, _ = _real_outputs(ctx, clf, "faces-celeb24", "test")
    images, _ = sample_images(model, n, seed)
    _, feats = classifier_outputs(clf, images)
    values = feature_values(real_feats, feats, seed)
    real_px = _faces_pixels(ctx, model.entry.resolution, "test")
    values["sharpness_ratio"] = M.sharpness_ratio(to_float(images), to_float(real_px))
    _, train_feats, _ = _real_outputs(ctx, clf, "faces-celeb24", "train")
    reference = feature_values(real_feats, train_feats, seed)
    reference["sharpness_ratio"] = M.sharpness_ratio(
        to_float(_faces_pixels(ctx, model.entry.resolution, "train")), to_float(real_px)
    )
    details = {
        "real_data": f"faces-celeb24 held-out split (every 5th image per person), {len(real_feats)} images",
        "reference_data": f"the {len(train_feats)} faces-celeb24 training-split images against the held-out ones "
        "(the classifier saw them in training, so a flattering bound)",
        "prdc_k": K_NEIGHBOURS,
        "sharpness": "mean squared Laplacian of generated / of held-out real faces, at the model's resolution",
    }
    return values, reference, details, clf.id, n


def _faces_pixels(ctx: Context, size: int, split: str) -> torch.Tensor:
    return ctx.cached(
        ("pixels", "faces-celeb24", size, split),
        lambda: image_folder("faces-celeb24", size, 3, split, ctx.data_root).images,
    )


def _identity_accuracy(ctx: Context, model: LoadedModel, clf: LoadedModel, n: int, seed: int):
    images, labels = sample_images(model, n, seed)
    probs, _ = classifier_outputs(clf, images)
    hit = probs.argmax(1) == class_map(model, clf)[labels]
    per_class = [_r(float(hit[labels == c].float().mean())) for c in range(model.entry.num_classes)]
    return float(hit.float().mean()), per_class, images


def _heldout_accuracy(ctx: Context, clf: LoadedModel) -> float:
    probs, _, labels = _real_outputs(ctx, clf, "faces-celeb24", "test")
    return float((probs.argmax(1) == labels).float().mean())


def eval_identity(ctx: Context, model: LoadedModel, n: int, seed: int):
    """Class-conditional faces without an encoder (the CGAN ablation)."""
    clf = ctx.model(FACES_CLASSIFIER)
    acc, per_class, images = _identity_accuracy(ctx, model, clf, n, seed)
    real_px = _faces_pixels(ctx, model.entry.resolution, "test")
    values = {"identity_accuracy": acc, "sharpness_ratio": M.sharpness_ratio(to_float(images), to_float(real_px))}
    reference = {"identity_accuracy": _heldout_accuracy(ctx, clf)}
    details = {
        "per_identity_accuracy": per_class,
        "identities": "requested identities cycled, so spread evenly; judged by the independent faces-classifier",
        "reference_data": "faces-classifier accuracy on the real held-out faces (the ceiling)",
        "sharpness": "mean squared Laplacian of generated / of held-out real faces",
    }
    return values, reference, details, clf.id, n


@torch.inference_mode()
def eval_cvaegan(ctx: Context, model: LoadedModel, n: int, seed: int):
    clf = ctx.model(FACES_CLASSIFIER)
    k = model.entry.num_classes
    acc, per_class, images = _identity_accuracy(ctx, model, clf, n, seed)
    real = image_folder("faces-celeb24", model.entry.resolution, 3, "test", ctx.data_root)
    order = {c: i for i, c in enumerate(model.entry.class_names)}  # folder identity -> the model's class
    if not set(real.class_names) <= set(order):
        raise EvaluationError(f"{model.id}: held-out identities {real.class_names[:5]} are not the model's classes")
    real.labels = torch.tensor([order[real.class_names[i]] for i in real.labels.tolist()])
    x, a = real.images, real.labels
    encoder = model.networks["encoder"]
    mu = torch.cat(
        [
            encoder(to_float(x[s : s + BATCH], model.device), a[s : s + BATCH].to(model.device))[0].float().cpu()
            for s in range(0, len(x), BATCH)
        ]
    )
    recon = generate_images(model, mu, a)
    recon_l1 = M.mean_l1(to_float(recon), to_float(x))
    # swaps: every (held-out face of a, identity b != a); a seeded random subset of n when there are more
    pairs_i = torch.arange(len(x)).repeat_interleave(k - 1)
    offsets = torch.arange(1, k).repeat(len(x))
    pairs_b = (a[pairs_i] + offsets) % k  # every b != a exactly once per face
    all_pairs = len(pairs_i)
    if all_pairs > n:
        pick = torch.randperm(all_pairs, generator=torch.Generator().manual_seed(seed))[:n]
        pairs_i, pairs_b = pairs_i[pick], pairs_b[pick]
    swapped = generate_images(model, mu[pairs_i], pairs_b)
    probs, _ = classifier_outputs(clf, swapped)
    swap_acc = float((probs.argmax(1) == class_map(model, clf)[pairs_b]).float().mean())
    values = {
        "identity_accuracy": acc,
        "swap_accuracy": swap_acc,
        "reconstruction_l1": recon_l1,
        "sharpness_ratio": M.sharpness_ratio(to_float(images), to_float(x)),
    }
    ceiling = _heldout_accuracy(ctx, clf)
    reference = {"identity_accuracy": ceiling, "swap_accuracy": ceiling}
    details = {
        "per_identity_accuracy": per_class,
        "swap_pairs": len(pairs_i),
        "swap_pairs_all": all_pairs,
        "swap_method": (
            "held-out face x of identity a -> z = mu of E(x, a) -> G(z, b), judged by the faces-classifier as b; "
            + ("all pairs a != b" if len(pairs_i) == all_pairs else f"a random subset (seed {seed}) of all pairs")
        ),
        "reconstruction": f"mean |G(E(x, a), a) - x| in [-1, 1] over the {len(x)} held-out faces",
        "sharpness": "mean squared Laplacian of generated faces (identity set) / of held-out real faces",
        "reference_data": "faces-classifier accuracy on the real held-out faces (the ceiling for both accuracies)",
    }
    return values, reference, details, clf.id, n


def _heldout_pairs(ctx: Context, entry: ModelEntry) -> tuple[torch.Tensor, torch.Tensor, str]:
    key, size = dataset_key(entry), entry.resolution
    if key == "facades":
        cond, target = pix2pix_pairs("facades", "val", size, "BtoA", ctx.data_root)
        return cond, target, f"facades val split, {len(cond)} pairs, label map -> photo (BtoA), {size} px"
    if key == "faces-celeb24":
        photos = image_folder("faces-celeb24", size, 3, "test", ctx.data_root).images
        cond, target = edge_pairs(photos)
        what = f"faces-celeb24 held-out faces, {len(cond)} pairs, Canny(100, 200) edges -> face, {size} px"
        return cond, target, what
    raise EvaluationError(f"{entry.id}: no held-out pairs for data set {entry.dataset.get('name')!r}")


@torch.inference_mode()
def eval_pix2pix(ctx: Context, model: LoadedModel, n: int | None, seed: int):
    cond, target, what = _heldout_pairs(ctx, model.entry)
    if n is not None:
        cond, target = cond[:n], target[:n]
    g = model.generator
    outputs = []
    for s in range(0, len(cond), PIX2PIX_BATCH):
        y = g(to_float(cond[s : s + PIX2PIX_BATCH], model.device), dropout=False)
        outputs.append(torch.from_numpy(to_uint8(y)).permute(0, 3, 1, 2))
    out, tgt = to_float(torch.cat(outputs)), to_float(target)
    psnr, ssim = M.psnr_ssim(out, tgt)
    values = {"l1": M.mean_l1(out, tgt), "psnr": psnr, "ssim": ssim, "sharpness_ratio": M.sharpness_ratio(out, tgt)}
    details = {
        "data": what,
        "dropout": "off (deterministic: one output per input)",
        "psnr_ssim": "mean per image on [0, 1]; SSIM Gaussian window 11, sigma 1.5",
        "sharpness": "mean squared Laplacian of outputs / of the ground-truth targets",
    }
    return values, {}, details, None, len(out)


@torch.inference_mode()
def eval_emoji(ctx: Context, model: LoadedModel, n: int, seed: int):
    """OpenMoji: no feature network was trained on emoji, so Frechet distance and PRDC would be
    measured in face features that mean nothing here. Reported instead: memorisation (distance of
    each sample to its nearest training emoji in pixel space, against held-out emoji), diversity
    (mean pairwise distance in faces-classifier features, against held-out emoji) and sharpness."""
    clf = ctx.model(FACES_CLASSIFIER)
    size = model.entry.resolution
    train = image_folder("openmoji-64", size, 3, "train", ctx.data_root).images
    held = image_folder("openmoji-64", size, 3, "test", ctx.data_root).images
    images, _ = sample_images(model, n, seed)
    dim = 3 * size * size

    def nn_rms(x):  # per-pixel RMS distance in [-1, 1] to the nearest training emoji
        return M.nearest_distances(to_float(x).flatten(1), to_float(train).flatten(1)) / dim**0.5

    gen_nn, held_nn = nn_rms(images), nn_rms(held)
    threshold = float(torch.quantile(held_nn, NEAR_COPY_QUANTILE))
    _, gen_feats = classifier_outputs(clf, images)
    _, held_feats = classifier_outputs(clf, held)
    values = {
        "nn_rms_to_train": float(gen_nn.mean()),
        "near_copy_fraction": float((gen_nn < threshold).float().mean()),
        "feature_diversity": M.mean_pairwise_distance(gen_feats),
        "sharpness_ratio": M.sharpness_ratio(to_float(images), to_float(held)),
    }
    reference = {
        "nn_rms_to_train": float(held_nn.mean()),
        "near_copy_fraction": float((held_nn < threshold).float().mean()),
        "feature_diversity": M.mean_pairwise_distance(held_feats),
    }
    details = {
        "nn_rms_to_train": "mean over samples of the per-pixel RMS distance ([-1, 1] scale) to the nearest of the "
        f"{len(train)} training emoji (memorisation check: near 0 = copies)",
        "near_copy_fraction": f"share of samples nearer to a training emoji than {NEAR_COPY_QUANTILE:.0%} of "
        f"held-out emoji are (threshold {_r(threshold)})",
        "feature_diversity": "mean pairwise L2 distance of faces-classifier features (a generic conv feature "
        "space here, not trained on emoji; compare only with the reference)",
        "sharpness": "mean squared Laplacian of samples / of held-out emoji",
        "reference_data": f"the {len(held)} held-out OpenMoji emoji (every 5th), measured alike",
        "not_reported": "Frechet distance / PRDC: no emoji feature network exists offline (Inception weights are "
        "not available), and face features would make them meaningless",
    }
    return values, reference, details, clf.id, n


def eval_classifier(ctx: Context, model: LoadedModel, n: int | None, seed: int):
    key = dataset_key(model.entry)
    if key not in ("mnist", "fashion", "faces-celeb24"):
        raise EvaluationError(f"{model.id}: no test split for data set {model.entry.dataset.get('name')!r}")
    probs, _, labels = _real_outputs(ctx, model, key, "test")
    if n is not None:
        probs, labels = probs[:n], labels[:n]
    hit = probs.argmax(1) == labels
    per_class = [_r(float(hit[labels == c].float().mean())) for c in range(probs.shape[1]) if (labels == c).any()]
    split = "test split" if key != "faces-celeb24" else "held-out split (every 5th image per person)"
    details = {"data": f"{key} {split}, {len(labels)} images", "per_class_accuracy": per_class}
    return {"accuracy": float(hit.float().mean())}, {}, details, None, len(labels)


EVALUATIONS = {
    "digits": eval_digits,
    "stacked": eval_stacked,
    "toy2d": eval_toy2d,
    "faces": eval_faces,
    "identity": eval_identity,
    "cvae-gan": eval_cvaegan,
    "emoji": eval_emoji,
    "pix2pix": eval_pix2pix,
    "classifier": eval_classifier,
}


# ----------------------------------------------------------------------------- measuring and recording


def command_line(model_id: str, samples: int | None, seed: int) -> str:
    cmd = f"python -m training.evaluate {model_id}"
    if samples is not None:
        cmd += f" --samples {samples}"
    return cmd + f" --seed {seed}"


def measure(model_id: str, samples: int | None = None, seed: int = 0, ctx: Context | None = None) -> dict:
    """Measure one model -> its manifest ``metrics`` object (nothing is written)."""
    ctx = ctx or Context(default_device())
    if model_id not in ctx.models:
        ctx.models[model_id] = load_model(model_id, ctx.device)
    model = ctx.models[model_id]
    kind = evaluation_kind(model.entry)
    n = samples if samples is not None else DEFAULT_SAMPLES[kind]
    if n is not None and n < 1:
        raise EvaluationError("--samples must be positive")
    start = time.perf_counter()
    values, reference, details, feature_network, counted = EVALUATIONS[kind](ctx, model, n, seed)
    return {
        "command": command_line(model_id, n, seed),
        "values": _rounded(values),
        "samples": counted,
        "seed": seed,
        "feature_network": feature_network,
        "reference": _rounded(reference),
        "details": {"evaluation": kind, **details},
        "device": str(ctx.device),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "date": datetime.date.today().isoformat(),
        "weights_sha256": _weights_fingerprint(model.entry),
        "feature_network_sha256": _weights_fingerprint(ctx.models[feature_network].entry) if feature_network else None,
    }


def _weights_fingerprint(entry: ModelEntry) -> dict[str, str]:
    return {role: net.file("model.safetensors").sha256 for role, net in sorted(entry.networks.items())}


def record(model_id: str, metrics: dict, path: Path | None = None) -> None:
    """Write ``metrics`` into the model's manifest entry (validated, atomic), refusing if the
    entry's weights changed since they were measured (re-published meanwhile)."""
    path = Path(path or manifest_path())
    data = raw_manifest(path)
    entries = read_manifest(path)
    if model_id not in entries:
        raise EvaluationError(f"model {model_id!r} left the manifest while it was measured")
    if _weights_fingerprint(entries[model_id]) != metrics.get("weights_sha256"):
        raise EvaluationError(f"model {model_id!r} was re-published while it was measured; measure it again")
    for m in data["models"]:
        if m.get("id") == model_id:
            m["metrics"] = metrics
    write_manifest(data, path)


# ----------------------------------------------------------------------------- the command line


def _evaluate_one(model_id: str, args, ctx: Context) -> None:
    metrics = measure(model_id, args.samples, args.seed, ctx)
    record(model_id, metrics)
    print(json.dumps({"id": model_id, "command": metrics["command"], "values": metrics["values"]}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model_id", nargs="?", help="a model id of weights_manifest.json")
    parser.add_argument("--samples", type=int, help="generated samples (default per kind; see the README)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--data-root", help="data root (default: GAN_GALLERY_DATA or ../shared/data)")
    parser.add_argument("--device", help="cpu or cuda (default: GAN_GALLERY_DEVICE, else cuda when present)")
    parser.add_argument("--all", action="store_true", help="measure every model of the manifest")
    parser.add_argument("--table", action="store_true", help="print the gallery table made from the manifest")
    parser.add_argument(
        "--write-readme",
        nargs="?",
        const=str(PROJECT_ROOT / "README.md"),
        metavar="README",
        help="with --table: also write it between the gallery-table markers of README.md",
    )
    args = parser.parse_args(argv)
    if args.table or args.write_readme:
        from training.gallery_table import gallery_table, write_readme_table

        table = gallery_table()
        print(table, end="")
        if args.write_readme:
            write_readme_table(table, Path(args.write_readme))
        return 0
    if bool(args.all) == bool(args.model_id):
        parser.error("give one model id or --all")
    ctx = Context(torch.device(args.device) if args.device else default_device(), args.data_root)
    ids = list(read_manifest()) if args.all else [args.model_id]
    failed = {}
    for model_id in ids:
        try:
            _evaluate_one(model_id, args, ctx)
        except Exception as e:  # one model's failure must not stop --all; reported below
            if not args.all:
                print(f"evaluation of {model_id} failed: {type(e).__name__}: {e}", file=sys.stderr)
                return 1
            failed[model_id] = f"{type(e).__name__}: {e}"
    for model_id, why in failed.items():
        print(f"evaluation of {model_id} failed: {why}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
