"""Load against the running app (``python app.py`` in its own process, tiny gallery, CPU):

- one GPU, many users: model work shares one concurrency group and the queue has a maximum
  size; a flood gets clear "queue is full" answers for the excess, never a crash;
- the same seed and settings give the same image also while many requests with other seeds run
  at once (no request's randomness leaks into another's);
- a short run of the load script (bench/load.py): no errors, latency and memory bounded;
- per-visitor state that Gradio keeps is capped (GAN_GALLERY_MAX_SESSIONS).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import QueueError
from PIL import Image

from bench.load import report, rss_mb, run_load
from tests.app_server import PROJECT, gallery_env, running_app


def start(tiny_gallery, tmp_path_factory, log: str, **env: str):
    full = gallery_env(tiny_gallery, tmp_path_factory.mktemp("load-gradio"), **env)
    return running_app(full, PROJECT / "test-artifacts" / log)


@pytest.fixture(scope="module")
def server(tiny_gallery, tmp_path_factory):
    """The app as configured by default on a CPU: two model requests at once, a queue of 64."""
    with start(tiny_gallery, tmp_path_factory, "reliability-load.log") as srv:
        yield srv


# --------------------------------------------------------------------------- a full queue


@pytest.mark.slow  # ~25 s on two busy cores
def test_a_flood_gets_queue_full_answers_and_the_server_survives(tiny_gallery, tmp_path_factory):
    with start(
        tiny_gallery,
        tmp_path_factory,
        "reliability-queue.log",
        GAN_GALLERY_QUEUE_SIZE="2",
        GAN_GALLERY_CONCURRENCY="1",
    ) as srv:
        client = Client(srv.url, verbose=False, download_files=False)
        rss_before = rss_mb(srv.process.pid)
        # each request trains a small 2D GAN for about a second: the one slot stays busy
        jobs = [client.submit("ring", "gan", 1, 150, 0.001, seed, api_name="/train_live") for seed in range(10)]
        outcomes = {"ok": 0, "queue_full": 0}
        other = []
        for job in jobs:
            try:
                job.result(timeout=300)
                outcomes["ok"] += 1
            except QueueError as e:
                assert "Queue is full" in str(e)
                outcomes["queue_full"] += 1
            except Exception as e:  # noqa: BLE001 (any other outcome fails the test below)
                other.append(repr(e))
        assert not other, other
        assert outcomes["queue_full"] >= 1 and outcomes["ok"] >= 2, outcomes
        # what a caller without gradio_client reads: 503 and the reason
        blockers = [client.submit("ring", "gan", 1, 150, 0.001, s, api_name="/train_live") for s in range(4)]
        body = {"data": ["tiny-digits", 0, 1, None, 0], "fn_index": _fn_index(client, "/sample"), "session_hash": "x"}
        for _ in range(50):  # until the blockers have joined the queue
            response = httpx.post(srv.url + "/gradio_api/queue/join", json=body, timeout=30)
            if response.status_code != 200:
                break
            time.sleep(0.1)
        assert response.status_code == 503 and "Queue is full" in response.json()["detail"], response.text
        for job in blockers:
            try:
                job.result(timeout=300)
            except QueueError:
                pass
        status, health = srv.health()
        assert status == 200 and health["status"] == "ok"
        _, items, _ = client.predict("tiny-digits", 1, 4, None, 0, api_name="/sample")
        assert len(items) == 4
        assert rss_mb(srv.process.pid) - rss_before < 150


def _fn_index(client: Client, api_name: str) -> int:
    return next(i for i, d in enumerate(client.config["dependencies"]) if "/" + str(d.get("api_name")) == api_name)


# --------------------------------------------------------------------------- seeds under concurrency


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def edges_png(tmp_path_factory) -> str:
    edges = np.zeros((32, 32), np.uint8)
    edges[6:26, 10] = 255
    edges[16, 6:26] = 255
    path = tmp_path_factory.mktemp("edges") / "edges.png"
    Image.fromarray(edges).save(path)
    return str(path)


def requests_for(seed: int, edges: str) -> dict[str, tuple[tuple, str]]:
    """One request of each seeded kind: name -> (arguments, api name)."""
    return {
        "sample": (("tiny-digits", seed, 8, None, 0.7), "/sample"),
        "dropout": (("tiny-pix2pix", handle_file(edges), "edge map", True, 4, seed), "/translate"),
        "interpolate": (("tiny-colour", seed, seed + 1, 5, "slerp", None, None, None), "/interpolate"),
        "live": (("ring", "hinge", 2, 30, 0.002, seed), "/train_live"),
        "jacobian": (("tiny-cvaegan", seed, "Bo"), "/jacobian_spectrum"),
    }


def fingerprint(kind: str, result) -> object:
    """What must be identical between two runs of the same request."""
    if kind == "sample":
        return pixels(result[0]).tobytes()
    if kind == "dropout":
        return b"".join(pixels(d["image"]).tobytes() for d in result[2])
    if kind == "interpolate":
        return pixels(result[0]).tobytes()
    if kind == "live":
        counters = result[1]
        return (counters["step"], counters["modes"], counters["high_quality"], counters["d_loss"], counters["g_loss"])
    return tuple(round(v, 6) for v in result[1]["singular_values"])


@pytest.mark.slow  # ~25 s on two busy cores
def test_same_seed_same_result_while_other_seeds_run_at_once(server, edges_png):
    client = Client(server.url, verbose=False)
    seeds = [3, 11, 2**40 + 5, 7]
    sequential = {}
    for seed in seeds:
        for kind, (args, api_name) in requests_for(seed, edges_png).items():
            sequential[(kind, seed)] = fingerprint(kind, client.predict(*args, api_name=api_name))
    assert sequential[("sample", 3)] != sequential[("sample", 11)]  # the seeds do matter
    assert sequential[("live", 3)] != sequential[("live", 11)]

    work = [(kind, seed) for seed in seeds for kind in requests_for(seed, edges_png)] * 2
    local = threading.local()

    def run(item):
        kind, seed = item
        if not hasattr(local, "client"):
            local.client = Client(server.url, verbose=False)
        args, api_name = requests_for(seed, edges_png)[kind]
        return item, fingerprint(kind, local.client.predict(*args, api_name=api_name))

    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(run, work))
    mismatched = [item for item, got in concurrent if got != sequential[item]]
    assert not mismatched, f"results changed under concurrency: {mismatched}"


def test_an_image_being_downloaded_is_never_rewritten_by_a_visitor_who_gets_the_same_one(monkeypatch, tmp_path):
    """Gradio stores returned images under their content hash; equal results at once (same seed)
    must not truncate the file another visitor is downloading (the app installs this at launch)."""
    from gradio import processing_utils

    from gan_models import web

    monkeypatch.setattr(processing_utils, "save_pil_to_cache", processing_utils.save_pil_to_cache)
    web.atomic_image_cache()
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8))
    path = processing_utils.save_pil_to_cache(image, str(tmp_path), format="png")
    whole = open(path, "rb").read()
    stop, torn, reads = time.monotonic() + 0.5, [], []

    def write():
        writes = 0
        while time.monotonic() < stop:
            assert processing_utils.save_pil_to_cache(image, str(tmp_path), format="png") == path
            writes += 1
        return writes

    def read():
        while time.monotonic() < stop:
            with open(path, "rb") as f:
                data = f.read()
            reads.append(1)
            if data != whole:
                torn.append(len(data))

    with ThreadPoolExecutor(max_workers=3) as pool:  # result() re-raises a writer's failed assertion
        writers = [pool.submit(write) for _ in range(2)]
        pool.submit(read).result()
        assert all(w.result() > 0 for w in writers)
    assert len(reads) > 100 and not torn, f"{len(torn)} of {len(reads)} reads saw a partly written file"
    assert Image.open(path).tobytes() == image.tobytes()
    other = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    assert Image.open(processing_utils.save_pil_to_cache(other, str(tmp_path), format="png")).getextrema()[0] == (0, 0)
    assert not list(tmp_path.rglob(".*")), "a staging file was left behind"


# --------------------------------------------------------------------------- the load script


def test_a_short_load_run_has_no_errors_and_bounded_memory(server):
    result = run_load(server.url, users=8, duration=10, endpoint="sample", count=4, pid=server.process.pid)
    print(report(result))
    assert result.clients_started == 8
    assert result.errors == {}, result.error_examples
    assert result.ok >= 8 and result.throughput_per_s > 0
    assert result.p95_s is not None and result.p95_s < 15
    assert result.rss_after_mb - result.rss_before_mb < 100, report(result)
    status, health = server.health()
    assert status == 200 and health["overdue"] == 0 and health["faults"]["internal"] == 0


def test_the_load_script_runs_from_the_command_line(server):
    import subprocess
    import sys

    cmd = [sys.executable, str(PROJECT / "bench" / "load.py"), "--url", server.url, "--pid", str(server.process.pid)]
    cmd += ["--users", "2", "--duration", "2", "--endpoint", "interpolate", "--count", "4"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=PROJECT)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "/interpolate" in run.stdout and "errors" in run.stdout and "none" in run.stdout, run.stdout


def test_live_runs_started_at_once_do_not_mix_their_seeds(use_gallery):
    """training.toy2d_live seeds its initial weights through torch's global RNG; the service lets
    one run start at a time, so runs that start together still replay their own seed exactly."""
    from gan_models.service import Gallery
    from gan_models.store import ModelStore

    gallery = Gallery(ModelStore(device="cpu"), concurrency=16)  # as many runs at once as threads

    def final(seed: int, barrier: threading.Barrier | None = None):
        if barrier is not None:
            barrier.wait()  # every run starts at the same moment
        *_, (_, counters) = gallery.live("ring", "hinge", 2, 10, 0.002, seed)
        return counters["d_loss"], counters["g_loss"], counters["high_quality"]

    seeds = list(range(12))
    sequential = {seed: final(seed) for seed in seeds}
    for _ in range(2):
        barrier = threading.Barrier(len(seeds))
        with ThreadPoolExecutor(max_workers=len(seeds)) as pool:
            together = dict(zip(seeds, pool.map(final, seeds, [barrier] * len(seeds)), strict=True))
        assert together == sequential


def test_per_visitor_state_is_capped(tiny_gallery, tmp_path):
    """Gradio keeps a copy of the page configuration for every session (every gradio_client
    Client, every browser tab): a few hundred KB each here. GAN_GALLERY_MAX_SESSIONS caps how many
    are kept (least recently seen dropped first) instead of Gradio's 10,000."""
    from gan_models.settings import DEFAULT_MAX_SESSIONS, settings_from_env
    from tests.test_reliability_faults import in_process_app

    assert settings_from_env({"GAN_GALLERY_DEVICE": "cpu"}).max_sessions == DEFAULT_MAX_SESSIONS <= 1000
    with in_process_app(tiny_gallery, tmp_path / "gradio", GAN_GALLERY_MAX_SESSIONS="4") as (url, gallery):
        holder = gallery.demo.state_holder
        assert gallery.demo.state_session_capacity == 4
        for seed in range(10):  # ten visitors, each a new session
            client = Client(url, verbose=False, download_files=False)
            client.predict("tiny-digits", seed, 1, None, 0, api_name="/sample")
            assert len(holder.session_data) <= 4
        _, items, _ = client.predict("tiny-digits", 0, 2, None, 0, api_name="/sample")  # the newest still works
        assert len(items) == 2
