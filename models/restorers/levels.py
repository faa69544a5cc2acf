"""Degradation levels as the offline network's condition values (import-light: no torch).

Each condition is ≥ 0 with 0 = "nothing to remove" and 1 = the top of the training range:

- noise: σ / ``NOISE_SCALE`` (σ on the 0–255 scale);
- jpeg: ``jpeg_condition(quality)`` = (100 − quality) / 90, 0 without compression;
- blur: Gaussian blur σ / ``BLUR_SCALE`` (px).
"""

from __future__ import annotations

#: The value of each level that maps to condition 1.0.
NOISE_SCALE = 50.0
BLUR_SCALE = 3.0


def jpeg_condition(quality: float | None) -> float:
    """The ``jpeg`` condition value for a JPEG quality (None = not compressed → 0)."""
    if quality is None:
        return 0.0
    return min(max((100.0 - float(quality)) / 90.0, 0.0), 1.0)
