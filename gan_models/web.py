"""Gradio and ASGI plumbing around the gallery: its own input and output handling in plain words,
an atomic image cache, a body-size guard, the health route, and two page-wide behaviours (tabs
filled when first opened, shared links served on page load)."""

from __future__ import annotations

import html
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
from PIL import Image, UnidentifiedImageError

from .errors import STORAGE_ERRNOS, storage_message
from .inputs import InputError

if TYPE_CHECKING:
    from .service import Gallery

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 2**20  # any request body (JSON with data: URLs, uploads); uploads stop at 10 MB


def health_route(gallery: Gallery):
    """GET /healthz: 200 with the loaded and unavailable models once loaded, 503 before."""
    from fastapi.responses import JSONResponse
    from fastapi.routing import APIRoute

    def healthz():
        code, body = gallery.health()
        return JSONResponse(body, status_code=code)

    return APIRoute("/healthz", healthz, methods=["GET"], include_in_schema=False)


def _as_file_data(value):
    """A bare ``data:`` URL sent for an image input -> the FileData form Gradio validates."""
    if isinstance(value, str) and value.startswith("data:"):
        return {"path": None, "url": value, "orig_name": None, "meta": {"_type": "gradio.FileData"}}
    return value


def input_refusal(error: BaseException) -> str:
    """What to tell a caller whose input Gradio itself refused (before our code saw it)."""
    from .images import ALLOWED_FORMATS, MAX_PIXELS

    chain, seen = [], error
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for e in chain:
        if isinstance(e, Image.DecompressionBombError):
            return f"the image has too many pixels; at most {MAX_PIXELS:,} are accepted"
        if isinstance(e, UnidentifiedImageError):
            return f"not an image in an accepted format ({', '.join(ALLOWED_FORMATS)})"
        if isinstance(e, OSError) and e.errno in STORAGE_ERRNOS:
            return storage_message("The request")
    return (
        "an input could not be read: images must be uploaded files (gradio_client: handle_file(path)) or "
        "data: URLs; paths on the server and links elsewhere are refused"
    )


class SafeBlocks(gr.Blocks):
    """``gr.Blocks`` whose own input and output handling answers in plain words too: an input
    Gradio refuses (a path that was not uploaded, a link, something that is not a file) and an
    output it cannot store (its temporary folder full or read-only) become ``gr.Error`` with a
    clear message instead of an empty error. Image inputs also accept a bare ``data:`` URL."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call: bool = False):
        inputs = [
            _as_file_data(v) if isinstance(block, gr.Image) else v
            for block, v in zip(block_fn.inputs, inputs, strict=False)
        ] + list(inputs[len(block_fn.inputs) :])
        try:
            if block_fn.preprocess:
                self._strict_numbers(block_fn, inputs)
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except Exception as e:
            log.warning("input of %s refused by Gradio: %s", block_fn.api_name, e)
            error = gr.Error(html.escape(self._refusal(block_fn, inputs, e), quote=False), print_exception=False)
        raise error

    @staticmethod
    def _strict_numbers(block_fn, inputs) -> None:
        """Gradio would round 1.5 (or True) into a whole-number field; refuse it instead."""
        for block, value in zip(block_fn.inputs, inputs, strict=False):
            if not isinstance(block, gr.Number) or block.precision != 0 or value is None:
                continue
            whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            if isinstance(value, bool) or not whole:
                raise gr.Error(f"{block.label}: must be a whole number, got {str(value)[:60]!r}")

    @staticmethod
    def _refusal(block_fn, inputs, error: Exception) -> str:
        """Name the input Gradio refused: the first plain input (number, slider, choice) whose own
        check fails, else the file inputs."""
        for block, value in zip(block_fn.inputs, inputs, strict=False):
            if isinstance(block, gr.Image | gr.ImageEditor):
                continue
            try:
                block.preprocess(value)
            except Exception as e:
                reason = e.message if isinstance(e, gr.Error) else f"{str(value)[:60]!r} is not a valid value"
                return f"{block.label or type(block).__name__}: {reason}"
        if isinstance(error, gr.Error):
            return error.message
        return input_refusal(error)

    async def postprocess_data(self, block_fn, predictions, state):
        try:
            return await super().postprocess_data(block_fn, predictions, state)
        except gr.Error:
            raise
        except OSError as e:
            if e.errno not in STORAGE_ERRNOS:
                raise
            log.error("results of %s could not be stored: %s", block_fn.api_name, e)
            raise gr.Error(storage_message("The request"), print_exception=False) from None


def atomic_image_cache() -> None:
    """Gradio stores a returned image under a name made from its bytes' hash and writes it in
    place each time (``processing_utils.save_pil_to_cache``): two visitors who get the same image
    at once (same seed, same settings) race, and one may download the file while the other has
    just truncated it. Here an existing copy is reused and a new one is written under a temporary
    name and renamed into place, as Gradio already does for files (``save_file_to_cache``)."""
    from gradio import processing_utils

    if getattr(processing_utils.save_pil_to_cache, "atomic", False):
        return

    def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = processing_utils.encode_pil_to_bytes(img, format)
        folder = Path(cache_dir) / processing_utils.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        path = (folder / f"{name}.{format}").resolve()
        if path.exists():
            os.utime(path)  # Gradio's delete_cache ages files by ctime: this use counts
            return str(path)
        fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(staging, path)
        except BaseException:
            Path(staging).unlink(missing_ok=True)  # a full disk leaves no partial file behind
            raise
        return str(path)

    save_pil_to_cache.atomic = True
    processing_utils.save_pil_to_cache = save_pil_to_cache


class RequestGuard:
    """ASGI middleware in front of every route: request bodies larger than ``max_bytes`` are
    refused with 413 before they are read into memory (JSON with data: URLs included; uploads
    stop at Gradio's own 10 MB cap), and a route that fails for want of disk room (an upload into
    a full or read-only temporary folder) answers 507 with a plain message instead of a bare 500."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app, self.max_bytes = app, max_bytes

    async def _answer(self, send, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = f"the request is larger than {self.max_bytes // 2**20} MB"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._answer(send, 413, too_large)
        seen = {"bytes": 0, "over": False, "started": False}

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                seen["bytes"] += len(message.get("body", b""))
                if seen["bytes"] > self.max_bytes:
                    seen["over"] = True
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message):
            if message["type"] == "http.response.start":
                seen["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except OSError as e:
            if seen["started"] or e.errno not in STORAGE_ERRNOS:
                raise
            log.error("%s failed for want of disk room: %s", scope.get("path"), e)
            return await self._answer(send, 507, storage_message("The upload", "files"))
        if seen["over"] and not seen["started"]:
            await self._answer(send, 413, too_large)


def on_first_open(tab: gr.Tab, show_defaults, inputs: list, outputs: list, **queue):
    """Fill ``outputs`` with ``show_defaults(*inputs)`` when a visitor opens ``tab`` and its first
    output is still empty, so no tab opens on blank plots; its buttons stay the way to change them.
    (The output itself is the "already shown" flag: a State would hold a heartbeat connection open
    for every page.) A default that cannot be served (no such model loaded, the server busy) leaves
    the outputs empty without an error message: the visitor has not asked for anything yet.
    Returns the event, to chain ``.then`` on."""

    def fill(shown, *values):
        if shown is not None:
            return [gr.skip()] * len(outputs)
        try:
            return show_defaults(*values)
        except gr.Error:
            return [gr.skip()] * len(outputs)

    return tab.select(fill, [outputs[0], *inputs], outputs, api_visibility="private", **queue)


@dataclass(frozen=True)
class Linkable:
    """A tab that a shared address opens on a result (``?tab=sample&model=mnist-cgan&seed=7``): its
    input components by link field (the keys of its recipe, in ``serve``'s argument order), its
    outputs, and the service call that fills them."""

    tab: str
    fields: dict[str, gr.components.Component]
    outputs: list
    serve: Callable


def address_bar(tab: str) -> str:
    """JavaScript that puts in the address bar the link to what ``tab`` shows (a recipe's ``link``:
    copy the address to share the result), or else the link that opens the tab itself."""
    return f"(recipe) => {{ history.replaceState(null, '', (recipe && recipe.link) || {json.dumps('?tab=' + tab)}); }}"


# The page's first tab is selected once as the page is drawn, before the page load reads a shared
# link from the address: that select must leave the address alone, or the link would be lost.
_HOME_ADDRESS = """() => {
    if (window.galleryHomeDrawn) history.replaceState(null, '', location.pathname);
    window.galleryHomeDrawn = true;
}"""


def show_tab_in_address_bar(tab: gr.Tab, tab_id: str, first: bool = False) -> None:
    """On opening ``tab``, the address bar names it (the bare page for the ``first`` tab), for tabs
    whose results have no link of their own."""
    js = _HOME_ADDRESS if first else f"() => {{ history.replaceState(null, '', {json.dumps('?tab=' + tab_id)}); }}"
    tab.select(None, None, None, js=js, api_visibility="private", queue=False)


def open_shared_links(demo: gr.Blocks, tabs: gr.Tabs, gallery: Gallery, targets: list[Linkable]) -> None:
    """On page load, an address naming a tab opens it; on one of ``targets``, with its settings and
    their result (settings it leaves out keep their defaults). A bad link opens the page as usual,
    with a warning that says why."""
    from .service import ALL_CLASSES, AUTO_IDENTITY, linked  # here: the service imports this module

    outputs = [tabs] + [c for t in targets for c in [*t.fields.values(), *t.outputs]]
    menus = {"class": ALL_CLASSES, "identity": AUTO_IDENTITY}  # a menu's choice when a link leaves it out

    def field_value(name: str, settings: dict, recipe: dict):
        if name in menus:  # the link's own choice (served already, so a known one), else the menu's default
            choices, _, visible = gallery.class_choices(recipe["model"], menus[name])
            return gr.Dropdown(choices=choices, value=settings.get(name) or menus[name], visible=visible)
        value = recipe.get(name)
        return 0 if name == "truncation" and value is None else value

    def open_link(request: gr.Request):
        try:
            found = linked(request.query_params)
            if found is None:
                return [gr.skip()] * len(outputs)
            tab, settings = found
            target = next((t for t in targets if t.tab == tab), None)
            if target is not None:
                shown = target.serve(*(settings.get(name, c.value) for name, c in target.fields.items()))
        except (InputError, gr.Error) as e:  # a toast renders HTML: gr.Error's message is escaped already
            reason = e.message if isinstance(e, gr.Error) else html.escape(str(e), quote=False)
            gr.Warning(f"This link cannot be opened: {reason}")
            return [gr.skip()] * len(outputs)
        updates = [gr.Tabs(selected=tab)]  # selecting it fills a tab without settings with its defaults
        for t in targets:
            if t is target:
                updates += [field_value(name, settings, shown[-1]) for name in t.fields] + list(shown)
            else:
                updates += [gr.skip()] * (len(t.fields) + len(t.outputs))
        return updates

    demo.load(open_link, None, outputs, api_visibility="private", concurrency_id="links", concurrency_limit=None)
