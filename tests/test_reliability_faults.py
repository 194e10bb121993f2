"""Faults injected into the running app: CUDA out of memory in a forward pass, a forward that
hangs past the per-request deadline (GAN_GALLERY_TIMEOUT_S), a streaming endpoint that stalls, and
a temporary folder (GRADIO_TEMP_DIR) that is full or read-only. Each must give that request a
clear error, leave the next request working, give memory back, and /healthz must tell the truth.

Out-of-memory and hangs are injected into an app served in this process (``app.create_app`` +
``app.launch``, exactly as ``python app.py`` serves it, driven over HTTP by gradio_client) by
monkeypatching one loaded generator; the read-only and full temporary folder are real: a small
tmpfs under ``python app.py`` in its own process (mounted when this machine allows it, else a
read-only folder by permissions, and the full case falls back to the in-process check).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from bench.load import rss_mb
from tests.app_server import PROJECT, gallery_env, running_app

TIMEOUT_S = 1.5  # the deadline of the in-process app: short, so a hang is seen quickly
STORAGE = "full or read-only"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@contextlib.contextmanager
def in_process_app(root: Path, temp: Path, **env: str) -> Iterator[tuple[str, object]]:
    """Serve the app on ``root`` in this process as app.py does; yields (url, gallery). Pillow's
    global limits that ``app.launch`` tightens are put back afterwards for the other tests."""
    import app
    from gan_models.settings import settings_from_env

    pillow = (list(Image.ID), Image.MAX_IMAGE_PIXELS, list(warnings.filters))
    port = free_port()
    settings = settings_from_env(
        {"GAN_GALLERY_DEVICE": "cpu", "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", **env}
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_GALLERY_ROOT", str(root))
        mp.delenv("GAN_GALLERY_MANIFEST", raising=False)
        mp.setenv("GRADIO_TEMP_DIR", str(temp))
        demo, gallery = app.create_app(settings)
        try:
            app.launch(demo, gallery, settings, prevent_thread_lock=True, quiet=True)
            gallery.demo = demo  # for tests that look at Gradio's own state
            yield f"http://127.0.0.1:{port}", gallery
        finally:
            demo.close()
            Image.ID[:] = pillow[0]
            Image.MAX_IMAGE_PIXELS = pillow[1]
            warnings.filters[:] = pillow[2]


@pytest.fixture(scope="module")
def inproc(tiny_gallery, tmp_path_factory):
    """(url, gallery, client) of an in-process app: one model-work slot, a 1.5 s deadline."""
    temp = tmp_path_factory.mktemp("inproc-gradio")
    with in_process_app(tiny_gallery, temp, GAN_GALLERY_CONCURRENCY="1", GAN_GALLERY_TIMEOUT_S=str(TIMEOUT_S)) as (
        url,
        gallery,
    ):
        yield url, gallery, Client(url, verbose=False, download_files=False)


def sample_ok(client: Client, seed: int = 0, count: int = 4) -> None:
    _, items, recipe = client.predict("tiny-digits", seed, count, None, 0, api_name="/sample")
    assert len(items) == count and recipe["seed"] == seed


def error_of(client: Client, *args, api_name: str) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(AppError) as e:
        client.predict(*args, api_name=api_name)
    return str(e.value), time.monotonic() - start


def own_rss() -> int:
    return rss_mb(os.getpid())


# --------------------------------------------------------------------------- out of memory


def test_out_of_memory_in_a_forward_is_a_clear_error_and_memory_comes_back(inproc, monkeypatch):
    url, gallery, client = inproc
    generator = gallery.store.models["tiny-digits"].generator
    real_forward = generator.forward
    failures = {"left": 0}

    def forward(*args, **kwargs):
        if failures["left"] > 0:
            failures["left"] -= 1
            junk = torch.empty(64, 2**20)  # 256 MB held by the failing forward, freed with it
            junk.fill_(1.0)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (simulated)")
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(generator, "forward", forward)
    sample_ok(client, 1)
    before = own_rss()
    faults_before = get_json(url + "/healthz")[1]["faults"]["out_of_memory"]
    for i in range(5):
        failures["left"] = 1
        message, _ = error_of(client, "tiny-digits", i, 8, None, 0, api_name="/sample")
        assert "ran out of GPU memory" in message and "Traceback" not in message, message
        sample_ok(client, i)  # the very next request succeeds
    after = own_rss()
    assert after - before < 60, f"RSS grew from {before} to {after} MB over five out-of-memory errors"
    status, health = get_json(url + "/healthz")
    assert status == 200 and health["status"] == "ok" and health["overdue"] == 0
    assert health["faults"]["out_of_memory"] == faults_before + 5


# --------------------------------------------------------------------------- deadline


def test_a_forward_past_the_deadline_answers_too_long_and_health_tells_the_truth(inproc, monkeypatch):
    url, gallery, client = inproc
    generator = gallery.store.models["tiny-digits"].generator
    real_forward = generator.forward
    hang = {"left": 1}
    hang_s = TIMEOUT_S + 3.5

    def forward(*args, **kwargs):
        if hang["left"] > 0:
            hang["left"] -= 1
            time.sleep(hang_s)  # a stuck kernel: nothing can interrupt it
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(generator, "forward", forward)
    faults = get_json(url + "/healthz")[1]["faults"]
    message, took = error_of(client, "tiny-digits", 3, 4, None, 0, api_name="/sample")
    assert "took too long" in message and f"more than {TIMEOUT_S:g} s" in message, message
    assert took < TIMEOUT_S + 2.0, f"the answer took {took:.1f} s"

    # While the stuck computation holds the only slot: /healthz says so, and a request is "busy".
    status, health = get_json(url + "/healthz")
    assert (status, health["status"], health["overdue"]) == (503, "stalled", 1), health
    message, took = error_of(client, "tiny-digits", 4, 4, None, 0, api_name="/sample")
    assert "busy" in message and "Nothing was computed" in message, message

    deadline = time.monotonic() + hang_s + 10
    while get_json(url + "/healthz")[0] != 200:
        assert time.monotonic() < deadline, "the stuck computation never finished"
        time.sleep(0.2)
    status, health = get_json(url + "/healthz")
    assert health["status"] == "ok" and health["overdue"] == 0
    assert health["faults"]["timeout"] == faults["timeout"] + 1 and health["faults"]["busy"] == faults["busy"] + 1
    sample_ok(client, 5)


def test_a_streaming_endpoint_that_stalls_is_given_up_per_step(inproc, monkeypatch):
    """/train_live streams; every step of it has the deadline (a slow step, not a long run, is the fault)."""
    import training.toy2d_live as live

    url, _, client = inproc
    real = live.live_run

    def stalling(*args, **kwargs):
        steps = real(*args, **kwargs)
        yield next(steps)
        time.sleep(TIMEOUT_S + 2)
        yield from steps

    monkeypatch.setattr(live, "live_run", stalling)
    job = client.submit("ring", "gan", 1, 50, 0.001, 0, api_name="/train_live")
    with pytest.raises(AppError, match="took too long"):
        job.result(timeout=60)
    assert len(job.outputs()) >= 1  # the first snapshot arrived before the stall
    monkeypatch.setattr(live, "live_run", real)
    deadline = time.monotonic() + 15
    while get_json(url + "/healthz")[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    outputs = list(client.submit("ring", "gan", 1, 20, 0.001, 0, api_name="/train_live"))
    assert outputs[-1][1]["step"] == 20


def test_timeout_setting():
    from gan_models.settings import DEFAULT_TIMEOUT_S, settings_from_env

    assert settings_from_env({"GAN_GALLERY_DEVICE": "cpu"}).timeout_s == DEFAULT_TIMEOUT_S
    assert settings_from_env({"GAN_GALLERY_DEVICE": "cpu", "GAN_GALLERY_TIMEOUT_S": "2.5"}).timeout_s == 2.5
    assert settings_from_env({"GAN_GALLERY_DEVICE": "cpu", "GAN_GALLERY_TIMEOUT_S": "0"}).timeout_s is None
    for bad in ("soon", "-1", "nan", "inf"):
        with pytest.raises(ValueError, match="GAN_GALLERY_TIMEOUT_S"):
            settings_from_env({"GAN_GALLERY_DEVICE": "cpu", "GAN_GALLERY_TIMEOUT_S": bad})


# --------------------------------------------------------------------------- temporary folder


def test_full_temporary_folder_is_refused_before_any_work(inproc, monkeypatch):
    """Free space below the floor (as the disk reports it) refuses the request before the model
    runs; once there is room again the next request succeeds."""
    import gan_models.ops as ops

    url, _, client = inproc
    calls = []
    real_sample, real_usage = ops.sample, shutil.disk_usage
    monkeypatch.setattr(ops, "sample", lambda *a, **k: calls.append(1) or real_sample(*a, **k))
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real_usage(p)._replace(free=4096))
    before = get_json(url + "/healthz")[1]["faults"]["storage"]
    message, _ = error_of(client, "tiny-digits", 1, 4, None, 0, api_name="/sample")
    assert STORAGE in message and "Nothing was computed" in message, message
    assert calls == []
    status, health = get_json(url + "/healthz")
    assert status == 200 and health["faults"]["storage"] > before
    monkeypatch.setattr(shutil, "disk_usage", real_usage)
    sample_ok(client, 2)
    assert calls == [1]


def _mount(*args: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", *args], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def tmpfs_app(tiny_gallery, tmp_path_factory):
    """``python app.py`` whose GRADIO_TEMP_DIR is a 48 MB tmpfs when mounting is allowed here
    (else a plain folder); yields (server, folder, mounted)."""
    folder = tmp_path_factory.mktemp("gradio-tmpfs")
    mounted = _mount("-t", "tmpfs", "-o", "size=48m,mode=1777", "tmpfs", str(folder))
    try:
        log = PROJECT / "test-artifacts" / "reliability-tmpfs.log"
        with running_app(gallery_env(tiny_gallery, folder), log) as server:
            yield server, folder, mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def _storage_refused_then_recovers(server, client: Client, seed: int) -> None:
    faults = server.health()[1]["faults"]["storage"]
    message, _ = error_of(client, "tiny-digits", seed, 4, None, 0, api_name="/sample")
    assert STORAGE in message and "Traceback" not in message, message
    status, health = server.health()
    assert status == 200 and health["status"] == "ok" and health["faults"]["storage"] > faults


def test_read_only_temporary_folder_errors_clearly_and_recovers(tmpfs_app):
    server, folder, mounted = tmpfs_app
    client = Client(server.url, verbose=False, download_files=False)
    sample_ok(client, 10)
    if mounted:
        assert _mount("-o", "remount,ro", str(folder))
    elif os.geteuid() != 0:
        folder.chmod(0o555)
    else:
        pytest.skip("running as root without permission to mount: no way to make a folder read-only here")
    try:
        _storage_refused_then_recovers(server, client, 11)
        # an upload into the read-only folder is refused with a plain status and message too
        files = {"files": ("x.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")}
        response = httpx.post(server.url + "/gradio_api/upload", files=files, timeout=30)
        assert response.status_code == 507 and STORAGE in response.json()["detail"], response.text
    finally:
        if mounted:
            assert _mount("-o", "remount,rw", str(folder))
        else:
            folder.chmod(0o755)
    sample_ok(client, 12)  # fixed: the next request succeeds


def test_full_temporary_folder_errors_clearly_and_recovers(tmpfs_app):
    server, folder, mounted = tmpfs_app
    if not mounted:
        pytest.skip("mounting a small tmpfs is not allowed here (the in-process test covers a full disk)")
    client = Client(server.url, verbose=False, download_files=False)
    sample_ok(client, 20)
    filler = folder / "filler.bin"
    chunk = b"\0" * 2**20
    with open(filler, "wb") as f:
        with contextlib.suppress(OSError):  # ENOSPC: the folder is full
            while True:
                f.write(chunk)
                f.flush()
    try:
        assert shutil.disk_usage(folder).free < 2**20
        _storage_refused_then_recovers(server, client, 21)
    finally:
        filler.unlink()
    sample_ok(client, 22)
