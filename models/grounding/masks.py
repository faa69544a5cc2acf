"""Mask post-processing and a coloured overlay preview.

Every mask here is an ``(H, W)`` array. Binary inputs may be ``bool`` or any numeric dtype
(values > 0.5 count as inside); soft outputs are float32 in [0, 1]. Images are ``(H, W, 3)``
float32 RGB in [0, 1] (uint8 RGB is accepted by ``overlay`` too).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
from scipy import ndimage as ndi

from models.grounding.base import Grounding

logger = logging.getLogger(__name__)

#: Overlay colours (RGB uint8), one per grounding in order, cycling.
PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
)


def _binary(mask: np.ndarray) -> np.ndarray:
    if mask.ndim != 2:
        raise ValueError(f"Expected an (H, W) mask, got shape {mask.shape}.")
    return mask if mask.dtype == bool else mask > 0.5


def feather_sigma(height: int, width: int) -> float:
    """Edge softness in pixels for an image of this size: ~1 px at 400 px, ~5 px at 2000 px."""
    return max(0.8, max(height, width) / 400.0)


def fill_holes(mask: np.ndarray, max_hole_frac: float | None = None) -> np.ndarray:
    """Fill enclosed holes of a binary mask; returns bool (H, W).

    max_hole_frac: only fill holes smaller than this fraction of the image (None = all holes).
    """
    m = _binary(mask)
    filled = ndi.binary_fill_holes(m)
    if max_hole_frac is None:
        return filled
    holes, n = ndi.label(filled & ~m)
    if n == 0:
        return m
    sizes = np.bincount(holes.ravel(), minlength=n + 1)
    small = sizes <= max_hole_frac * m.size
    small[0] = False
    return m | small[holes]


def remove_small_components(
    mask: np.ndarray, min_frac_of_largest: float = 0.05, min_frac_of_image: float = 0.0005
) -> np.ndarray:
    """Drop connected components smaller than both bounds; returns bool (H, W).

    A component survives when its area is at least ``min_frac_of_largest`` × the largest
    component's area and at least ``min_frac_of_image`` × the image area.
    """
    m = _binary(mask)
    labels, n = ndi.label(m)
    if n <= 1:
        if n == 1 and m.sum() < min_frac_of_image * m.size:
            return np.zeros_like(m)
        return m
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    keep = (sizes >= min_frac_of_largest * sizes.max()) & (sizes >= min_frac_of_image * m.size)
    keep[0] = False
    return keep[labels]


def keep_components_at(mask: np.ndarray, points: Sequence[tuple[int, int]]) -> np.ndarray:
    """Keep only the components that contain one of ``points`` (x, y); returns bool (H, W).

    Points outside the mask are ignored; when none lands inside, the mask is returned unchanged.
    """
    m = _binary(mask)
    labels, _ = ndi.label(m)
    ids = {int(labels[y, x]) for x, y in points} - {0}
    if not ids:
        return m
    return np.isin(labels, sorted(ids))


def feather(mask: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Soften a mask's edge with a Gaussian; returns float32 (H, W) in [0, 1].

    sigma: blur in pixels; ``None`` picks ``feather_sigma`` for the mask's size.
    """
    m = mask.astype(np.float32) if mask.dtype == bool else np.clip(mask.astype(np.float32), 0, 1)
    if m.ndim != 2:
        raise ValueError(f"Expected an (H, W) mask, got shape {mask.shape}.")
    s = feather_sigma(*m.shape) if sigma is None else float(sigma)
    if s <= 0:
        return m
    out = cv2.GaussianBlur(m, (0, 0), sigmaX=s, sigmaY=s, borderType=cv2.BORDER_REPLICATE)
    return np.clip(out, 0.0, 1.0)


def resize_soft(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a soft (h, w) mask to (height, width) bilinearly; float32 in [0, 1]."""
    m = mask.astype(np.float32)
    if m.shape == (height, width):
        return m
    interp = cv2.INTER_AREA if m.shape[0] > height else cv2.INTER_LINEAR
    return np.clip(cv2.resize(m, (width, height), interpolation=interp), 0.0, 1.0)


def refine_mask(
    mask: np.ndarray,
    out_shape: tuple[int, int] | None = None,
    min_frac_of_largest: float = 0.05,
    fill: bool = True,
    sigma: float | None = None,
) -> np.ndarray:
    """Clean a binary/soft mask and return it feathered at ``out_shape``.

    Steps: threshold at 0.5 → drop small components → fill holes → upsample to
    ``out_shape`` (H, W) (default: the mask's own shape) → feather.
    Returns float32 (H, W) in [0, 1].
    """
    m = remove_small_components(_binary(mask), min_frac_of_largest=min_frac_of_largest)
    if fill:
        m = fill_holes(m)
    h, w = out_shape if out_shape is not None else m.shape
    soft = resize_soft(m.astype(np.float32), h, w)
    if soft.shape != m.shape:  # re-binarise after upsampling so the edge is sharp before feathering
        soft = (soft > 0.5).astype(np.float32)
    return feather(soft, sigma)


def overlay(image: np.ndarray, groundings: Sequence[Grounding], alpha: float = 0.45) -> np.ndarray:
    """A preview: each grounding's mask tinted in its own colour, outlined and labelled.

    image: (H, W, 3) float32 RGB in [0, 1] or uint8 RGB. Each ``grounding.mask`` is (H, W).
    Returns (H, W, 3) uint8 RGB.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"Expected an (H, W, 3) RGB image, got shape {image.shape}.")
    base = image if image.dtype == np.uint8 else (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    out = base.astype(np.float32)
    h, w = base.shape[:2]
    labels = []
    for i, g in enumerate(groundings):
        if g.mask.shape != (h, w):
            raise ValueError(f"Mask for {g.target!r} is {g.mask.shape}, image is {(h, w)}.")
        colour = np.array(PALETTE[i % len(PALETTE)], np.float32)
        a = alpha * np.clip(g.mask.astype(np.float32), 0, 1)[..., None]
        out = out * (1 - a) + colour * a
        labels.append((g, tuple(int(c) for c in colour)))
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    scale = max(0.4, min(h, w) / 700.0)
    thick = max(1, round(scale * 2))
    for g, colour in labels:
        binary = (g.mask > 0.5).astype(np.uint8)
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, colour, thick)
        if not binary.any():
            continue
        ys, xs = np.nonzero(binary)
        org = (int(np.clip(xs.min(), 0, w - 1)), int(np.clip(ys.min() + 16 * scale, 10, h - 2)))
        cv2.putText(out, g.target, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(out, g.target, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
    return out
