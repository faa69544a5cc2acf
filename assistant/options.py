"""One validation for the run options every entry point accepts.

The CLI flags, the UI settings, the API's ``options`` JSON and batch rows all pass their values
through ``check_option`` (``RunOptions`` and ``Settings`` call it in ``__post_init__``), so a bad
value gets the same message everywhere: the field, what was received (a short prefix of it) and
the valid range. Values are never clamped or coerced from strings; an integral float such as
``20.0`` (what a JSON number or a slider may send) is accepted as the integer 20.
"""

from __future__ import annotations

import math
from typing import Any

BACKENDS: tuple[str, ...] = ("auto", "offline", "full")
MASK_SOURCES: tuple[str, ...] = ("auto", "grounding", "decoder")
CLEANERS: tuple[str, ...] = ("auto", "swinir", "offline")
#: Valid ranges, inclusive unless stated; the messages quote them.
STEPS_RANGE = (1, 1000)  # diffusion sampler steps
SEED_RANGE = (0, 2**32 - 1)  # random seed of the diffusion restorer
GUIDANCE_RANGE = (0.0, 30.0)  # classifier-free guidance
THRESHOLD_RANGE = (0.0, 1.0)  # GroundingDINO box/text thresholds: 0 ≤ t < 1 (1 would keep nothing)


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a huge bad value cannot flood a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _integer(name: str, value: Any, low: int, high: int) -> int:
    integral = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)
                                          and value.is_integer())
    if isinstance(value, bool) or not integral or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}; got {short(value)}")
    return int(value)


def _number(name: str, value: Any, low: float, high: float, *, below_high: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = low <= value < high if below_high else low <= value <= high
    if not ok:
        span = f"[{low:g}, {high:g})" if below_high else f"[{low:g}, {high:g}]"
        raise ValueError(f"{name} must be a finite number in {span}; got {short(value)}")
    return float(value)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {short(value)}")
    return value


def check_option(name: str, value: Any) -> Any:
    """Validate one run option and return it in canonical form. Raises ValueError naming the
    field, the value received and the valid range; ``None`` passes for the optional ones."""
    if name == "backend":
        return _choice(name, value, BACKENDS)
    if name == "mask_source":
        return _choice(name, value, MASK_SOURCES)
    if name == "cleaner":
        return _choice(name, value, CLEANERS)
    if name == "lens_blur":
        if not isinstance(value, bool):
            raise ValueError(f"lens_blur must be true or false; got {short(value)}")
        return value
    if name == "steps":
        return None if value is None else _integer(name, value, *STEPS_RANGE)
    if name == "seed":
        return _integer(name, value, *SEED_RANGE)
    if name == "guidance":
        return None if value is None else _number(name, value, *GUIDANCE_RANGE)
    if name in ("box_threshold", "text_threshold"):
        return _number(name, value, *THRESHOLD_RANGE, below_high=True)
    if name == "tile":
        if value is None:
            return None
        tile = _integer(name, value, 0, 2**16)
        if tile % 64:
            raise ValueError(f"tile must be 0 (untiled) or a positive multiple of 64 px; got {tile}")
        return tile
    raise ValueError(f"unknown option {short(name)}")


def check_fields(obj: Any, names: tuple[str, ...]) -> None:
    """Validate ``names`` of a (frozen) dataclass in place, storing the canonical values."""
    for name in names:
        object.__setattr__(obj, name, check_option(name, getattr(obj, name)))
