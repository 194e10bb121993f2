"""Real data, read from a local data root (``--data-root`` or GAN_GALLERY_DATA; default
``../shared/data`` beside the project). Online, torchvision's download path works as usual
(``download=True``); offline the same loaders read the local files.

Every loader returns whole tensors: these sets are small enough to live in memory (and on the
GPU), so the loader is never the bottleneck. Images are uint8 (N, C, H, W); ``to_float`` maps
them to [-1, 1] on the device in one go.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gan_models.images import canny_edges

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
HOLDOUT_EVERY = 5  # ImageFolder sets: every 5th image of each class (sorted by name) is held out


def data_root(arg: str | Path | None = None) -> Path:
    """The data root: the flag, else GAN_GALLERY_DATA, else ../shared/data beside the project."""
    root = arg or os.environ.get("GAN_GALLERY_DATA") or PROJECT_ROOT.parent / "shared" / "data"
    return Path(root).expanduser()


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,); zeros for unlabelled sets
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.images)


def to_float(images: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [-1, 1]."""
    return images.to(device).float().div_(127.5).sub_(1)


def real_images(images: torch.Tensor, flip: bool = False, channels_last: bool = False) -> torch.Tensor:
    """A batch of real uint8 images -> [-1, 1], randomly mirrored when ``flip``, in
    channels_last layout when asked (CUDA): what the image families feed their discriminators."""
    x = to_float(images)
    if flip:
        mirror = torch.rand(x.shape[0], device=x.device) < 0.5
        x = torch.where(mirror[:, None, None, None], x.flip(3), x)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


DIGIT_SETS = {"mnist": "MNIST", "fashion": "FashionMNIST"}


def digits(name: str = "mnist", split: str = "train", root: str | Path | None = None, download: bool = False):
    """MNIST or Fashion-MNIST from the IDX files via torchvision -> ImageSet (N, 1, 28, 28)."""
    from torchvision import datasets

    cls = getattr(datasets, DIGIT_SETS[name])
    ds = cls(root=str(data_root(root)), train=split == "train", download=download)
    return ImageSet(ds.data[:, None].clone(), ds.targets.clone().long(), list(ds.classes))


def _load_image(path: Path, size: int, channels: int) -> np.ndarray:
    with Image.open(path) as img:
        img = img.convert("RGB" if channels == 3 else "L")
        if img.size != (size, size):
            img = img.resize((size, size), Image.BICUBIC)
        arr = np.asarray(img)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def image_folder(
    name_or_path: str | Path,
    size: int = 64,
    channels: int = 3,
    split: str = "all",
    root: str | Path | None = None,
) -> ImageSet:
    """An ImageFolder-style set (one folder per class) -> ImageSet at size x size.

    ``name_or_path`` is a folder below the data root ("faces-celeb24", "openmoji-64") or any
    folder of the user's own images (one sub-folder per class, or images directly inside).
    ``split``: "train" keeps 4 of every 5 images of each class, "test" the 5th, "all" all.
    """
    folder = Path(name_or_path)
    if not folder.is_absolute() and not folder.exists():
        folder = data_root(root) / folder
    if not folder.is_dir():
        raise FileNotFoundError(f"no image folder at {folder}")
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    groups = [(c, sorted(p for p in (folder / c).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)) for c in classes]
    if not classes:  # a flat folder of images: one class
        groups = [(folder.name, sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))]
    images, labels = [], []
    for label, (_, files) in enumerate(groups):
        for i, path in enumerate(files):
            held_out = i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1
            if split == "all" or (split == "test") == held_out:
                images.append(_load_image(path, size, channels))
                labels.append(label)
    if not images:
        raise FileNotFoundError(f"no images for split {split!r} in {folder}")
    return ImageSet(torch.from_numpy(np.stack(images)), torch.tensor(labels), [g[0] for g in groups])


def pix2pix_pairs(
    name: str = "facades", split: str = "train", size: int = 256, direction: str = "BtoA", root=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Side-by-side pairs (left A | right B) -> (condition, target) uint8 (N, 3, size, size).
    ``direction`` "BtoA" maps the right half to the left (facades: label map -> photo)."""
    folder = data_root(root) / name / split
    files = sorted(folder.glob("*.jpg"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise FileNotFoundError(f"no pairs in {folder}")
    a, b = [], []
    for path in files:
        with Image.open(path) as img:
            img = img.convert("RGB")
            w, h = img.size
            halves = img.crop((0, 0, w // 2, h)), img.crop((w // 2, 0, w, h))
            left, right = (np.asarray(x.resize((size, size), Image.BICUBIC)).transpose(2, 0, 1) for x in halves)
        a.append(left)
        b.append(right)
    a, b = torch.from_numpy(np.stack(a)), torch.from_numpy(np.stack(b))
    return (b, a) if direction == "BtoA" else (a, b)


def edge_pairs(photos: torch.Tensor, low: int = 100, high: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Photos uint8 (N, 3, H, W) -> (Canny edges (N, 1, H, W), photos): edges -> photo pairs
    made from any photo set, with the same extractor the app uses."""
    edges = [canny_edges(p.permute(1, 2, 0).numpy(), low, high) for p in photos]
    return torch.from_numpy(np.stack(edges)).permute(0, 3, 1, 2).contiguous(), photos


def stacked_mnist(n: int, seed: int = 0, split: str = "train", root=None) -> ImageSet:
    """Stacked MNIST (Metz et al. 2017, as in VEEGAN/PacGAN): three random digits as the R, G, B
    channels -> 1,000 modes; label = 100 * d_R + 10 * d_G + d_B."""
    base = digits("mnist", split, root)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(base), (n, 3), generator=g)
    images = base.images[idx, 0]  # (n, 3, 28, 28)
    d = base.labels[idx]
    return ImageSet(images, d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2], [f"{i:03d}" for i in range(1000)])


class BatchSampler:
    """Random batches from in-memory tensors, drawn with its own seeded generator so a resumed
    run continues the exact same sequence (its state is saved in the checkpoint)."""

    def __init__(self, *tensors: torch.Tensor, batch_size: int, seed: int = 0):
        self.tensors, self.batch_size = tensors, batch_size
        self.n = len(tensors[0])
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, ...]:
        idx = torch.randint(self.n, (self.batch_size,), generator=self.generator)
        idx = idx.to(self.tensors[0].device)
        return tuple(t[idx] for t in self.tensors)

    def state_dict(self) -> dict:
        return {"rng": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["rng"].cpu())


DATASETS = {
    # name -> what the manifest says about it (licences travel with the models)
    "mnist": {"name": "MNIST", "licence": "CC BY-SA 3.0", "credit": "LeCun, Cortes & Burges"},
    "fashion": {"name": "Fashion-MNIST", "licence": "MIT", "credit": "Xiao, Rasul & Vollgraf (Zalando Research)"},
    "stacked-mnist": {"name": "Stacked MNIST", "licence": "CC BY-SA 3.0", "credit": "built from MNIST"},
    "faces-celeb24": {
        "name": "faces-celeb24 (Glint360K sample)",
        "licence": "non-commercial research only",
        "credit": "InsightFace / DeepGlint Glint360K",
    },
    "openmoji-64": {
        "name": "OpenMoji",
        "licence": "CC BY-SA 4.0",
        "credit": "All emojis designed by OpenMoji - the open-source emoji and icon project. License: CC BY-SA 4.0",
    },
    "facades": {
        "name": "CMP Facades (pix2pix)",
        "licence": "research use with credit",
        "credit": "Tyleček & Šára, GCPR 2013; prepared by Isola et al. 2017",
    },
    "faces-orl": {"name": "AT&T / ORL faces", "licence": "credit required", "credit": "Olivetti Research Laboratory"},
}


def data_folders(dataset: str) -> list[str]:
    """The folders below the data root that a data set name reads (what a device run carries)."""
    if dataset in DIGIT_SETS:
        return [DIGIT_SETS[dataset]]
    if dataset == "stacked-mnist":
        return [DIGIT_SETS["mnist"]]
    return [dataset]


def dataset_info(name: str) -> dict:
    return DATASETS.get(name, {"name": str(name), "licence": "the user's own data", "credit": ""})


def load_images(dataset: str, size: int, channels: int, split: str = "train", root=None, stacked_n=100_000, seed=0):
    """One entry point for the image families: digit sets by name, Stacked MNIST, or an image
    folder (a name below the data root, or any path: a user's own images)."""
    if dataset in DIGIT_SETS:
        return digits(dataset, split, root)
    if dataset == "stacked-mnist":
        return stacked_mnist(stacked_n, seed, split, root)
    return image_folder(dataset, size, channels, "train" if split == "train" else "test", root)
