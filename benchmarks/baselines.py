"""The classical baselines ``restoration_quality.py`` compares the offline network with: CBM3D,
Wiener and Richardson–Lucy with the true kernel, and Restora's classical sliding-DCT deblocker.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from scoring import psnr  # noqa: E402

from models.restorers.base import Degradation  # noqa: E402
from models.restorers.maps import RegionMaps  # noqa: E402
from models.restorers.synthetic import SyntheticDegradation, gaussian_kernel, quantize  # noqa: E402


def bm3d_rgb(image: np.ndarray, sigma: float) -> np.ndarray:
    import bm3d

    return np.asarray(bm3d.bm3d_rgb(image, sigma / 255.0), dtype=np.float32)


def wiener_best(images, d: SyntheticDegradation) -> tuple[float, float]:
    from skimage.restoration import wiener

    psf = gaussian_kernel(d.blur_sigma)
    best = (-1.0, 0.0)
    for balance in (1e-3, 3e-3, 1e-2, 3e-2):
        vals = []
        for i, (_, clean) in enumerate(images):
            bad = quantize(d.apply(clean, np.random.default_rng([68, i])))
            out = np.stack([wiener(bad[..., c], psf, balance, clip=False) for c in range(3)], axis=-1)
            vals.append(psnr(out, clean))
        best = max(best, (float(np.mean(vals)), balance))
    return best


def richardson_lucy(image: np.ndarray, sigma: float) -> np.ndarray:
    from skimage.restoration import richardson_lucy as rl

    psf = gaussian_kernel(sigma)
    return np.stack(
        [rl(np.clip(image[..., c], 1e-4, 1), psf, num_iter=30, clip=False) for c in range(3)], axis=-1
    )


def classical_dejpeg(quality: int) -> Callable[[np.ndarray], np.ndarray]:
    from models.restorers.classical import ClassicalRestorer

    restorer = ClassicalRestorer()

    def run(image):
        maps = RegionMaps.uniform(*image.shape[:2], 1.0, "dejpeg")
        return restorer.restore(image, maps, Degradation(jpeg_quality=quality, jpeg_exact=True)).image

    return run
