"""The GAN gallery's model library: networks, verified loading and inference operations.

Public API (stable; see README):
    list_models() -> manifest entries
    load_model(model_id, device=None) -> LoadedModel
    sample(model, n, seed, label=None) -> uint8 images (N, H, W, C)
and beside them interpolate, encode, swap_identity, translate, canny_edges, grid, to_gif,
jacobian_spectrum, latent_jacobians.
"""

from .images import ImageInputError, canny_edges, grid, open_image, to_gif
from .manifest import ManifestError, ModelEntry, read_manifest
from .ops import (
    classify,
    encode,
    generate,
    interpolate,
    jacobian_spectrum,
    latent_jacobians,
    latents,
    sample,
    swap_identity,
    toy_points,
    translate,
    vary_latent,
)
from .store import LoadedModel, ModelStore, default_device, list_models, load_model
from .weights import WeightsError, WeightsMissing

__all__ = [
    "ImageInputError",
    "LoadedModel",
    "ManifestError",
    "ModelEntry",
    "ModelStore",
    "WeightsError",
    "WeightsMissing",
    "canny_edges",
    "classify",
    "default_device",
    "encode",
    "generate",
    "grid",
    "interpolate",
    "jacobian_spectrum",
    "latent_jacobians",
    "latents",
    "list_models",
    "load_model",
    "open_image",
    "read_manifest",
    "sample",
    "swap_identity",
    "to_gif",
    "toy_points",
    "translate",
    "vary_latent",
]
