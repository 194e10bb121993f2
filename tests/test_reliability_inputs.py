"""Bad input against the running app, through the API past the widgets.

Images (``python app.py`` in its own process on the tiny gallery): decompression bombs, truncated,
empty, random and text files named .png, formats we do not accept, every odd mode, animated GIFs,
EXIF rotation, 1x1 and extreme aspect ratios, data: URLs; sent to every endpoint that takes an
image. Each gets a clear message (or, for accepted oddities, the normalised image), the server
keeps serving and its memory stays bounded.

Numbers and choices: a table over every endpoint x every numeric or choice parameter x bad
values; each gets a message naming the parameter and nothing is computed (counted on an app
served in this process exactly as app.py serves it, so the model operations can be counted).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import math
import struct
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from bench.load import proc_status, rss_mb
from tests.app_server import PROJECT, gallery_env, running_app
from tests.test_images import png_header_only, psd_bytes
from tests.test_reliability_faults import in_process_app

BOMB_SIDE = 12000  # 144 M pixels: under Pillow's own error limit (179 M), far over ours (16 M)


def encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def noise(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def patched(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    out[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, *values)
    return bytes(out)


def bombs() -> dict[str, bytes]:
    """Tiny files declaring a huge canvas, in every accepted format that stores its size up front."""
    side = BOMB_SIDE
    jpeg = encode(Image.new("RGB", (16, 16), (9, 9, 9)), "JPEG")
    sof = jpeg.find(b"\xff\xc0")
    return {
        "bomb.png": png_header_only(side, side),
        "bomb-huge.png": png_header_only(60000, 60000),  # over Pillow's own limit as well
        "bomb.jpg": patched(jpeg, sof + 5, ">HH", side, side),
        "bomb.gif": patched(encode(Image.new("P", (16, 16)), "GIF"), 6, "<HH", side, side),
        "bomb.bmp": patched(encode(Image.new("RGB", (16, 16)), "BMP"), 18, "<ii", side, side),
    }


def bad_images() -> dict[str, tuple[bytes, tuple[str, ...]]]:
    """name -> (bytes, accepted message fragments). The name's extension is what the upload claims."""
    png = encode(noise(64, 64))
    expected = {
        **{name: (data, ("pixels",)) for name, data in bombs().items()},
        "truncated.png": (png[: len(png) // 2], ("truncated or corrupt", "could not be read")),
        "empty.png": (b"", ("empty", "not an image", "could not be read")),
        "random.png": (np.random.default_rng(1).bytes(4096), ("not an image in an accepted format",)),
        "text.png": (b"Hello, I am a text file, not a photo.\n" * 40, ("not an image in an accepted format",)),
        "photoshop.png": (psd_bytes(32, 32), ("not an image in an accepted format",)),
        "document.pdf": (encode(noise(32, 32), "PDF"), ("not an image in an accepted format",)),
        "drawing.eps": (encode(noise(32, 32), "EPS"), ("not an image in an accepted format",)),
        "vector.svg": (
            b"<svg xmlns='http://www.w3.org/2000/svg' width='64' height='64'><rect width='64' height='64'/></svg>",
            ("not an image in an accepted format",),
        ),
        "scan.tiff": (encode(noise(32, 32), "TIFF"), ("not an image in an accepted format",)),
        "tiff-named.png": (encode(noise(32, 32), "TIFF"), ("not an image in an accepted format",)),
        "icon.ico": (encode(noise(32, 32), "ICO"), ("not an image in an accepted format",)),
        "one-pixel.png": (encode(noise(1, 1)), ("at least 8x8",)),
        "needle.png": (encode(noise(10, 200)), ("aspect ratio",)),
        "ribbon.png": (encode(noise(300, 20)), ("aspect ratio",)),
    }
    return expected


def exif_rotated() -> tuple[bytes, np.ndarray]:
    """A PNG stored 40 wide x 24 high with EXIF orientation 6 (display rotated 90 deg clockwise),
    and the upright pixels it must become."""
    stored = np.zeros((24, 40, 3), np.uint8)
    stored[:, :20] = (250, 250, 250)  # left half bright: after the rotation, the top half
    stored[4:10, 24:34] = (0, 200, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(Image.fromarray(stored), "PNG", exif=exif.tobytes()), np.rot90(stored, k=-1).copy()


def odd_images() -> dict[str, tuple[bytes, np.ndarray]]:
    """Accepted oddities -> (bytes, the upright RGB pixels the app must read from them)."""
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, (40, 48), dtype=np.uint8)
    rgb = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    out: dict[str, tuple[bytes, np.ndarray]] = {}
    deep = (grey.astype(np.uint16) * 257).astype(np.uint16)  # 16-bit grey, full range
    assert Image.fromarray(deep).mode == "I;16"
    out["grey16.png"] = (encode(Image.fromarray(deep)), np.repeat(grey[..., None], 3, axis=2))
    out["grey.png"] = (encode(Image.fromarray(grey)), np.repeat(grey[..., None], 3, axis=2))
    bits = grey > 127
    out["one-bit.png"] = (encode(Image.fromarray(bits)), np.repeat((bits * 255).astype(np.uint8)[..., None], 3, 2))
    palette = Image.fromarray(rgb).quantize(16)
    out["palette.png"] = (encode(palette), np.asarray(palette.convert("RGB")))
    alpha = np.dstack([rgb, np.where(grey > 127, 255, 0).astype(np.uint8)])
    white = np.where(alpha[..., 3:] == 255, rgb, 255).astype(np.uint8)
    out["alpha.png"] = (encode(Image.fromarray(alpha, "RGBA")), white)
    grey_alpha = Image.fromarray(np.dstack([grey, alpha[..., 3]]), "LA")
    out["grey-alpha.png"] = (encode(grey_alpha), np.repeat(np.where(alpha[..., 3] == 255, grey, 255)[..., None], 3, 2))
    cmyk = Image.fromarray(rgb).convert("CMYK")
    cmyk_jpeg = encode(cmyk, "JPEG", quality=95)
    out["cmyk.jpg"] = (cmyk_jpeg, np.asarray(Image.open(io.BytesIO(cmyk_jpeg)).convert("RGB")))
    frames = [Image.new("RGB", (40, 40), c) for c in ((250, 0, 0), (0, 250, 0), (0, 0, 250))]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)
    out["animated.gif"] = (gif, np.asarray(Image.open(io.BytesIO(gif)).convert("RGB")))  # the first frame
    out["exif-rotated.png"] = exif_rotated()
    out["png-named.jpg"] = (encode(Image.fromarray(rgb)), rgb)  # the name is not trusted, the bytes are
    webp = encode(Image.fromarray(rgb), "WEBP", lossless=True)
    out["lossless.webp"] = (webp, rgb)
    out["plain.bmp"] = (encode(Image.fromarray(rgb), "BMP"), rgb)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("bad-images")
    written = {}
    table = {**{k: v[0] for k, v in bad_images().items()}, **{k: v[0] for k, v in odd_images().items()}}
    for name, data in table.items():
        (folder / name).write_bytes(data)
        written[name] = str(folder / name)
    good = np.zeros((64, 64, 3), np.uint8)
    good[16:48, 16:48] = 200
    Image.fromarray(good).save(folder / "good.png")
    written["good.png"] = str(folder / "good.png")
    return written


@pytest.fixture(scope="module")
def server(tiny_gallery, tmp_path_factory):
    env = gallery_env(tiny_gallery, tmp_path_factory.mktemp("inputs-gradio"))
    with running_app(env, PROJECT / "test-artifacts" / "reliability-inputs.log") as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server) -> Client:
    return Client(server.url, verbose=False)


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def sketch(path: str) -> dict:
    return {"background": None, "layers": [], "composite": handle_file(path), "id": None}


# Every endpoint that takes an image: (api name, arguments with IMAGE where the image goes).
IMAGE = object()
IMAGE_ENDPOINTS = [
    ("/extract_edges", ("tiny-pix2pix", IMAGE)),
    ("/translate", ("tiny-pix2pix", IMAGE, "photo (extract edges)", False, 1, 0)),
    ("/swap_identity", ("tiny-cvaegan", IMAGE, 0, "Ada", 2)),
    ("/interpolate", ("tiny-cvaegan", 0, 0, 3, "slerp", "Ada", IMAGE, IMAGE)),
    ("/translate_sketch", ("tiny-pix2pix", IMAGE, False, 1, 0)),
]


def call_with_image(client: Client, api_name: str, args: tuple, path: str):
    value = sketch(path) if api_name == "/translate_sketch" else handle_file(path)
    return client.predict(*[value if a is IMAGE else a for a in args], api_name=api_name)


def test_bad_images_on_every_image_endpoint_get_clear_messages(server, client, files):
    failures = []
    for name, (_, fragments) in bad_images().items():
        for api_name, args in IMAGE_ENDPOINTS:
            try:
                call_with_image(client, api_name, args, files[name])
                failures.append((api_name, name, "accepted"))
            except AppError as e:
                message = str(e)
                if not any(f in message for f in fragments) or "Traceback" in message:
                    failures.append((api_name, name, message))
    assert not failures, json.dumps(failures, indent=1)
    status, health = server.health()
    assert status == 200 and health["faults"]["internal"] == 0, health
    assert (
        pixels(client.predict("tiny-pix2pix", handle_file(files["good.png"]), api_name="/extract_edges")).max() == 255
    )


def test_a_batch_of_bombs_leaves_memory_bounded(server, client, files):
    pid = server.process.pid
    names = [n for n in files if n.startswith("bomb")]
    for name in names:  # warm every path once
        with pytest.raises(AppError):
            call_with_image(client, "/extract_edges", IMAGE_ENDPOINTS[0][1], files[name])
    before, peak_before = rss_mb(pid), proc_status(pid)["VmHWM"]
    for _ in range(5):
        for name in names:
            for api_name, args in (IMAGE_ENDPOINTS[0], IMAGE_ENDPOINTS[-1]):  # our decoder, and Gradio's
                with pytest.raises(AppError, match="pixels"):
                    call_with_image(client, api_name, args, files[name])
    after, peak_after = rss_mb(pid), proc_status(pid)["VmHWM"]
    # decoding one 12000 x 12000 RGB bomb alone would take 432 MB
    assert after - before < 60, f"RSS {before} -> {after} MB over {10 * len(names)} bombs"
    assert peak_after - max(peak_before, before) < 150, f"peak RSS rose from {peak_before} to {peak_after} MB"
    assert server.health()[0] == 200


def test_odd_but_valid_images_are_normalised_upright(client, files):
    """16-bit, CMYK, palette, 1-bit, grey, alpha, animated, EXIF-rotated, misnamed: each is read as
    the upright RGB image it shows; the edges the app extracts are Canny on exactly that image."""
    from gan_models.images import canny_edges, fit

    failures = []
    for name, (_, upright) in odd_images().items():
        got = pixels(client.predict("tiny-pix2pix", handle_file(files[name]), api_name="/extract_edges"))
        want = canny_edges(fit(Image.fromarray(upright), 32))[..., 0]
        if not np.array_equal(got, np.kron(want, np.ones((4, 4), np.uint8))):
            failures.append(name)
    assert not failures, failures
    # the rotation matters: the stored (sideways) pixels give other edges
    _, upright = odd_images()["exif-rotated.png"]
    sideways = canny_edges(fit(Image.fromarray(np.rot90(upright, k=1).copy()), 32))[..., 0]
    got = pixels(client.predict("tiny-pix2pix", handle_file(files["exif-rotated.png"]), api_name="/extract_edges"))
    assert not np.array_equal(got, np.kron(sideways, np.ones((4, 4), np.uint8)))
    # and every image endpoint accepts them
    for api_name, args in IMAGE_ENDPOINTS[1:]:
        call_with_image(client, api_name, args, files["exif-rotated.png"])
        call_with_image(client, api_name, args, files["grey16.png"])


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def test_images_as_data_urls(server, client, files):
    good = Path(files["good.png"]).read_bytes()
    by_file = pixels(client.predict("tiny-pix2pix", handle_file(files["good.png"]), api_name="/extract_edges"))
    as_file_data = {"path": None, "url": data_url(good), "meta": {"_type": "gradio.FileData"}}
    for value in (as_file_data, data_url(good)):  # FileData with a data: URL, or the bare URL
        assert np.array_equal(pixels(client.predict("tiny-pix2pix", value, api_name="/extract_edges")), by_file)
    _, photo, _, _, _ = client.predict("tiny-pix2pix", data_url(good), "edge map", False, 1, 0, api_name="/translate")
    assert pixels(photo).shape == (128, 128, 3)
    refused = {
        data_url(bombs()["bomb.png"]): "pixels",
        data_url(psd_bytes(), "image/png"): "not an image in an accepted format",
        "data:image/png;base64,@@not base64@@": "could not be decoded",
        "data:image/png;base64": "could not be decoded",
        data_url(b""): "empty",
    }
    for value, fragment in refused.items():
        with pytest.raises(AppError, match=fragment):
            client.predict("tiny-pix2pix", value, api_name="/extract_edges")
    # a data: URL past the request size cap is refused before its body is read
    status, detail = post_headers_first(server.url, "/gradio_api/call/extract_edges", 17 * 2**20)
    assert status == 413 and "larger than 16 MB" in detail
    assert server.health()[0] == 200


def post_headers_first(url: str, path: str, length: int) -> tuple[int, str]:
    """POST that announces a ``length``-byte JSON body and waits for the answer before sending it."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", path)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    response = conn.getresponse()
    status, body = response.status, response.read().decode()
    conn.close()
    return status, body


def upload(url: str, path: str, cache: dict) -> dict:
    """Upload a file the way gradio_client does; -> the FileData of its copy on the server."""
    if path not in cache:
        with open(path, "rb") as f:
            response = httpx.post(url + "/gradio_api/upload", files={"files": (Path(path).name, f)}, timeout=30)
        response.raise_for_status()
        cache[path] = {"path": response.json()[0], "meta": {"_type": "gradio.FileData"}}
    return cache[path]


def raw_error(url: str, api_name: str, data: list) -> str | None:
    """Call an endpoint with raw JSON (NaN and Infinity allowed); -> its error message, None on success."""
    body = json.dumps({"data": data}).encode()
    response = httpx.post(
        f"{url}/gradio_api/call{api_name}", content=body, timeout=30, headers={"Content-Type": "application/json"}
    )
    response.raise_for_status()
    event_id = response.json()["event_id"]
    stream = httpx.get(f"{url}/gradio_api/call{api_name}/{event_id}", timeout=60).text
    if "event: error" not in stream:
        return None
    payload = stream.split("event: error", 1)[1].split("data:", 1)[1].strip().splitlines()[0]
    return str((json.loads(payload) or {}).get("error"))


def test_request_guard_stops_a_streamed_body_past_the_cap():
    """A body without Content-Length (chunked) is cut off once it passes the cap: the app sees
    the client gone and the caller gets 413; bodies within the cap pass untouched."""
    import asyncio

    from gan_models.web import RequestGuard

    async def app(scope, receive, send):  # reads the whole body, then answers 200 with its size
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})

    def run(chunks: int, chunk: int = 2**20) -> list[dict]:
        sent: list[dict] = []
        messages = [{"type": "http.request", "body": b"x" * chunk, "more_body": i < chunks - 1} for i in range(chunks)]

        async def receive():
            return messages.pop(0)

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/gradio_api/queue/join", "headers": []}
        asyncio.run(RequestGuard(app, max_bytes=4 * 2**20)(scope, receive, send))
        return sent

    small = run(3)
    assert small[0]["status"] == 200 and small[1]["body"] == str(3 * 2**20).encode()
    big = run(8)
    assert big[0]["status"] == 413 and b"larger than 4 MB" in big[1]["body"]


# --------------------------------------------------------------------------- numbers and choices

MODELS = [None, "", "nope", 7, "../weights/tiny-digits", ["tiny-digits"]]
SEEDS = [-1, 2**63, 1.5, "abc", None, True, float("nan"), [1]]
COUNTS = [0, 65, -3, 2.5, "many", None, 10**12, float("inf")]
CLASSES = ["zz", 10, -1, 3.7, ["3"]]

# endpoint -> (good arguments, {position: (word the message must name, bad values)})
TABLE: dict[str, tuple[tuple, dict[int, tuple[str, list]]]] = {
    "/sample": (
        ("tiny-digits", 1, 4, None, 0),
        {
            0: ("model", [*MODELS, "tiny-toy", "tiny-pix2pix"]),
            1: ("seed", SEEDS),
            2: ("count", COUNTS),
            3: ("class", CLASSES),
            4: ("truncation", [-1, 3.5, "x", float("nan"), float("inf"), [0.5]]),
        },
    ),
    "/compare_models": (
        ("tiny-digits", 1, 4, 0),
        {
            0: ("model", [*MODELS, "tiny-classifier"]),
            1: ("seed", SEEDS),
            2: ("count", COUNTS),
            3: ("truncation", [-0.5, 99, "off"]),
        },
    ),
    "/interpolate": (
        ("tiny-digits", 1, 2, 4, "slerp", None, None, None),
        {
            0: ("model", [*MODELS, "tiny-toy"]),
            1: ("seed A", SEEDS),
            2: ("seed B", SEEDS),
            3: ("steps", [1, 65, 0, 3.5, None, "x", 10**9]),
            4: ("method", ["cubic", "", None, 1]),
            5: ("class", CLASSES),
        },
    ),
    "/generate_face": (
        ("tiny-cvaegan", 1, "Ada"),
        {0: ("model", [*MODELS, "tiny-digits"]), 1: ("seed", SEEDS), 2: ("class", ["Zed", 3, -1, 1.5])},
    ),
    "/swap_identity": (
        ("tiny-cvaegan", None, 1, "Ada", 4),
        {
            0: ("model", [*MODELS, "tiny-colour"]),
            2: ("seed", SEEDS),
            3: ("class", ["Zed", 3, 0.5]),
            4: ("count", COUNTS),
        },
    ),
    "/translate": (
        ("tiny-pix2pix", "@good", "edge map", True, 2, 0),
        {
            0: ("model", [*MODELS, "tiny-digits"]),
            2: ("input kind", ["a poem", None, 3]),
            4: ("draws", [0, 17, 2.5, "all", None]),
            5: ("seed", SEEDS),
        },
    ),
    "/translate_sketch": (
        ("tiny-pix2pix", {"composite": "@good"}, True, 2, 0),
        {0: ("model", [*MODELS, "tiny-cvaegan"]), 3: ("draws", [0, 17, "x"]), 4: ("seed", SEEDS)},
    ),
    "/extract_edges": (("tiny-pix2pix", "@good"), {0: ("model", [*MODELS, "tiny-toy"])}),
    "/mode_coverage": (
        ("ring", 0),
        {0: ("mixture", ["spiral", None, 3, "", ["ring"]]), 1: ("snapshot", [-1, 10**7, "x", 0.5])},
    ),
    "/replay": (("ring", 0), {0: ("mixture", ["spiral", None, ["ring"]]), 1: ("snapshot", [-1, 10**7, "x"])}),
    "/train_live": (
        ("ring", "gan", 1, 50, 0.001, 0),
        {
            0: ("mixture", ["spiral", None, ["ring"]]),
            1: ("loss", ["rainbow", None, ["gan"]]),
            2: ("packing", [0, 5, 1.5]),
            3: ("steps", [0, 2001, 10**9, "x"]),
            4: ("learning rate", [0, -1, 0.5, "fast", float("nan"), float("inf")]),
            5: ("seed", SEEDS),
        },
    ),
    "/mode_histogram": (("tiny-colour",), {0: ("model", [None, "nope", 7, "tiny-digits"])}),
    "/jacobian_map": (("ring",), {0: ("mixture", ["spiral", None, 7, ["ring"]])}),
    "/jacobian_spectrum": (
        ("tiny-digits", 1, None, "tiny-colour"),
        {
            0: ("model", [*MODELS, "tiny-pix2pix"]),
            1: ("seed", SEEDS),
            2: ("class", CLASSES),
            3: ("model", ["nope", 7, "../weights/tiny-digits", ["tiny-digits"], "tiny-pix2pix"]),
        },
    ),
}

OPS = [
    "sample",
    "generate",
    "encode",
    "classify",
    "swap_identity",
    "translate",
    "jacobian_spectrum",
    "latent_jacobians",
    "toy_points",
]


@pytest.fixture(scope="module")
def histogram_gallery(tiny_gallery, tmp_path_factory) -> Path:
    """The tiny gallery with a recorded Stacked-MNIST-style mode histogram (for /mode_histogram)."""
    import shutil

    from gan_models.manifest import raw_manifest, write_manifest

    root = tmp_path_factory.mktemp("histogram-gallery")
    shutil.copytree(tiny_gallery, root, dirs_exist_ok=True)
    data = raw_manifest(root / "weights_manifest.json")
    counts = [0] * 1000
    counts[7], counts[123] = 3, 5
    for m in data["models"]:
        if m["id"] == "tiny-colour":
            m["metrics"] = {
                "command": "python -m training.evaluate tiny-colour",
                "values": {"modes": 2},
                "samples": 8,
                "seed": 0,
                "details": {"mode_histogram": counts},
            }
    write_manifest(data, root / "weights_manifest.json")
    return root


@pytest.fixture(scope="module")
def counted_app(histogram_gallery, tmp_path_factory):
    """The app served in this process; yields (client, calls): every model operation is counted."""
    import gan_models.ops as ops
    import training.toy2d_live as live

    calls: list[str] = []

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return fn(*args, **kwargs)

        return wrapper

    temp = tmp_path_factory.mktemp("counted-gradio")
    with pytest.MonkeyPatch.context() as mp:
        for name in OPS:
            mp.setattr(ops, name, counting(name, getattr(ops, name)))
        mp.setattr(live, "live_run", counting("live_run", live.live_run))
        with in_process_app(histogram_gallery, temp) as (url, _):
            yield url, Client(url, verbose=False, download_files=False), calls


@pytest.mark.parametrize("api_name", list(TABLE))
def test_bad_numbers_and_choices_name_the_parameter_and_compute_nothing(counted_app, files, api_name):
    url, client, calls = counted_app
    good, params = TABLE[api_name]
    uploaded: dict[str, dict] = {}

    def resolve(value, raw: bool = False):
        if isinstance(value, str) and value.startswith("@"):
            path = files[value[1:] + ".png"]
            return upload(url, path, uploaded) if raw else handle_file(path)
        if isinstance(value, dict):
            return {"background": None, "layers": [], "id": None, **{k: resolve(v, raw) for k, v in value.items()}}
        return value

    failures = []
    for position, (word, values) in params.items():
        for bad in values:
            # NaN and infinity are not JSON to gradio_client: they go as a browser would send them
            raw = isinstance(bad, float) and not math.isfinite(bad)
            args = [resolve(a, raw) for a in good]
            args[position] = bad
            calls.clear()
            try:
                if raw:
                    message = raw_error(url, api_name, args)
                else:
                    client.submit(*args, api_name=api_name).result(timeout=60)
                    message = None
            except AppError as e:
                message = str(e)
            if message is None:
                failures.append((position, repr(bad), "accepted"))
            elif word.lower() not in message.lower() or "Traceback" in message or "failed on the server" in message:
                failures.append((position, repr(bad), message))
            elif calls:
                failures.append((position, repr(bad), f"computed {calls} before refusing"))
    assert not failures, json.dumps(failures, indent=1)
    # the same endpoint with good arguments computes and answers
    calls.clear()
    client.submit(*[resolve(a) for a in good], api_name=api_name).result(timeout=120)
    if api_name not in ("/mode_coverage", "/replay", "/mode_histogram", "/extract_edges"):  # no model work
        assert calls, f"{api_name} computed nothing for good arguments: the counting is broken"
