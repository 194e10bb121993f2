"""Files and weights against the running app: Gradio serves only what it must (no manifest,
weights, .env, system files, traversal or links through ``file=``); share links, flagging,
analytics, monitoring, run history and MCP are off; uploads are capped. Tampered weights are
refused at load with the model and file named while the other models keep serving and the page
says which model is unavailable; the Hub unreachable, with and without a cache. The bytes hashed
are the bytes loaded. Version floors of Gradio, Pillow and PyTorch, and a dependency audit.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import struct
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError
from packaging.version import Version
from PIL import Image
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from tests.app_server import PROJECT, gallery_env, running_app
from tests.hub_server import HubServer
from tests.test_weights import PICKLE_V4, point_hub, rewrite

SECRET = "GAN_GALLERY_AUTH=ada:do-not-serve-me"


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalising of ../ or %2e)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.endheaders()
    response = conn.getresponse()
    status, body = response.status, response.read()
    conn.close()
    return status, body


@pytest.fixture(scope="module")
def gallery_root(tiny_gallery, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("files-gallery")
    shutil.copytree(tiny_gallery, root, dirs_exist_ok=True)
    (root / ".env").write_text(SECRET + "\n")  # a secret beside the weights: never to be served
    return root


@pytest.fixture(scope="module")
def server(gallery_root, tmp_path_factory):
    temp = tmp_path_factory.mktemp("files-gradio")
    with running_app(gallery_env(gallery_root, temp), PROJECT / "test-artifacts" / "reliability-files.log") as srv:
        srv.temp = temp
        yield srv


@pytest.fixture(scope="module")
def client(server) -> Client:
    return Client(server.url, verbose=False)


# --------------------------------------------------------------------------- what Gradio serves


def test_gradio_serves_only_what_it_must(server, client, gallery_root):
    manifest = gallery_root / "weights_manifest.json"
    weights = gallery_root / "weights" / "tiny-digits" / "generator" / "model.safetensors"
    port = server.url.rsplit(":", 1)[1]
    secrets = [b"root:x:0:0", manifest.read_bytes()[:60], weights.read_bytes()[:64], SECRET.encode(), b"HOME="]
    targets = [
        str(manifest),
        str(weights),
        str(gallery_root / ".env"),
        ".env",
        "weights_manifest.json",  # relative to the app's folder: the project's own manifest
        "weights/digits-classifier/classifier/model.safetensors",
        "app.py",
        "/etc/passwd",
        "/proc/self/environ",
        "../../../../../../etc/passwd",
        f"{server.temp}/../../../../etc/passwd",
        "//etc/passwd",
        "~/.bashrc",
        "file:///etc/passwd",
        f"http://127.0.0.1:{port}/healthz",
        f"http://localhost:{port}/config",
        f"http://0.0.0.0:{port}/config",
        f"http://[::1]:{port}/config",
    ]
    paths = []
    for target in targets:
        paths += [f"/gradio_api/file={target}", f"/file={target}", f"/gradio_api/file={quote(target, safe='')}"]
    paths += [
        "/gradio_api/file=%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/gradio_api/file=%252e%252e%252f%252e%252e%252fetc%252fpasswd",  # double-encoded
        f"/gradio_api/file={server.temp}/..%2f..%2f..%2f..%2fetc%2fpasswd",
        f"/gradio_api/file={server.temp}/%00/../../../etc/passwd",
        "/gradio_api/file/etc/passwd",
        "/gradio_api/file/..%2f..%2f..%2fetc%2fpasswd",
        f"/gradio_api/proxy=http://127.0.0.1:{port}/healthz",
        "/static/../../../../etc/passwd",
        "/assets/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/gradio_api/mcp/sse",
        "/gradio_api/mcp/schema",
        "/monitoring",
        "/monitoring/summary",
    ]
    served = []
    for path in paths:
        status, body = raw_get(server.url, path)
        leaked = [s[:12] for s in secrets if s and s in body]
        if status < 400 or leaked:
            served.append((path, status, leaked, body[:80]))
    assert not served, served
    # the positive control: what the app made is served
    grid, _, _ = client.predict("tiny-digits", 0, 4, None, 0, api_name="/sample")
    assert Path(grid).is_file()
    _, items, _ = Client(server.url, verbose=False, download_files=False).predict(
        "tiny-digits", 0, 2, None, 0, api_name="/sample"
    )
    url = items[0]["image"]["url"]
    assert raw_get(server.url, url.removeprefix(server.url))[0] == 200
    assert server.health()[0] == 200


def test_files_sent_through_the_api_must_be_uploads(server, gallery_root):
    """FileData naming a server path or a link is refused with a message, before our code runs."""
    meta = {"_type": "gradio.FileData"}
    for path in [str(gallery_root / "weights_manifest.json"), "/etc/passwd", "app.py", f"{server.url}/config"]:
        body = {
            "data": ["tiny-pix2pix", {"path": path, "url": path if path.startswith("http") else None, "meta": meta}]
        }
        response = httpx.post(f"{server.url}/gradio_api/call/extract_edges", json=body, timeout=30)
        stream = httpx.get(f"{server.url}/gradio_api/call/extract_edges/{response.json()['event_id']}", timeout=60)
        assert "event: error" in stream.text and "must be uploaded files" in stream.text, (path, stream.text)
        assert "root:x:0:0" not in stream.text


def test_share_flagging_analytics_monitoring_history_and_mcp_are_off(server):
    config = httpx.get(server.url + "/config", timeout=30).json()
    assert config["analytics_enabled"] is False
    assert config["mcp_server"] is False
    assert config["run_history"] is False
    assert config["show_error"] is False
    assert config.get("vibe_mode") is False and config.get("dev_mode") is False
    assert config["max_file_size"] == 10 * 2**20
    assert config.get("share_url") is None and config.get("space_id") is None
    names = [d.get("api_name") or "" for d in config["dependencies"]]
    assert not [n for n in names if "flag" in n.lower()]
    labels = json.dumps([c.get("props", {}).get("value") for c in config["components"]])
    assert "Flag" not in labels
    log = server.log()
    assert "Running on public URL" not in log and "gradio.live" not in log and "Monitoring URL" not in log
    for route in ("/gradio_api/mcp/sse", "/gradio_api/mcp/schema"):
        assert httpx.get(server.url + route, timeout=30).status_code == 404
    for route in ("/monitoring", "/monitoring/summary"):
        assert httpx.get(server.url + route, timeout=30).status_code == 403
    assert "Monitoring URL" not in server.log()  # asking for the dashboard printed no key


def test_launch_settings_block_the_weights_and_turn_everything_off(gallery_root, monkeypatch):
    from gan_models.settings import settings_from_env

    monkeypatch.setenv("GAN_GALLERY_ROOT", str(gallery_root))
    kwargs = settings_from_env({"GAN_GALLERY_DEVICE": "cpu"}).launch_kwargs()
    assert kwargs["share"] is False and kwargs["mcp_server"] is False and kwargs["enable_monitoring"] is False
    assert kwargs["run_history"] is False and kwargs["allowed_paths"] is None and kwargs["max_file_size"] == "10mb"
    blocked = kwargs["blocked_paths"]
    for path in [gallery_root / "weights", gallery_root / "weights_manifest.json", PROJECT / ".env", PROJECT / ".git"]:
        assert str(path.resolve()) in blocked


def test_uploads_are_capped(server):
    def upload(megabytes: int) -> httpx.Response:
        files = {"files": ("data.bin", b"\0" * (megabytes * 2**20))}
        return httpx.post(server.url + "/gradio_api/upload", files=files, timeout=60)

    assert upload(1).status_code == 200
    big = upload(11)  # over Gradio's 10 MB cap
    assert big.status_code == 413 and "maximum allowed size" in big.text
    huge = upload(17)  # over the 16 MB request cap: refused before it is read
    assert huge.status_code == 413 and "larger than 16 MB" in huge.text
    assert server.health()[0] == 200


# --------------------------------------------------------------------------- tampered weights

TAMPERED = {  # model id -> fragment the refusal must contain
    "tiny-tamper-flip": "SHA-256",
    "tiny-tamper-truncated": "bytes, the manifest says",
    "tiny-tamper-pickle": "pickle",
    "tiny-tamper-header": "not a valid safetensors file",
    "tiny-tamper-nan": "NaN or inf",
    "tiny-tamper-missing": "missing [",
    "tiny-tamper-extra": "unexpected ['backdoor.weight']",
}
REPO, OTHER_REPO, COMMIT = "gallery/tiny", "gallery/uncached", "0123456789abcdef0123456789abcdef01234567"


def copy_model(root: Path, source: str, new: str, hub: dict | None = None) -> dict:
    """A copy of manifest entry ``source`` (and its files) under id ``new``."""
    data = json.loads((root / "weights_manifest.json").read_text())
    text = json.dumps(next(m for m in data["models"] if m["id"] == source))
    entry = json.loads(text.replace(f"weights/{source}/", f"weights/{new}/"))
    entry["id"] = new
    entry["training"]["command"] = f"python -m training tiny --id {new}"
    if hub:
        entry["hub"] = hub
    data["models"].append(entry)
    (root / "weights_manifest.json").write_text(json.dumps(data, indent=2))
    shutil.copytree(root / "weights" / source, root / "weights" / new)
    return entry


def tamper(root: Path, model_id: str) -> None:
    path = root / "weights" / model_id / "generator" / "model.safetensors"
    data = path.read_bytes()
    kind = model_id.removeprefix("tiny-tamper-")
    if kind == "flip":
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(flipped))  # the manifest keeps the old hash
    elif kind == "truncated":
        path.write_bytes(data[:-100])
    elif kind == "pickle":  # a publisher who updates the manifest too: the content checks must refuse it
        rewrite(root, path, PICKLE_V4)
    elif kind == "header":
        rewrite(root, path, struct.pack("<Q", len(data) + 1000) + data[8:])
    else:
        state = load_safetensors(data)
        if kind == "nan":
            state["net.0.weight"][0, 0, 0, 0] = float("nan")
        elif kind == "missing":
            del state["net.1.running_var"]
        elif kind == "extra":
            state["backdoor.weight"] = torch.zeros(3)
        rewrite(root, path, save_safetensors(state))


@pytest.fixture(scope="module")
def tampered(tiny_gallery, tmp_path_factory):
    """``python app.py`` on the tiny gallery plus: seven copies of tiny-digits, each tampered one
    way; a model on an unreachable Hub that is in the local cache; one that is not."""
    root = tmp_path_factory.mktemp("tampered-gallery")
    shutil.copytree(tiny_gallery, root, dirs_exist_ok=True)
    for model_id in TAMPERED:
        copy_model(root, "tiny-digits", model_id)
        tamper(root, model_id)
    served = tmp_path_factory.mktemp("hub-files")
    for model_id, repo in (("tiny-hub-cached", REPO), ("tiny-hub-uncached", OTHER_REPO)):
        copy_model(root, "tiny-colour", model_id, hub={"repo_id": repo, "revision": COMMIT})
        (served / repo).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(root / "weights" / model_id, served / repo)
    hf_home = tmp_path_factory.mktemp("hf-home")
    with HubServer(served, {REPO: COMMIT, OTHER_REPO: COMMIT}) as hub, pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_GALLERY_ROOT", str(root))
        mp.delenv("GAN_GALLERY_MANIFEST", raising=False)
        point_hub(mp, hub.url, hf_home)
        from gan_models import load_model, sample

        reference = sample(load_model("tiny-hub-cached", "cpu"), 3, seed=7)  # now in the cache
    # the Hub is gone now: its port refuses connections
    env = gallery_env(
        root,
        tmp_path_factory.mktemp("tampered-gradio"),
        HF_ENDPOINT=hub.url,
        HF_HOME=str(hf_home),
        HF_HUB_OFFLINE=None,
        HF_HUB_CACHE=None,
        HF_TOKEN=None,
        HF_HUB_DISABLE_IMPLICIT_TOKEN="1",
    )
    with running_app(env, PROJECT / "test-artifacts" / "reliability-tampered.log") as srv:
        yield srv, reference


def test_tampered_weights_are_refused_at_load_and_the_others_keep_serving(tampered):
    server, reference = tampered
    status, health = server.health()
    assert status == 200 and health["status"] == "ok"
    assert set(health["unavailable"]) == {*TAMPERED, "tiny-hub-uncached"}, health["unavailable"]
    for model_id, fragment in TAMPERED.items():
        reason = health["unavailable"][model_id]
        for part in (repr(model_id), f"weights/{model_id}/generator/model.safetensors", fragment):
            assert part in reason, (model_id, part, reason)
    good = {"tiny-digits", "tiny-colour", "tiny-cvaegan", "tiny-pix2pix", "tiny-classifier", "tiny-toy"}
    assert good | {"tiny-hub-cached"} == set(health["models"])

    client = Client(server.url, verbose=False)
    cards = {m["id"]: m for m in client.predict(api_name="/list_models")}
    for model_id, fragment in TAMPERED.items():
        assert cards[model_id]["available"] is False and fragment in cards[model_id]["reason"]
    page = httpx.get(server.url + "/config", timeout=30).text
    assert "Unavailable" in page and "missing or refused" in page
    assert all(model_id in page for model_id in TAMPERED)

    with pytest.raises(AppError, match="is unavailable"):
        client.predict("tiny-tamper-nan", 0, 4, None, 0, api_name="/sample")
    _, items, _ = client.predict("tiny-digits", 0, 4, None, 0, api_name="/sample")
    assert len(items) == 4
    _, _, recipe = client.predict("tiny-cvaegan", 1, 2, 3, "slerp", None, None, None, api_name="/interpolate")
    assert recipe["steps"] == 3
    _, counters = client.predict("ring", 1, api_name="/mode_coverage")
    assert "tiny-toy" in counters


def test_the_hub_unreachable_with_and_without_a_cache(tampered):
    server, reference = tampered
    status, health = server.health()
    reason = health["unavailable"]["tiny-hub-uncached"]
    assert "'tiny-hub-uncached'" in reason and "could not be fetched" in reason and OTHER_REPO in reason
    assert "Train it with: python -m training tiny --id tiny-hub-uncached" in reason
    assert "tiny-hub-cached" in health["models"]  # served from the cache with the Hub down
    client = Client(server.url, verbose=False)
    _, items, recipe = client.predict("tiny-hub-cached", 7, 3, None, 0, api_name="/sample")
    got = np.stack([np.asarray(Image.open(i["image"])) for i in items])
    assert np.array_equal(got, reference) and recipe["revision"] == COMMIT
    with pytest.raises(AppError, match="could not be fetched"):
        client.predict("tiny-hub-uncached", 0, 2, None, 0, api_name="/sample")


# --------------------------------------------------------------------------- hashed bytes = loaded bytes


@pytest.fixture
def private_gallery(tiny_gallery, tmp_path, monkeypatch) -> Path:
    root = tmp_path / "gallery"
    shutil.copytree(tiny_gallery, root)
    monkeypatch.setenv("GAN_GALLERY_ROOT", str(root))
    monkeypatch.delenv("GAN_GALLERY_MANIFEST", raising=False)
    return root


def test_the_bytes_parsed_are_exactly_the_bytes_hashed(private_gallery, monkeypatch):
    import gan_models.weights as weights
    from gan_models import load_model

    manifest = json.loads((private_gallery / "weights_manifest.json").read_text())
    expected = {f["sha256"] for m in manifest["models"] for n in m["networks"].values() for f in n["files"]}
    parsed = []
    real = weights.load_safetensors
    monkeypatch.setattr(weights, "load_safetensors", lambda data: parsed.append(data) or real(data))
    for model_id in ("tiny-digits", "tiny-cvaegan", "tiny-pix2pix"):
        load_model(model_id, "cpu")
    assert len(parsed) == 4  # one generator each, plus the CVAE-GAN's encoder
    assert all(isinstance(d, bytes) and hashlib.sha256(d).hexdigest() in expected for d in parsed)


def test_a_file_swapped_right_after_hashing_is_not_what_gets_loaded(private_gallery, monkeypatch):
    """Swap the weights on disk the moment they have been hashed: the load still uses the bytes
    that were hashed (never reads the file twice); the next load sees the swap and refuses it."""
    import gan_models.weights as weights
    from gan_models import WeightsError, load_model, sample

    reference = sample(load_model("tiny-digits", "cpu"), 4, seed=3)
    path = private_gallery / "weights" / "tiny-digits" / "generator" / "model.safetensors"
    state = load_safetensors(path.read_bytes())
    evil = save_safetensors({k: torch.zeros_like(v) for k, v in state.items()})
    real_sha256 = hashlib.sha256

    class SwapAfterHashing:
        def __init__(self, data: bytes = b""):
            self.digest = real_sha256(data)
            if data[:8] == path.read_bytes()[:8] and len(data) > 1000:
                path.write_bytes(evil)

        def hexdigest(self) -> str:
            return self.digest.hexdigest()

    monkeypatch.setattr(weights.hashlib, "sha256", SwapAfterHashing)
    model = load_model("tiny-digits", "cpu")
    monkeypatch.setattr(weights.hashlib, "sha256", real_sha256)
    assert path.read_bytes() == evil  # the swap happened, after the hash and before any later read
    np.testing.assert_array_equal(sample(model, 4, seed=3), reference)
    with pytest.raises(WeightsError, match="SHA-256"):
        load_model("tiny-digits", "cpu")


# --------------------------------------------------------------------------- versions and audit

# The oldest releases with every advisory we know of fixed (ids: CVE / GHSA / PYSEC).
FLOORS = {
    "gradio": (
        "6.20.0",
        [
            "CVE-2026-59806 (open redirect / SSRF through /gradio_api/file=, fixed 6.20.0)",
            "CVE-2026-49119 / PYSEC-2026-2179 (FileExplorer path traversal, fixed 6.16.0)",
            "PYSEC-2026-2178 (reverse-proxy cookie injection, fixed 6.15.0)",
            "CVE-2026-27167 / GHSA-h3h8-3v2v-rg7m, PYSEC-2026-65, PYSEC-2026-66 (OAuth, fixed 6.6.0)",
            "CVE-2025-48889 (arbitrary file copy through flagging, fixed 5.31.0)",
        ],
    ),
    "pillow": (
        "12.3.0",
        [
            "CVE-2026-59205 (ImageCms heap out-of-bounds write, fixed 12.3.0)",
            "CVE-2026-59197 (RankFilter heap out-of-bounds write, fixed 12.3.0)",
            "CVE-2026-54058 (McIdas mmap stride, fixed 12.3.0)",
            "CVE-2026-42309 / GHSA-5xmw-vc9v-4wf2 / PYSEC-2026-2251 (nested coordinates, fixed 12.2.0)",
            "CVE-2025-48379 (DDS BCn encoding overflow, fixed 11.3.0)",
        ],
    ),
    "torch": (
        "2.13.0",
        [
            "CVE-2025-3000 / GHSA-rrmf-rvhw-rf47 (torch.jit.script memory corruption, fixed 2.13.0)",
            "CVE-2026-4538 / PYSEC-2026-139 (pt2 loading deserialisation, affects <= 2.10.0)",
            "CVE-2026-24747 / GHSA-63cw-57p8-fm3p (weights_only unpickler RCE, fixed 2.10.0)",
            "CVE-2025-32434 / GHSA-53q9-r3pm-6pq6 (torch.load weights_only RCE, fixed 2.6.0)",
        ],
    ),
}


def pinned(name: str) -> str:
    for line in (PROJECT / "requirements.txt").read_text().splitlines():
        if line.split("==")[0].strip().lower() == name:
            return line.split("==")[1].split()[0]
    raise AssertionError(f"{name} is not pinned in requirements.txt")


@pytest.mark.parametrize("package", list(FLOORS))
def test_version_floors(package):
    floor, advisories = FLOORS[package]
    assert advisories
    installed = Version(version(package).split("+")[0])
    assert installed >= Version(floor), f"{package} {installed} < {floor}: {advisories}"
    assert Version(pinned(package)) >= Version(floor), f"requirements.txt pins {package} below {floor}"


def test_dependency_audit_of_requirements():
    """pip-audit (PyPI's advisory data) over requirements.txt: no known vulnerability. Skipped,
    with the reason, when the advisory service cannot be reached or cannot resolve the pins."""
    exe = Path(sys.executable).with_name("pip-audit")
    if not exe.exists():
        pytest.skip("pip-audit is not installed (requirements-dev.txt pins it)")
    cmd = [str(exe), "-r", str(PROJECT / "requirements.txt"), "--no-deps", "--disable-pip", "-s", "pypi"]
    cmd += ["-f", "json", "--progress-spinner", "off", "--timeout", "20"]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.skip("pip-audit: the PyPI advisory service did not answer within 5 minutes")
    start = run.stdout.find("{")
    if start < 0:
        pytest.skip(f"pip-audit could not reach the PyPI advisory service: {run.stderr.strip()[-300:]}")
    report = json.loads(run.stdout[start:])
    vulnerable = {d["name"]: [v["id"] for v in d.get("vulns", [])] for d in report["dependencies"] if d.get("vulns")}
    assert not vulnerable, f"known vulnerabilities: {vulnerable}"
    skipped = [d for d in report["dependencies"] if d.get("skip_reason")]
    if skipped and len(skipped) == len(report["dependencies"]):
        pytest.skip(f"the advisory service could not resolve any pin, e.g. {skipped[0]['skip_reason']}")
    assert not skipped, f"not audited: {[d['skip_reason'] for d in skipped]}"
