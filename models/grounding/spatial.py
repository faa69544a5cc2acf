"""Spatial targets ("left half", "top left corner", "center") → soft masks, and spatial
qualifiers ("face on the left", "largest face") → a choice among detections.

Masks are ``(h, w)`` float32 in [0, 1] with a soft edge about 4 % of the image side wide.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from models.grounding.detectors import Detection

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


QUALIFIERS = {
    "largest": r"\b(?:largest|biggest|main|closest|nearest)\b",
    "smallest": r"\b(?:smallest|tiniest|farthest|furthest)\b",
    "left": r"\b(?:leftmost|left)\b",
    "right": r"\b(?:rightmost|right)\b",
    "top": r"\b(?:topmost|top|upper)\b",
    "bottom": r"\b(?:bottommost|bottom|lower)\b",
    "center": r"\b(?:center|centre|middle|central)\b",
}


def parse_qualifier(target: str) -> str | None:
    """The first spatial/size qualifier in a phrase ("face on the left" → "left"), or None."""
    hits = [(m.start(), key) for key, pat in QUALIFIERS.items() if (m := re.search(pat, target))]
    return min(hits)[1] if hits else None


def pick(dets: Sequence[Detection], qualifier: str | None, h: int, w: int) -> Detection:
    """One detection by qualifier; the largest when there is no qualifier."""
    if not dets:
        raise ValueError("pick() needs at least one detection.")
    if qualifier in (None, "largest"):
        return max(dets, key=lambda d: d.area)
    if qualifier == "smallest":
        return min(dets, key=lambda d: d.area)
    if qualifier == "center":
        return min(dets, key=lambda d: (d.centre[0] / w - 0.5) ** 2 + (d.centre[1] / h - 0.5) ** 2)
    key = {
        "left": lambda d: d.centre[0],
        "right": lambda d: -d.centre[0],
        "top": lambda d: d.centre[1],
        "bottom": lambda d: -d.centre[1],
    }[qualifier]
    return min(dets, key=key)


def select(dets: Sequence[Detection], qualifier: str | None, h: int, w: int) -> list[Detection]:
    """For plural targets: all detections, or those whose centre lies in the qualified half."""
    if qualifier in (None, "largest", "smallest"):
        return list(dets)
    if qualifier == "center":
        return [pick(dets, "center", h, w)]
    inside = {
        "left": lambda d: d.centre[0] < w / 2,
        "right": lambda d: d.centre[0] >= w / 2,
        "top": lambda d: d.centre[1] < h / 2,
        "bottom": lambda d: d.centre[1] >= h / 2,
    }[qualifier]
    return [d for d in dets if inside(d)]
