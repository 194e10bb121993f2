"""Verified loading: SHA-256 and size checks, safetensors-only parsing, clean tensors, the
ModelStore that keeps serving the good models, the device choice, and the Hugging Face Hub
path against a local Hub (tests/hub_server.py): download, offline cache, unreachable, tampered."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from gan_models import ModelStore, WeightsError, WeightsMissing, default_device, load_model, sample
from gan_models.manifest import PROJECT_ROOT
from tests.hub_server import HubServer

# A pickle and a torch.save zip archive, as bytes: written to disk here, never loaded.
PICKLE_V4 = (
    b"\x80\x04\x95)\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x0cnet.0.weight\x94]\x94(G?\xe0\x00\x00\x00\x00\x00\x00G"
    b"\xbf\xe0\x00\x00\x00\x00\x00\x00es."
)
PICKLE_V2 = (
    b"\x80\x02}q\x00X\x0c\x00\x00\x00net.0.weightq\x01]q\x02(G?\xe0\x00\x00\x00\x00\x00\x00G\xbf\xe0\x00\x00\x00"
    b"\x00\x00\x00es."
)


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
def gallery(tiny_gallery, tmp_path, monkeypatch):
    """A private, writable copy of the tiny gallery, made current."""
    root = tmp_path / "gallery"
    shutil.copytree(tiny_gallery, root)
    monkeypatch.setenv("GAN_GALLERY_ROOT", str(root))
    monkeypatch.delenv("GAN_GALLERY_MANIFEST", raising=False)
    monkeypatch.delenv("GAN_GALLERY_DEVICE", raising=False)
    return root


def weights_file(root: Path, model_id: str, role: str = "generator", name: str = "model.safetensors") -> Path:
    return root / "weights" / model_id / role / name


def edit_manifest(root: Path, model_id: str, change) -> None:
    """Apply ``change(entry_dict)`` to one entry of the gallery's manifest (written as is)."""
    path = root / "weights_manifest.json"
    data = json.loads(path.read_text())
    change(next(m for m in data["models"] if m["id"] == model_id))
    path.write_text(json.dumps(data, indent=2))


def record_of(entry: dict, relpath: str) -> dict:
    records = [f for net in entry["networks"].values() for f in net["files"]] + entry.get("extra_files", [])
    return next(f for f in records if f["path"] == relpath)


def rewrite(root: Path, path: Path, data: bytes) -> None:
    """Replace a file and update its manifest record, as a (malicious) publisher would: the
    SHA-256 then matches and the content checks behind it are what must refuse the file."""
    path.write_bytes(data)
    relpath = path.relative_to(root).as_posix()
    model_id = relpath.split("/")[1]

    def change(entry):
        record = record_of(entry, relpath)
        record["sha256"], record["bytes"] = hashlib.sha256(data).hexdigest(), len(data)

    edit_manifest(root, model_id, change)


def refused(model_id: str, filename: str, *fragments: str, kind=WeightsError) -> str:
    with pytest.raises(kind) as e:
        load_model(model_id, "cpu")
    message = str(e.value)
    for fragment in (repr(model_id), filename, *fragments):
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def state_of(path: Path) -> dict[str, torch.Tensor]:
    return load_safetensors(path.read_bytes())


# --- loading -------------------------------------------------------------------------------


def test_every_tiny_model_loads_verified(gallery):
    expected_roles = {
        "tiny-digits": {"generator"},
        "tiny-colour": {"generator"},
        "tiny-cvaegan": {"generator", "encoder"},
        "tiny-pix2pix": {"generator"},
        "tiny-classifier": {"classifier"},
        "tiny-toy": {"generator"},
    }
    for model_id, roles in expected_roles.items():
        model = load_model(model_id, "cpu")
        assert model.id == model_id and set(model.networks) == roles
        assert model.parameter_count() > 0 and model.file_bytes() > 0
    toy = load_model("tiny-toy")
    trajectory = load_safetensors(toy.extras["trajectory.safetensors"])
    assert set(trajectory) == {"steps", "points", "critic", "extent", "modes", "high_quality"}
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        load_model("nope")


def test_loaded_networks_match_the_published_tensors(gallery):
    model = load_model("tiny-cvaegan", "cpu")
    for role, net in model.networks.items():
        saved = state_of(weights_file(gallery, "tiny-cvaegan", role))
        for name, tensor in net.state_dict().items():
            torch.testing.assert_close(tensor, saved[name], rtol=0, atol=0)


def test_half_precision_checkpoint_loads_as_float32(gallery):
    from gan_models.networks import DCGANGenerator
    from training.publish import publish_networks

    torch.manual_seed(3)
    g = DCGANGenerator(32, 3, 16, 8).eval()
    networks = publish_networks("tiny-colour", {"generator": ("dcgan_generator", g)}, gallery, half=True)
    edit_manifest(gallery, "tiny-colour", lambda e: e.update(networks=networks))
    assert state_of(weights_file(gallery, "tiny-colour"))["net.0.weight"].dtype == torch.float16
    model = load_model("tiny-colour", "cpu")
    assert all(p.dtype == torch.float32 for p in model.generator.parameters())
    z = torch.randn(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(model.generator(z), g(z), atol=1e-2, rtol=0)


# --- refusals ------------------------------------------------------------------------------


def test_flipped_byte_is_refused_by_sha256(gallery):
    path = weights_file(gallery, "tiny-digits")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    refused("tiny-digits", "weights/tiny-digits/generator/model.safetensors", "SHA-256", "refused")


def test_flipped_byte_in_config_is_refused(gallery):
    path = weights_file(gallery, "tiny-digits", name="config.json")
    text = path.read_text()
    assert '"z_dim": 16' in text
    path.write_text(text.replace('"z_dim": 16', '"z_dim": 61'))
    refused("tiny-digits", "generator/config.json", "SHA-256")


def test_truncated_file_is_refused(gallery):
    path = weights_file(gallery, "tiny-digits")
    path.write_bytes(path.read_bytes()[:-100])
    refused("tiny-digits", "generator/model.safetensors", "bytes, the manifest says", "refused")


def test_wrong_size_in_manifest_is_refused(gallery):
    def change(entry):
        record_of(entry, "weights/tiny-digits/generator/model.safetensors")["bytes"] += 1

    edit_manifest(gallery, "tiny-digits", change)
    refused("tiny-digits", "generator/model.safetensors", "bytes, the manifest says")


@pytest.mark.parametrize("payload", [PICKLE_V4, PICKLE_V2], ids=["protocol4", "protocol2"])
def test_pickle_renamed_safetensors_is_refused(gallery, payload):
    rewrite(gallery, weights_file(gallery, "tiny-digits"), payload)
    refused("tiny-digits", "generator/model.safetensors", "pickle", "not safetensors")


def test_torch_save_zip_renamed_safetensors_is_refused(gallery, tmp_path):
    archive = tmp_path / "model.pt"
    with zipfile.ZipFile(archive, "w") as z:  # the layout torch.save writes
        z.writestr("archive/data.pkl", PICKLE_V2)
        z.writestr("archive/version", "3\n")
    rewrite(gallery, weights_file(gallery, "tiny-digits"), archive.read_bytes())
    refused("tiny-digits", "generator/model.safetensors", "zip archive")


def test_header_longer_than_file_is_refused(gallery):
    path = weights_file(gallery, "tiny-digits")
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    rewrite(gallery, path, struct.pack("<Q", len(data) + 1000) + data[8:])
    refused("tiny-digits", "generator/model.safetensors", "not a valid safetensors file")
    assert header_len < len(data)  # the original was consistent


@pytest.mark.parametrize("payload", [b"", b"\x00" * 8, b"just some text, not tensors"])
def test_garbage_is_refused(gallery, payload):
    rewrite(gallery, weights_file(gallery, "tiny-digits"), payload)
    refused("tiny-digits", "generator/model.safetensors", "not a valid safetensors file")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values_are_refused(gallery, bad):
    path = weights_file(gallery, "tiny-digits")
    state = state_of(path)
    state["net.0.weight"][0, 0, 0, 0] = bad
    rewrite(gallery, path, save_safetensors(state))
    refused("tiny-digits", "generator/model.safetensors", "'net.0.weight'", "NaN or inf")


def test_missing_tensor_is_refused(gallery):
    path = weights_file(gallery, "tiny-digits")
    state = state_of(path)
    del state["net.1.running_var"]
    rewrite(gallery, path, save_safetensors(state))
    refused("tiny-digits", "generator/model.safetensors", "missing ['net.1.running_var']", "dcgan_generator")


def test_extra_tensor_is_refused(gallery):
    path = weights_file(gallery, "tiny-digits")
    state = state_of(path)
    state["backdoor.weight"] = torch.zeros(3)
    rewrite(gallery, path, save_safetensors(state))
    refused("tiny-digits", "generator/model.safetensors", "unexpected ['backdoor.weight']")


def test_wrong_tensor_shape_is_refused(gallery):
    path = weights_file(gallery, "tiny-digits")
    state = state_of(path)
    state["net.0.weight"] = torch.zeros(3, 3)
    rewrite(gallery, path, save_safetensors(state))
    refused("tiny-digits", "generator/model.safetensors", "does not fit dcgan_generator")


@pytest.mark.parametrize(
    "config", [b"{not json", b'{"image_size": 28, "no_such_option": 1}', b'{"image_size": 30}', b"[1, 2]"]
)
def test_config_that_does_not_build_is_refused(gallery, config):
    rewrite(gallery, weights_file(gallery, "tiny-digits", name="config.json"), config)
    refused("tiny-digits", "generator/config.json", "does not build a dcgan_generator")


def test_missing_file_without_hub_names_the_training_command(gallery):
    weights_file(gallery, "tiny-cvaegan", "encoder").unlink()
    message = refused("tiny-cvaegan", "encoder/model.safetensors", "is missing", kind=WeightsMissing)
    assert "python -m training tiny --id tiny-cvaegan" in message


def test_tampered_extra_file_is_refused(gallery):
    path = gallery / "weights" / "tiny-toy" / "trajectory.safetensors"
    path.write_bytes(path.read_bytes()[:-4] + b"\x00\x00\x00\x00")
    refused("tiny-toy", "trajectory.safetensors", "SHA-256")


def test_store_keeps_serving_the_good_models(gallery):
    path = weights_file(gallery, "tiny-colour")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    weights_file(gallery, "tiny-classifier", "classifier", "config.json").unlink()

    store = ModelStore(device="cpu")
    store.load_all()
    assert set(store.errors) == {"tiny-colour", "tiny-classifier"}
    assert "SHA-256" in store.errors["tiny-colour"] and "tiny-colour" in store.errors["tiny-colour"]
    assert "python -m training tiny --id tiny-classifier" in store.errors["tiny-classifier"]
    assert set(store.models) == {"tiny-digits", "tiny-cvaegan", "tiny-pix2pix", "tiny-toy"}
    assert store.ready()
    assert sample(store.get("tiny-digits"), 2, seed=1).shape == (2, 28, 28, 1)
    with pytest.raises(LookupError, match="unavailable: .*SHA-256"):
        store.get("tiny-colour")
    with pytest.raises(LookupError, match="unknown model"):
        store.get("nope")

    only = ModelStore(device="cpu", only=["tiny-toy", "no-such-model"])
    assert list(only.entries) == ["tiny-toy"] and not only.ready()
    only.load_all(warm_up=False)
    assert list(only.models) == ["tiny-toy"] and only.ready()


# --- device --------------------------------------------------------------------------------


def test_default_device_is_cpu_without_cuda(monkeypatch):
    monkeypatch.delenv("GAN_GALLERY_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device() == torch.device("cpu")


def test_device_override_by_environment(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("GAN_GALLERY_DEVICE", "cpu")
    assert default_device() == torch.device("cpu")
    monkeypatch.setenv("GAN_GALLERY_DEVICE", "cuda:1")
    assert default_device() == torch.device("cuda", 1)
    monkeypatch.delenv("GAN_GALLERY_DEVICE")
    assert default_device() == torch.device("cuda")


def test_load_model_places_networks_on_the_chosen_device(gallery, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = load_model("tiny-cvaegan")  # no device: default_device()
    assert model.device == torch.device("cpu")
    for net in model.networks.values():
        assert not net.training
        assert all(p.device.type == "cpu" and not p.requires_grad for p in net.parameters())
        assert all(b.device.type == "cpu" for b in net.buffers())
    # The override reaches the networks: "meta" is a device every machine has (no data, only placement).
    monkeypatch.setenv("GAN_GALLERY_DEVICE", "meta")
    model = load_model("tiny-cvaegan")
    assert model.device == torch.device("meta")
    assert all(p.device.type == "meta" for net in model.networks.values() for p in net.parameters())
    store = ModelStore()
    assert store.device == torch.device("meta")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_samples_match_cpu(gallery):
    cpu, gpu = load_model("tiny-digits", "cpu"), load_model("tiny-digits", "cuda")
    assert all(p.is_cuda for p in gpu.generator.parameters())
    a, b = sample(cpu, 4, seed=3), sample(gpu, 4, seed=3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 2


# --- the Hugging Face Hub ------------------------------------------------------------------

REPO = "gallery/tiny"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HUB_MODEL = "tiny-colour"


def point_hub(monkeypatch, endpoint: str, hf_home: Path, offline: bool = False) -> None:
    """What HF_ENDPOINT / HF_HOME / HF_HUB_OFFLINE do, for this process: huggingface_hub reads them
    at import, so its constants are patched too (a subprocess test below sets only the env)."""
    import huggingface_hub.constants as c

    env = {"HF_ENDPOINT": endpoint, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1" if offline else "0"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("HF_HUB_CACHE", "HF_TOKEN", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(key, raising=False)
    patches = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hf_home / "hub"),
        "HF_HUB_OFFLINE": offline,
        "HF_TOKEN_PATH": str(hf_home / "token"),
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"),
        "AGENT_HARNESSES_PATH": str(hf_home / ".agent_harnesses.json"),
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": True,
    }
    for key, value in patches.items():
        monkeypatch.setattr(c, key, value)


@pytest.fixture
def hub_gallery(gallery, tmp_path):
    """The gallery with tiny-colour's weights/ folder moved onto a local Hub repo and the entry
    pointing at it; returns (gallery root, served folder, reference samples from the local files)."""
    reference = sample(load_model(HUB_MODEL, "cpu"), 3, seed=7)
    served = tmp_path / "served"
    (served / REPO).parent.mkdir(parents=True)
    shutil.move(gallery / "weights" / HUB_MODEL, served / REPO)
    edit_manifest(gallery, HUB_MODEL, lambda e: e.update(hub={"repo_id": REPO, "revision": COMMIT}))
    return gallery, served, reference


def resolve_path(filename: str) -> str:
    return f"/{REPO}/resolve/{COMMIT}/{filename}"


def test_hub_download_then_offline_from_cache(hub_gallery, tmp_path, monkeypatch):
    root, served, reference = hub_gallery
    hf_home = tmp_path / "hf-home"
    assert not (root / "weights" / HUB_MODEL).exists()
    with HubServer(served, {REPO: COMMIT}) as hub:
        point_hub(monkeypatch, hub.url, hf_home)
        model = load_model(HUB_MODEL, "cpu")
        requests = list(hub.requests)
    np.testing.assert_array_equal(sample(model, 3, seed=7), reference)
    for name in ("generator/config.json", "generator/model.safetensors"):
        assert ("HEAD", resolve_path(name)) in requests
        cached = hf_home / "hub" / "models--gallery--tiny" / "snapshots" / COMMIT / name
        assert cached.is_file()
    assert ("GET", resolve_path("generator/config.json")) in requests
    assert [p for m, p in requests if m == "GET" and p.startswith("/cdn/")]  # the LFS file came from the "CDN"

    # Server gone: online mode still loads from the cache without touching the network ...
    start = time.monotonic()
    again = load_model(HUB_MODEL, "cpu")
    assert time.monotonic() - start < 5
    np.testing.assert_array_equal(sample(again, 3, seed=7), reference)
    # ... and so does offline mode.
    point_hub(monkeypatch, hub.url, hf_home, offline=True)
    offline = load_model(HUB_MODEL, "cpu")
    np.testing.assert_array_equal(sample(offline, 3, seed=7), reference)
    assert len(hub.requests) == len(requests)


def test_local_files_win_over_the_hub(hub_gallery, tmp_path, monkeypatch):
    root, served, reference = hub_gallery
    shutil.copytree(served / REPO, root / "weights" / HUB_MODEL)
    with HubServer(served, {REPO: COMMIT}) as hub:
        point_hub(monkeypatch, hub.url, tmp_path / "hf-home")
        np.testing.assert_array_equal(sample(load_model(HUB_MODEL, "cpu"), 3, seed=7), reference)
    assert not [r for r in hub.requests if "/resolve/" in r[1] or r[1].startswith("/cdn/")]


@pytest.mark.parametrize("offline", [False, True], ids=["unreachable", "offline"])
def test_hub_unreachable_without_cache_is_missing(hub_gallery, tmp_path, monkeypatch, offline):
    _, served, _ = hub_gallery
    hub = HubServer(served, {REPO: COMMIT}).start()
    hub.stop()  # the port now refuses connections
    point_hub(monkeypatch, hub.url, tmp_path / "empty-hf-home", offline=offline)
    start = time.monotonic()
    message = refused(HUB_MODEL, "generator/config.json", f"{REPO}@{COMMIT}", kind=WeightsMissing)
    assert "Train it with: python -m training tiny --id tiny-colour" in message
    assert time.monotonic() - start < 5  # no minutes of retries while the app starts


@pytest.mark.parametrize("change", ["flip", "truncate", "replace"], ids=["flipped-byte", "truncated", "other-weights"])
def test_tampered_file_on_the_hub_is_refused(hub_gallery, tmp_path, monkeypatch, change):
    _, served, _ = hub_gallery
    path = served / REPO / "generator" / "model.safetensors"
    data = bytearray(path.read_bytes())
    if change == "flip":
        data[100] ^= 0x10
    elif change == "truncate":
        del data[-8:]
    else:
        state = load_safetensors(bytes(data))
        data = bytearray(save_safetensors({k: torch.zeros_like(v) for k, v in state.items()}))
    path.write_bytes(bytes(data))
    with HubServer(served, {REPO: COMMIT}) as hub:
        point_hub(monkeypatch, hub.url, tmp_path / "hf-home")
        with pytest.raises(WeightsError) as e:
            load_model(HUB_MODEL, "cpu")
    assert not isinstance(e.value, WeightsMissing)
    message = str(e.value)
    assert repr(HUB_MODEL) in message and "generator/model.safetensors" in message and "refused" in message


@pytest.mark.parametrize("problem", ["unknown-revision", "unknown-repo", "file-not-on-hub"])
def test_hub_without_the_file_is_missing(hub_gallery, tmp_path, monkeypatch, problem):
    _, served, _ = hub_gallery
    repos = {REPO: COMMIT}
    if problem == "unknown-revision":
        repos[REPO] = "f" * 40
    elif problem == "unknown-repo":
        repos = {"gallery/other": COMMIT}
    else:
        (served / REPO / "generator" / "config.json").unlink()
    with HubServer(served, repos) as hub:
        point_hub(monkeypatch, hub.url, tmp_path / "hf-home")
        refused(HUB_MODEL, "generator/config.json", "could not be fetched", "Train it with", kind=WeightsMissing)


LOAD_SCRIPT = """
import sys
from gan_models import load_model, sample
print(sample(load_model(sys.argv[1], "cpu"), 3, seed=7).tobytes().hex())
"""


def test_hub_configured_by_environment_in_a_fresh_process(hub_gallery, tmp_path, monkeypatch):
    """The deployment path: a fresh process configured only by HF_ENDPOINT and HF_HOME in its
    environment downloads the model; this process then finds it in that HF_HOME offline."""
    root, served, reference = hub_gallery
    hf_home = tmp_path / "hf-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(GAN_GALLERY_ROOT=str(root), HF_HOME=str(hf_home), PYTHONPATH=str(PROJECT_ROOT))
    env["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
    with HubServer(served, {REPO: COMMIT}) as hub:
        cmd = [sys.executable, "-c", LOAD_SCRIPT, HUB_MODEL]
        env["HF_ENDPOINT"] = hub.url
        online = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert online.returncode == 0, online.stderr
    assert bytes.fromhex(online.stdout.strip()) == reference.tobytes()
    assert ("HEAD", resolve_path("generator/config.json")) in hub.requests

    point_hub(monkeypatch, hub.url, hf_home, offline=True)
    np.testing.assert_array_equal(sample(load_model(HUB_MODEL, "cpu"), 3, seed=7), reference)


def test_halving_a_shipped_model_keeps_its_outputs(tiny_gallery, tmp_path):
    from training.publish import halve_shipped

    root = tmp_path / "gallery"
    shutil.copytree(tiny_gallery, root)
    model_file = root / "weights" / "tiny-digits" / "generator" / "model.safetensors"
    before = model_file.stat().st_size
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_GALLERY_ROOT", str(root))
        old = sample(load_model("tiny-digits", "cpu"), 8, 5)
        entry = halve_shipped("tiny-digits", root)
        new = sample(load_model("tiny-digits", "cpu"), 8, 5)  # loading checks the new SHA-256
    assert model_file.stat().st_size < 0.6 * before
    assert entry["training"]["precision"] == "float16 weights" and entry["metrics"] == {}
    assert entry["training"]["command"].endswith(" --half")
    assert np.abs(new.astype(int) - old.astype(int)).max() <= 2  # uint8 images: fp16 round-off only
    with pytest.raises(SystemExit, match="already ships float16"):
        halve_shipped("tiny-digits", root)
