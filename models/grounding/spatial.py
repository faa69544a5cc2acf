"""Spatial targets ("left half", "top left corner", "center") → soft masks. (Qualifiers such as
"the dog on the left" choose among detections in ``boxes.parse_target`` / ``boxes.select_boxes``.)

Masks are ``(h, w)`` float32 in [0, 1] with a soft edge about 4 % of the image side wide.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_HALF = r"(?:\s+(?:half|side|part|portion|area|region|edge))?"
SIDES = {
    "left": "left",
    "right": "right",
    "top": "top",
    "upper": "top",
    "bottom": "bottom",
    "lower": "bottom",
}
CENTRE = ("center", "centre", "middle")


def parse_region(target: str) -> tuple[str, ...] | None:
    """The sides a spatial target names, or None when ``target`` is not purely spatial.

    "left half" → ("left",); "top left corner" → ("top", "left"); "center" → ("center",).
    """
    t = re.sub(r"^(?:the\s+)?", "", target.strip())
    t = re.sub(r"\s+of\s+the\s+(?:image|photo|picture|frame)$", "", t)
    if re.fullmatch(rf"(?:{'|'.join(CENTRE)}){_HALF}", t):
        return ("center",)
    m = re.fullmatch(rf"(left|right|top|upper|bottom|lower){_HALF}", t)
    if m:
        return (SIDES[m.group(1)],)
    m = re.fullmatch(r"(top|upper|bottom|lower)[\s-]+(left|right)(?:\s+(?:corner|quarter|quadrant|part))?", t)
    if m:
        return (SIDES[m.group(1)], m.group(2))
    return None


def _ramp(n: int, start: float, stop: float, soft: float) -> np.ndarray:
    """1-D soft indicator of [start, stop) over n pixels (fractions of n)."""
    x = (np.arange(n, dtype=np.float32) + 0.5) / n
    up = np.clip((x - start) / soft + 0.5, 0, 1) if start > 0 else np.ones(n, np.float32)
    down = np.clip((stop - x) / soft + 0.5, 0, 1) if stop < 1 else np.ones(n, np.float32)
    return (up * down).astype(np.float32)


def region_mask(sides: Sequence[str], h: int, w: int, soft: float = 0.04) -> np.ndarray:
    """Soft mask (h, w) float32 in [0, 1] for the sides from ``parse_region``."""
    if tuple(sides) == ("center",):
        y = ((np.arange(h, dtype=np.float32) + 0.5) / h - 0.5) / 0.3
        x = ((np.arange(w, dtype=np.float32) + 0.5) / w - 0.5) / 0.3
        r = np.sqrt(y[:, None] ** 2 + x[None, :] ** 2)
        return np.clip((1 - r) / (soft / 0.3) + 0.5, 0, 1).astype(np.float32)
    ys, xs = (0.0, 1.0), (0.0, 1.0)
    for side in sides:
        if side == "left":
            xs = (0.0, 0.5)
        elif side == "right":
            xs = (0.5, 1.0)
        elif side == "top":
            ys = (0.0, 0.5)
        elif side == "bottom":
            ys = (0.5, 1.0)
        else:
            raise ValueError(f"Unknown side {side!r}; expected left/right/top/bottom/center.")
    return np.outer(_ramp(h, *ys, soft), _ramp(w, *xs, soft))
