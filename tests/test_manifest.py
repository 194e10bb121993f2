"""Manifest validation: a valid entry parses; each kind of error is refused with a message that
names the model and the field."""

from __future__ import annotations

import copy
import json

import pytest

from gan_models.manifest import (
    ManifestError,
    manifest_path,
    parse_manifest,
    raw_manifest,
    read_manifest,
    weights_root,
    write_manifest,
)

SHA = "ab" * 32


def files(model_id: str, role: str) -> list[dict]:
    return [
        {"path": f"weights/{model_id}/{role}/config.json", "sha256": SHA, "bytes": 120},
        {"path": f"weights/{model_id}/{role}/model.safetensors", "sha256": "cd" * 32, "bytes": 4096},
    ]


def entry(model_id: str = "mnist-cgan", task: str = "sample", roles=None) -> dict:
    roles = roles or {"generator": "dcgan_generator"}
    return {
        "id": model_id,
        "title": "Conditional DCGAN",
        "description": "Digits by class.",
        "task": task,
        "architecture": "dcgan",
        "dataset": {"name": "MNIST", "licence": "CC BY-SA 3.0", "credit": "LeCun et al."},
        "resolution": 28,
        "channels": 1,
        "class_names": [str(i) for i in range(10)],
        "networks": {role: {"architecture": arch, "files": files(model_id, role)} for role, arch in roles.items()},
        "training": {"command": f"python -m training {model_id}", "device": "cpu"},
        "metrics": {"command": f"python -m training.evaluate {model_id}", "values": {"fid": 3.0}},
    }


def manifest(*entries) -> dict:
    return {"schema_version": 1, "models": list(entries) or [entry()]}


def refused(data, *fragments):
    """Parse ``data``; assert it is refused with a message containing every fragment."""
    with pytest.raises(ManifestError) as e:
        parse_manifest(data)
    for fragment in fragments:
        assert fragment in str(e.value), f"{fragment!r} not in {str(e.value)!r}"
    return str(e.value)


def test_valid_manifest_parses():
    cvae = entry("celeb24-cvaegan", "cvae-gan", {"generator": "dcgan_generator", "encoder": "cvae_encoder"})
    cvae["hub"] = {"repo_id": "gallery/celeb24-cvaegan", "revision": "0" * 40}
    cvae["extra_files"] = [{"path": "weights/celeb24-cvaegan/extra.safetensors", "sha256": SHA, "bytes": 1}]
    entries = parse_manifest(manifest(entry(), cvae))
    assert list(entries) == ["mnist-cgan", "celeb24-cvaegan"]
    e = entries["mnist-cgan"]
    assert (e.task, e.resolution, e.channels, e.num_classes, e.folder) == ("sample", 28, 1, 10, "weights/mnist-cgan")
    assert e.networks["generator"].file("model.safetensors").bytes == 4096
    assert entries["celeb24-cvaegan"].hub["revision"] == "0" * 40
    assert len(entries["celeb24-cvaegan"].extra_files) == 1
    with pytest.raises(ManifestError, match="no file"):
        e.networks["generator"].file("weights.bin")


@pytest.mark.parametrize(
    "field", ["id", "title", "task", "architecture", "dataset", "resolution", "channels", "class_names", "networks"]
)
def test_missing_field(field):
    e = entry()
    del e[field]
    where = "model entry" if field == "id" else "'mnist-cgan'"
    refused(manifest(e), where, f"missing field {field!r}")


@pytest.mark.parametrize(
    "path, field",
    [
        (("dataset", "licence"), "licence"),
        (("training", "command"), "command"),
        (("networks", "generator", "architecture"), "architecture"),
        (("networks", "generator", "files"), "files"),
        (("networks", "generator", "files", 1, "sha256"), "sha256"),
        (("networks", "generator", "files", 1, "bytes"), "bytes"),
    ],
)
def test_missing_nested_field(path, field):
    e = entry()
    parent = e
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    refused(manifest(e), "'mnist-cgan'", f"missing field {field!r}")


@pytest.mark.parametrize(
    "field, value, kind",
    [("resolution", "28", "int"), ("channels", True, "int"), ("class_names", "0123", "list"), ("title", 3, "str")],
)
def test_wrong_field_type(field, value, kind):
    e = entry()
    e[field] = value
    refused(manifest(e), "'mnist-cgan'", f"field {field!r} must be {kind}")


def test_bad_task():
    e = entry(task="super-resolution")
    refused(manifest(e), "'mnist-cgan'", "task 'super-resolution'", "sample")


def test_unknown_architecture():
    e = entry(roles={"generator": "stylegan3_generator"})
    refused(manifest(e), "'mnist-cgan'", "'generator'", "unknown architecture 'stylegan3_generator'")


@pytest.mark.parametrize("sha", ["AB" * 32, "ab" * 31, "ab" * 33, "g" * 64, "", "ab" * 31 + "a "])
def test_bad_sha_format(sha):
    e = entry()
    e["networks"]["generator"]["files"][1]["sha256"] = sha
    refused(manifest(e), "'mnist-cgan'", "sha256", "model.safetensors", "64 lowercase hex")


def test_negative_size():
    e = entry()
    e["networks"]["generator"]["files"][0]["bytes"] = -1
    refused(manifest(e), "'mnist-cgan'", "bytes", "config.json")


@pytest.mark.parametrize(
    "path",
    [
        "weights/other-model/generator/model.safetensors",  # another model's folder
        "weights/mnist-cgan/../other-model/model.safetensors",  # climbing out
        "/weights/mnist-cgan/generator/model.safetensors",  # absolute
        "/etc/passwd",
        "mnist-cgan/generator/model.safetensors",  # not under weights/
        "weights/mnist-cgan-2/generator/model.safetensors",  # a prefix is not the folder
    ],
)
def test_path_outside_model_folder(path):
    e = entry()
    e["networks"]["generator"]["files"][1]["path"] = path
    refused(manifest(e), "'mnist-cgan'", repr(path), "must lie under weights/mnist-cgan/")


def test_extra_file_outside_model_folder():
    e = entry()
    e["extra_files"] = [{"path": "weights/elsewhere/trajectory.safetensors", "sha256": SHA, "bytes": 1}]
    refused(manifest(e), "'mnist-cgan'", "extra_files", "must lie under weights/mnist-cgan/")


def test_duplicate_id():
    refused(manifest(entry(), entry("other"), entry()), "'mnist-cgan'", "appears twice")


@pytest.mark.parametrize("version", [None, 0, 2, "1"])
def test_wrong_schema_version(version):
    data = manifest()
    if version is None:
        del data["schema_version"]
    else:
        data["schema_version"] = version
    refused(data, "schema_version must be 1", repr(version))


def test_not_an_object_or_models_not_a_list():
    refused([entry()], "JSON object")
    refused({"schema_version": 1, "models": {"mnist-cgan": entry()}}, "'models'", "list")
    refused({"schema_version": 1, "models": ["mnist-cgan"]}, "object")


@pytest.mark.parametrize(
    "names",
    [
        ["config.json", "pytorch_model.bin"],  # a pickle checkpoint
        ["config.json"],  # weights missing
        ["config.json", "model.safetensors", "optimizer.safetensors"],
        ["config.json", "config.json", "model.safetensors"],  # a name twice
    ],
)
def test_wrong_file_names(names):
    e = entry()
    e["networks"]["generator"]["files"] = [
        {"path": f"weights/mnist-cgan/generator/{n}", "sha256": SHA, "bytes": 1} for n in names
    ]
    refused(manifest(e), "'mnist-cgan'", "'generator'", "config.json and model.safetensors", names[-1])


@pytest.mark.parametrize(
    "task, roles, missing",
    [
        ("cvae-gan", {"generator": "dcgan_generator"}, "encoder"),
        ("sample", {"encoder": "cvae_encoder"}, "generator"),
        ("classifier", {"generator": "dcgan_generator"}, "classifier"),
        ("pix2pix", {}, "generator"),
    ],
)
def test_roles_missing_for_task(task, roles, missing):
    e = entry(task=task, roles=roles or {"generator": "dcgan_generator"})
    if not roles:
        e["networks"] = {}
    refused(manifest(e), "'mnist-cgan'", f"task {task!r}", missing)


@pytest.mark.parametrize("model_id", ["MNIST", "-lead", "has space", "a" * 65, "dots.in.id", ""])
def test_bad_id(model_id):
    refused(manifest(entry(model_id)), repr(model_id), "id must match")


def test_bad_channels_and_resolution():
    e = entry()
    e["channels"] = 4
    refused(manifest(e), "'mnist-cgan'", "channels must be 1 or 3")
    e = entry()
    e["resolution"] = 0
    refused(manifest(e), "'mnist-cgan'", "resolution positive")


def test_bad_hub_metrics_and_class_names():
    e = entry()
    e["hub"] = {"repo_id": "gallery/x"}
    refused(manifest(e), "'mnist-cgan'", "hub", "'revision'")
    e = entry()
    e["hub"] = "gallery/x"
    refused(manifest(e), "'mnist-cgan'", "hub must be an object")
    e = entry()
    e["metrics"] = {"values": {"fid": 1.0}}  # numbers without the command that measured them
    refused(manifest(e), "'mnist-cgan'", "metrics", "'command'")
    e = entry()
    e["class_names"] = ["0", 1]
    refused(manifest(e), "'mnist-cgan'", "class_names must be strings")


def test_read_manifest_files(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_GALLERY_ROOT", str(tmp_path))
    monkeypatch.delenv("GAN_GALLERY_MANIFEST", raising=False)
    assert weights_root() == tmp_path
    assert manifest_path() == tmp_path / "weights_manifest.json"
    with pytest.raises(ManifestError, match="no manifest at"):
        read_manifest()
    assert raw_manifest() == {"schema_version": 1, "models": []}
    manifest_path().write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_manifest()
    write_manifest(manifest())
    assert list(read_manifest()) == ["mnist-cgan"]
    assert json.loads(manifest_path().read_text()) == manifest()
    other = tmp_path / "elsewhere.json"
    monkeypatch.setenv("GAN_GALLERY_MANIFEST", str(other))
    assert manifest_path() == other


def test_write_manifest_refuses_invalid_data_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "weights_manifest.json"
    write_manifest(manifest(), path)
    before = path.read_text()
    bad = copy.deepcopy(manifest())
    bad["models"][0]["task"] = "nope"
    with pytest.raises(ManifestError, match="task 'nope'"):
        write_manifest(bad, path)
    assert path.read_text() == before
    assert not list(tmp_path.glob("*.tmp"))


def test_tiny_gallery_manifest_is_valid(use_gallery):
    entries = read_manifest()
    assert {e.task for e in entries.values()} == {"sample", "cvae-gan", "pix2pix", "toy2d", "classifier"}
    for e in entries.values():
        for net in e.networks.values():
            for f in net.files:
                assert (use_gallery / f.path).stat().st_size == f.bytes


def test_ablation_of_names_another_model():
    good = entry()
    good["ablation_of"] = "mnist-dcgan-ns"  # need not be shipped yet: an ablation may be published first
    assert parse_manifest(manifest(good))["mnist-cgan"].ablation_of == "mnist-dcgan-ns"
    assert parse_manifest(manifest(entry()))["mnist-cgan"].ablation_of is None
    for bad in ("mnist-cgan", "Not An Id", "", 3):
        e = entry()
        e["ablation_of"] = bad
        refused(manifest(e), "mnist-cgan", "ablation_of")


def test_below_bar_is_an_explanation():
    good = entry()
    good["below_bar"] = "trained 3,000 steps on a CPU; needs GPU time"
    assert parse_manifest(manifest(good))["mnist-cgan"].below_bar.startswith("trained")
    assert parse_manifest(manifest(entry()))["mnist-cgan"].below_bar is None
    for bad in ("", "  ", True, 3):
        e = entry()
        e["below_bar"] = bad
        refused(manifest(e), "mnist-cgan", "below_bar")
