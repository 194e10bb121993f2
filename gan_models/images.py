"""The one place where tensors become uint8 images and uploads become tensors.

Uploads are opened by our own code: the format is read from the bytes (never the file name),
only a few formats are accepted, the pixel count is capped well below Pillow's default bomb
limit before decoding, EXIF orientation is applied and the mode normalised.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
MAX_PIXELS = 16_000_000  # 4000 x 4000; Pillow's own bomb limit is ~89 M
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_ASPECT = 8.0


class ImageInputError(ValueError):
    """An upload that we refuse; the message is safe to show to the user."""


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) floats in [-1, 1] -> uint8 array (N, H, W, C); grey stays 1 channel."""
    x = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def from_uint8(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [-1, 1]."""
    # uploads decoded by Gradio are read-only buffers; torch warns (once per process) on sharing one
    t = torch.as_tensor(np.require(images, requirements=("C", "W")), device=device)
    return t.permute(0, 3, 1, 2).float() / 127.5 - 1


def grid(images: np.ndarray, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """uint8 (N, H, W, C) -> one uint8 grid image (H', W', C), via torchvision; grey stays 1 channel."""
    from torchvision.utils import make_grid  # imported here: torchvision adds seconds to every start-up

    t = torch.as_tensor(images).permute(0, 3, 1, 2)
    out = make_grid(t, nrow=nrow, padding=padding, pad_value=255).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(out[..., : images.shape[3]])  # make_grid repeats one channel three times


_PALETTE_PIXELS = 2**18  # pixels sampled from all frames to make a colour GIF's one palette


def to_pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)


def to_gif(frames: np.ndarray, fps: float = 12.0, scale: int = 1) -> bytes:
    """uint8 frames (N, H, W, C) -> an endlessly looping animated GIF, played forth and back.
    Colour frames share one palette, made once from all of them (subsampled): Pillow would otherwise
    quantise every frame on its own, which is slower and lets colours flicker between frames."""
    pils = [to_pil(f) for f in frames]
    if frames.shape[-1] == 3:
        stride = max(1, int(np.sqrt(frames[..., 0].size / _PALETTE_PIXELS)))
        palette = to_pil(np.concatenate(list(frames[:, ::stride, ::stride]))).quantize(256)
        pils = [p.quantize(palette=palette, dither=Image.Dither.NONE) for p in pils]
    if scale > 1:
        pils = [p.resize((p.width * scale, p.height * scale), Image.NEAREST) for p in pils]
    loop = pils + pils[-2:0:-1]
    buf = io.BytesIO()
    loop[0].save(buf, format="GIF", save_all=True, append_images=loop[1:], duration=int(1000 / fps), loop=0)
    return buf.getvalue()


def harden_pillow() -> None:
    """For the serving process: whatever code opens an image there (ours, or Gradio's own
    decoding of a sketchpad drawing) meets the same limits as ``open_image``: only the accepted
    formats are recognised without being asked for by name (no TIFF, PSD, EPS/Ghostscript, PDF,
    ...), and Pillow's decompression-bomb check refuses more than ``MAX_PIXELS`` pixels (its
    error threshold is twice MAX_IMAGE_PIXELS). Saving in other formats is unaffected."""
    Image.init()  # every plugin registered first, so none re-registers itself later
    Image.ID[:] = [name for name in Image.ID if name in ALLOWED_FORMATS]
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)  # within MAX_PIXELS: fine


def open_image(data: bytes | str, mode: str = "RGB") -> Image.Image:
    """Open an upload safely; returns a decoded, upright image in ``mode`` ('RGB' or 'L')."""
    if isinstance(data, str):
        try:
            with open(data, "rb") as f:
                data = f.read(MAX_UPLOAD_BYTES + 1)
        except OSError:
            raise ImageInputError("the uploaded file could not be read") from None
    if not data:
        raise ImageInputError("the image is empty (0 bytes)")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageInputError(f"the image is larger than {MAX_UPLOAD_BYTES // 2**20} MB")
    try:
        img = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
    except UnidentifiedImageError:
        raise ImageInputError(f"not an image in an accepted format ({', '.join(ALLOWED_FORMATS)})") from None
    except Image.DecompressionBombError:  # Pillow's own header check, for sizes far beyond ours
        raise ImageInputError(f"the image declares too many pixels; at most {MAX_PIXELS:,} are accepted") from None
    except Exception:
        raise ImageInputError("the image could not be read") from None
    w, h = img.size
    if w * h > MAX_PIXELS:  # checked from the header, before any pixel is decoded
        raise ImageInputError(f"the image is {w}x{h}; at most {MAX_PIXELS:,} pixels are accepted")
    if min(w, h) < 8:
        raise ImageInputError(f"the image is {w}x{h}; at least 8x8 pixels are needed")
    if max(w, h) / min(w, h) > MAX_ASPECT:
        raise ImageInputError(f"the image is {w}x{h}; its aspect ratio exceeds {MAX_ASPECT:g}:1")
    try:
        img.seek(0)  # animated GIF/WebP: the first frame
        img.load()
        img = ImageOps.exif_transpose(img)
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, rgba)  # transparency becomes white
        elif img.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16-bit grey: 0..65535 -> 0..255 (no stretching: a dark image stays dark)
            arr = np.asarray(img, dtype=np.float64)
            top = max(65535.0, float(arr.max()))
            img = Image.fromarray((arr.clip(0, None) / top * 255).round().astype(np.uint8))
        return img.convert(mode)
    except ImageInputError:
        raise
    except Exception:
        raise ImageInputError("the image is truncated or corrupt") from None


def fit(img: Image.Image, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to size x size; uint8 (H, W, C)."""
    img = ImageOps.fit(img, (size, size), Image.BICUBIC)
    arr = np.asarray(img)
    return arr[..., None] if arr.ndim == 2 else arr


def canny_edges(photo: np.ndarray, low: int = 100, high: int = 200) -> np.ndarray:
    """OpenCV Canny on a uint8 photo (H, W, 3 or 1) -> uint8 edge map (H, W, 1): white edges on black."""
    import cv2

    grey = photo[..., 0] if photo.shape[-1] == 1 else cv2.cvtColor(np.ascontiguousarray(photo), cv2.COLOR_RGB2GRAY)
    return cv2.Canny(grey, low, high)[..., None]


def hcat(*images: np.ndarray, gap: int = 4) -> np.ndarray:
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


def show(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, C) for display: grey loses its channel axis, small images are enlarged."""
    out = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
    scale = max(1, 128 // max(out.shape[0], 1))
    if scale > 1:
        out = np.repeat(np.repeat(out, scale, axis=0), scale, axis=1)
    return out


def native(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, C) as the model made it, for download; grey loses its channel axis."""
    return image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
