"""Serving latency of every API endpoint through gradio_client, next to a trivial endpoint of
the same app, and the app's time from start to ready.

    python bench/serving.py                               # starts app.py on the shipped gallery
    python bench/serving.py --rounds 30 --json bench/results/serving-cpu.json
    python bench/serving.py --url http://127.0.0.1:7860   # a running app (GPU box); no start time

One client, one request in flight: the latency of a click. Endpoints are called round-robin, one
call each per round, so drift on a shared machine touches all of them alike. ``/ping`` is queued
like every model endpoint and does nothing; ``/health`` skips the queue. "ready" is the time from
spawning ``python app.py`` to ``GET /healthz`` answering 200 (every model hashed and loaded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from bench.common import table  # noqa: E402


def endpoint_calls(models: dict[str, dict], face_png: str) -> dict[str, tuple]:
    """Endpoint label -> (api_name, seed -> args) for the models the app serves; one of a kind each."""
    from gradio_client import handle_file

    def pick(preferred: str, task: str) -> str | None:
        """The preferred model when it is loaded, else the first loaded one of the task."""
        if models.get(preferred, {}).get("available"):
            return preferred
        return next((m["id"] for m in models.values() if m["task"] == task and m["available"]), None)

    calls: dict[str, tuple] = {"ping": ("/ping", lambda s: ()), "health (no queue)": ("/health", lambda s: ())}
    digits = pick("mnist-dcgan-ns", "sample")
    if digits:
        calls["sample 16"] = ("/sample", lambda s: (digits, s, 16, None, 0))
        calls["sample 1"] = ("/sample", lambda s: (digits, s, 1, None, 0))
        calls["interpolate 8 (slerp)"] = ("/interpolate", lambda s: (digits, s, s + 1, 8, "slerp", None, None, None))
        calls["jacobian_spectrum"] = ("/jacobian_spectrum", lambda s: (digits, s, None))
    face = pick("celeb24-cvaegan", "cvae-gan")
    if face:
        calls["generate_face"] = ("/generate_face", lambda s: (face, s, None))
        swap = ("/swap_identity", lambda s: (face, handle_file(face_png), s, "(predicted)", 4))
        calls["swap_identity (upload)"] = swap
    edges = pick("celeb24-pix2pix-edges", "pix2pix")
    if edges:
        photo = "photo (extract edges)"
        calls["translate (photo)"] = ("/translate", lambda s: (edges, handle_file(face_png), photo, False, 1, s))
        calls["extract_edges"] = ("/extract_edges", lambda s: (edges, handle_file(face_png)))
    if any(m["task"] == "toy2d" for m in models.values()):
        calls["mode_coverage"] = ("/mode_coverage", lambda s: ("ring", s % 5))
    return calls


def measure(client, calls: dict[str, tuple], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {label: [] for label in calls}
    for api, args in calls.values():  # warm-up: first calls allocate, fill the reference caches
        client.predict(*args(0), api_name=api)
    for seed in range(1, rounds + 1):  # a fresh seed each round: nothing is served from a cache
        for label, (api, args) in calls.items():
            start = time.perf_counter()
            client.predict(*args(seed), api_name=api)
            times[label].append(time.perf_counter() - start)
    return times


def summarise(times: dict[str, list[float]]) -> list[dict]:
    base = statistics.median(times["ping"])
    rows = []
    for label, values in times.items():
        ordered = sorted(values)
        p50 = statistics.median(ordered)
        rows.append(
            {
                "endpoint": label,
                "p50 ms": round(1000 * p50, 1),
                "p95 ms": round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
                "x ping p50": round(p50 / base, 2),
                "calls": len(values),
            }
        )
    return rows


def example_face(folder: Path) -> str:
    """A held-out faces-celeb24 image when the data is here, else a plain synthetic face-sized image."""
    import numpy as np
    from PIL import Image

    from training.data import data_root

    path = folder / "face.png"
    try:
        source = sorted((data_root(None) / "faces-celeb24").rglob("*.jpg"))[4]
        Image.open(source).convert("RGB").resize((128, 128)).save(path)
    except (OSError, IndexError):
        yy, xx = np.mgrid[0:128, 0:128]
        Image.fromarray(((xx + yy) % 256).astype(np.uint8)).convert("RGB").save(path)
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running app; default: start app.py here on the shipped gallery")
    parser.add_argument("--rounds", type=int, default=20, help="calls per endpoint after one warm-up call")
    parser.add_argument("--json", default="bench/results/serving.json")
    parser.add_argument("--machine", help="what the --url server runs on, for the record (e.g. 'H100 80GB')")
    args = parser.parse_args(argv)

    from gradio_client import Client

    from tests.app_server import gallery_env, running_app

    def run(url: str, ready_s: float | None) -> dict:
        client = Client(url, verbose=False, download_files=False)
        models = {m["id"]: m for m in client.predict(api_name="/list_models")}
        with tempfile.TemporaryDirectory(prefix="gan-serving-") as tmp:
            rows = summarise(measure(client, endpoint_calls(models, example_face(Path(tmp))), args.rounds))
        client.close()
        print(table(rows, ["endpoint", "p50 ms", "p95 ms", "x ping p50", "calls"]))
        if ready_s is not None:
            print(f"ready (spawn to /healthz 200): {ready_s:.1f} s with {len(models)} models")
        return {"url": url, "ready_s": ready_s, "models": len(models), "rounds": args.rounds, "rows": rows}

    if args.url:
        results = run(args.url.rstrip("/"), None)
    else:
        with tempfile.TemporaryDirectory(prefix="gan-serving-app-") as tmp:
            env = gallery_env(PROJECT, Path(tmp) / "gradio")
            start = time.monotonic()
            with running_app(env, PROJECT / "test-artifacts" / "serving-app.log") as server:
                ready_s = time.monotonic() - start
                results = run(server.url, round(ready_s, 2))
    from datetime import UTC, datetime

    here = f"{os.cpu_count()}-core {platform.machine()} CPU, the app on 1 torch thread"
    results["machine"] = args.machine or (None if args.url else here)
    results["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
