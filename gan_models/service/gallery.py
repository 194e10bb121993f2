"""``Gallery``: every tab's requests over one set of loaded models."""

from __future__ import annotations

import logging

import numpy as np

from .. import ops
from ..images import grid, hcat, show
from ..inputs import COVERAGE_POINTS, REFERENCE_SEED
from ..plots import toy_plot
from ..settings import Settings
from ..store import ModelStore
from .base import GalleryBase
from .cards import CardRequests
from .collapse import CollapseRequests
from .faces import FaceSwapRequests
from .pix2pix import TranslateRequests
from .sample import SampleRequests

log = logging.getLogger(__name__)


class Gallery(CardRequests, SampleRequests, FaceSwapRequests, TranslateRequests, CollapseRequests, GalleryBase):
    """The loaded models and every request the app serves."""

    @classmethod
    def from_settings(cls, settings: Settings, load: bool = True) -> Gallery:
        store = ModelStore(device=settings.device, only=settings.models)
        gallery = cls(store, settings.models, timeout_s=settings.timeout_s, concurrency=settings.concurrency)
        if load:
            gallery.load()
        return gallery

    def load(self) -> None:
        self.store.load_all()
        for model_id in self.ids("toy2d"):  # measured once here, so a replay only draws
            self.shipped_coverage(self.store.models[model_id])
        self.loaded = True

    def card_image(self, model_id: str) -> np.ndarray | None:
        """The card's picture: a sample grid, a translated drawing, or the last 2D snapshot (here,
        where the tabs' requests it draws with are joined)."""
        model = self.store.models.get(model_id)
        if model is None:
            return None
        try:
            task = model.entry.task
            if task in ("sample", "cvae-gan"):
                n = 16 if model.entry.resolution <= 64 else 8
                return show(grid(ops.sample(model, n, REFERENCE_SEED), nrow=8))
            if task == "pix2pix":
                cond = self.example_condition(model)
                return show(hcat(cond, ops.translate(model, cond)[0]))
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
