"""Requests of the Face swap tab: a face encoded to z by the CVAE-GAN, then decoded under every
identity (z fixed), and one identity under many z."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..errors import plain_errors
from ..images import hcat, native, show
from ..inputs import REFERENCE_SEED, check_count, check_seed
from ..store import LoadedModel
from .base import GalleryBase, no_progress
from .links import link


class FaceSwapRequests(GalleryBase):
    """Face swap with a CVAE-GAN."""

    def reference_faces(self, model: LoadedModel) -> np.ndarray:
        """One generated face per identity (seed REFERENCE_SEED) to name each identity by."""
        return self._cached(("refs", model.id), lambda: ops.sample(model, model.entry.num_classes, REFERENCE_SEED))

    def _generated(self, model: LoadedModel, seed, identity, api: bool) -> tuple[np.ndarray, int]:
        """(the seed's face of the chosen identity, that identity); without a choice the identity is
        the seed mod their number, so that stepping through seeds steps through the people."""
        seed, label = check_seed(seed, api), self.class_index(model, identity)
        label = label if label is not None else seed % model.entry.num_classes
        return ops.sample(model, 1, seed, label=label)[0], label

    @plain_errors("generating a face")
    def generated_face(self, model_id, seed, identity=None, api: bool = True) -> np.ndarray:
        """A face sampled by the model, to swap when there is no upload."""
        model = self.model(model_id, "cvae-gan", encoder=True)
        return native(self._generated(model, seed, identity, api)[0])

    @plain_errors("the identity swap")
    def swap(self, model_id, face, seed, identity, count, api: bool = True, progress=no_progress):
        """-> (input | reconstruction, [(reference | swapped, name)], [(image, caption)], info)."""
        model = self.model(model_id, "cvae-gan", encoder=True)
        seed, count = check_seed(seed, api), check_count(count)
        uploaded = bool(face)
        if uploaded:
            img, source, make_face = self.face(face, model), "upload", ""
        else:
            img, drawn = self._generated(model, seed, identity, api)
            source = f"generated sample (seed {seed})"
            make_face = f"face = gan_models.sample(model, 1, {seed}, label={drawn})[0]\n"
        progress(0.1, desc="encoding the face")
        label, who = self.identity(model, img, identity)
        names = model.entry.class_names
        swapped = ops.swap_identity(model, img, label)  # same z under every identity
        progress(0.5, desc="decoding under every identity")
        refs = self.reference_faces(model)
        pairs = [(native(hcat(refs[k], swapped[k])), f"{names[k]} (reference | swapped)") for k in range(len(names))]
        varied = ops.vary_latent(model, label, count, seed)  # one identity under many z
        progress(0.9, desc="one identity under many z")
        vary_items = [(native(im), f"{names[label]} · seed {seed} · #{i}") for i, im in enumerate(varied)]
        info = {
            "input": source,
            **who,
            "identity_index": label,
            **self._recipe(
                model,
                f"{make_face}grid = gan_models.swap_identity(model, face, {label})\n"
                f"many_z = gan_models.vary_latent(model, {label}, {count}, {seed})",
                seed=seed,
                count=count,
            ),
        }
        if not uploaded:  # an address cannot carry an upload
            chosen = info["identity"] if who["source"] == "chosen" else None
            info["link"] = link("swap", {**info, "identity": chosen})
        return show(hcat(img, swapped[label])), pairs, vary_items, info
