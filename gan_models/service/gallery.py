"""``Gallery``: every tab's requests over one set of loaded models."""

from __future__ import annotations

from ..settings import Settings
from ..store import ModelStore
from .base import GalleryBase
from .cards import CardRequests
from .collapse import CollapseRequests
from .faces import FaceSwapRequests
from .pix2pix import TranslateRequests
from .sample import SampleRequests


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
