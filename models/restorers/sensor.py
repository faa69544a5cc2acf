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
    import cv2

    b = _BLOCK
    h, w = image.shape[0] // b * b, image.shape[1] // b * b
    if h * w < _MIN_BLOCKS * b * b / _FLAT_SHARE:  # too few blocks for the flattest to count
        return 0.0, 0.0
    x = np.ascontiguousarray(image[:h, :w], dtype=np.float32) * 255.0
    k = np.array([0.25, 0.5, 0.25], np.float32)
    fine = x - cv2.sepFilter2D(x, -1, k, k, borderType=cv2.BORDER_REFLECT)  # the 1-px scale
    energy = np.square(fine).mean(axis=2).reshape(h // b, b, w // b, b).mean(axis=(1, 3))
    tone = x.mean(axis=2).reshape(h // b, b, w // b, b).mean(axis=(1, 3))
    usable = (tone > 10.0) & (tone < 245.0)  # clipped blocks hold no noise
    if region is not None:
        inside = usable & region[b // 2 : h : b, b // 2 : w : b]
        usable = inside if inside.sum() >= _MIN_BLOCKS / _FLAT_SHARE else usable
    if usable.sum() < _MIN_BLOCKS / _FLAT_SHARE:
        return 0.0, 0.0
    flat = usable & (energy <= np.quantile(energy[usable], _FLAT_SHARE))
    blocks = fine.reshape(h // b, b, w // b, b, 3).transpose(0, 2, 1, 3, 4)[flat]  # (n, b, b, 3)
    phases = np.square(blocks).reshape(-1, b // 2, 2, b // 2, 2, 3).mean(axis=(0, 1, 3))  # (2, 2, 3)
    spread = phases.max(axis=(0, 1)) - phases.min(axis=(0, 1))
    share = spread / np.maximum(phases.mean(axis=(0, 1)), 1e-6)
    return float(np.median(np.sqrt(spread))), float(np.median(share))


def is_sensor_noise(image: np.ndarray, region: np.ndarray | None = None) -> bool:
    """Whether the flattest areas' fine variance carries a camera sensor's pattern
    (``SENSOR_PATTERN``)."""
    sigma, share = sensor_pattern(image, region)
    return sigma >= SENSOR_PATTERN[0] and share >= SENSOR_PATTERN[1]
