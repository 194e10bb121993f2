"""Request handling for the Gradio app (``app.py`` holds only the layout).

Every page action and API endpoint comes through a method of ``Gallery``: inputs are checked
here (bounded counts, steps and seeds, known model ids and classes, uploads opened with
``images.open_image``), the work is done by ``gan_models.ops``, and the results are turned into
what the page shows (grids, GIFs, matplotlib plots as images, JSON recipes). A bad input raises
``gr.Error`` with a plain message, never a traceback, and the server keeps serving.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import errno
import functools
import gc
import html
import inspect
import itertools
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from PIL import Image, ImageDraw, UnidentifiedImageError

from . import ops
from .images import ImageInputError, canny_edges, fit, grid, open_image, to_gif, to_pil
from .manifest import ModelEntry
from .mixtures import MIXTURES, mode_coverage, sample_mixture
from .store import LoadedModel, ModelStore, default_device

log = logging.getLogger(__name__)

# Bounds of every input (the API and the page agree; the page's seed field offers 0..2**32-1,
# which JavaScript numbers hold exactly; gradio_client callers may pass up to 2**63-1).
UI_MAX_SEED = 2**32 - 1
API_MAX_SEED = ops.MAX_SEED
MAX_COUNT = 64
MIN_STEPS, MAX_STEPS = 2, 64
MAX_TRUNCATION = 3.0
MAX_DRAWS = 16
LIVE_MAX_STEPS = 2000
LIVE_MAX_PACK = 4
LIVE_MAX_LR = 0.01
LIVE_LOSSES = ("gan", "lsgan", "hinge", "wgan-gp")  # training.toy2d_live: "gan" is the non-saturating loss
REFERENCE_SEED = 0  # the seed of the gallery cards' grids and of the identities' reference faces
COVERAGE_POINTS = 2500  # PacGAN counts modes over 2,500 samples

ALL_CLASSES = "(every class)"  # class dropdown: cycle through the classes
AUTO_IDENTITY = "(predicted)"  # identity dropdown: ask an identity classifier
INPUT_KINDS = ("edge map", "photo (extract edges)", "label map")
NO_MODELS = "No models published yet; train with `python -m training --list`."

# Terms of the data sets, shown beside the manifest's licence (README "Data and licences").
DATASET_TERMS = {
    "celeb24": "non-commercial research only",
    "openmoji": "CC BY-SA 4.0; images made by the model are CC BY-SA 4.0 too",
}


def _kl_to_uniform(p: np.ndarray) -> float:
    """KL(p || uniform over len(p) outcomes), in nats."""
    nz = p > 0
    return float((p[nz] * np.log(p[nz] * len(p))).sum())


class InputError(ValueError):
    """A request we refuse; the message is shown to the user as it is."""


class ServiceUnavailable(RuntimeError):
    """A request we could not serve now (busy, too slow, out of memory, no room for results);
    the message is shown as it is, and the server keeps serving."""


DEFAULT_TIMEOUT_S = 120.0  # GAN_GALLERY_TIMEOUT_S: per-request deadline of model work (0 = none)
MIN_FREE_BYTES = 32 * 2**20  # a temporary folder with less room than this counts as full
MAX_BODY_BYTES = 16 * 2**20  # any request body (JSON with data: URLs, uploads); uploads stop at 10 MB
MAX_DATA_URL_CHARS = MAX_BODY_BYTES  # base64 text of one data: URL image
DEFAULT_MAX_SESSIONS = 500  # visitors whose page state is kept (least recently seen dropped first)


# --------------------------------------------------------------------------- settings


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


# --------------------------------------------------------------------------- errors


STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.ENOTDIR}


def storage_message(action: str, what: str = "results") -> str:
    return (
        f"{action} could not be done: the server has no room for {what} right now (its temporary folder "
        "is full or read-only). Nothing was computed; please try again later."
    )


def out_of_memory_message(action: str) -> str:
    return f"{action} ran out of GPU memory. Try fewer images, steps or draws; the server keeps serving."


def free_memory() -> None:
    """After an out-of-memory error: drop what the failed request held."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class _Unbounded:
    """A semaphore that never makes anyone wait (work without a model-work slot)."""

    def acquire(self, timeout: float | None = None) -> bool:
        return True

    def release(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


_NO_SLOTS = _Unbounded()
_GLOBAL_RNG_LOCK = threading.Lock()  # around the few steps that seed torch's global RNG


def plain_errors(action: str, slot: bool = True):
    """Serve one request of a ``Gallery`` method: refuse it at once when the temporary folder
    cannot take results, run it under the gallery's deadline and model-work slots, and turn
    every failure into ``gr.Error`` with a plain message (refused inputs with their own message,
    out of memory, too slow, busy, no room for results; anything unexpected as a short message
    while the traceback goes to the server log, never to the page). ``slot=False``: work that
    draws plots only (no model), bounded by the deadline but not by the model-work slots."""

    def wrap(fn):
        def convert(gallery, e: Exception) -> gr.Error:
            if isinstance(e, gr.Error):
                return e
            if isinstance(e, ImageInputError | InputError | ValueError | LookupError | ServiceUnavailable):
                msg = e.args[0] if isinstance(e, LookupError) and e.args else str(e)
                return gr.Error(html.escape(str(msg), quote=False), print_exception=False)
            if isinstance(e, torch.OutOfMemoryError):
                gallery.count_fault("out_of_memory")
                log.warning("%s ran out of memory: %s", action, e)
                return gr.Error(out_of_memory_message(action.capitalize()), print_exception=False)
            if isinstance(e, OSError) and e.errno in STORAGE_ERRNOS:
                gallery.count_fault("storage")
                log.error("%s could not write its results: %s", action, e)
                return gr.Error(storage_message(action.capitalize()), print_exception=False)
            gallery.count_fault("internal")
            log.exception("%s failed", action, exc_info=e)
            return gr.Error(f"{action} failed on the server ({type(e).__name__}); the server keeps serving.")

        def fail(gallery, e: Exception) -> gr.Error:
            """The plain error for ``e``, with ``e`` let go of: the failed request's frames are
            cleared, so the tensors they held (on the GPU too) are freed now, not whenever the
            error raised to Gradio and its traceback are dropped."""
            error = convert(gallery, e)
            if error is not e:
                traceback.clear_frames(e.__traceback__)
            if isinstance(e, torch.OutOfMemoryError):
                free_memory()
            return error

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(self, *args, **kwargs):
                error = None
                try:
                    self.check_storage()
                    steps = fn(self, *args, **kwargs)
                    while True:  # every step is model work with its own deadline
                        try:
                            item = self.run_bounded(action, next, (steps,), slot=slot)
                        except StopIteration:
                            return
                        yield item
                except Exception as e:
                    error = fail(self, e)
                raise error  # outside the handler: the plain error does not chain the original

            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            try:
                self.check_storage()
                return self.run_bounded(action, fn, (self, *args), kwargs, slot=slot)
            except Exception as e:
                error = fail(self, e)
            raise error  # outside the handler: the plain error does not chain the original

        return wrapper

    return wrap


def _whole(value, what: str, low: int, high: int) -> int:
    if value is None or (isinstance(value, str) and value == ""):
        raise InputError(f"{what} is required (a whole number from {low} to {high})")
    if isinstance(value, bool):
        raise InputError(f"{what} must be a whole number from {low} to {high}, got {value!r}")
    try:
        number = int(value)
        exact = number == value or (isinstance(value, str) and str(number) == value.strip())
    except (TypeError, ValueError, OverflowError):
        exact = False
    if not exact:
        raise InputError(f"{what} must be a whole number from {low} to {high}, got {value!r}")
    if not low <= number <= high:
        raise InputError(f"{what} must be between {low} and {high}, got {number}")
    return number


def check_seed(seed, api: bool = True, what: str = "seed") -> int:
    return _whole(seed, what, 0, API_MAX_SEED if api else UI_MAX_SEED)


def check_count(count) -> int:
    return _whole(count, "count", 1, MAX_COUNT)


def check_steps(steps) -> int:
    return _whole(steps, "steps", MIN_STEPS, MAX_STEPS)


def check_truncation(value) -> float | None:
    """None or 0 means off; otherwise a value in (0, 3]."""
    if value is None or value == "" or value == 0:
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise InputError(f"truncation must be a number in (0, {MAX_TRUNCATION:g}] or 0 for off") from None
    if not 0 < t <= MAX_TRUNCATION:  # also refuses NaN
        raise InputError(f"truncation must be in (0, {MAX_TRUNCATION:g}] or 0 for off, got {value!r}")
    return t


def is_api_call(request) -> bool:
    """gradio_client marks its requests; the page's seed bound is tighter than the API's."""
    headers = getattr(request, "headers", None) or {}
    return headers.get("x-gradio-user") in ("api", "mcp")


def _no_progress(*_args, **_kwargs):
    return None


# --------------------------------------------------------------------------- plots


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)  # no pyplot: thread-safe, no global state
    FigureCanvasAgg(fig)
    return fig


def _render(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _toy_panel(ax, points, mixture: str, title: str, critic=None, extent=None) -> None:
    centres, sigma = MIXTURES[mixture]
    lim = float(centres.abs().max()) * 1.5 + 0.3
    if critic is not None and extent is not None:
        xmin, xmax, ymin, ymax = (float(v) for v in extent)
        g = critic.shape[-1]
        xs, ys = np.linspace(xmin, xmax, g), np.linspace(ymin, ymax, g)
        cs = ax.contourf(xs, ys, np.asarray(critic, dtype=np.float32), levels=14, cmap="coolwarm", alpha=0.55)
        ax.figure.colorbar(cs, ax=ax, fraction=0.046, pad=0.02, label="critic score")
        lim = max(lim, abs(xmin), abs(xmax), abs(ymin), abs(ymax))
    real, _ = sample_mixture(centres, sigma, 500, torch.Generator().manual_seed(REFERENCE_SEED))
    ax.scatter(real[:, 0].numpy(), real[:, 1].numpy(), s=2, c="black", alpha=0.5)
    c = centres.numpy()
    ax.scatter(c[:, 0], c[:, 1], s=140, facecolors="none", edgecolors="black", linewidths=1.2)
    p = np.asarray(points, dtype=np.float32)
    ax.scatter(p[:, 0], p[:, 1], s=3, c="tab:orange", alpha=0.6, label="generated")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", ls="", mfc="none", mec="black", ms=8, label="real modes and samples"),
        Line2D([], [], marker="o", ls="", color="tab:orange", ms=4, label="generated"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=7)


def toy_plot(panels: list[dict], mixture: str) -> np.ndarray:
    """One panel per run: points, real modes and (when recorded) the critic's contour."""
    fig = _figure(4.6 * len(panels), 4.4)
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        _toy_panel(ax, panel["points"], mixture, panel["title"], panel.get("critic"), panel.get("extent"))
    fig.tight_layout()
    return _render(fig)


def spectrum_plot(values: np.ndarray, tol: float, rank: int, title: str) -> np.ndarray:
    fig = _figure(6.4, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    k = np.arange(1, len(values) + 1)
    ax.semilogy(k, np.maximum(values, 1e-30), "o-", ms=3, lw=1)
    ax.axhline(tol, color="tab:red", ls="--", lw=1, label=f"rank tolerance {tol:.2e}")
    ax.set_xlabel("index of singular value (largest first)")
    ax.set_ylabel("singular value of dG/dz (log)")
    ax.set_title(f"{title}: numerical rank {rank} of {len(values)}", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return _render(fig)


def histogram_plot(counts: np.ndarray, title: str) -> np.ndarray:
    fig = _figure(7.2, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(np.arange(len(counts)), counts, width=1.0, color="tab:blue")
    ax.axhline(counts.sum() / len(counts), color="tab:red", ls="--", lw=1, label="uniform")
    ax.set_xlabel("mode (3-digit number)")
    ax.set_ylabel("samples")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _render(fig)


def std_map(outputs: np.ndarray) -> np.ndarray:
    """Per-pixel standard deviation over draws (mean over channels) as a colour image."""
    from matplotlib import colormaps

    std = outputs.astype(np.float32).std(axis=0).mean(axis=-1)
    scaled = std / max(float(std.max()), 1e-6)
    return (colormaps["magma"](scaled)[..., :3] * 255).round().astype(np.uint8)


# --------------------------------------------------------------------------- drawn examples


def drawn_face_edges(size: int = 128) -> np.ndarray:
    """A simple face outline drawn by code, white edges on black (the edge models' input)."""
    s = size / 128
    img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(img)
    d.ellipse([30 * s, 18 * s, 98 * s, 112 * s], outline=255, width=1)  # head
    d.arc([30 * s, 8 * s, 98 * s, 60 * s], 180, 360, fill=255, width=1)  # hairline
    for x in (44, 72):  # eyes and brows
        d.ellipse([x * s, 52 * s, (x + 12) * s, 58 * s], outline=255, width=1)
        d.line([x * s, 46 * s, (x + 12) * s, 45 * s], fill=255, width=1)
    d.line([64 * s, 58 * s, 61 * s, 78 * s, 67 * s, 79 * s], fill=255, width=1)  # nose
    d.arc([50 * s, 80 * s, 78 * s, 96 * s], 20, 160, fill=255, width=1)  # mouth
    return np.asarray(img)[..., None]


def facade_colour(k: int) -> tuple[int, int, int]:
    """Colour of CMP facade class k (1 background, 2 facade, 3 window, 4 door, ...): the jet
    colour map over the classes, as in the pix2pix facades label maps."""
    from matplotlib import colormaps

    r, g, b, _ = colormaps["jet"](k / 11)
    return int(r * 255), int(g * 255), int(b * 255)


def drawn_facade_labels(size: int = 256) -> np.ndarray:
    """A facade label map drawn by code: wall, rows of windows with sills, a door, a cornice."""
    s = size / 256
    img = Image.new("RGB", (size, size), facade_colour(1))
    d = ImageDraw.Draw(img)
    d.rectangle([16 * s, 24 * s, 240 * s, 255 * s], fill=facade_colour(2))  # facade
    d.rectangle([16 * s, 24 * s, 240 * s, 36 * s], fill=facade_colour(5))  # cornice
    for row in range(3):
        for col in range(4):
            x, y = (30 + col * 54) * s, (50 + row * 56) * s
            d.rectangle([x, y, x + 28 * s, y + 36 * s], fill=facade_colour(3))  # window
            d.rectangle([x - 2 * s, y + 36 * s, x + 30 * s, y + 40 * s], fill=facade_colour(6))  # sill
    d.rectangle([108 * s, 214 * s, 148 * s, 255 * s], fill=facade_colour(4))  # door
    return np.asarray(img)


def facade_hex(k: int) -> str:
    r, g, b = facade_colour(k)
    return f"#{r:02x}{g:02x}{b:02x}"


FACADE_BRUSH = [facade_hex(k) for k in (1, 2, 3, 4, 5, 6, 7)]  # background, facade, window, door, ...


def health_route(gallery: Gallery):
    """GET /healthz: 200 with the loaded and unavailable models once loaded, 503 before."""
    from fastapi.responses import JSONResponse
    from fastapi.routing import APIRoute

    def healthz():
        code, body = gallery.health()
        return JSONResponse(body, status_code=code)

    return APIRoute("/healthz", healthz, methods=["GET"], include_in_schema=False)


# --------------------------------------------------------------------------- Gradio's own handling


def _as_file_data(value):
    """A bare ``data:`` URL sent for an image input -> the FileData form Gradio validates."""
    if isinstance(value, str) and value.startswith("data:"):
        return {"path": None, "url": value, "orig_name": None, "meta": {"_type": "gradio.FileData"}}
    return value


def input_refusal(error: BaseException) -> str:
    """What to tell a caller whose input Gradio itself refused (before our code saw it)."""
    from .images import ALLOWED_FORMATS, MAX_PIXELS

    chain, seen = [], error
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for e in chain:
        if isinstance(e, Image.DecompressionBombError):
            return f"the image has too many pixels; at most {MAX_PIXELS:,} are accepted"
        if isinstance(e, UnidentifiedImageError):
            return f"not an image in an accepted format ({', '.join(ALLOWED_FORMATS)})"
        if isinstance(e, OSError) and e.errno in STORAGE_ERRNOS:
            return storage_message("The request")
    return (
        "an input could not be read: images must be uploaded files (gradio_client: handle_file(path)) or "
        "data: URLs; paths on the server and links elsewhere are refused"
    )


class SafeBlocks(gr.Blocks):
    """``gr.Blocks`` whose own input and output handling answers in plain words too: an input
    Gradio refuses (a path that was not uploaded, a link, something that is not a file) and an
    output it cannot store (its temporary folder full or read-only) become ``gr.Error`` with a
    clear message instead of an empty error. Image inputs also accept a bare ``data:`` URL."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call: bool = False):
        inputs = [
            _as_file_data(v) if isinstance(block, gr.Image) else v
            for block, v in zip(block_fn.inputs, inputs, strict=False)
        ] + list(inputs[len(block_fn.inputs) :])
        try:
            if block_fn.preprocess:
                self._strict_numbers(block_fn, inputs)
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except Exception as e:
            log.warning("input of %s refused by Gradio: %s", block_fn.api_name, e)
            error = gr.Error(html.escape(self._refusal(block_fn, inputs, e), quote=False), print_exception=False)
        raise error

    @staticmethod
    def _strict_numbers(block_fn, inputs) -> None:
        """Gradio would round 1.5 (or True) into a whole-number field; refuse it instead."""
        for block, value in zip(block_fn.inputs, inputs, strict=False):
            if not isinstance(block, gr.Number) or block.precision != 0 or value is None:
                continue
            whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            if isinstance(value, bool) or not whole:
                raise gr.Error(f"{block.label}: must be a whole number, got {str(value)[:60]!r}")

    @staticmethod
    def _refusal(block_fn, inputs, error: Exception) -> str:
        """Name the input Gradio refused: the first plain input (number, slider, choice) whose own
        check fails, else the file inputs."""
        for block, value in zip(block_fn.inputs, inputs, strict=False):
            if isinstance(block, gr.Image | gr.ImageEditor):
                continue
            try:
                block.preprocess(value)
            except Exception as e:
                reason = e.message if isinstance(e, gr.Error) else f"{str(value)[:60]!r} is not a valid value"
                return f"{block.label or type(block).__name__}: {reason}"
        if isinstance(error, gr.Error):
            return error.message
        return input_refusal(error)

    async def postprocess_data(self, block_fn, predictions, state):
        try:
            return await super().postprocess_data(block_fn, predictions, state)
        except gr.Error:
            raise
        except OSError as e:
            if e.errno not in STORAGE_ERRNOS:
                raise
            log.error("results of %s could not be stored: %s", block_fn.api_name, e)
            raise gr.Error(storage_message("The request"), print_exception=False) from None


def atomic_image_cache() -> None:
    """Gradio stores a returned image under a name made from its bytes' hash and writes it in
    place each time (``processing_utils.save_pil_to_cache``): two visitors who get the same image
    at once (same seed, same settings) race, and one may download the file while the other has
    just truncated it. Here an existing copy is reused and a new one is written under a temporary
    name and renamed into place, as Gradio already does for files (``save_file_to_cache``)."""
    from gradio import processing_utils

    if getattr(processing_utils.save_pil_to_cache, "atomic", False):
        return

    def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = processing_utils.encode_pil_to_bytes(img, format)
        folder = Path(cache_dir) / processing_utils.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        path = (folder / f"{name}.{format}").resolve()
        if path.exists():
            os.utime(path)  # Gradio's delete_cache ages files by ctime: this use counts
            return str(path)
        fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(staging, path)
        except BaseException:
            Path(staging).unlink(missing_ok=True)  # a full disk leaves no partial file behind
            raise
        return str(path)

    save_pil_to_cache.atomic = True
    processing_utils.save_pil_to_cache = save_pil_to_cache


class RequestGuard:
    """ASGI middleware in front of every route: request bodies larger than ``max_bytes`` are
    refused with 413 before they are read into memory (JSON with data: URLs included; uploads
    stop at Gradio's own 10 MB cap), and a route that fails for want of disk room (an upload into
    a full or read-only temporary folder) answers 507 with a plain message instead of a bare 500."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app, self.max_bytes = app, max_bytes

    async def _answer(self, send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = f"the request is larger than {self.max_bytes // 2**20} MB"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._answer(send, 413, too_large)
        seen = {"bytes": 0, "over": False, "started": False}

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                seen["bytes"] += len(message.get("body", b""))
                if seen["bytes"] > self.max_bytes:
                    seen["over"] = True
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message):
            if message["type"] == "http.response.start":
                seen["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except OSError as e:
            if seen["started"] or e.errno not in STORAGE_ERRNOS:
                raise
            log.error("%s failed for want of disk room: %s", scope.get("path"), e)
            return await self._answer(send, 507, storage_message("The upload", "files"))
        if seen["over"] and not seen["started"]:
            await self._answer(send, 413, too_large)


# --------------------------------------------------------------------------- the service


def _hcat(*images: np.ndarray, gap: int = 4) -> np.ndarray:
    """Images of one height side by side with white gaps; grey is widened to RGB when mixed."""
    chans = max(im.shape[2] for im in images)
    images = [np.repeat(im, 3, axis=2) if im.shape[2] != chans else im for im in images]
    h = max(im.shape[0] for im in images)
    parts = []
    for i, im in enumerate(images):
        if im.shape[0] < h:
            pad = np.full((h - im.shape[0], im.shape[1], chans), 255, np.uint8)
            im = np.concatenate([im, pad])
        parts.append(im)
        if i < len(images) - 1:
            parts.append(np.full((h, gap, chans), 255, np.uint8))
    return np.concatenate(parts, axis=1)


def _show(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, C) for display: grey loses its channel axis, small images are enlarged."""
    out = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
    scale = max(1, 128 // max(out.shape[0], 1))
    if scale > 1:
        out = np.repeat(np.repeat(out, scale, axis=0), scale, axis=1)
    return out


def _native(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, C) as the model made it, for download; grey loses its channel axis."""
    return image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(json.dumps(value)[:200])


class Gallery:
    """The loaded models and every request the app serves."""

    def __init__(
        self,
        store: ModelStore,
        requested: list[str] | None = None,
        timeout_s: float | None = None,
        concurrency: int | None = None,
    ):
        self.store = store
        self.loaded = False  # True once load_all has finished: /healthz answers 200
        self.requested_unknown = sorted(set(requested or []) - set(store.entries))
        self._cache: dict = {}
        self._cache_lock = threading.Lock()
        self.out_dir = Path(tempfile.mkdtemp(prefix="gan-gallery-"))
        # Deadline and slots of model work. Gradio's "gpu" concurrency group admits `concurrency`
        # requests at once; a request past its deadline is answered at once, but its computation
        # cannot be killed, so it keeps its slot here until it really ends (an overdue request):
        # later requests wait for a free slot within their own deadline, never oversubscribing.
        self.timeout_s = timeout_s or None
        self.concurrency = concurrency or 1
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._state_lock = threading.Lock()
        self.overdue = 0  # computations past their deadline that still run
        self.faults = {"timeout": 0, "busy": 0, "out_of_memory": 0, "storage": 0, "internal": 0}

    @classmethod
    def from_settings(cls, settings: Settings, load: bool = True) -> Gallery:
        store = ModelStore(device=settings.device, only=settings.models)
        gallery = cls(store, settings.models, timeout_s=settings.timeout_s, concurrency=settings.concurrency)
        if load:
            gallery.load()
        return gallery

    # ---------------------------------------------------------------- reliability

    def count_fault(self, kind: str) -> None:
        with self._state_lock:
            self.faults[kind] = self.faults.get(kind, 0) + 1

    def temp_folders(self) -> list[Path]:
        """Where results go: Gradio's cache (GRADIO_TEMP_DIR) and our own output folder."""
        from gradio.utils import get_upload_folder

        return [Path(get_upload_folder()), self.out_dir]

    def check_storage(self) -> None:
        """Refuse a request before any work when a temporary folder cannot take its results."""
        for folder in self.temp_folders():
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
                os.close(fd)
                os.unlink(probe)
                free = shutil.disk_usage(folder).free
            except OSError as e:
                self.count_fault("storage")
                log.error("temporary folder %s is not writable: %s", folder, e)
                raise ServiceUnavailable(storage_message("The request")) from None
            if free < MIN_FREE_BYTES:
                self.count_fault("storage")
                log.error("temporary folder %s is full: %d bytes free", folder, free)
                raise ServiceUnavailable(storage_message("The request"))

    def run_bounded(self, action: str, fn, args: tuple = (), kwargs: dict | None = None, slot: bool = True):
        """Run ``fn`` on one model-work slot, answering within the deadline: "busy" when no slot
        freed in time, "took too long" when the computation itself overran (it then finishes
        in the background, holding its slot, and /healthz counts it as overdue)."""
        kwargs = kwargs or {}
        slots = self._slots if slot else _NO_SLOTS
        if self.timeout_s is None:
            with slots:
                return fn(*args, **kwargs)
        job = {"state": "waiting"}  # waiting -> running -> done, or abandoned / overdue
        done = threading.Event()
        context = contextvars.copy_context()  # gr.Progress and the request travel with the work

        def work():
            while not slots.acquire(timeout=0.25):
                with self._state_lock:
                    if job["state"] == "abandoned":
                        return
            try:
                with self._state_lock:
                    if job["state"] == "abandoned":
                        return
                    job["state"] = "running"
                try:
                    job["value"] = context.run(fn, *args, **kwargs)
                except BaseException as e:  # handed to the request's thread
                    job["error"] = e
            finally:
                slots.release()
                with self._state_lock:
                    if job["state"] == "overdue":
                        self.overdue -= 1
                        log.warning("%s finished %.1f s after its deadline", action, time.monotonic() - job["due"])
                    job["state"] = "done"
                done.set()

        threading.Thread(target=work, name=f"gallery-{action}", daemon=True).start()
        if not done.wait(self.timeout_s):
            with self._state_lock:
                state = job["state"]
                if state == "waiting":
                    job["state"] = "abandoned"
                    self.faults["busy"] += 1
                elif state == "running":
                    job["state"], job["due"] = "overdue", time.monotonic()
                    self.overdue += 1
                    self.faults["timeout"] += 1
            if state == "waiting":
                raise ServiceUnavailable(
                    f"The server is busy: {action} waited {self.timeout_s:g} s for the model and did not get "
                    "its turn. Nothing was computed; please try again in a moment."
                )
            if state == "running":
                log.error("%s took longer than %g s; answered as too slow", action, self.timeout_s)
                raise ServiceUnavailable(
                    f"{action.capitalize()} took too long (more than {self.timeout_s:g} s) and was given up. "
                    "Try fewer images, steps or draws; the server keeps serving."
                )
            done.wait()  # it finished between the two checks
        if "error" in job:
            raise job["error"]
        return job["value"]

    def load(self) -> None:
        self.store.load_all()
        for model_id in self.ids("toy2d"):  # measured once here, so a replay only draws
            self.shipped_coverage(self.store.models[model_id])
        self.loaded = True

    # ---------------------------------------------------------------- lookups

    def health(self) -> tuple[int, dict]:
        """(HTTP status, body) of /healthz: 503 while loading and while every model-work slot is
        held by a computation past its deadline ("stalled"); "degraded" while some are."""
        if not self.loaded:
            return 503, {"status": "loading", "models": [], "unavailable": {}}
        with self._state_lock:
            overdue, faults = self.overdue, dict(self.faults)
        status = "ok" if overdue == 0 else "stalled" if overdue >= self.concurrency else "degraded"
        body = {
            "status": status,
            "models": list(self.store.models),
            "unavailable": dict(self.store.errors),
            "overdue": overdue,
            "faults": faults,
        }
        return (503 if status == "stalled" else 200), body

    def ids(self, *tasks: str, encoder: bool = False) -> list[str]:
        """Loaded models of the given tasks (all tasks when none given)."""
        return [
            m.id
            for m in self.store.models.values()
            if (not tasks or m.entry.task in tasks) and (not encoder or "encoder" in m.networks)
        ]

    def model(self, model_id, *tasks: str, encoder: bool = False) -> LoadedModel:
        if not isinstance(model_id, str) or not model_id:
            raise InputError("choose a model")
        if model_id not in self.store.models:
            if model_id in self.store.errors:
                raise InputError(f"model {model_id!r} is unavailable: {self.store.errors[model_id]}")
            known = ", ".join(self.ids(*tasks)) or "none loaded"
            raise InputError(f"unknown model {model_id!r}; choose one of: {known}")
        model = self.store.models[model_id]
        if tasks and model.entry.task not in tasks:
            raise InputError(
                f"model {model_id!r} is a {model.entry.task} model; this needs a {' or '.join(tasks)} model"
            )
        if encoder and "encoder" not in model.networks:
            raise InputError(f"model {model_id!r} has no encoder; face encoding needs a CVAE-GAN model")
        return model

    def class_index(self, model: LoadedModel, name, allow_all: bool = True) -> int | None:
        """A class name (or its index) -> index; ALL_CLASSES/None -> None (cycle through all)."""
        names = model.entry.class_names
        if name is None or name == "" or name == ALL_CLASSES or name == AUTO_IDENTITY:
            if not allow_all and names:
                raise InputError(f"choose a class of model {model.id!r}")
            return None
        if not names:
            raise InputError(f"model {model.id!r} has no classes; leave the class empty")
        if name in names:
            return names.index(name)
        if isinstance(name, int) and not isinstance(name, bool) and 0 <= name < len(names):
            return name
        shown = ", ".join(names[:30]) + (" ..." if len(names) > 30 else "")
        raise InputError(f"unknown class {name!r} for model {model.id!r}; choose one of: {shown}")

    def class_choices(self, model_id, auto: str = ALL_CLASSES) -> tuple[list[str], str | None, bool]:
        """(choices, default value, visible) of a model's class dropdown."""
        model = self.store.models.get(model_id)
        if model is None or not model.entry.class_names:
            return [], None, False
        return [auto, *model.entry.class_names], auto, True

    @staticmethod
    def revision(entry: ModelEntry) -> str:
        """The pinned Hub revision, else the sha256 prefix of the generator's weights file."""
        if entry.hub:
            return str(entry.hub["revision"])
        role = "generator" if "generator" in entry.networks else next(iter(entry.networks))
        return entry.networks[role].file("model.safetensors").sha256[:12]

    def _cached(self, key, make):
        with self._cache_lock:
            if key in self._cache:
                return self._cache[key]
        value = make()
        with self._cache_lock:
            self._cache[key] = value
        return value

    def _write(self, data: bytes, suffix: str) -> str:
        """A file for the page to serve (Gradio copies it into its cache); old ones are pruned."""
        now = time.time()
        for old in self.out_dir.glob("*"):
            try:
                if now - old.stat().st_mtime > 3600:
                    old.unlink()
            except OSError:
                pass
        fd, path = tempfile.mkstemp(suffix=suffix, dir=self.out_dir)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    # ---------------------------------------------------------------- gallery

    def describe(self, entry: ModelEntry) -> dict:
        """One model's card data (also the /list_models API)."""
        model = self.store.models.get(entry.id)
        name = entry.dataset.get("name", "")
        terms = next((t for key, t in DATASET_TERMS.items() if key in name.lower()), None)
        return {
            "id": entry.id,
            "title": entry.title,
            "description": entry.description,
            "task": entry.task,
            "architecture": entry.architecture,
            "dataset": name,
            "licence": entry.dataset.get("licence", ""),
            "terms": terms,
            "credit": entry.dataset.get("credit"),
            "resolution": entry.resolution,
            "channels": entry.channels,
            "class_names": list(entry.class_names),
            "available": model is not None,
            "reason": self.store.errors.get(entry.id) if model is None else None,
            "revision": self.revision(entry),
            "parameters": model.parameter_count() if model else None,
            "file_bytes": sum(f.bytes for net in entry.networks.values() for f in net.files),
            "training_command": entry.training.get("command"),
            "metrics_command": entry.metrics.get("command"),
            "metrics": entry.metrics,
            "below_bar": entry.below_bar,
        }

    def list_models(self) -> list[dict]:
        return [self.describe(e) for e in self.store.entries.values()]

    def notice(self) -> str:
        """The banner on top of the page: what is missing and how to make it."""
        lines = []
        if not self.store.entries:
            lines.append(f"**{NO_MODELS}**")
        if self.requested_unknown:
            lines.append(f"GAN_GALLERY_MODELS names models the manifest lacks: {', '.join(self.requested_unknown)}.")
        if self.store.errors:
            lines.append(f"**{len(self.store.errors)} model(s) are missing or refused.** Train each with:")
            for model_id, reason in self.store.errors.items():
                cmd = self.store.entries[model_id].training.get("command", "python -m training --list")
                lines.append(f"- `{model_id}`: `{cmd}` ({html.escape(reason[:200])})")
        if self.store.models:
            lines.append(f"{len(self.store.models)} model(s) loaded on {self.store.device}.")
        return "\n".join(lines)

    def card_markdown(self, entry: ModelEntry) -> str:
        d = self.describe(entry)
        esc = html.escape
        out = [f"### {esc(d['title'])}  \n`{d['id']}` · {d['task']} · {esc(d['architecture'])}", esc(d["description"])]
        licence = f"**Data set:** {esc(d['dataset'])} — licence: **{esc(d['licence'])}**"
        if d["terms"] and d["terms"].split(";")[0].lower() not in d["licence"].lower():
            licence += f" (**{esc(d['terms'])}**)"
        if d["credit"]:
            licence += f"; credit: {esc(d['credit'])}"
        out.append(licence)
        if d["below_bar"]:
            out.append(f"**Below its quality bar:** {esc(d['below_bar'])}")
        if not d["available"]:
            out.append(f"**Unavailable:** {esc(d['reason'] or '')}")
        else:
            out.append(
                f"**Parameters:** {d['parameters']:,} · **files:** {d['file_bytes'] / 2**20:.2f} MB · "
                f"**revision:** `{d['revision']}`"
            )
        metrics = entry.metrics
        if metrics.get("values"):
            meta = []
            if "samples" in metrics:
                meta.append(f"{_fmt(metrics['samples'])} samples")
            if "seed" in metrics:
                meta.append(f"seed {_fmt(metrics['seed'])}")
            if metrics.get("feature_network"):
                meta.append(f"features: {esc(str(metrics['feature_network']))}")
            ref = metrics.get("reference", {}) or {}
            rows = ["| metric | value | real data |", "|---|---|---|"]
            for k, v in metrics["values"].items():
                rows.append(f"| {esc(str(k))} | {_fmt(v)} | {_fmt(ref[k]) if k in ref else ''} |")
            out.append(f"**Metrics** ({', '.join(meta) or 'no sample count recorded'}):\n\n" + "\n".join(rows))
        else:
            out.append(f"**Metrics:** not measured yet (measure with `python -m training.evaluate {d['id']}`).")
        out.append(f"**Trained with:** `{d['training_command']}`")
        if d["metrics_command"]:
            out.append(f"**Measured with:** `{d['metrics_command']}`")
        return "\n\n".join(out)

    def card_image(self, model_id: str) -> np.ndarray | None:
        """The card's picture: a sample grid, a translated drawing, or the last 2D snapshot."""
        model = self.store.models.get(model_id)
        if model is None:
            return None
        try:
            task = model.entry.task
            if task in ("sample", "cvae-gan"):
                n = 16 if model.entry.resolution <= 64 else 8
                return _show(grid(ops.sample(model, n, REFERENCE_SEED), nrow=8))
            if task == "pix2pix":
                cond = self.example_condition(model)
                return _show(_hcat(cond, ops.translate(model, cond)[0]))
            if task == "toy2d":
                traj = self.trajectory(model)
                mixture = self.mixture_of(model)
                if traj is None:
                    points = ops.toy_points(model, COVERAGE_POINTS, REFERENCE_SEED)
                    return toy_plot([{"points": points, "title": model.id}], mixture)
                return toy_plot([self._replay_panel(model, traj, -1)], mixture)
        except Exception:  # a card must never stop the page from building
            log.exception("card image of %s failed", model_id)
        return None

    # ---------------------------------------------------------------- sample

    def _recipe(self, model: LoadedModel, call: str, **settings) -> dict:
        return {
            "model": model.id,
            "revision": self.revision(model.entry),
            **settings,
            "python": f"import gan_models\nmodel = gan_models.load_model({model.id!r})\n{call}",
        }

    @plain_errors("sampling")
    def sample(self, model_id, seed, count, class_name=None, truncation=None, api: bool = True, progress=_no_progress):
        """-> (grid, [(image, caption)], recipe)."""
        model = self.model(model_id, "sample", "cvae-gan")
        seed, count = check_seed(seed, api), check_count(count)
        trunc = check_truncation(truncation)
        label = self.class_index(model, class_name)
        progress(0.1, desc=f"sampling {count} from {model.id}")
        images = ops.sample(model, count, seed, label=label, truncation=trunc)
        names = model.entry.class_names
        labels = [label] * count if label is not None else [i % len(names) for i in range(count)] if names else []
        items = [
            (_native(im), f"seed {seed} · #{i}" + (f" · {names[labels[i]]}" if names else ""))
            for i, im in enumerate(images)
        ]
        recipe = self._recipe(
            model,
            f"images = gan_models.sample(model, n={count}, seed={seed}, label={label}, truncation={trunc})",
            seed=seed,
            count=count,
            **{"class": names[label] if label is not None else (ALL_CLASSES if names else None)},
            truncation=trunc,
        )
        return _show(grid(images, nrow=8)), items, recipe

    @plain_errors("the comparison")
    def compare(self, model_id, seed, count, truncation=None, api: bool = True, progress=_no_progress):
        """The same seed through every loaded model of this model's data set -> (gallery, recipes)."""
        model = self.model(model_id, "sample", "cvae-gan")
        seed, count = check_seed(seed, api), check_count(count)
        trunc = check_truncation(truncation)
        dataset = model.entry.dataset.get("name")
        peers = [m for m in self.store.models.values() if m.entry.task in ("sample", "cvae-gan")]
        peers = [m for m in peers if m.entry.dataset.get("name") == dataset]
        items, recipes = [], []
        for i, peer in enumerate(peers):
            progress(i / len(peers), desc=f"sampling {peer.id}")
            images = ops.sample(peer, count, seed, truncation=trunc)
            items.append((_native(grid(images, nrow=min(8, count))), f"{peer.id}: {peer.entry.title}"))
            recipes.append(
                self._recipe(
                    peer,
                    f"images = gan_models.sample(model, n={count}, seed={seed}, truncation={trunc})",
                    seed=seed,
                    count=count,
                    truncation=trunc,
                )
            )
        return items, {"dataset": dataset, "seed": seed, "models": recipes}

    # ---------------------------------------------------------------- uploads

    def read_upload(self, upload, mode: str) -> Image.Image:
        """An uploaded file path (or data URL) -> a decoded image, via open_image."""
        if upload is None or upload == "":
            raise InputError("upload an image first")
        if isinstance(upload, dict):  # FileData-shaped dicts from API callers
            upload = upload.get("path") or upload.get("url")
        if isinstance(upload, str) and upload.startswith("data:"):
            if len(upload) > MAX_DATA_URL_CHARS:
                raise ImageInputError(f"the image data URL is longer than {MAX_DATA_URL_CHARS // 2**20} MB")
            try:
                data = base64.b64decode(upload.split(",", 1)[1], validate=True)
            except (IndexError, binascii.Error):
                raise ImageInputError("the image data URL could not be decoded") from None
            return open_image(data, mode)
        if not isinstance(upload, str | bytes):
            raise InputError("the upload is not a file")
        return open_image(upload, mode)

    def face(self, upload, model: LoadedModel) -> np.ndarray:
        mode = "RGB" if model.entry.channels == 3 else "L"
        return fit(self.read_upload(upload, mode), model.entry.resolution).copy()  # writable for torch

    def identity_classifier(self, model: LoadedModel) -> LoadedModel | None:
        """A loaded classifier over the same identities (faces-classifier for the faces models)."""
        matches = [
            m
            for m in self.store.models.values()
            if m.entry.task == "classifier" and m.entry.class_names == model.entry.class_names
        ]
        matches.sort(key=lambda m: m.id != "faces-classifier")
        return matches[0] if matches else None

    def identity(self, model: LoadedModel, face: np.ndarray, choice) -> tuple[int, dict]:
        """The face's own identity: the user's choice, else the classifier's prediction, else 0."""
        names = model.entry.class_names
        label = self.class_index(model, choice)
        if label is not None:
            return label, {"identity": names[label], "source": "chosen"}
        clf = self.identity_classifier(model)
        if clf is None:
            return 0, {
                "identity": names[0],
                "source": "default: no identity classifier is loaded, so the first identity is assumed; choose one",
            }
        img = to_pil(face).convert("RGB" if clf.entry.channels == 3 else "L")
        probs = ops.classify(clf, fit(img, clf.entry.resolution)[None].copy())[0]
        best = int(probs.argmax())
        return best, {"identity": names[best], "source": f"predicted by {clf.id}", "probability": float(probs[best])}

    # ---------------------------------------------------------------- interpolate

    @plain_errors("interpolation")
    def interpolate(
        self,
        model_id,
        seed_a,
        seed_b,
        steps,
        method,
        class_name=None,
        face_a=None,
        face_b=None,
        api: bool = True,
        progress=_no_progress,
    ):
        """-> (strip, GIF path, recipe)."""
        model = self.model(model_id, "sample", "cvae-gan")
        steps = check_steps(steps)
        if method not in ("lerp", "slerp"):
            raise InputError("method must be 'lerp' or 'slerp'")
        if face_a or face_b:
            frames, recipe = self._interpolate_faces(model, face_a, face_b, steps, method, class_name, progress)
        else:
            seed_a, seed_b = check_seed(seed_a, api, "seed A"), check_seed(seed_b, api, "seed B")
            label = self.class_index(model, class_name)
            progress(0.2, desc=f"decoding {steps} frames")
            frames = ops.interpolate(model, seed_a, seed_b, steps, method, label=label)
            used = label if label is not None else (0 if model.entry.class_names else None)
            recipe = self._recipe(
                model,
                f"frames = gan_models.interpolate(model, {seed_a}, {seed_b}, steps={steps}, "
                f"method={method!r}, label={used})",
                seed_a=seed_a,
                seed_b=seed_b,
                steps=steps,
                method=method,
                **{"class": model.entry.class_names[used] if used is not None else None},
            )
        progress(0.8, desc="writing the GIF")
        scale = max(1, 128 // model.entry.resolution)
        gif = self._write(to_gif(frames, fps=8, scale=scale), ".gif")
        return _show(grid(frames, nrow=min(steps, 16))), gif, recipe

    def _interpolate_faces(self, model, face_a, face_b, steps, method, class_name, progress):
        model = self.model(model.id, "cvae-gan", encoder=True)
        if not (face_a and face_b):
            raise InputError("upload two faces (A and B) to interpolate between them, or clear both to use seeds")
        progress(0.1, desc="encoding the faces")
        faces = [self.face(face_a, model), self.face(face_b, model)]
        ids = [self.identity(model, f, class_name) for f in faces]
        zs = [ops.encode(model, f[None], [label])[0] for f, (label, _) in zip(faces, ids, strict=True)]
        z = ops.interpolate_latents(zs[0], zs[1], steps, method)
        label = ids[0][0]  # z carries pose and expression; the identity stays face A's (or the chosen one)
        progress(0.3, desc=f"decoding {steps} frames")
        frames = ops.generate(model, z, torch.full((steps,), label, dtype=torch.long))
        names = model.entry.class_names
        recipe = self._recipe(
            model,
            "z = gan_models.encode(model, faces, labels)  # faces fitted to the model's resolution",
            faces="two uploads",
            identities=[i for _, i in ids],
            decoded_identity=names[label],
            steps=steps,
            method=method,
        )
        return frames, recipe

    # ---------------------------------------------------------------- face swap

    def reference_faces(self, model: LoadedModel) -> np.ndarray:
        """One generated face per identity (seed REFERENCE_SEED) to name each identity by."""
        return self._cached(("refs", model.id), lambda: ops.sample(model, model.entry.num_classes, REFERENCE_SEED))

    def _generated(self, model: LoadedModel, seed, identity, api: bool) -> np.ndarray:
        label = self.class_index(model, identity)
        return ops.sample(model, 1, check_seed(seed, api), label=label if label is not None else 0)[0]

    @plain_errors("generating a face")
    def generated_face(self, model_id, seed, identity=None, api: bool = True) -> np.ndarray:
        """A face sampled by the model, to swap when there is no upload."""
        model = self.model(model_id, "cvae-gan", encoder=True)
        return _native(self._generated(model, seed, identity, api))

    @plain_errors("the identity swap")
    def swap(self, model_id, face, seed, identity, count, api: bool = True, progress=_no_progress):
        """-> (input | reconstruction, [(reference | swapped, name)], [(image, caption)], info)."""
        model = self.model(model_id, "cvae-gan", encoder=True)
        seed, count = check_seed(seed, api), check_count(count)
        if face:
            img, source = self.face(face, model), "upload"
        else:
            img, source = self._generated(model, seed, identity, api), f"generated sample (seed {seed})"
        progress(0.1, desc="encoding the face")
        label, who = self.identity(model, img, identity)
        names = model.entry.class_names
        swapped = ops.swap_identity(model, img, label)  # same z under every identity
        progress(0.5, desc="decoding under every identity")
        refs = self.reference_faces(model)
        pairs = [(_native(_hcat(refs[k], swapped[k])), f"{names[k]} (reference | swapped)") for k in range(len(names))]
        varied = ops.vary_latent(model, label, count, seed)  # one identity under many z
        progress(0.9, desc="one identity under many z")
        vary_items = [(_native(im), f"{names[label]} · seed {seed} · #{i}") for i, im in enumerate(varied)]
        info = {
            "input": source,
            **who,
            "identity_index": label,
            **self._recipe(
                model,
                f"grid = gan_models.swap_identity(model, face, {label})\n"
                f"many_z = gan_models.vary_latent(model, {label}, {count}, {seed})",
                seed=seed,
                count=count,
            ),
        }
        return _show(_hcat(img, swapped[label])), pairs, vary_items, info

    # ---------------------------------------------------------------- pix2pix

    @staticmethod
    def in_channels(model: LoadedModel) -> int:
        return model.generator.down[0][0].in_channels

    def default_kind(self, model_id) -> str:
        model = self.store.models.get(model_id)
        return "label map" if model is not None and self.in_channels(model) == 3 else "edge map"

    def example_condition(self, model: LoadedModel) -> np.ndarray:
        """A drawn-by-code input at the model's resolution (never an image of a data set)."""
        size = model.entry.resolution
        if self.in_channels(model) == 3:
            return fit(Image.fromarray(drawn_facade_labels(256)), size)
        return (fit(Image.fromarray(drawn_face_edges(128)[..., 0]), size) > 64).astype(np.uint8) * 255

    def write_examples(self) -> list[list]:
        """Example inputs for the upload box: [path, kind] pairs, drawn by code."""
        out = []
        face = Image.fromarray(drawn_face_edges(128)[..., 0])
        path = self.out_dir / "example-face-outline.png"
        face.save(path)
        out.append([str(path), "edge map"])
        path = self.out_dir / "example-facade-labels.png"
        Image.fromarray(drawn_facade_labels(256)).save(path)
        out.append([str(path), "label map"])
        return out

    def condition(self, model: LoadedModel, upload, kind: str) -> np.ndarray:
        """An upload -> the model's input at its resolution, uint8 (H, W, C_in)."""
        size, ch = model.entry.resolution, self.in_channels(model)
        if kind not in (*INPUT_KINDS, "sketch"):
            raise InputError(f"the input kind must be one of: {', '.join(INPUT_KINDS)}")
        if ch == 3 and kind in ("edge map", "photo (extract edges)"):
            raise InputError(f"model {model.id!r} translates label maps; choose 'label map' or another model")
        if ch == 1 and kind == "label map":
            raise InputError(f"model {model.id!r} translates edge maps; choose 'edge map' or 'photo (extract edges)'")
        if kind == "photo (extract edges)":
            return canny_edges(fit(self.read_upload(upload, "RGB"), size))
        if ch == 3:
            img = self.read_upload(upload, "RGB")
            if kind == "sketch":  # white paper is the facade background class
                arr = np.asarray(img).copy()
                arr[(arr > 235).all(axis=-1)] = facade_colour(1)
                img = Image.fromarray(arr)
            return fit(img, size)
        grey = fit(self.read_upload(upload, "L"), size)[..., 0]
        if kind == "sketch" or grey.mean() > 127:  # dark strokes on white -> white edges on black
            grey = 255 - grey
        return ((grey > (40 if kind == "sketch" else 127)) * 255).astype(np.uint8)[..., None]

    @plain_errors("edge extraction")
    def extract_edges(self, model_id, upload) -> np.ndarray:
        """A photo -> the Canny edge map the edge models read (at the model's resolution)."""
        model = self.model(model_id, "pix2pix")
        return _show(self.condition(model, upload, "photo (extract edges)"))

    @plain_errors("translation")
    def translate(self, model_id, upload, kind, dropout, draws, seed, api: bool = True, progress=_no_progress):
        """-> (condition, photo, [(draw, caption)], std map or None, info)."""
        model = self.model(model_id, "pix2pix")
        cond = self.condition(model, upload, kind)
        return self._translate(model, cond, kind, dropout, draws, seed, api, progress)

    @plain_errors("translation")
    def translate_sketch(self, model_id, sketch, dropout, draws, seed, api: bool = True, progress=_no_progress):
        model = self.model(model_id, "pix2pix")
        composite = sketch.get("composite") if isinstance(sketch, dict) else sketch
        if composite is None:
            raise InputError("the drawing is empty: draw on the sketchpad first")
        img = np.asarray(self.read_upload(composite, "L"))
        if int(img.max()) - int(img.min()) < 16:
            raise InputError("the drawing is empty: draw on the sketchpad first")
        cond = self.condition(model, composite, "sketch")
        return self._translate(model, cond, "sketch", dropout, draws, seed, api, progress)

    def _translate(self, model, cond, kind, dropout, draws, seed, api, progress):
        seed = check_seed(seed, api)
        dropout = bool(dropout)
        draws = _whole(draws, "draws", 1, MAX_DRAWS) if dropout else 1
        progress(0.2, desc=f"translating ({draws} draw{'s' if draws > 1 else ''})")
        outs = ops.translate(model, cond, dropout=dropout, draws=draws, seed=seed)
        spread = std_map(outs) if dropout and draws > 1 else None
        items = [(_native(o), f"draw {i} · seed {seed}") for i, o in enumerate(outs)]
        info = self._recipe(
            model,
            f"photos = gan_models.translate(model, condition, dropout={dropout}, draws={draws}, seed={seed})",
            input=kind,
            dropout=dropout,
            draws=draws,
            seed=seed,
        )
        if spread is not None:
            info["mean_pixel_std"] = float(outs.astype(np.float32).std(axis=0).mean())
        return _show(cond), _show(outs[0]), items, spread, info

    # ---------------------------------------------------------------- mode collapse

    @staticmethod
    def mixture_of(model: LoadedModel) -> str:
        mixture = model.entry.extras.get("mixture", "ring")
        return mixture if mixture in MIXTURES else "ring"

    def mixtures(self) -> list[str]:
        found = {self.mixture_of(self.store.models[i]) for i in self.ids("toy2d")}
        return [m for m in MIXTURES if m in found]

    def trajectory(self, model: LoadedModel) -> dict | None:
        def read():
            data = model.extras.get("trajectory.safetensors")
            if data is None:
                return None
            from safetensors.torch import load

            return load(data)

        return self._cached(("trajectory", model.id), read)

    def snapshots(self, mixture) -> int:
        """Snapshots of the shortest recording among this mixture's runs (the slider's length)."""
        runs = [self.trajectory(m) for m in self.toy_models(mixture)]
        lengths = [len(t["steps"]) for t in runs if t is not None]
        return min(lengths) if lengths else 1

    def toy_models(self, mixture) -> list[LoadedModel]:
        if mixture not in MIXTURES:
            raise InputError(f"mixture must be one of: {', '.join(MIXTURES)}")
        models = [self.store.models[i] for i in self.ids("toy2d")]
        models = [m for m in models if self.mixture_of(m) == mixture]
        if not models:
            raise InputError(f"no 2D model of the {mixture} mixture is loaded")
        return sorted(models, key=lambda m: ("stable" in m.id, m.id))  # plain first

    def _replay_panel(self, model: LoadedModel, traj: dict, index: int) -> dict:
        i = min(index, len(traj["steps"]) - 1) if index >= 0 else len(traj["steps"]) - 1
        modes, hq = int(traj["modes"][i]), float(traj["high_quality"][i])
        total = len(MIXTURES[self.mixture_of(model)][0])
        return {
            "points": traj["points"][i],
            "critic": traj["critic"][i] if "critic" in traj else None,
            "extent": traj["extent"] if "extent" in traj else None,
            "title": f"{model.id} · step {int(traj['steps'][i]):,}\n{modes}/{total} modes · {hq:.0%} high quality",
            "counters": {
                "snapshot": i,
                "snapshots": len(traj["steps"]),
                "step": int(traj["steps"][i]),
                "modes": modes,
                "total_modes": total,
                "high_quality": hq,
            },
        }

    def shipped_coverage(self, model: LoadedModel) -> dict:
        """Mode coverage of the shipped generator itself over 2,500 samples (PacGAN's count)."""

        def measure():
            centres, sigma = MIXTURES[self.mixture_of(model)]
            cov = mode_coverage(ops.toy_points(model, COVERAGE_POINTS, REFERENCE_SEED), centres, sigma)
            return {k: cov[k] for k in ("modes", "total_modes", "high_quality", "samples")}

        return self._cached(("coverage", model.id), measure)

    @plain_errors("the replay")
    def mode_coverage(self, mixture, snapshot) -> tuple[np.ndarray, dict]:
        """Recorded runs of one mixture side by side at one snapshot -> (plot, counters)."""
        return self._coverage(mixture, snapshot)

    def _coverage(self, mixture, snapshot) -> tuple[np.ndarray, dict]:
        models = self.toy_models(mixture)
        snapshot = _whole(snapshot, "snapshot", 0, 10**6)
        panels, counters = [], {}
        for model in models:
            traj = self.trajectory(model)
            if traj is None:
                points = ops.toy_points(model, COVERAGE_POINTS, REFERENCE_SEED)
                panel = {"points": points, "title": f"{model.id} (no recorded trajectory)", "counters": {}}
            else:
                panel = self._replay_panel(model, traj, snapshot)
            panels.append(panel)
            counters[model.id] = {**panel["counters"], "shipped_generator": self.shipped_coverage(model)}
        return toy_plot(panels, mixture), counters

    @plain_errors("the replay", slot=False)  # plots of recorded runs: no model-work slot
    def replay(self, mixture, start, delay: float = 0.25) -> Iterator[tuple[int, np.ndarray, dict]]:
        """Play the recording from ``start`` (or from the beginning when at the end)."""
        last = self.snapshots(mixture) - 1
        start = _whole(start, "snapshot", 0, 10**6)
        start = 0 if start >= last else start
        for i in range(start, last + 1):
            plot, counters = self._coverage(mixture, i)
            yield i, plot, counters
            if i < last:
                time.sleep(delay)

    @plain_errors("the live run")
    def live(self, mixture, loss, pack, steps, lr, seed, api: bool = True) -> Iterator[tuple[np.ndarray, dict]]:
        """A bounded training run streamed to the page (training.toy2d_live)."""
        from training.toy2d_live import live_run

        if mixture not in MIXTURES:
            raise InputError(f"mixture must be one of: {', '.join(MIXTURES)}")
        if loss not in LIVE_LOSSES:
            raise InputError(f"loss must be one of: {', '.join(LIVE_LOSSES)}")
        pack = _whole(pack, "packing", 1, LIVE_MAX_PACK)
        steps = _whole(steps, "steps", 1, LIVE_MAX_STEPS)
        seed = check_seed(seed, api)
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            raise InputError(f"learning rate must be a number in (0, {LIVE_MAX_LR}]") from None
        if not 0 < lr <= LIVE_MAX_LR:
            raise InputError(f"learning rate must be in (0, {LIVE_MAX_LR}], got {lr!r}")
        every = max(10, steps // 20)
        run = live_run(mixture, loss, pack, steps, lr, seed, every)
        # live_run draws its initial weights from the global RNG (fork_rng + manual_seed, in its first
        # step): two runs starting at once would mix their seeds, so runs start one at a time.
        with _GLOBAL_RNG_LOCK:
            first = next(run)
        for rec in itertools.chain([first], run):
            total = rec.get("total_modes", len(MIXTURES[mixture][0]))
            counters = {
                "step": int(rec["step"]),
                "steps": steps,
                "modes": int(rec["modes"]),
                "total_modes": total,
                "high_quality": float(rec["high_quality"]),
                "d_loss": None if math.isnan(rec["d_loss"]) else float(rec["d_loss"]),
                "g_loss": None if math.isnan(rec["g_loss"]) else float(rec["g_loss"]),
            }
            title = (
                f"live {loss}, pack {pack} · step {counters['step']:,}/{steps:,}\n"
                f"{counters['modes']}/{total} modes · {counters['high_quality']:.0%} high quality"
            )
            yield toy_plot([{"points": rec["points"], "title": title}], mixture), counters

    def histogram_ids(self) -> list[str]:
        return [e.id for e in self.store.entries.values() if (e.metrics.get("details") or {}).get("mode_histogram")]

    @plain_errors("the histogram", slot=False)
    def mode_histogram(self, model_id) -> tuple[np.ndarray, dict]:
        """The Stacked MNIST mode histogram a model's evaluation recorded."""
        entry = self.store.entries.get(model_id) if isinstance(model_id, str) else None
        hist = (entry.metrics.get("details") or {}).get("mode_histogram") if entry else None
        if hist is None:
            known = ", ".join(self.histogram_ids()) or "none yet"
            raise InputError(f"no mode histogram recorded for {model_id!r}; models with one: {known}")
        if isinstance(hist, dict) and "counts" in hist:
            hist = hist["counts"]
        if isinstance(hist, dict):
            counts = np.zeros(1000, np.int64)
            for k, v in hist.items():
                counts[int(k)] = int(v)
        else:
            counts = np.asarray(hist, dtype=np.int64)
        total = int(counts.sum())
        p = counts / max(total, 1)
        kl = _kl_to_uniform(p)
        covered = int((p > 0).sum())
        summary = {
            "model": entry.id,
            "modes_covered": covered,
            "total_modes": len(counts),
            "samples": total,
            "kl_to_uniform": kl,
        }
        if len(counts) == 1000 and total:
            # KL(p || uniform) = sum of the channels' KL(digit shares || uniform) + KL(p || product of
            # those shares): skewed digits (a blurry 8 read as 3) versus modes really missing together
            shares = [p.reshape(10, 10, 10).sum(axis=tuple(a for a in range(3) if a != c)) for c in range(3)]
            summary["digit_shares"] = {ch: s.round(4).tolist() for ch, s in zip("RGB", shares, strict=True)}
            summary["kl_from_digit_shares"] = sum(_kl_to_uniform(s) for s in shares)
            summary["kl_from_dependence"] = kl - summary["kl_from_digit_shares"]
        title = f"{entry.id}: {covered}/{len(counts)} modes · KL to uniform {kl:.3f} · {total:,} samples"
        return histogram_plot(counts, title), summary

    @plain_errors("the Jacobian spectrum")
    def jacobian(self, model_id, seed, class_name=None, api: bool = True, progress=_no_progress):
        """Singular values of dG/dz at one seed -> (log plot, values and numerical rank)."""
        model = self.model(model_id, "sample", "cvae-gan")
        seed = check_seed(seed, api)
        label = self.class_index(model, class_name)
        progress(0.2, desc="differentiating the generator")
        values = ops.jacobian_spectrum(model, seed, label=label).double().numpy()
        outputs = model.entry.resolution**2 * model.entry.channels
        # numpy's matrix_rank tolerance for float32 Jacobians: s_max * max(M, N) * eps
        tol = float(values.max()) * max(outputs, len(values)) * float(np.finfo(np.float32).eps)
        rank = int((values > tol).sum())
        plot = spectrum_plot(values, tol, rank, f"{model.id}, seed {seed}")
        info = {
            "model": model.id,
            "revision": self.revision(model.entry),
            "seed": seed,
            "class": model.entry.class_names[label or 0] if model.entry.class_names else None,
            "z_dim": len(values),
            "outputs": outputs,
            "numerical_rank": rank,
            "tolerance": tol,
            "singular_values": [float(v) for v in values],
        }
        return plot, info
