"""Requests of the Sample and Interpolate tabs: seeded grids by class, the same seed through every
model of a data set, and animated paths between latents (or between two encoded faces)."""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import ops
from ..errors import plain_errors
from ..images import grid, native, show, to_gif
from ..inputs import InputError, check_count, check_seed, check_steps, check_truncation
from .base import ALL_CLASSES, GalleryBase, no_progress
from .links import link


class SampleRequests(GalleryBase):
    """Sampling and interpolation."""

    @plain_errors("sampling")
    def sample(self, model_id, seed, count, class_name=None, truncation=None, api: bool = True, progress=no_progress):
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
            (native(im), f"seed {seed} · #{i}" + (f" · {names[labels[i]]}" if names else ""))
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
        recipe["link"] = link("sample", recipe)
        return show(grid(images, nrow=8)), items, recipe

    @plain_errors("the comparison")
    def compare(self, model_id, seed, count, truncation=None, api: bool = True, progress=no_progress):
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
            items.append((native(grid(images, nrow=min(8, count))), f"{peer.id}: {peer.entry.title}"))
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
        progress=no_progress,
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
            frames, recipe = self._interpolate_seeds(model, seed_a, seed_b, steps, method, class_name, progress)
        progress(0.8, desc="writing the GIF")
        if frames.ndim == 5:  # one path per class: the strip has a row per class, the GIF a grid per step
            rows = max(1, round(math.sqrt(len(frames) / 2.5)))
            strip = grid(frames.reshape(-1, *frames.shape[2:]), nrow=steps)
            frames = np.stack(
                [grid(step, nrow=math.ceil(len(step) / rows)) for step in frames.transpose(1, 0, 2, 3, 4)]
            )
            scale = max(1, 64 // model.entry.resolution)
        else:
            strip, scale = grid(frames, nrow=min(steps, 16)), max(1, 128 // model.entry.resolution)
        gif = self._write(to_gif(frames, fps=8, scale=scale), ".gif")
        return show(strip), gif, recipe

    def _interpolate_seeds(self, model, seed_a, seed_b, steps, method, class_name, progress):
        """Frames (steps, H, W, C), or for every class of a class-conditional model the same path in
        each class (K, steps, H, W, C), and the recipe."""
        label, names = self.class_index(model, class_name), model.entry.class_names
        every = label is None and bool(names)
        progress(0.2, desc=f"decoding {steps} frames" + (f" in each of {len(names)} classes" if every else ""))
        path = f"gan_models.interpolate(model, {seed_a}, {seed_b}, steps={steps}, method={method!r}, label="
        if every:
            frames = np.stack(
                [ops.interpolate(model, seed_a, seed_b, steps, method, label=k) for k in range(len(names))]
            )
            call = f"frames = [{path}k) for k in range({len(names)})]  # the same path in every class"
        else:
            frames = ops.interpolate(model, seed_a, seed_b, steps, method, label=label)
            call = f"frames = {path}{label})"
        recipe = self._recipe(
            model,
            call,
            seed_a=seed_a,
            seed_b=seed_b,
            steps=steps,
            method=method,
            **{"class": names[label] if label is not None else (ALL_CLASSES if names else None)},
        )
        recipe["link"] = link("interpolate", recipe)
        return frames, recipe

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
