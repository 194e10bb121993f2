"""Request handling for the Gradio app (``app.py`` holds only the layout).

Every page action and API endpoint comes through a method of ``Gallery``: inputs are checked
(bounds in ``inputs``; known model ids and classes in ``base``; uploads opened with
``images.open_image``), the work is done by ``gan_models.ops``, and the results are turned into
what the page shows (grids, GIFs, ``plots`` as images, JSON recipes). Each method is wrapped by
``errors.plain_errors``: a bad input raises ``gr.Error`` with a plain message, never a traceback,
and the server keeps serving.

``base.GalleryBase`` holds what every tab shares; each tab's requests extend it in their own
module (``cards``, ``sample``, ``faces``, ``pix2pix``, ``collapse``), and ``gallery.Gallery`` joins them;
``links`` reads and writes the addresses that open a tab on a result.
"""

from .base import ALL_CLASSES, AUTO_IDENTITY, NO_COMPARISON, NO_MODELS
from .gallery import Gallery
from .links import LINK_FIELDS, link, linked
from .pix2pix import INPUT_KINDS

__all__ = [
    "ALL_CLASSES",
    "AUTO_IDENTITY",
    "INPUT_KINDS",
    "LINK_FIELDS",
    "NO_COMPARISON",
    "NO_MODELS",
    "Gallery",
    "link",
    "linked",
]
