"""A bounded load test of the running app: N concurrent gradio_client users call one endpoint
for a fixed time; reports throughput, latency percentiles, errors by kind and the server's memory
before and after (and its peak).

    python bench/load.py                                  # 50 users x 60 s of /sample on a tiny gallery
    python bench/load.py --users 8 --duration 10 --endpoint interpolate
    python bench/load.py --gallery shipped --model mnist-dcgan-ns --count 16   # the shipped checkpoints
    python bench/load.py --url http://127.0.0.1:7860 --pid 1234 --model mnist-dcgan-ns --count 16

Without --url the app is started here (``python app.py`` in its own process, on the CPU) on a
tiny random-weight gallery (tests/gallery_fixture.py) or on the shipped weights_manifest.json
(--gallery shipped), with --concurrency and --queue-size; with --url it drives that server
(give --pid to get its memory). Every user is one thread with its
own Client and one request in flight at a time; each request uses a fresh seed. Traffic only ever
goes to the given URL (127.0.0.1 by default).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

ENDPOINTS = ("sample", "interpolate", "jacobian_spectrum", "translate", "health")
TINY_MODELS = {"sample": "tiny-digits", "interpolate": "tiny-digits", "jacobian_spectrum": "tiny-digits"}


# --------------------------------------------------------------------------- server memory


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (peak RSS) of a process in MiB, from /proc (Linux)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) // 1024
    return out


def rss_mb(pid: int) -> int:
    return proc_status(pid)["VmRSS"]


# --------------------------------------------------------------------------- a server to load


@contextlib.contextmanager
def tiny_app(
    env: dict[str, str | None] | None = None, log_name: str = "load-app.log", shipped: bool = False
) -> Iterator:
    """``python app.py`` on a fresh tiny random-weight gallery (or, ``shipped``, on the project's
    own manifest and weights); yields the AppServer."""
    import torch

    from tests.app_server import gallery_env, running_app
    from tests.gallery_fixture import build_tiny_gallery

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="gan-load-") as tmp:
        root = PROJECT if shipped else Path(tmp) / "gallery"
        if not shipped:
            build_tiny_gallery(root)
        full_env = gallery_env(root, Path(tmp) / "gradio", **(env or {}))
        with running_app(full_env, PROJECT / "test-artifacts" / log_name) as server:
            yield server


# --------------------------------------------------------------------------- the load


@dataclass
class Result:
    endpoint: str
    users: int
    duration_s: float
    requests: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    error_examples: dict[str, str] = field(default_factory=dict)
    throughput_per_s: float = 0.0
    p50_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None
    rss_before_mb: int | None = None
    rss_after_mb: int | None = None
    peak_rss_mb: int | None = None
    clients_started: int = 0


def _arguments(endpoint: str, model: str, seed: int, count: int, upload) -> tuple:
    if endpoint == "sample":
        return (model, seed, count, None, 0)
    if endpoint == "interpolate":
        return (model, seed, seed + 1, max(2, count), "slerp", None, None, None)
    if endpoint == "jacobian_spectrum":
        return (model, seed, None)
    if endpoint == "translate":
        return (model, upload, "edge map", True, max(1, min(count, 16)), seed)
    if endpoint == "health":
        return ()
    raise ValueError(f"unknown endpoint {endpoint!r}; one of {', '.join(ENDPOINTS)}")


def _edge_map(folder: Path) -> str:
    import numpy as np
    from PIL import Image

    edges = np.zeros((64, 64), np.uint8)
    edges[16:48, 32] = 255
    edges[32, 16:48] = 255
    path = folder / "edges.png"
    Image.fromarray(edges).save(path)
    return str(path)


def run_load(
    url: str,
    users: int = 50,
    duration: float = 60.0,
    endpoint: str = "sample",
    model: str | None = None,
    count: int = 4,
    pid: int | None = None,
    timeout: float = 300.0,
) -> Result:
    """Drive ``url`` with ``users`` concurrent clients for ``duration`` seconds."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; one of {', '.join(ENDPOINTS)}")
    model = model or ("tiny-pix2pix" if endpoint == "translate" else TINY_MODELS.get(endpoint, "tiny-digits"))
    result = Result(endpoint=endpoint, users=users, duration_s=duration)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    examples: dict[str, str] = {}
    lock = threading.Lock()
    tmp = tempfile.TemporaryDirectory(prefix="gan-load-client-")
    upload_path = _edge_map(Path(tmp.name)) if endpoint == "translate" else None
    clock: dict[str, float] = {}

    def start_clock() -> None:  # run once, when every user is connected, before any is released
        clock["begin"] = time.monotonic()
        clock["stop"] = clock["begin"] + duration

    ready = threading.Barrier(users + 1, action=start_clock, timeout=timeout)

    def record(kind: str, message: str) -> None:
        with lock:
            errors[kind] += 1
            examples.setdefault(kind, message[:200])

    def user(index: int) -> None:
        rng = random.Random(index)
        client = None
        try:
            client = Client(url, verbose=False, download_files=False)
            with lock:
                result.clients_started += 1
        except Exception as e:  # noqa: BLE001 (a user that cannot connect is an error of the run)
            record(f"connect:{type(e).__name__}", str(e))
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            return
        if client is None:
            return
        while time.monotonic() < clock["stop"]:
            seed = rng.randrange(2**31)
            upload = handle_file(upload_path) if upload_path else None
            args = _arguments(endpoint, model, seed, count, upload)
            start = time.monotonic()
            try:
                job = client.submit(*args, api_name=f"/{endpoint}")
                job.result(timeout=timeout)
            except QueueError as e:
                record("queue_full", str(e))
            except AppError as e:
                record("app_error", str(e))
            except Exception as e:  # noqa: BLE001 (counted by kind, never hidden)
                record(type(e).__name__, str(e))
            else:
                with lock:
                    latencies.append(time.monotonic() - start)
            with lock:
                result.requests += 1
        with contextlib.suppress(Exception):
            client.close()

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    for t in threads:
        t.start()
    if pid:
        result.rss_before_mb = rss_mb(pid)
        hwm_before = proc_status(pid)["VmHWM"]
    ready.wait()  # every client connected: the clock starts
    for t in threads:
        t.join(timeout=duration + timeout)
    elapsed = time.monotonic() - clock["begin"]
    tmp.cleanup()
    result.ok = len(latencies)
    result.errors = dict(errors)
    result.error_examples = examples
    result.throughput_per_s = round(result.ok / elapsed, 2) if elapsed > 0 else 0.0
    if latencies:
        ordered = sorted(latencies)
        result.p50_s = round(statistics.median(ordered), 3)
        result.p95_s = round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3)
        result.max_s = round(ordered[-1], 3)
    if pid:
        time.sleep(1.0)  # let the server finish writing results and release them
        result.rss_after_mb = rss_mb(pid)
        peak = proc_status(pid)["VmHWM"]
        result.peak_rss_mb = peak if peak > hwm_before else max(hwm_before, result.rss_before_mb or 0)
    return result


def report(result: Result) -> str:
    memory = f"{result.rss_before_mb} / {result.rss_after_mb} / {result.peak_rss_mb} MiB"
    rows = [
        ("endpoint", f"/{result.endpoint}"),
        ("users x duration", f"{result.users} x {result.duration_s:g} s"),
        ("requests (ok)", f"{result.requests} ({result.ok})"),
        ("throughput", f"{result.throughput_per_s} req/s"),
        ("latency p50 / p95 / max", f"{result.p50_s} / {result.p95_s} / {result.max_s} s"),
        ("errors", json.dumps(result.errors) if result.errors else "none"),
        ("server RSS before / after / peak", memory),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running app; default: start one here")
    parser.add_argument(
        "--gallery", choices=("tiny", "shipped"), default="tiny", help="what the started app serves (without --url)"
    )
    parser.add_argument("--pid", type=int, help="the server's process id (memory figures) when --url is given")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--endpoint", default="sample", choices=ENDPOINTS)
    parser.add_argument("--model", help="model id (default: a tiny model fitting the endpoint)")
    parser.add_argument("--count", type=int, default=4, help="images (sample), steps (interpolate), draws (translate)")
    parser.add_argument("--concurrency", type=int, default=2, help="GAN_GALLERY_CONCURRENCY of the started app")
    parser.add_argument("--queue-size", type=int, default=64, help="GAN_GALLERY_QUEUE_SIZE of the started app")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.users < 1 or args.duration <= 0:
        parser.error("--users must be >= 1 and --duration > 0")

    def go(url: str, pid: int | None) -> Result:
        result = run_load(url, args.users, args.duration, args.endpoint, args.model, args.count, pid)
        print(report(result))
        if result.error_examples:
            print("error examples:", json.dumps(result.error_examples, indent=2))
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(asdict(result), indent=2))
        return result

    if args.url:
        go(args.url.rstrip("/"), args.pid)
        return 0
    env = {"GAN_GALLERY_CONCURRENCY": str(args.concurrency), "GAN_GALLERY_QUEUE_SIZE": str(args.queue_size)}
    with tiny_app(env, shipped=args.gallery == "shipped") as server:
        print(f"app on {server.url} (pid {server.process.pid}), concurrency {args.concurrency}")
        go(server.url, server.process.pid)
        status, health = server.health()
        print(f"/healthz after the load: {status} {json.dumps(health)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
