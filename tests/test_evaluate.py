"""training.evaluate end to end on a tiny gallery (random weights, every evaluation kind) and a
small synthetic data root laid out like the real one; metrics are written into that manifest."""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_models.manifest import parse_entry, raw_manifest, read_manifest, write_manifest
from gan_models.networks import ARCHITECTURES, Classifier, DCGANGenerator, MLPGenerator, UNetGenerator
from gan_models.summary import summarise
from tests.gallery_fixture import DIGITS, _entry, build_tiny_gallery, write_trajectory
from training import evaluate as E
from training.data import DATASETS
from training.gallery_table import TABLE_END, TABLE_START, TableError, gallery_table
from training.publish import publish_networks, upsert_entry

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
PEOPLE = ["Ada", "Bo", "Cy"]
N = 40  # --samples for the end-to-end runs


# ---------------------------------------------------------------- a synthetic data root


def _write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 2051, len(images), 28, 28) + images.tobytes()
    )
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, len(labels)) + labels.tobytes())


def _digit_set(root: Path, name: str, rng: np.random.Generator) -> None:
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 120), ("t10k", 100)):
        images = (rng.random((n, 28, 28)) ** 3 * 255).astype(np.uint8)
        _write_idx(raw, prefix, images, (np.arange(n) % 10).astype(np.uint8))


def _png(path: Path, size: int, rng: np.random.Generator, mode: str = "RGB") -> None:
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(path)


def build_data_root(root: Path) -> Path:
    rng = np.random.default_rng(0)
    _digit_set(root, "MNIST", rng)
    _digit_set(root, "FashionMNIST", rng)
    for person in PEOPLE:  # 10 faces each: 8 train, 2 held out
        (root / "faces-celeb24" / person).mkdir(parents=True)
        for i in range(10):
            _png(root / "faces-celeb24" / person / f"{i:03d}.jpg", 48, rng)
    (root / "openmoji-64" / "emoji").mkdir(parents=True)
    for i in range(15):
        _png(root / "openmoji-64" / "emoji" / f"{i:04X}.png", 64, rng)
    (root / "facades" / "val").mkdir(parents=True)
    for i in range(1, 5):  # photo | label map, side by side
        Image.fromarray((rng.random((32, 64, 3)) * 255).astype(np.uint8)).save(root / "facades" / "val" / f"{i}.jpg")
    return root


# ---------------------------------------------------------------- a tiny gallery of every evaluation kind


def _constant_generator(channels: int, value: float = 0.5) -> DCGANGenerator:
    """Every latent gives the same image: the most collapsed generator there is."""
    g = DCGANGenerator(28, channels, 16, 8)
    last = g.net[-2]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(value)
    return g


def _point_generator(x: float, y: float) -> MLPGenerator:
    """A toy generator that puts every point on (x, y)."""
    g = MLPGenerator(2, 16, 2)
    with torch.no_grad():
        for p in g.parameters():
            p.zero_()
        g.net[-1].bias.copy_(torch.tensor([x, y]))
    return g


EXTRA_MODELS = [
    # id, task, networks, resolution, channels, classes, data set key, extra entry fields
    (
        "digits-classifier",
        "classifier",
        {"classifier": ("classifier", Classifier(28, 1, 10, 8))},
        28,
        1,
        DIGITS,
        "mnist",
    ),
    (
        "fashion-classifier",
        "classifier",
        {"classifier": ("classifier", Classifier(28, 1, 10, 8))},
        28,
        1,
        FASHION,
        "fashion",
    ),
    (
        "faces-classifier",
        "classifier",
        {"classifier": ("classifier", Classifier(64, 3, 3, 8, feature_dim=16))},
        64,
        3,
        PEOPLE,
        "faces-celeb24",
    ),
    (
        "tiny-fashion-cgan",
        "sample",
        {"generator": ("dcgan_generator", DCGANGenerator(28, 1, 16, 8, 10, 8))},
        28,
        1,
        FASHION,
        "fashion",
    ),
    (
        "stacked-mnist-tiny",
        "sample",
        {"generator": ("dcgan_generator", DCGANGenerator(28, 3, 16, 8))},
        28,
        3,
        (),
        "stacked-mnist",
    ),
    (
        "stacked-mnist-collapsed",
        "sample",
        {"generator": ("dcgan_generator", _constant_generator(3))},
        28,
        3,
        (),
        "stacked-mnist",
    ),
    (
        "tiny-openmoji",
        "sample",
        {"generator": ("dcgan_generator", DCGANGenerator(64, 3, 16, 8))},
        64,
        3,
        (),
        "openmoji-64",
    ),
    ("tiny-facades", "pix2pix", {"generator": ("unet_generator", UNetGenerator(32, 3, 3, 8))}, 32, 3, (), "facades"),
    (
        "tiny-cgan-faces",
        "sample",
        {"generator": ("dcgan_generator", DCGANGenerator(64, 3, 16, 8, 3, 8))},
        64,
        3,
        PEOPLE,
        "faces-celeb24",
    ),
    ("ring-collapsed", "toy2d", {"generator": ("mlp_generator", _point_generator(1.0, 0.0))}, 2, 2, (), None),
]
DATASET_OF = {  # the tiny gallery's own models -> the data they stand in for
    "tiny-digits": "mnist",
    "tiny-colour": "faces-celeb24",
    "tiny-cvaegan": "faces-celeb24",
    "tiny-pix2pix": "faces-celeb24",
    "tiny-classifier": "mnist",
}
KINDS = {
    "tiny-digits": "digits",
    "tiny-colour": "faces",
    "tiny-cvaegan": "cvae-gan",
    "tiny-pix2pix": "pix2pix",
    "tiny-classifier": "classifier",
    "tiny-toy": "toy2d",
    "digits-classifier": "classifier",
    "fashion-classifier": "classifier",
    "faces-classifier": "classifier",
    "tiny-fashion-cgan": "digits",
    "stacked-mnist-tiny": "stacked",
    "stacked-mnist-collapsed": "stacked",
    "tiny-openmoji": "emoji",
    "tiny-facades": "pix2pix",
    "tiny-cgan-faces": "identity",
    "ring-collapsed": "toy2d",
}


def build_eval_gallery(root: Path) -> Path:
    torch.manual_seed(0)
    build_tiny_gallery(root)
    for model_id, task, nets, res, ch, classes, key in EXTRA_MODELS:
        networks = publish_networks(model_id, nets, root)
        extra = {"extras": {"mixture": "ring"}} if task == "toy2d" else {}
        entry = _entry(model_id, task, networks, res, ch, classes, **extra)
        if key:
            entry["dataset"] = dict(DATASETS[key])
        upsert_entry(entry, root)
    data = raw_manifest(root / "weights_manifest.json")
    for m in data["models"]:
        if m["id"] in DATASET_OF:
            m["dataset"] = dict(DATASETS[DATASET_OF[m["id"]]])
    write_manifest(data, root / "weights_manifest.json")
    return root


@pytest.fixture(scope="module")
def eval_root(tmp_path_factory):
    base = tmp_path_factory.mktemp("evaluate")
    return build_eval_gallery(base / "gallery"), build_data_root(base / "data")


@pytest.fixture
def gallery(eval_root, monkeypatch):
    root, data = eval_root
    monkeypatch.setenv("GAN_GALLERY_ROOT", str(root))
    monkeypatch.delenv("GAN_GALLERY_MANIFEST", raising=False)
    return root, data


@pytest.fixture(scope="module")
def evaluated(eval_root):
    """``--all`` once over the whole tiny gallery; returns the manifest's metrics by id."""
    root, data = eval_root
    mp = pytest.MonkeyPatch()
    mp.setenv("GAN_GALLERY_ROOT", str(root))
    mp.delenv("GAN_GALLERY_MANIFEST", raising=False)
    try:
        rc = E.main(["--all", "--samples", str(N), "--seed", "3", "--data-root", str(data), "--device", "cpu"])
        metrics = {m["id"]: m["metrics"] for m in raw_manifest(root / "weights_manifest.json")["models"]}
    finally:
        mp.undo()
    assert rc == 0
    return metrics


# ---------------------------------------------------------------- tests


def test_evaluation_kind_of_every_tiny_model(gallery):
    entries = read_manifest()
    assert {i: E.evaluation_kind(e) for i, e in entries.items()} == KINDS


def _fake_entry(
    model_id: str, task: str, dataset: str | None, classes=(), roles=("generator",), arch="dcgan_generator"
):
    files = lambda role: [  # noqa: E731
        {"path": f"weights/{model_id}/{role}/{name}", "sha256": "0" * 64, "bytes": 1}
        for name in ("config.json", "model.safetensors")
    ]
    d = {
        "id": model_id,
        "title": model_id,
        "task": task,
        "architecture": "x",
        "dataset": dict(DATASETS[dataset]) if dataset else {"name": "somewhere", "licence": "?"},
        "resolution": 64,
        "channels": 3,
        "class_names": list(classes),
        "networks": {
            r: {"architecture": arch if r == "generator" else "cvae_encoder", "files": files(r)} for r in roles
        },
        "training": {"command": "x"},
    }
    return parse_entry(d, ARCHITECTURES)


@pytest.mark.parametrize(
    "model_id, task, dataset, classes, kind",
    [
        ("mnist-dcgan-ns", "sample", "mnist", (), "digits"),
        ("mnist-cgan", "sample", "mnist", DIGITS, "digits"),
        ("fashion-cgan", "sample", "fashion", FASHION, "digits"),
        ("celeb24-dcgan", "sample", "faces-celeb24", (), "faces"),
        ("openmoji-dcgan", "sample", "openmoji-64", (), "emoji"),
        ("celeb24-cgan", "sample", "faces-celeb24", PEOPLE, "identity"),
        ("stacked-mnist-dcgan-plain", "sample", "stacked-mnist", (), "stacked"),
        ("stacked-mnist-dcgan-stable", "sample", None, (), "stacked"),  # the id alone says it
        ("mnist-wgan-gp", "sample", None, (), "digits"),
        ("celeb24-cvaegan", "cvae-gan", "faces-celeb24", PEOPLE, "cvae-gan"),
        ("facades-pix2pix", "pix2pix", "facades", (), "pix2pix"),
    ],
)
def test_evaluation_kind_of_the_gallery_ids(model_id, task, dataset, classes, kind):
    roles = ("generator", "encoder") if task == "cvae-gan" else ("generator",)
    arch = "unet_generator" if task == "pix2pix" else "dcgan_generator"
    entry = _fake_entry(model_id, task, dataset, classes, roles, arch)
    assert E.evaluation_kind(entry) == kind


def test_evaluation_kind_refuses_unknown_data():
    with pytest.raises(E.EvaluationError, match="no evaluation"):
        E.evaluation_kind(_fake_entry("my-own-gan", "sample", None))


def test_all_writes_complete_metrics(evaluated, eval_root):
    root, _ = eval_root
    assert set(evaluated) == set(KINDS)
    for model_id, m in evaluated.items():
        assert m["command"].startswith(f"python -m training.evaluate {model_id} ")
        assert "--seed 3" in m["command"]
        assert m["seed"] == 3 and m["samples"] >= 1
        assert m["details"]["evaluation"] == KINDS[model_id]
        assert m["values"], model_id
        for key, value in m["values"].items():
            assert isinstance(value, (int, float)) and math.isfinite(value), (model_id, key, value)
        for key in ("reference", "details", "feature_network"):
            assert key in m
    read_manifest(root / "weights_manifest.json")  # still valid


def test_digit_metrics(evaluated):
    m = evaluated["tiny-digits"]
    v = m["values"]
    assert m["feature_network"] == "digits-classifier" and m["samples"] == N
    assert set(m["feature_network_sha256"]) == {"classifier"} and set(m["weights_sha256"]) == {"generator"}
    for key in ("frechet_distance", "kid", "precision", "recall", "density", "coverage", "inception_score"):
        assert key in v and key in m["reference"]
    assert 0 <= v["min_class_fraction"] <= 0.1 <= v["max_class_fraction"] <= 1
    assert 1 <= v["inception_score"] <= 10 and 0.1 <= v["confidence"] <= 1
    assert 0 <= v["class_accuracy"] <= 1 and len(m["details"]["per_class_accuracy"]) == 10
    assert sum(m["details"]["class_histogram"]) == pytest.approx(1.0, abs=1e-4)
    assert "training images" in m["details"]["reference_data"]
    assert evaluated["tiny-fashion-cgan"]["feature_network"] == "fashion-classifier"


def test_stacked_mnist_counts_modes(evaluated):
    m = evaluated["stacked-mnist-tiny"]
    hist = m["details"]["mode_histogram"]
    assert len(hist) == 1000 and sum(hist) == N
    assert m["values"]["modes"] == sum(c > 0 for c in hist) and m["values"]["total_modes"] == 1000
    collapsed = evaluated["stacked-mnist-collapsed"]["values"]
    assert collapsed["modes"] == 1  # one image, one mode: the count can fail
    assert collapsed["kl"] == pytest.approx(math.log(1000), abs=1e-4)


def test_toy2d_over_five_seeds(evaluated):
    m = evaluated["tiny-toy"]
    assert [s["seed"] for s in m["details"]["per_seed"]] == [3, 4, 5, 6, 7]
    assert m["reference"]["modes"] == 8 and m["reference"]["high_quality"] > 0.9
    collapsed = evaluated["ring-collapsed"]["values"]
    assert collapsed["modes"] == 1 and collapsed["total_modes"] == 8 and collapsed["high_quality"] == 1.0
    # every z goes to one point: dG/dz is zero everywhere; the random tiny generator keeps full rank
    assert collapsed["full_rank"] == 0.0
    assert m["values"]["full_rank"] > 0.5
    assert all(0 <= s["full_rank"] <= 1 for s in m["details"]["per_seed"])
    assert "full_rank" not in m["reference"]  # real data has no generator


def test_faces_identity_and_cvaegan_metrics(evaluated):
    faces = evaluated["tiny-colour"]
    assert faces["feature_network"] == "faces-classifier"
    assert {"frechet_distance", "precision", "recall", "density", "coverage", "sharpness_ratio"} <= set(faces["values"])
    cgan = evaluated["tiny-cgan-faces"]["values"]
    assert set(cgan) == {"identity_accuracy", "sharpness_ratio"}
    m = evaluated["tiny-cvaegan"]
    v = m["values"]
    assert {"identity_accuracy", "swap_accuracy", "reconstruction_l1", "sharpness_ratio"} == set(v)
    # 6 held-out faces (2 per person) x 2 other identities = 12 pairs: all of them, fewer than N
    assert m["details"]["swap_pairs"] == m["details"]["swap_pairs_all"] == 12
    assert 0 <= v["reconstruction_l1"] <= 2
    assert m["reference"]["identity_accuracy"] == evaluated["faces-classifier"]["values"]["accuracy"]


def test_pix2pix_and_emoji_and_classifier_metrics(evaluated):
    edges = evaluated["tiny-pix2pix"]
    assert edges["samples"] == 6 and "off" in edges["details"]["dropout"]
    assert {"l1", "psnr", "ssim", "sharpness_ratio"} == set(edges["values"])
    assert evaluated["tiny-facades"]["samples"] == 4
    emoji = evaluated["tiny-openmoji"]
    assert {"nn_rms_to_train", "near_copy_fraction", "feature_diversity", "sharpness_ratio"} == set(emoji["values"])
    clf = evaluated["digits-classifier"]
    assert clf["samples"] == N and clf["feature_network"] is None  # --samples caps the 100 test images
    assert clf["feature_network_sha256"] is None
    assert 0 <= clf["values"]["accuracy"] <= 1


def test_recorded_command_reproduces_the_values(evaluated, gallery):
    root, data = gallery
    for model_id in ("tiny-digits", "tiny-cvaegan", "tiny-toy"):
        argv = shlex.split(evaluated[model_id]["command"])[3:]
        again = E.measure(
            argv[0],
            int(argv[argv.index("--samples") + 1]),
            int(argv[argv.index("--seed") + 1]),
            E.Context(torch.device("cpu"), str(data)),
        )
        assert again["values"] == evaluated[model_id]["values"], model_id
        assert again["reference"] == evaluated[model_id]["reference"], model_id


def test_one_model_from_the_command_line(gallery, capsys):
    root, data = gallery
    rc = E.main(["tiny-classifier", "--data-root", str(data), "--device", "cpu"])
    assert rc == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["id"] == "tiny-classifier" and line["command"] == "python -m training.evaluate tiny-classifier --seed 0"
    recorded = read_manifest()["tiny-classifier"].metrics
    assert recorded["samples"] == 100 and recorded["values"] == line["values"]


def test_errors_are_reported(gallery, capsys):
    _, data = gallery
    assert E.main(["no-such-model", "--data-root", str(data)]) == 1
    assert "no-such-model" in capsys.readouterr().err
    assert E.main(["tiny-digits", "--data-root", str(data / "missing"), "--samples", "8"]) == 1
    with pytest.raises(SystemExit):
        E.main([])


def test_record_refuses_metrics_of_replaced_weights(gallery, tmp_path, monkeypatch):
    root, data = gallery
    copy = tmp_path / "gallery"
    shutil.copytree(root, copy)
    monkeypatch.setenv("GAN_GALLERY_ROOT", str(copy))
    metrics = E.measure("tiny-toy", 50, 0, E.Context(torch.device("cpu"), str(data)))
    before = read_manifest()["tiny-toy"].metrics
    # the lead re-publishes the model while it is being measured
    generator = MLPGenerator(2, 32, 2)
    networks = publish_networks("tiny-toy", {"generator": ("mlp_generator", generator)}, copy)
    manifest = raw_manifest(copy / "weights_manifest.json")
    for m in manifest["models"]:
        if m["id"] == "tiny-toy":
            m["networks"] = networks
            m["extra_files"] = [write_trajectory(copy, "tiny-toy", generator, "ring")]
    write_manifest(manifest, copy / "weights_manifest.json")
    with pytest.raises(E.EvaluationError, match="re-published"):
        E.record("tiny-toy", metrics)
    assert read_manifest()["tiny-toy"].metrics == before
    E.record("tiny-toy", E.measure("tiny-toy", 50, 0, E.Context(torch.device("cpu"), str(data))))
    assert read_manifest()["tiny-toy"].metrics["values"]


def test_table_and_readme(evaluated, gallery, tmp_path, capsys):
    assert E.main(["--table"]) == 0
    table = capsys.readouterr().out
    lines = table.strip().splitlines()
    assert lines[0] == "| Model | Data | Metrics | Trained | Size |"
    assert len(lines) == 2 + len(KINDS)
    assert "below its bar" not in table
    entries = read_manifest()
    model_id = next(iter(entries))
    entries[model_id] = dataclasses.replace(entries[model_id], below_bar="a short run")
    marked = [line for line in gallery_table(entries).splitlines() if "below its bar" in line]
    assert len(marked) == 1 and f"`{model_id}`" in marked[0]
    steps = entries[model_id].training.get("steps")
    assert (f"{steps:,} steps" if steps else "steps not recorded") in marked[0]
    assert "class acc" in table and "modes 1/1000" in table and "swap acc" in table and "PSNR" in table
    assert "digits-classifier features" in table
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{TABLE_START}\nold\n{TABLE_END}\n\nafter\n")
    assert E.main(["--table", "--write-readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and "| Model | Data |" in text and text.endswith("after\n")
    readme.write_text("no markers\n")
    with pytest.raises(TableError):
        E.main(["--table", "--write-readme", str(readme)])


def test_table_of_unmeasured_models():
    assert summarise({}) == "not measured yet"
