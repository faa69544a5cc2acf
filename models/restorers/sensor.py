"""The colour-filter pattern of a digital camera's noise: evidence that a photo's grain is noise.

A camera sensor sees one colour per pixel through its colour-filter array (2×2 Bayer pattern:
two greens, a red, a blue); demosaicking interpolates the other two. Interpolated values average
several sensor values, so their noise is weaker than the noise of the values the sensor measured:
in a full-resolution digital photo the fine-scale noise variance alternates with the 2×2 pattern.
The grain and texture of film scans, and photos resized after capture, have no such pattern.

``sensor_pattern`` measures it on the flattest 16×16 blocks (the lowest ``_FLAT_SHARE`` of fine
high-pass energy, mid-tones only): the variance of each of the four pixel phases (row, column
mod 2), per channel; the pattern's σ is √(max − min) and its share (max − min) / mean, each the
median over the channels. It is strong where noise fills the flat areas of a camera's own file:

==========================================  ===========  ===========
photos (``benchmarks/sensor_pattern.py``)    pattern σ     share
==========================================  ===========  ===========
``cc15_realnoise`` noisy, 14 PNG             0.54–1.40     0.19–0.64
same scenes, mean of 500 shots (clean)       0.10–0.61     0.12–0.72
CBSD68 / CBSD432 / COCO / SOD (1,100 scans   ≤ 3.0         ≤ 0.40
and resized photos)
==========================================  ===========  ===========

Clean scans read a high σ only where their flat blocks hold much energy (grain, texture), and
then a small share; clean camera files read a high share only at a small σ. Both at once
(``SENSOR_PATTERN``) is a sensor's pattern. It is not proof of noise: a sensor that sees fine
random texture at its own pixel scale shapes it the same way (the camera model's clean captures
of grainy film scans: 47 of 72 carry it), which is why ``estimator._suspicion`` asks the learned
map's agreement too before it takes a suspected level as noise. It is a one-sided test: a camera
file whose pattern in-camera noise reduction, strong JPEG or resizing removed reads as before.
"""

from __future__ import annotations

import numpy as np

#: The pattern's σ (0–255) and share from which the flat areas' variance follows a sensor's
#: pattern: no clean photo of the table reads both; 5 of the 15 cc15 noisy shots do (the
#: strongest; the JPEG q89 shot reads 0.31 / 0.09).
SENSOR_PATTERN = (1.0, 0.3)
#: Blocks of this many pixels, the flattest share of them (by fine high-pass energy).
_BLOCK, _FLAT_SHARE = 16, 0.3
#: Fewer flattest blocks than this (``_FLAT_SHARE`` of the usable ones) and the pattern is not read.
_MIN_BLOCKS = 24


def sensor_pattern(image: np.ndarray, region: np.ndarray | None = None) -> tuple[float, float]:
    """(σ, share) of the 2×2 colour-filter pattern in the fine-scale variance of the flattest
    blocks of ``image`` (H, W, 3) float in [0, 1]; ``region``: bool (H, W) or None (blocks whose
    centre is inside, where there are enough). (0, 0) for images too small to tell."""
    b = _BLOCK
    h, w = image.shape[0] // b * b, image.shape[1] // b * b
    if h * w < _MIN_BLOCKS * b * b / _FLAT_SHARE:  # too few blocks for the flattest to count
        return 0.0, 0.0
    energy, tone, phases = _block_statistics(image[:h, :w])
    usable = (tone > 10.0) & (tone < 245.0)  # clipped blocks hold no noise
    if region is not None:
        inside = usable & region[b // 2 : h : b, b // 2 : w : b]
        usable = inside if inside.sum() >= _MIN_BLOCKS / _FLAT_SHARE else usable
    if usable.sum() < _MIN_BLOCKS / _FLAT_SHARE:
        return 0.0, 0.0
    flat = usable & (energy <= np.quantile(energy[usable], _FLAT_SHARE))
    variance = phases[flat].mean(axis=0)  # (2, 2, 3): each phase's fine variance, per channel
    spread = variance.max(axis=(0, 1)) - variance.min(axis=(0, 1))
    share = spread / np.maximum(variance.mean(axis=(0, 1)), 1e-6)
    return float(np.median(np.sqrt(spread))), float(np.median(share))


def _block_statistics(image: np.ndarray, strip: int = 32) -> tuple[np.ndarray, ...]:
    """Per ``_BLOCK``² block of ``image`` (its sides multiples of the block): the fine (1 px:
    the image less its [1 2 1]² blur) energy, the mean tone (0–255) and each phase's fine
    variance per channel, (rows, cols, 2, 2, 3). ``strip`` block rows at a time, so a 12 MP photo
    needs tens of MB, not a float copy of itself per step."""
    import cv2

    b, (h, w) = _BLOCK, image.shape[:2]
    k = np.array([0.25, 0.5, 0.25], np.float32)
    energy = np.empty((h // b, w // b), np.float32)
    tone = np.empty_like(energy)
    phases = np.empty((h // b, w // b, 2, 2, 3), np.float32)
    for r0 in range(0, h // b, strip):
        r1 = min(r0 + strip, h // b)
        y0, y1 = max(0, r0 * b - 1), min(h, r1 * b + 1)  # one row of context for the blur
        x = np.ascontiguousarray(image[y0:y1], dtype=np.float32) * 255.0
        rows = slice(r0 * b - y0, r1 * b - y0)
        fine = (x - cv2.sepFilter2D(x, -1, k, k, borderType=cv2.BORDER_REFLECT))[rows]
        x = x[rows]
        blocks = np.square(fine).reshape(r1 - r0, b // 2, 2, w // b, b // 2, 2, 3)
        phases[r0:r1] = blocks.mean(axis=(1, 4)).transpose(0, 2, 1, 3, 4)  # (rows, cols, 2, 2, 3)
        energy[r0:r1] = phases[r0:r1].mean(axis=(2, 3, 4))
        tone[r0:r1] = x.mean(axis=2).reshape(r1 - r0, b, w // b, b).mean(axis=(1, 3))
    return energy, tone, phases


def is_sensor_noise(image: np.ndarray, region: np.ndarray | None = None) -> bool:
    """Whether the flattest areas' fine variance carries a camera sensor's pattern
    (``SENSOR_PATTERN``)."""
    sigma, share = sensor_pattern(image, region)
    return sigma >= SENSOR_PATTERN[0] and share >= SENSOR_PATTERN[1]
