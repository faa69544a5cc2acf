"""The offline classical restorer: denoise, deblur, deblock and lens blur driven by per-pixel maps.

Fidelity semantics (DESIGN.md). At a pixel with fidelity ``f`` in [0, 2] the restorer removes
``level × (2 − f)`` of each degradation, where ``level`` is the estimated one (``Degradation``):
f = 1 removes exactly the estimated noise σ / blur σ / JPEG quantization, f = 0 removes twice as
much, f = 2 removes nothing (the pixel is returned as it came in). ``2 − f`` is the *strength*
map. For lens blur the "level" is the disc radius.

Every operation runs on the whole image, never on crops. Where the strength varies it is
computed at a few strengths (the map's plateaus and extremes, at most 5) and each pixel
interpolates linearly between the two nearest; the result is then blended in by the operation's
weight map, ``x ← x + w·(op(x) − x)``. Soft mask edges therefore give smooth transitions and
there are no seams. In order:

1. dejpeg (``maps.dejpeg``): shift-invariant 8×8 DCT hard thresholding (all overlapping blocks)
   with thresholds ∝ the IJG quantization tables of the JPEG quality, in YCbCr as JPEG codes it;
   skipped without JPEG compression.
2. denoise (``maps.denoise``): the same sliding DCT in an orthonormal opponent colour space, hard
   thresholding at 2.7σ then an empirical Wiener pass (BM3D's two stages without block
   matching), σ = noise σ × strength.
3. deblur (``maps.deblur`` × (1 − ``maps.bokeh``)): regularised (Wiener-like) deconvolution of a
   Gaussian of σ = blur σ × strength; the regulariser grows with the noise and JPEG error left
   after steps 1–2, so sharpening does not amplify them.
4. bokeh (``maps.bokeh``): never sharpened; when the region is in focus (estimated blur below
   1.5 px), a disc lens blur (``lens.py``) of radius ∝ image size × strength.
5. keep (``maps.keep``): ``out = keep·input + (1 − keep)·restored``; keep == 1 is bit-exact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
from scipy import fft

from models.dct import YCBCR, ijg_quant_table, sliding_dct_denoise, sliding_dct_shrink
from models.quality import estimate_blur_sigma
from models.restorers.base import Degradation, ProgressFn, RestoredImage, Restorer
from models.restorers.lens import default_radius, lens_blur
from models.restorers.maps import RegionMaps

logger = logging.getLogger(__name__)

#: Orthonormal opponent colour transform (rows): white Gaussian RGB noise stays white with equal σ.
OPPONENT = np.array(
    [
        [1 / np.sqrt(3)] * 3,
        [1 / np.sqrt(2), 0, -1 / np.sqrt(2)],
        [1 / np.sqrt(6), -2 / np.sqrt(6), 1 / np.sqrt(6)],
    ],
    np.float32,
)
_YCBCR_INV = np.linalg.inv(YCBCR).astype(np.float32)

_JPEG_THRESHOLD = 0.4  # × quantization step (tuned on cbsd432 at quality 10 and 30)
_JPEG_SKIP_ABOVE = 95  # tables are ≤ 2 here: nothing visible to remove
#: Typical RMSE (0–255) of IJG compression at a quality, measured on cbsd432: (qualities, RMSE).
_JPEG_RMSE = ([1, 5, 10, 20, 30, 50, 75, 90, 100], [25.0, 17.8, 12.8, 9.8, 8.4, 6.9, 5.2, 3.3, 0.0])
_MIN_NOISE = 1.0  # σ (0–255) below which denoising is skipped
_MIN_BLUR = 0.35  # px
_IN_FOCUS = 1.5  # px: bokeh regions blurrier than this already have their blur


# --- Gaussian deconvolution ------------------------------------------------------------------


def _gaussian_response(n: int, sigma: float) -> np.ndarray:
    """Frequency response of a sampled, normalised Gaussian at the n DCT-II frequencies."""
    r = max(1, int(np.ceil(4 * sigma)))
    k = np.exp(-0.5 * (np.arange(r + 1) / sigma) ** 2)
    k /= k[0] + 2 * k[1:].sum()
    w = np.pi * np.arange(n) / n
    return k[0] + 2 * (k[1:, None] * np.cos(np.outer(np.arange(1, r + 1), w))).sum(axis=0)


def deconvolve_gaussian(image: np.ndarray, sigma: float, lam: float) -> np.ndarray:
    """Regularised inverse of a Gaussian blur of ``sigma`` px (symmetric boundaries, via DCT).

    image: (H, W, 3) float32 in [0, 1]. lam: weight of the squared-Laplacian penalty (larger =
    fewer noise and ringing artefacts, less sharpening). Returns (H, W, 3) float32 (unclipped).
    """
    h, w = image.shape[:2]
    hy, hx = _gaussian_response(h, sigma), _gaussian_response(w, sigma)
    transfer = hy[:, None] * hx[None, :]
    lap = (2 - 2 * np.cos(np.pi * np.arange(h) / h))[:, None] + (2 - 2 * np.cos(np.pi * np.arange(w) / w))
    gain = (transfer / (transfer**2 + lam * lap**2)).astype(np.float32)
    out = np.empty_like(image)
    for c in range(3):
        out[..., c] = fft.idctn(fft.dctn(image[..., c], norm="ortho") * gain, norm="ortho")
    return out


# --- per-pixel strength levels ---------------------------------------------------------------


def strength_levels(strength: np.ndarray, active: np.ndarray, max_levels: int = 5) -> list[float]:
    """The strengths worth computing: plateaus (≥ 1 % of active pixels) plus the extremes."""
    values = strength[active]
    if values.size == 0:
        return []
    lo, hi = float(values.min()), float(values.max())
    counts = np.bincount(np.round(values / 0.05).astype(np.int64))
    plateaus = np.flatnonzero(counts >= 0.01 * values.size) * 0.05
    levels: list[float] = []
    for v in sorted({lo, hi, *np.clip(plateaus, lo, hi).tolist()}):
        if not levels or v - levels[-1] > 0.02:
            levels.append(v)
    levels[-1] = hi
    if len(levels) > max_levels:
        levels = np.linspace(lo, hi, max_levels).tolist()
    return levels


def blend_levels(
    x: np.ndarray, strength: np.ndarray, levels: list[float], compute: Callable[[float], np.ndarray]
) -> np.ndarray:
    """Per pixel, interpolate linearly between ``compute(level)`` at the two nearest levels."""
    acc = np.zeros_like(x)
    k = np.clip(strength, levels[0], levels[-1])
    for j, level in enumerate(levels):
        if len(levels) == 1:
            hat = np.ones_like(k)
        else:
            left = levels[j - 1] if j > 0 else level - 1.0
            right = levels[j + 1] if j + 1 < len(levels) else level + 1.0
            hat = np.clip(np.minimum((k - left) / (level - left), (right - k) / (right - level)), 0, 1)
        if hat.max() > 0:
            acc += hat[..., None] * compute(level)
    return acc


def _blend(x: np.ndarray, op: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return x + weight[..., None] * (op - x)


# --- the restorer ----------------------------------------------------------------------------


class ClassicalRestorer(Restorer):
    """Region-aware classical restoration, no learned weights (see the module docstring)."""

    name = "classical (OpenCV)"

    def restore(
        self,
        image: np.ndarray,
        maps: RegionMaps,
        degradation: Degradation,
        progress: ProgressFn | None = None,
        plan: object | None = None,
        *,
        grounded: bool = True,
    ) -> RestoredImage:
        """Restore ``image`` (H, W, 3) float32 RGB in [0, 1] following ``maps``.

        ``degradation`` is the level fidelity 1 removes. ``plan`` is accepted for the pipeline's
        call and unused. Returns an (H, W, 3) float32 image in [0, 1] and short notes.
        """
        # 1. check inputs
        self.check_inputs(image, maps, degradation)
        strength = (2.0 - maps.fidelity).astype(np.float32)
        notes: list[str] = []
        steps = self.steps()
        total = len(steps) + 1
        out = image.copy()
        # 2.–5. one operation at a time, each blended in by its weight map
        for i, step in enumerate(steps, start=1):
            t0 = time.perf_counter()
            out = step(image, out, maps, strength, degradation, notes)
            logger.debug("%s took %.2f s", step.__name__, time.perf_counter() - t0)
            if progress is not None:
                progress(i, total)
        # 6. keep composite; keep == 1 is bit-exact
        keep = np.clip(maps.keep, 0.0, 1.0)[..., None]
        out = np.clip(keep * image + (1.0 - keep) * out, 0.0, 1.0).astype(np.float32)
        out = np.where(keep >= 1.0, image, out)
        if progress is not None:
            progress(total, total)
        return RestoredImage(image=out, notes=notes)

    def steps(self) -> list[Callable[..., np.ndarray]]:
        """The operations ``restore`` runs in order, each ``(image, x, maps, strength,
        degradation, notes) → x``."""
        return [self.dejpeg, self.denoise, self.deblur, self.add_bokeh]

    @staticmethod
    def check_inputs(image: np.ndarray, maps: RegionMaps, degradation: Degradation) -> None:
        """Raise ValueError unless the image, maps and degradation follow the contracts."""
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be (H, W, 3), got {getattr(image, 'shape', type(image))}")
        if image.dtype != np.float32:
            raise ValueError(f"image must be float32 RGB in [0, 1], got dtype {image.dtype}")
        for name in ("fidelity", "denoise", "deblur", "dejpeg", "bokeh", "keep"):
            m = getattr(maps, name)
            if m.shape != image.shape[:2]:
                raise ValueError(f"maps.{name} has shape {m.shape}, expected the image's {image.shape[:2]}")
            hi = 2.0 if name == "fidelity" else 1.0
            if m.size and (float(m.min()) < -1e-6 or float(m.max()) > hi + 1e-6):
                raise ValueError(f"maps.{name} must lie in [0, {hi:g}], got [{m.min():.3f}, {m.max():.3f}]")
        if degradation.noise_sigma < 0 or degradation.blur_sigma < 0:
            raise ValueError(f"degradation levels must be >= 0, got {degradation}")

    def dejpeg(self, image, x, maps, strength, degradation, notes):
        """Deblock: sliding-DCT thresholds ∝ the IJG tables of the quality, × strength."""
        quality, weight = degradation.jpeg_quality, maps.dejpeg
        active = weight > 0
        if quality is None or quality > _JPEG_SKIP_ABOVE or not active.any():
            return x
        ycc = (x * 255.0) @ YCBCR.T
        ycc[..., 1:] += 128.0
        tables = [ijg_quant_table(quality)] + 2 * [ijg_quant_table(quality, chroma=True)]

        def deblock(level: float) -> np.ndarray:
            if level <= 0:
                return x
            tau = _JPEG_THRESHOLD * level
            clean = np.stack([sliding_dct_shrink(ycc[..., c], tau, tables[c]) for c in range(3)], axis=-1)
            clean[..., 1:] -= 128.0
            return np.clip((clean @ _YCBCR_INV.T) / 255.0, 0.0, 1.0)

        out = blend_levels(x, strength, strength_levels(strength, active), deblock)
        how = "" if degradation.jpeg_exact else "≈"
        notes.append(f"smoothed JPEG blocks (quality {how}{quality})")
        return _blend(x, out, weight)

    def denoise(self, image, x, maps, strength, degradation, notes):
        """Sliding-DCT denoising in opponent colour at σ = noise σ × strength."""
        weight, noise = maps.denoise, degradation.noise_sigma
        active = weight > 0
        if not active.any():
            return x
        if noise * float(strength[active].max()) < _MIN_NOISE:
            notes.append(f"no visible noise to remove (σ≈{noise:.1f})")
            return x
        opp = (x * 255.0) @ OPPONENT.T

        def clean(level: float) -> np.ndarray:
            if noise * level < _MIN_NOISE:
                return x
            out = np.stack([sliding_dct_denoise(opp[..., c], noise * level) for c in range(3)], axis=-1)
            return np.clip((out @ OPPONENT) / 255.0, 0.0, 1.0)

        out = blend_levels(x, strength, strength_levels(strength, active), clean)
        notes.append(f"removed noise at σ≈{noise:.0f}" + _range_note(noise * strength[active], "σ", "{:.0f}"))
        return _blend(x, out, weight)

    def deblur(self, image, x, maps, strength, degradation, notes):
        """Gaussian Wiener deconvolution at blur σ × strength, regularised for leftover noise."""
        weight = maps.deblur * (1.0 - maps.bokeh)  # never sharpen bokeh
        active = weight > 0
        blur = degradation.sharpen_sigma  # the confident part of the reading
        if not active.any():
            return x
        if blur * float(strength[active].max()) < _MIN_BLUR:
            notes.append(f"no blur to sharpen (σ≈{blur:.1f} px)")
            return x

        def regularisation(level: float) -> float:
            """λ from the error left after steps 1–2 (noise, JPEG loss) where the strength is
            ``level``: those steps removed most of it where they ran; sharpening must not
            amplify what is left."""
            at = active & (np.abs(strength - level) < 0.05)
            at = at if at.any() else active
            cleaned = np.clip(strength[at], 0, 1)
            denoised = float((maps.denoise[at] * cleaned).mean())
            residual2 = (degradation.noise_sigma * (1.0 - 0.75 * denoised)) ** 2
            if degradation.jpeg_quality is not None:
                loss = float(np.interp(degradation.jpeg_quality, *_JPEG_RMSE))
                residual2 += (loss * (1.0 - 0.25 * float((maps.dejpeg[at] * cleaned).mean()))) ** 2
            return 1e-3 + 6e-4 * max(residual2, 0.25)

        def sharpen(level: float) -> np.ndarray:
            if blur * level < _MIN_BLUR:
                return x
            return np.clip(deconvolve_gaussian(x, blur * level, regularisation(level)), 0.0, 1.0)

        levels = strength_levels(strength, active)
        sharp = blend_levels(x, strength, levels, sharpen)
        notes.append(f"sharpened blur σ≈{blur:.1f} px" + _range_note(blur * strength[active], "σ", "{:.1f}"))
        return _blend(x, sharp, weight)

    def add_bokeh(self, image, x, maps, strength, degradation, notes):
        """Lens blur for in-focus bokeh regions (radius ∝ image size × strength); never sharpen."""
        weight = maps.bokeh
        region = weight > 0.5
        if not region.any():
            return x
        focus = estimate_blur_sigma(image, noise_sigma=degradation.noise_sigma, mask=region)
        if focus >= _IN_FOCUS:
            notes.append(f"kept the existing background blur (σ≈{focus:.1f} px), no sharpening")
            return x
        radius = default_radius(*x.shape[:2])
        active = weight > 0

        def blur(level: float) -> np.ndarray:
            return x if radius * level < 0.5 else lens_blur(x, radius * level, weight)

        levels = strength_levels(strength, active)
        soft = blend_levels(x, strength, levels, blur)
        notes.append(f"added lens blur (radius {radius:.0f} px)")
        return _blend(x, soft, weight)


def _range_note(values: np.ndarray, symbol: str, fmt: str) -> str:
    """' (σ 9–27 across regions)' when the per-pixel level varies, else ''."""
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 0.05 * max(hi, 1e-6):
        return ""
    return f" ({symbol} {fmt.format(lo)}–{fmt.format(hi)} across regions)"
