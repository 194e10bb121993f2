"""Shared addresses: ``?tab=sample&model=mnist-cgan&seed=7`` opens a tab on one result.

Every tab opens from a link (``?tab=modes``); the Sample, Interpolate and Face swap tabs also take
the settings that reproduce a result, the keys of their recipes. Uploads cannot go in an address,
so a result made from an uploaded face has no link.
"""

from __future__ import annotations

from urllib.parse import urlencode

from ..inputs import InputError
from .base import ALL_CLASSES, AUTO_IDENTITY

# Query parameters Gradio itself reads (and any ``__name``, such as ``__theme``): not a link's settings.
GRADIO_QUERY = ("view", "deep_link")
# Each tab's id, with the settings its link can carry (the keys of its recipe, in its call's order).
LINK_FIELDS = {
    "gallery": (),
    "sample": ("model", "seed", "count", "class", "truncation"),
    "interpolate": ("model", "seed_a", "seed_b", "steps", "method", "class"),
    "swap": ("model", "seed", "identity", "count"),
    "pix2pix": (),
    "modes": (),
}
# A menu at its "off" value (every class, the predicted identity) is left out of a link.
_OFF = (None, ALL_CLASSES, AUTO_IDENTITY)


def link(tab: str, settings: dict) -> str:
    """The address query that opens ``tab`` on the result of these settings (``?tab=sample&seed=7...``);
    settings at their "off" value (no class, no truncation) are left out."""
    values = {k: settings[k] for k in LINK_FIELDS[tab] if settings.get(k) not in _OFF}
    return "?" + urlencode({"tab": tab, **values})


def linked(query) -> tuple[str, dict] | None:
    """An address query -> (tab, its settings as written), or None when it names no tab. An unknown
    tab or setting is refused here; the values are checked when the tab serves them."""
    settings = {k: v for k, v in dict(query).items() if not (k.startswith("__") or k in GRADIO_QUERY)}
    tab = settings.pop("tab", None)
    if tab is None:
        return None
    if tab not in LINK_FIELDS:
        raise InputError(f"no tab {tab!r} opens from a link; one of: {', '.join(LINK_FIELDS)}")
    unknown = sorted(set(settings) - set(LINK_FIELDS[tab]))
    if unknown:
        takes = ", ".join(LINK_FIELDS[tab]) or "no settings"
        raise InputError(f"the {tab} tab takes {takes}, not {', '.join(unknown)}")
    return tab, settings
