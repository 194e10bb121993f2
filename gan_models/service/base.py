"""The gallery's core: loaded models, lookups and checks, uploads, and the
deadline and model-work slots every request runs under (``errors.plain_errors``)."""

from __future__ import annotations

import base64
import binascii
import contextvars
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .. import ops
from ..errors import ServiceUnavailable, storage_message
from ..images import ImageInputError, fit, open_image, to_pil
from ..inputs import InputError
from ..manifest import ModelEntry
from ..store import LoadedModel, ModelStore
from ..web import MAX_BODY_BYTES

log = logging.getLogger(__name__)

ALL_CLASSES = "(every class)"  # class dropdown: cycle through the classes
AUTO_IDENTITY = "(predicted)"  # identity dropdown: ask an identity classifier
NO_COMPARISON = "(none)"  # comparison dropdown: one model alone
NO_MODELS = "No models published yet; train with `python -m training --list`."

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


def no_progress(*_args, **_kwargs):
    return None


class GalleryBase:
    """The loaded models and what every tab's requests share."""

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

    def _recipe(self, model: LoadedModel, call: str, **settings) -> dict:
        return {
            "model": model.id,
            "revision": self.revision(model.entry),
            **settings,
            "python": f"import gan_models\nmodel = gan_models.load_model({model.id!r})\n{call}",
        }
