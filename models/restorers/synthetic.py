"""Synthetic degradations with RAP's ranges, shared by training, tests and benchmarks.

Images are float32 RGB in [0, 1] (noise may push values outside until quantized). The order of a
mixture is RAP's: blur → noise → JPEG.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

KERNEL_SIZE = 15


def gaussian_kernel(sigma: float, size: int = KERNEL_SIZE) -> np.ndarray:
    """Normalised isotropic Gaussian kernel (size × size) float32."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(r**2) / (2 * max(sigma, 1e-6) ** 2))
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)


def blur(image: np.ndarray, sigma: float, size: int = KERNEL_SIZE) -> np.ndarray:
    """Convolve with ``gaussian_kernel(sigma)`` (reflected borders)."""
    if sigma <= 0:
        return image.astype(np.float32, copy=True)
    return cv2.filter2D(
        image.astype(np.float32), -1, gaussian_kernel(sigma, size), borderType=cv2.BORDER_REFLECT
    )


def add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian noise of ``sigma`` on the 0–255 scale, not clipped."""
    noise = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(sigma / 255.0)
    return image.astype(np.float32) + noise


def quantize(image: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and round to 8 bits, as a saved photo is."""
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.float32) / 255.0


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as a colour JPEG (4:2:0, like cameras and libjpeg's defaults)."""
    rgb8 = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a JPEG at quality {quality}")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


@dataclass(frozen=True)
class SyntheticDegradation:
    """One mixture: blur σ (px, 0 = none), noise σ (0–255, 0 = none), JPEG quality (None = none)."""

    blur_sigma: float = 0.0
    noise_sigma: float = 0.0
    jpeg_quality: int | None = None

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = blur(image, self.blur_sigma) if self.blur_sigma > 0 else image.astype(np.float32)
        if self.noise_sigma > 0:
            out = add_noise(out, self.noise_sigma, rng)
        if self.jpeg_quality is not None:
            out = jpeg(out, self.jpeg_quality)
        return out


def sample_degradation(rng: np.random.Generator) -> SyntheticDegradation:
    """A random mixture with RAP's ranges (σ 0–50, QF 10–95, blur σ 0.1–3); ~11 % stay clean."""
    blur_sigma = float(rng.uniform(0.1, 3.0)) if rng.random() < 0.3 else 0.0
    noise_sigma = float(rng.uniform(0.0, 50.0)) if rng.random() < 0.75 else 0.0
    quality = int(rng.integers(10, 96)) if rng.random() < 0.35 else None
    return SyntheticDegradation(blur_sigma, noise_sigma, quality)
