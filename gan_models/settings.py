"""The app's configuration, read from the environment (docs/DEVELOPING.md lists the variables)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from .store import default_device

DEFAULT_TIMEOUT_S = 120.0  # GAN_GALLERY_TIMEOUT_S: per-request deadline of model work (0 = none)
DEFAULT_MAX_SESSIONS = 500  # visitors whose page state is kept (least recently seen dropped first)


@dataclass(frozen=True)
class Settings:
    models: list[str] | None  # GAN_GALLERY_MODELS: ids to load; None = all
    device: str
    concurrency: int  # GAN_GALLERY_CONCURRENCY: model work at once
    queue_size: int  # GAN_GALLERY_QUEUE_SIZE
    server_name: str
    server_port: int
    root_path: str | None
    auth: tuple[str, str] | None
    timeout_s: float | None = DEFAULT_TIMEOUT_S  # GAN_GALLERY_TIMEOUT_S; None = no deadline
    max_sessions: int = DEFAULT_MAX_SESSIONS  # GAN_GALLERY_MAX_SESSIONS: per-visitor states kept

    def launch_kwargs(self) -> dict:
        """Everything ``demo.launch`` needs besides the health route."""
        return {
            "server_name": self.server_name,
            "server_port": self.server_port,
            "share": False,
            "auth": self.auth,
            "root_path": self.root_path,
            "max_file_size": "10mb",
            "allowed_paths": None,
            "blocked_paths": blocked_paths(),
            "mcp_server": False,
            "ssr_mode": False,
            "show_error": False,
            "enable_monitoring": False,  # else GET /monitoring prints a traffic dashboard's key to the log
            "run_history": False,  # no run records, no "save runs to a Hub bucket" from the page
            # Gradio keeps a copy of the page's configuration per visitor (a few hundred KB here,
            # every gradio_client Client is one): its default of 10,000 would be gigabytes
            "state_session_capacity": self.max_sessions,
            "footer_links": ["api", "gradio"],
        }


def blocked_paths() -> list[str]:
    """Never served, whatever else is configured: the weights, the manifest, the Hugging Face
    cache, and the project's .env and .git (Gradio refuses these before its other checks)."""
    from huggingface_hub import constants

    from .manifest import PROJECT_ROOT, weights_root

    root = weights_root()
    paths = [root / "weights", root / "weights_manifest.json", PROJECT_ROOT / ".env", PROJECT_ROOT / ".git"]
    paths.append(Path(constants.HF_HOME))
    if os.environ.get("GAN_GALLERY_MANIFEST"):
        paths.append(Path(os.environ["GAN_GALLERY_MANIFEST"]))
    return sorted({str(p.resolve()) for p in paths})


def _timeout_env(env) -> float | None:
    raw = env.get("GAN_GALLERY_TIMEOUT_S", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"GAN_GALLERY_TIMEOUT_S must be a number of seconds, got {raw!r}") from None
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"GAN_GALLERY_TIMEOUT_S must be 0 (no deadline) or a positive number, got {raw!r}")
    return value or None


def _int_env(env, name: str, default: int, low: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")
    return value


def settings_from_env(env=None) -> Settings:
    """Read the app's configuration (docs/DEVELOPING.md lists the variables)."""
    env = os.environ if env is None else env
    models = [m.strip() for m in env.get("GAN_GALLERY_MODELS", "").split(",") if m.strip()] or None
    device = env.get("GAN_GALLERY_DEVICE", "").strip() or str(default_device())
    auth = None
    if env.get("GAN_GALLERY_AUTH"):
        user, sep, password = env["GAN_GALLERY_AUTH"].partition(":")
        if not sep or not user or not password:
            raise ValueError('GAN_GALLERY_AUTH must be "user:password"')
        auth = (user, password)
    return Settings(
        models=models,
        device=device,
        concurrency=_int_env(env, "GAN_GALLERY_CONCURRENCY", 1 if device.startswith("cuda") else 2),
        queue_size=_int_env(env, "GAN_GALLERY_QUEUE_SIZE", 64),
        server_name=env.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=_int_env(env, "GRADIO_SERVER_PORT", 7860),
        root_path=env.get("GAN_GALLERY_ROOT_PATH") or None,
        auth=auth,
        timeout_s=_timeout_env(env),
        max_sessions=_int_env(env, "GAN_GALLERY_MAX_SESSIONS", DEFAULT_MAX_SESSIONS),
    )
