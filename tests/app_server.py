"""Start ``python app.py`` in a subprocess on a free port and wait for GET /healthz.

The app runs exactly as a user starts it (its own process, configured by environment), so a
test can also see that it keeps serving after bad requests. Used by test_app_api and
test_browser.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 240  # loading torch + gradio on two busy cores


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 10) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def gallery_env(root, temp=None, **extra: str | None) -> dict[str, str | None]:
    """Environment for app.py serving every model of the gallery at ``root`` (its own manifest,
    whatever this shell sets), with Gradio's temporary files in ``temp`` when given."""
    env = {"GAN_GALLERY_ROOT": str(root), "GAN_GALLERY_MANIFEST": None, "GAN_GALLERY_MODELS": None}
    if temp is not None:
        env["GRADIO_TEMP_DIR"] = str(temp)
    return {**env, **extra}


class AppServer:
    def __init__(self, url: str, process: subprocess.Popen, log_path: Path):
        self.url, self.process, self.log_path = url, process, log_path

    def health(self) -> tuple[int, dict]:
        return get_json(self.url + "/healthz")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running_app(env: dict[str, str], log_path: Path) -> Iterator[AppServer]:
    """Run app.py with ``env`` added to this environment (a None value removes the variable);
    yields once /healthz answers 200."""
    port = free_port()
    full_env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GAN_GALLERY_DEVICE": "cpu",
        "OMP_NUM_THREADS": "1",  # two shared cores: one thread per request is faster than contention
        "PYTHONUNBUFFERED": "1",
        **{k: v for k, v in env.items() if v is not None},
    }
    for name in [k for k, v in env.items() if v is None]:
        full_env.pop(name, None)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(PROJECT / "app.py")], cwd=PROJECT, env=full_env, stdout=log_file, stderr=log_file
        )
    server = AppServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited with {process.returncode}:\n{server.log()[-4000:]}")
            try:
                if server.health()[0] == 200:
                    break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not answer /healthz in {START_TIMEOUT_S} s:\n{server.log()[-4000:]}")
            time.sleep(0.5)
        yield server
    finally:
        process.terminate()  # only the process we started, by its handle
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
