"""Synthetic lens blur (bokeh) for "keep/add background blur" regions.

A real out-of-focus lens spreads each point into a disc of the aperture's shape, and bright
points (lamps, sparkles) stay bright: their light is spread, not averaged away with the dark
around them. So the image is expanded to a pseudo-linear scale whose highlights are boosted,
convolved with an anti-aliased disc, and mapped back with the inverse curve, which compresses the
boosted highlights again: a small bright spot becomes a round, still-bright disc.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Highlight boost: values above _KNEE are multiplied by up to 1 + _GAIN before the blur.
_KNEE = 0.75
_GAIN = 8.0
_GAMMA = 2.2
_LUT_X = np.linspace(0.0, 1.0, 1025, dtype=np.float64)


def default_radius(height: int, width: int) -> float:
    """Disc radius in pixels for an image of this size: ≈ 1.8 % of the long side, at least 2."""
    return max(2.0, round(0.018 * max(height, width)))


def disc_kernel(radius: float) -> np.ndarray:
    """(2⌈r⌉+1, 2⌈r⌉+1) float32 disc with a one-pixel anti-aliased rim, summing to 1."""
    if radius <= 0:
        raise ValueError(f"disc radius must be > 0, got {radius}")
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    k = np.clip(radius + 0.5 - np.hypot(yy, xx), 0.0, 1.0).astype(np.float32)
    return k / k.sum()


def _expand(v: np.ndarray) -> np.ndarray:
    """Monotone curve [0, 1] → [0, 1 + _GAIN]: gamma decode, then boost highlights."""
    t = np.clip((v - _KNEE) / (1.0 - _KNEE), 0.0, 1.0)
    return np.power(np.clip(v, 0.0, 1.0), _GAMMA) * (1.0 + _GAIN * t * t * (3.0 - 2.0 * t))


_LUT_Y = _expand(_LUT_X)


def _compress(e: np.ndarray) -> np.ndarray:
    """Inverse of ``_expand``; values beyond the top of the curve saturate at 1."""
    return np.interp(e, _LUT_Y, _LUT_X).astype(np.float32)


def lens_blur(image: np.ndarray, radius: float, weight: np.ndarray | None = None) -> np.ndarray:
    """Blur ``image`` as an out-of-focus lens with a disc aperture of ``radius`` pixels.

    image: (H, W, 3) float32 RGB in [0, 1]. weight: optional (H, W) float32 in [0, 1], the
    region being blurred; the convolution is normalised by it, so colours from outside the region
    (the in-focus subject) do not bleed into its blur. Returns (H, W, 3) float32 in [0, 1],
    defined everywhere (the caller blends it in by the region's weight).
    """
    if radius < 0.5:
        return image.copy()
    kernel = disc_kernel(radius)
    expanded = _expand(image).astype(np.float32)
    if weight is None:
        blurred = cv2.filter2D(expanded, -1, kernel, borderType=cv2.BORDER_REFLECT)
    else:
        w = np.clip(weight, 0.0, 1.0).astype(np.float32)
        num = cv2.filter2D(expanded * w[..., None], -1, kernel, borderType=cv2.BORDER_REFLECT)
        den = cv2.filter2D(w, -1, kernel, borderType=cv2.BORDER_REFLECT)[..., None]
        plain = cv2.filter2D(expanded, -1, kernel, borderType=cv2.BORDER_REFLECT)
        blurred = np.where(den > 1e-3, num / np.maximum(den, 1e-3), plain)
    return np.clip(_compress(blurred), 0.0, 1.0)
