"""What a request may ask for: the bounds of every input (the page and the API agree) and the
checks that refuse anything else with a plain message."""

from __future__ import annotations

from . import ops


class InputError(ValueError):
    """A request we refuse; the message is shown to the user as it is."""


# Bounds of every input (the API and the page agree; the page's seed field offers 0..2**32-1,
# which JavaScript numbers hold exactly; gradio_client callers may pass up to 2**63-1).
UI_MAX_SEED = 2**32 - 1
API_MAX_SEED = ops.MAX_SEED
MAX_COUNT = 64
MIN_STEPS, MAX_STEPS = 2, 64
MAX_TRUNCATION = 3.0
MAX_DRAWS = 16
LIVE_MAX_STEPS = 2000
LIVE_MAX_PACK = 4
LIVE_MAX_LR = 0.01
LIVE_LOSSES = ("gan", "lsgan", "hinge", "wgan-gp")  # training.toy2d_live: "gan" is the non-saturating loss
REFERENCE_SEED = 0  # the seed of the gallery cards' grids and of the identities' reference faces
COVERAGE_POINTS = 2500  # PacGAN counts modes over 2,500 samples


def check_whole(value, what: str, low: int, high: int) -> int:
    if value is None or (isinstance(value, str) and value == ""):
        raise InputError(f"{what} is required (a whole number from {low} to {high})")
    if isinstance(value, bool):
        raise InputError(f"{what} must be a whole number from {low} to {high}, got {value!r}")
    try:
        number = int(value)
        exact = number == value or (isinstance(value, str) and str(number) == value.strip())
    except (TypeError, ValueError, OverflowError):
        exact = False
    if not exact:
        raise InputError(f"{what} must be a whole number from {low} to {high}, got {value!r}")
    if not low <= number <= high:
        raise InputError(f"{what} must be between {low} and {high}, got {number}")
    return number


def check_choice(value, choices, what: str) -> str:
    """One of ``choices`` (names); anything else, lists and numbers included, is refused by name."""
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{what} must be one of: {', '.join(choices)}")
    return value


def check_seed(seed, api: bool = True, what: str = "seed") -> int:
    return check_whole(seed, what, 0, API_MAX_SEED if api else UI_MAX_SEED)


def check_count(count) -> int:
    return check_whole(count, "count", 1, MAX_COUNT)


def check_steps(steps) -> int:
    return check_whole(steps, "steps", MIN_STEPS, MAX_STEPS)


def check_truncation(value) -> float | None:
    """None or 0 means off; otherwise a value in (0, 3]."""
    if value is None or value == "" or value == 0:
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise InputError(f"truncation must be a number in (0, {MAX_TRUNCATION:g}] or 0 for off") from None
    if not 0 < t <= MAX_TRUNCATION:  # also refuses NaN
        raise InputError(f"truncation must be in (0, {MAX_TRUNCATION:g}] or 0 for off, got {value!r}")
    return t


def is_api_call(request) -> bool:
    """gradio_client marks its requests; the page's seed bound is tighter than the API's."""
    headers = getattr(request, "headers", None) or {}
    return headers.get("x-gradio-user") in ("api", "mcp")
