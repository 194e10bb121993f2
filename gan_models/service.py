"""Request handling for the Gradio app (``app.py`` holds only the layout).

Every page action and API endpoint comes through a method of ``Gallery``: inputs are checked
(bounds in ``inputs``; known model ids and classes here; uploads opened with
``images.open_image``), the work is done by ``gan_models.ops``, and the results are turned into
what the page shows (grids, GIFs, ``plots`` as images, JSON recipes). Each method is wrapped by
``errors.plain_errors``: a bad input raises ``gr.Error`` with a plain message, never a traceback,
and the server keeps serving.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import html
import itertools
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import ops
from .drawings import drawn_facade_labels, drawn_face_edges, facade_colour
from .errors import ServiceUnavailable, plain_errors, storage_message
from .images import ImageInputError, canny_edges, fit, grid, open_image, to_gif, to_pil
from .inputs import (
    COVERAGE_POINTS,
    LIVE_LOSSES,
    LIVE_MAX_LR,
    LIVE_MAX_PACK,
    LIVE_MAX_STEPS,
    MAX_DRAWS,
    REFERENCE_SEED,
    InputError,
    check_choice,
    check_count,
    check_seed,
    check_steps,
    check_truncation,
    check_whole,
)
from .manifest import ModelEntry
from .mixtures import MIXTURES, mode_coverage
from .plots import histogram_plot, rank_plot, spectrum_plot, std_map, toy_plot
from .settings import Settings
from .store import LoadedModel, ModelStore
from .web import MAX_BODY_BYTES

log = logging.getLogger(__name__)

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


MIN_FREE_BYTES = 32 * 2**20  # a temporary folder with less room than this counts as full
MAX_DATA_URL_CHARS = MAX_BODY_BYTES  # base64 text of one data: URL image


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


def _no_progress(*_args, **_kwargs):
    return None


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
        """Loaded models of the given tasks (all tasks when none given). The gallery's own models
        come first, ablations and models below their quality bar after them (each group in manifest
        order), so that no menu opens on an ablation or a preview."""
        chosen = [
            m.entry
            for m in self.store.models.values()
            if (not tasks or m.entry.task in tasks) and (not encoder or "encoder" in m.networks)
        ]
        return [e.id for e in sorted(chosen, key=lambda e: (e.ablation_of is not None, e.below_bar is not None))]

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
            "ablation_of": entry.ablation_of,
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
        if d["ablation_of"]:
            out.append(f"**An ablation** of `{esc(d['ablation_of'])}`, shown beside it: what the full model adds.")
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
        draws = check_whole(draws, "draws", 1, MAX_DRAWS) if dropout else 1
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
        check_choice(mixture, MIXTURES, "mixture")
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

    def rank_map(self, model: LoadedModel) -> dict:
        """The rank of the shipped 2D generator's Jacobian at 2,500 latents (fixed seed: cached)."""

        def measure():
            z, points, values = ops.latent_jacobians(model, COVERAGE_POINTS, REFERENCE_SEED)
            ranks, tol = ops.numerical_ranks(values, points.shape[1])
            return {"z": z, "points": points, "ranks": ranks.numpy(), "full": values.shape[1], "tolerance": tol}

        return self._cached(("ranks", model.id), measure)

    @plain_errors("the Jacobian map")
    def jacobian_map(self, mixture) -> tuple[np.ndarray, dict]:
        """The 2D runs of one mixture, plain and stabilised, their latents and points coloured by
        the rank of dG/dz -> (plot, the share of latents at each rank per run)."""
        panels, counters = [], {}
        for model in self.toy_models(mixture):
            found = self.rank_map(model)
            ranks = found["ranks"]
            panels.append({"z": found["z"], "points": found["points"], "ranks": ranks, "title": model.id})
            measured = model.entry.metrics.get("values", {}).get("full_rank")
            counters[model.id] = {
                "revision": self.revision(model.entry),
                "latents": len(ranks),
                "seed": REFERENCE_SEED,
                "full_rank": float((ranks == found["full"]).mean()),
                "shares": {f"rank {r}": float((ranks == r).mean()) for r in range(found["full"], -1, -1)},
                "tolerance": found["tolerance"],
                "evaluated_full_rank": measured,  # training.evaluate, mean over its 5 seeds
                "evaluated_with": model.entry.metrics.get("command") if measured is not None else None,
            }
        return rank_plot(panels, mixture), counters

    @plain_errors("the replay")
    def mode_coverage(self, mixture, snapshot) -> tuple[np.ndarray, dict]:
        """Recorded runs of one mixture side by side at one snapshot -> (plot, counters)."""
        return self._coverage(mixture, snapshot)

    def _coverage(self, mixture, snapshot) -> tuple[np.ndarray, dict]:
        models = self.toy_models(mixture)
        snapshot = check_whole(snapshot, "snapshot", 0, 10**6)
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
        start = check_whole(start, "snapshot", 0, 10**6)
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

        check_choice(mixture, MIXTURES, "mixture")
        check_choice(loss, LIVE_LOSSES, "loss")
        pack = check_whole(pack, "packing", 1, LIVE_MAX_PACK)
        steps = check_whole(steps, "steps", 1, LIVE_MAX_STEPS)
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
        values = ops.jacobian_spectrum(model, seed, label=label).double()
        outputs = model.entry.resolution**2 * model.entry.channels
        ranks, tol = ops.numerical_ranks(values[None], outputs)  # numpy's matrix_rank rule for float32
        rank, values = int(ranks[0]), values.numpy()
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
