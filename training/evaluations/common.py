"""What every evaluation shares: the run's context (device, data root, loaded models, cached
real-data features), the classifier pass, seeded sampling and the feature-space metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from gan_models.manifest import ModelEntry
from gan_models.ops import generate, latents
from gan_models.store import LoadedModel, load_model
from training import metrics as M
from training.data import DATASETS, digits, image_folder, to_float

BATCH = 500  # images per forward pass (28-64 px); pix2pix uses PIX2PIX_BATCH
K_NEIGHBOURS = 5  # PRDC's k, as Naeem et al. recommend
FEATURE_NETWORKS = {"mnist": "digits-classifier", "fashion": "fashion-classifier", "stacked-mnist": "digits-classifier"}
FACES_CLASSIFIER = "faces-classifier"


class EvaluationError(RuntimeError):
    """The model cannot be measured (unknown data set, missing feature network, ...)."""


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


def round_sig(x: float, digits: int = 6) -> float:
    """Round for the manifest (6 significant digits is far below run-to-run noise)."""
    return float(f"{x:.{digits}g}")


def feature_values(real_feats: torch.Tensor, fake_feats: torch.Tensor, seed: int) -> dict:
    """Frechet distance, KID and PRDC of fake features against real ones."""
    kid, kid_std = M.kernel_distance(real_feats, fake_feats, seed=seed)
    return {
        "frechet_distance": M.frechet_distance(real_feats, fake_feats),
        "kid": kid,
        "kid_std": kid_std,
        **M.prdc(real_feats, fake_feats, K_NEIGHBOURS),
    }


def real_outputs(ctx: Context, clf: LoadedModel, key: str, split: str):
    """Classifier outputs and labels of a whole real split, cached per run."""

    def compute():
        if key in ("mnist", "fashion"):
            data = digits(key, split, ctx.data_root)
        else:
            data = image_folder(key, clf.entry.resolution, clf.entry.channels, split, ctx.data_root)
        probs, feats = classifier_outputs(clf, data.images)
        return probs, feats, data.labels

    return ctx.cached(("outputs", clf.id, key, split), compute)


def faces_pixels(ctx: Context, size: int, split: str) -> torch.Tensor:
    return ctx.cached(
        ("pixels", "faces-celeb24", size, split),
        lambda: image_folder("faces-celeb24", size, 3, split, ctx.data_root).images,
    )
