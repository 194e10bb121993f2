"""How a failed request is answered: every failure becomes ``gr.Error`` with a plain message,
never a traceback on the page, and the server keeps serving."""

from __future__ import annotations

import errno
import functools
import gc
import html
import inspect
import logging
import traceback

import gradio as gr
import torch

from .images import ImageInputError
from .inputs import InputError

log = logging.getLogger(__name__)


class ServiceUnavailable(RuntimeError):
    """A request we could not serve now (busy, too slow, out of memory, no room for results);
    the message is shown as it is, and the server keeps serving."""


STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.ENOTDIR}


def storage_message(action: str, what: str = "results") -> str:
    return (
        f"{action} could not be done: the server has no room for {what} right now (its temporary folder "
        "is full or read-only). Nothing was computed; please try again later."
    )


def out_of_memory_message(action: str) -> str:
    return f"{action} ran out of GPU memory. Try fewer images, steps or draws; the server keeps serving."


def free_memory() -> None:
    """After an out-of-memory error: drop what the failed request held."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def plain_errors(action: str, slot: bool = True):
    """Serve one request of a ``Gallery`` method: refuse it at once when the temporary folder
    cannot take results, run it under the gallery's deadline and model-work slots, and turn
    every failure into ``gr.Error`` with a plain message (refused inputs with their own message,
    out of memory, too slow, busy, no room for results; anything unexpected as a short message
    while the traceback goes to the server log, never to the page). ``slot=False``: work that
    draws plots only (no model), bounded by the deadline but not by the model-work slots."""

    def wrap(fn):
        def convert(gallery, e: Exception) -> gr.Error:
            if isinstance(e, gr.Error):
                return e
            if isinstance(e, ImageInputError | InputError | ValueError | LookupError | ServiceUnavailable):
                msg = e.args[0] if isinstance(e, LookupError) and e.args else str(e)
                return gr.Error(html.escape(str(msg), quote=False), print_exception=False)
            if isinstance(e, torch.OutOfMemoryError):
                gallery.count_fault("out_of_memory")
                log.warning("%s ran out of memory: %s", action, e)
                return gr.Error(out_of_memory_message(action.capitalize()), print_exception=False)
            if isinstance(e, OSError) and e.errno in STORAGE_ERRNOS:
                gallery.count_fault("storage")
                log.error("%s could not write its results: %s", action, e)
                return gr.Error(storage_message(action.capitalize()), print_exception=False)
            gallery.count_fault("internal")
            log.exception("%s failed", action, exc_info=e)
            return gr.Error(f"{action} failed on the server ({type(e).__name__}); the server keeps serving.")

        def fail(gallery, e: Exception) -> gr.Error:
            """The plain error for ``e``, with ``e`` let go of: the failed request's frames are
            cleared, so the tensors they held (on the GPU too) are freed now, not whenever the
            error raised to Gradio and its traceback are dropped."""
            error = convert(gallery, e)
            if error is not e:
                traceback.clear_frames(e.__traceback__)
            if isinstance(e, torch.OutOfMemoryError):
                free_memory()
            return error

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(self, *args, **kwargs):
                error = None
                try:
                    self.check_storage()
                    steps = fn(self, *args, **kwargs)
                    while True:  # every step is model work with its own deadline
                        try:
                            item = self.run_bounded(action, next, (steps,), slot=slot)
                        except StopIteration:
                            return
                        yield item
                except Exception as e:
                    error = fail(self, e)
                raise error  # outside the handler: the plain error does not chain the original

            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            try:
                self.check_storage()
                return self.run_bounded(action, fn, (self, *args), kwargs, slot=slot)
            except Exception as e:
                error = fail(self, e)
            raise error  # outside the handler: the plain error does not chain the original

        return wrapper

    return wrap
