"""What is wrong with a photo: the quality measurements and the learned estimator combined.

``estimate_degradation`` reports noise, blur and JPEG levels as one ``Degradation`` (what
"fidelity 1" means for a restorer); ``quality_scores`` adds the no-reference numbers reports show.
The measurements are ``models.quality`` (classical: PCA noise, edge-width blur, JPEG tables); the
learned noise and blur readings are ``models.restorers.estimator``, which itself builds on
``models.quality``. This module sits above both, so neither imports it.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from models.quality import (
    blockiness,
    check_image,
    check_mask,
    estimate_blur_sigma,
    estimate_jpeg,
    estimate_noise_sigma,
    luma255,
)
from models.restorers.base import Degradation

logger = logging.getLogger(__name__)


def estimate_degradation(
    image: np.ndarray,
    jpeg_quality_hint: int | None = None,
    mask: np.ndarray | None = None,
    method: str = "learned",
) -> Degradation:
    """All three levels at once.

    jpeg_quality_hint: the quality read from the file (``jpeg_quality_from_file``); it wins over
    the pixel estimate and marks the result exact. mask: optional (H, W) region in [0, 1]
    (> 0.5 = inside) for noise and blur; JPEG quality is a property of the whole file.
    method: ``learned`` (default: ``restorers/estimator.py``, Restora's estimator network fused
    with flat-patch and PCA readings: a noise level that reads camera noise, its whiteness, and a
    blur reading with its confidence) or
    ``classical`` (the PCA noise and edge-width blur estimators of ``models.quality``: exact on white
    noise, blind to correlated camera noise).
    """
    image = check_image(image)
    if method not in ("learned", "classical"):
        raise ValueError(f"method must be 'learned' or 'classical', got {method!r}")
    if jpeg_quality_hint is not None:
        if not 1 <= int(jpeg_quality_hint) <= 100:
            raise ValueError(f"jpeg_quality_hint must be in 1..100, got {jpeg_quality_hint}")
        quality, exact, grid = int(jpeg_quality_hint), True, (0, 0)
    else:
        (quality, grid), exact = estimate_jpeg(image), False
    jpeg = dict(jpeg_quality=quality, jpeg_exact=exact, jpeg_grid=grid)
    if method == "classical":
        noise = estimate_noise_sigma(image, mask, jpeg=quality is not None)
        blur = estimate_blur_sigma(image, noise_sigma=noise, mask=mask)
        result = Degradation(noise_sigma=noise, blur_sigma=blur, **jpeg)
    else:
        from models.restorers.estimator import blur_reading, noise_reading, run_estimator

        region = check_mask(mask, image.shape[:2])
        learned = run_estimator(image, quality)
        noise = noise_reading(image, learned, region, quality)
        blur, confidence = blur_reading(image, noise, mask)
        result = Degradation(
            noise_sigma=noise.level,
            noise_whiteness=noise.whiteness,
            noise_suspected=noise.suspected,
            noise_confidence=noise.confidence,
            noise_floor=noise.floor,
            noise_sensor=noise.sensor,
            blur_sigma=blur,
            blur_confidence=confidence,
            **jpeg,
        )
    logger.info("estimated degradation (%s): %s", method, result.describe())
    return result


def quality_scores(image: np.ndarray, degradation: Degradation | None = None) -> dict[str, float]:
    """Simple no-reference numbers for reports, all floats.

    noise_sigma (0–255) and blur_sigma (px) as ``estimate_degradation`` reads them (or taken
    from ``degradation`` when the caller has it), sharpness (variance of the luma Laplacian,
    0–255 scale; higher = sharper or noisier), blockiness (≈ 1 without JPEG blocks), brightness
    (mean luma in [0, 1]) and contrast (luma standard deviation in [0, 1]).
    """
    image = check_image(image)
    y = luma255(image)
    if degradation is None:
        degradation = estimate_degradation(image)
    return {
        "noise_sigma": degradation.noise_sigma,
        "blur_sigma": degradation.blur_sigma,
        "sharpness": float(cv2.Laplacian(y, cv2.CV_32F).var()),
        "blockiness": blockiness(image)[0],
        "brightness": float(y.mean() / 255.0),
        "contrast": float(y.std() / 255.0),
    }
