"""Images: uint8 conversion, grids, GIFs, Canny edges and the safe decoding of uploads."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from gan_models.images import (
    MAX_UPLOAD_BYTES,
    ImageInputError,
    canny_edges,
    fit,
    from_uint8,
    grid,
    open_image,
    to_gif,
    to_uint8,
)


def encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def noise(w: int = 64, h: int = 48, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    arr = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    return Image.fromarray(arr[..., 0] if channels == 1 else arr, mode)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A small PNG that declares width x height 1-bit grey pixels but carries only a few rows of
    data: what a decompression bomb looks like before decoding (a few hundred bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + (width + 7) // 8) * 4)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")


def psd_bytes(w: int = 16, h: int = 16) -> bytes:
    """A minimal valid Photoshop file (RGB, 8 bit, raw data), a format Pillow itself can read."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, image resources, layers: empty
    return header + sections + struct.pack(">H", 0) + b"\x80" * (3 * w * h)  # raw, planar channels


def refused(data, *fragments: str) -> str:
    with pytest.raises(ImageInputError) as e:
        open_image(data)
    for fragment in fragments:
        assert fragment in str(e.value), f"{fragment!r} not in {str(e.value)!r}"
    return str(e.value)


# --- tensors <-> uint8 ---------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_uint8_round_trip(channels):
    images = np.random.default_rng(0).integers(0, 256, (3, 10, 12, channels), dtype=np.uint8)
    x = from_uint8(images)
    assert x.shape == (3, channels, 10, 12) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    back = to_uint8(x)
    assert back.dtype == np.uint8 and back.shape == images.shape
    np.testing.assert_array_equal(back, images)


def test_from_uint8_takes_a_read_only_upload_without_a_warning():
    images = np.full((1, 4, 4, 3), 255, dtype=np.uint8)
    images.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = from_uint8(images)
    assert torch.equal(x, torch.ones(1, 3, 4, 4))
    assert not images.flags.writeable  # the caller's array is left as it was


def test_to_uint8_maps_and_clamps():
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 5.0]).reshape(1, 1, 1, 5)
    assert to_uint8(x).reshape(-1).tolist() == [0, 0, 128, 255, 255]
    with torch.no_grad():
        needs_grad = torch.zeros(1, 3, 2, 2, requires_grad=True)
    assert to_uint8(needs_grad).shape == (1, 2, 2, 3)  # detached, no error


@pytest.mark.parametrize("channels", [1, 3])
def test_grid_shape_and_layout(channels):
    images = np.random.default_rng(1).integers(0, 255, (5, 8, 8, channels), dtype=np.uint8)
    out = grid(images, nrow=3, padding=2)
    assert out.shape == (2 * 10 + 2, 3 * 10 + 2, channels) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[2:10, 2:10], images[0])
    np.testing.assert_array_equal(out[12:20, 12:20], images[4])  # second row, second column
    assert (out[:2] == 255).all() and (out[:, :2] == 255).all()  # white padding
    assert (out[12:20, 22:30] == 255).all()  # the empty sixth cell
    assert grid(images, nrow=8).shape == (12, 5 * 10 + 2, channels)


# --- GIF -----------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_to_gif_is_an_animated_looping_gif(channels):
    levels = [0, 80, 160, 240]
    frames = np.stack([np.full((6, 8, channels), v, np.uint8) for v in levels])
    data = to_gif(frames, fps=10, scale=2)
    assert data[:6] == b"GIF89a"
    gif = Image.open(io.BytesIO(data))
    assert gif.format == "GIF" and gif.is_animated and gif.size == (16, 12)
    assert gif.n_frames == 2 * len(levels) - 2  # forth and back without repeating the ends
    assert gif.info["loop"] == 0 and gif.info["duration"] == 100
    seen = []
    for i in range(gif.n_frames):
        gif.seek(i)
        seen.append(int(np.asarray(gif.convert("L"))[0, 0]))
    expected = levels + levels[-2:0:-1]
    assert np.abs(np.array(seen) - np.array(expected)).max() <= 3


def test_a_colour_gif_keeps_the_colours_of_every_frame_in_one_palette():
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (40, 3), dtype=np.uint8)  # a colour each frame, none repeated
    frames = np.stack([np.broadcast_to(c, (48, 48, 3)) for c in colours]).copy()
    frames[:, :8, :8] = 255 - frames[:, :8, :8]  # and a corner of its complement
    gif = Image.open(io.BytesIO(to_gif(frames)))
    for i in range(len(colours)):
        gif.seek(i)
        got = np.asarray(gif.convert("RGB")).astype(int)
        assert np.abs(got - frames[i]).max() <= 24, i  # the nearest of 256 colours drawn from all frames


def test_to_gif_of_one_frame():
    data = to_gif(np.zeros((1, 8, 8, 3), np.uint8))
    assert Image.open(io.BytesIO(data)).format == "GIF"


# --- open_image: refusals ------------------------------------------------------------------


def test_refuses_empty_random_and_text():
    refused(b"", "empty")
    refused(np.random.default_rng(0).bytes(4096), "not an image in an accepted format")
    refused(b"Hello, I am a text file and not a photo.\n" * 20, "not an image")
    refused(b"<svg xmlns='http://www.w3.org/2000/svg' width='64' height='64'/>", "not an image")


def test_refuses_truncated_png():
    data = encode(noise(64, 64))
    refused(data[: len(data) // 2], "truncated or corrupt")


def test_refuses_decompression_bomb_before_decoding():
    bomb = png_header_only(20000, 20000)
    assert len(bomb) < 1000
    assert Image.open(io.BytesIO(png_header_only(3000, 3000))).size == (3000, 3000)  # the header is valid
    refused(bomb, "pixels", "16,000,000")
    refused(png_header_only(5000, 4000), "5000x4000", "16,000,000 pixels")


@pytest.mark.parametrize("fmt", ["TIFF", "ICO", "PPM", "TGA", "PCX", "PSD"])
def test_refuses_formats_outside_the_allow_list(fmt):
    data = psd_bytes() if fmt == "PSD" else encode(noise(32, 32), fmt)
    assert Image.open(io.BytesIO(data)).format == fmt  # Pillow alone would open it
    refused(data, "not an image in an accepted format")


def test_format_comes_from_the_bytes_not_the_name(tmp_path):
    tiff_named_png = tmp_path / "photo.png"
    tiff_named_png.write_bytes(encode(noise(32, 32), "TIFF"))
    refused(str(tiff_named_png), "accepted format")
    png_named_txt = tmp_path / "notes.txt"
    png_named_txt.write_bytes(encode(noise(32, 32)))
    assert open_image(str(png_named_txt)).size == (32, 32)
    refused(str(tmp_path / "does-not-exist.png"), "could not be read")


@pytest.mark.parametrize("size", [(1, 1), (7, 100), (100, 7)])
def test_refuses_tiny_images(size):
    refused(encode(noise(*size)), "at least 8x8")


@pytest.mark.parametrize("size", [(10, 200), (300, 20)])
def test_refuses_extreme_aspect_ratios(size):
    refused(encode(noise(*size)), "aspect ratio")


def test_accepts_the_limits():
    assert open_image(encode(noise(8, 64))).size == (8, 64)  # 8:1 exactly
    assert open_image(encode(noise(8, 8))).size == (8, 8)


def test_refuses_oversized_upload():
    refused(encode(noise(8, 8)) + b"\x00" * MAX_UPLOAD_BYTES, "larger than 20 MB")


# --- open_image: accepted inputs -----------------------------------------------------------


def test_png_with_alpha_becomes_white_where_transparent():
    arr = np.zeros((16, 16, 4), np.uint8)
    arr[:, :8] = (255, 0, 0, 255)  # opaque red
    arr[:, 8:] = (0, 0, 255, 0)  # fully transparent blue
    arr[0, 0] = (0, 0, 0, 128)  # half transparent black -> mid grey
    img = open_image(encode(Image.fromarray(arr, "RGBA")))
    assert img.mode == "RGB"
    out = np.asarray(img)
    assert (out[1:, :8] == (255, 0, 0)).all()
    assert (out[:, 8:] == 255).all()
    assert np.abs(out[0, 0].astype(int) - 127).max() <= 1
    grey_alpha = Image.fromarray(arr[..., [0, 3]], "LA")
    assert (np.asarray(open_image(encode(grey_alpha), "L"))[:, 8:] == 255).all()


def test_palette_images():
    arr = np.zeros((16, 16, 3), np.uint8)
    arr[:8] = (10, 200, 30)
    arr[8:] = (250, 250, 0)
    pal = Image.fromarray(arr).quantize(colors=2)
    assert pal.mode == "P"
    out = np.asarray(open_image(encode(pal)))
    assert (out[:8] == (10, 200, 30)).all() and (out[8:] == (250, 250, 0)).all()
    transparent = encode(pal, transparency=pal.getpixel((0, 0)))  # top colour index transparent
    out = np.asarray(open_image(transparent))
    assert (out[:8] == 255).all() and (out[8:] == (250, 250, 0)).all()


def test_16_bit_grey_keeps_its_brightness():
    values = np.array([[0, 257, 32896, 65535]], np.uint16).repeat(8, 0).repeat(4, 1)  # 8 x 16
    img = Image.fromarray(values)
    data = encode(img)
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = np.asarray(open_image(data, "L"))
    assert out.shape == (8, 16)
    assert out[0, ::4].tolist() == [0, 1, 128, 255]
    dark = np.full((8, 8), 1000, np.uint16)  # a dark image stays dark (not stretched to white)
    assert np.asarray(open_image(encode(Image.fromarray(dark)), "L")).max() <= 5


def test_cmyk_jpeg():
    img = Image.new("CMYK", (16, 16), (255, 0, 0, 0))  # pure cyan ink
    out = np.asarray(open_image(encode(img, "JPEG", quality=95)))
    assert out.shape == (16, 16, 3)
    assert np.abs(out.astype(int) - (0, 255, 255)).max() <= 8


def test_exif_rotated_jpeg_comes_out_upright():
    stored = np.zeros((24, 40, 3), np.uint8)  # 40 wide, 24 high as stored
    stored[:8, :8] = (255, 0, 0)  # red marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    data = encode(Image.fromarray(stored), "JPEG", exif=exif.tobytes(), quality=95)
    img = open_image(data)
    assert img.size == (24, 40)  # upright: 24 wide, 40 high
    out = np.asarray(img).astype(int)
    assert np.abs(out[:8, -8:].mean((0, 1)) - (255, 0, 0)).max() <= 30  # the marker is now top-right
    for corner in (out[:8, :8], out[-8:, :8], out[-8:, -8:]):  # and nowhere else
        assert corner.mean() <= 20


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    out = np.asarray(open_image(data))
    assert (out == (255, 0, 0)).all()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF"])
def test_accepted_formats_and_modes(fmt):
    data = encode(Image.new("RGB", (20, 12), (0, 128, 255)), fmt)
    rgb = open_image(data)
    assert rgb.mode == "RGB" and rgb.size == (20, 12)
    assert np.abs(np.asarray(rgb).astype(int) - (0, 128, 255)).max() <= 12
    grey = open_image(data, "L")
    assert grey.mode == "L" and grey.size == (20, 12)


# --- fit and edges -------------------------------------------------------------------------


def test_fit_crops_the_centre_square():
    arr = np.zeros((20, 60, 3), np.uint8)
    arr[:, 20:40] = 255  # white centre square between black side bands
    out = fit(Image.fromarray(arr), 16)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert out[:, 1:-1].min() >= 250 and out.mean() > 250  # (bicubic blurs the outermost columns a little)
    assert fit(Image.fromarray(arr[..., 0]), 8).shape == (8, 8, 1)


@pytest.mark.parametrize("channels", [1, 3])
def test_canny_edges_on_a_square(channels):
    photo = np.zeros((64, 64, channels), np.uint8)
    photo[16:48, 16:48] = 200
    edges = canny_edges(photo)
    assert edges.shape == (64, 64, 1) and edges.dtype == np.uint8
    assert set(np.unique(edges)) <= {0, 255}
    e = edges[..., 0] > 0
    assert e[14:18, 16:48].any(axis=0).all() and e[46:50, 16:48].any(axis=0).all()  # top and bottom sides
    assert e[16:48, 14:18].any(axis=1).all() and e[16:48, 46:50].any(axis=1).all()  # left and right sides
    assert not e[20:44, 20:44].any() and not e[:10].any() and not e[54:].any()  # nothing inside or outside
    assert not canny_edges(np.full((32, 32, 3), 90, np.uint8)).any()  # a flat photo has no edges
