"""Requests of the Edges -> photo tab: a sketch, an edge map, a photo whose edges are extracted, or a
facade label map, translated by a pix2pix U-Net with or without test-time dropout."""

from __future__ import annotations

import numpy as np
from PIL import Image

from .. import ops
from ..drawings import drawn_facade_labels, drawn_face_edges, facade_colour
from ..errors import plain_errors
from ..images import canny_edges, fit, native, show
from ..inputs import MAX_DRAWS, InputError, check_seed, check_whole
from ..plots import std_map
from ..store import LoadedModel
from .base import GalleryBase, no_progress

INPUT_KINDS = ("edge map", "photo (extract edges)", "label map")


class TranslateRequests(GalleryBase):
    """pix2pix translation."""

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
        return show(self.condition(model, upload, "photo (extract edges)"))

    @plain_errors("translation")
    def translate(self, model_id, upload, kind, dropout, draws, seed, api: bool = True, progress=no_progress):
        """-> (condition, photo, [(draw, caption)], std map or None, info)."""
        model = self.model(model_id, "pix2pix")
        cond = self.condition(model, upload, kind)
        return self._translate(model, cond, kind, dropout, draws, seed, api, progress)

    @plain_errors("translation")
    def translate_example(self, model_id, dropout, draws, seed, api: bool = True, progress=no_progress):
        """The model's code-drawn example input (a face outline or facade labels), translated."""
        model = self.model(model_id, "pix2pix")
        kind = f"{self.default_kind(model_id)} (example drawn by code)"
        return self._translate(model, self.example_condition(model), kind, dropout, draws, seed, api, progress)

    @plain_errors("translation")
    def translate_sketch(self, model_id, sketch, dropout, draws, seed, api: bool = True, progress=no_progress):
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
        items = [(native(o), f"draw {i} · seed {seed}") for i, o in enumerate(outs)]
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
        return show(cond), show(outs[0]), items, spread, info
