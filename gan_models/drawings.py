"""Inputs drawn by code, so the pix2pix tab has an example without shipping any data set image."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


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
