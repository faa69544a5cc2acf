"""The classical quality measurements: noise σ, blur σ and JPEG quality of a photo.

``models.degradation.estimate_degradation`` combines them with the learned estimator into what
"fidelity 1" means for a restorer; the JPEG tables and the DCT denoiser used here are ``models.dct``.

Every estimator takes an image as ``(H, W, 3)`` float RGB in [0, 1] (grayscale arrives as three
equal channels) and reports levels in the units users know: noise σ on the 0–255 scale, Gaussian
blur σ in pixels, JPEG quality 1–100 (IJG scale). They are cheap (well under a second on a
512×512 image), deterministic, and never fail on tiny images: too little evidence reads as
"clean" (0.0 or None).

Methods and calibration (cbsd432, the training split, degraded here with known parameters):

- JPEG quality from a file: the luminance (and chroma) quantization tables are matched against
  the IJG tables scaled for every quality 1–100; exact for files written by libjpeg/Pillow.
- JPEG quality from pixels: the 8×8 grid is located by its blockiness (mean luminance jump across
  block boundaries over the mean jump elsewhere); then the block-DCT coefficients on that grid
  are tested against each IJG table (decoded coefficients sit on multiples of the quantization
  step). The quality is the best-fitting table; when no table fits (never compressed, compressed
  at quality ≳ 90, noise added after compression, resized) the answer is None.
- Noise: PCA of 5×5×3 patches (8×8 for grayscale; Chen, Zhu & Heng, ICCV 2015): σ² is the mean
  of the smallest patch-covariance eigenvalues whose mean equals their median, computed on
  weak-texture patches (gradient energy below what noise of that σ explains; Liu, Tanaka &
  Okutomi 2013), iterated. Patches near 0 or 1 are dropped and the remaining clipping is
  corrected with a censored-Gaussian model, so clipped σ = 50 noise still reads ≈ 50.
- Blur: at luminance edges (local gradient maxima) the gradient ratio R between the image and a
  copy re-blurred with σ0 = 1 gives σ = σ0 / sqrt(R² − 1) (Zhuo & Sim 2011); the median over
  edges is mapped to the added Gaussian σ by ``σ = sqrt(a·raw² − b)``, fitted on cbsd432 blurred
  with σ 1–3 (mean readings 0.87 / 1.83 / 2.83 for σ 1 / 2 / 3; unblurred photos ≈ 0.25). Noisy
  images are denoised first (at their estimated σ) so noise does not read as sharpness, and the
  blur the denoiser adds is measured and removed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import ndtr

from models.dct import DCT8, YCBCR, ijg_quant_table, sliding_dct_denoise

logger = logging.getLogger(__name__)

# Calibration constants (see the module docstring).
_JPEG_FIT_MIN = 0.5  # mean cos(2π c / Q) over coefficients; never-compressed images score ≲ 0.3
_JPEG_MAX_DETECTED = 90  # above this the fit is unreliable and blocks are invisible anyway
_JPEG_ZIGZAG = [
    (0, 1),
    (1, 0),
    (2, 0),
    (1, 1),
    (0, 2),
    (0, 3),
    (1, 2),
    (2, 1),
    (3, 0),
    (4, 0),
    (3, 1),
    (2, 2),
    (1, 3),
    (0, 4),
]
_BLUR_REBLUR = 1.0  # σ0 of the re-blur
_BLUR_FIT = (1.080, 0.224)  # σ² = a·raw² − b: a fitted on cbsd432 at σ 1–3, b puts sharp at ≈ 0.25
_NOISE_PATCH = {3: 5, 1: 8}  # patch side per channel count: ≥ 64 dimensions
_NOISE_MAX_PATCHES = 12000
#: 99.9 % quantile of the gradient energy of a patch of unit white noise (simulated, 10⁶ patches).
_NOISE_ENERGY_QUANTILE = {3: 412.0, 1: 397.0}


_ALL_TABLES = np.stack([ijg_quant_table(q) for q in range(1, 101)])  # (100, 8, 8)
_ALL_CHROMA = np.stack([ijg_quant_table(q, chroma=True) for q in range(1, 101)])


def check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        got = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"expected an (H, W, 3) RGB array, got {got}")
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"expected a float image in [0, 1], got dtype {image.dtype}")
    return image.astype(np.float32, copy=False)


def luma255(image: np.ndarray) -> np.ndarray:
    """BT.601 luma (JPEG's Y) on the 0–255 scale: (H, W) float32."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return np.ascontiguousarray((0.299 * r + 0.587 * g + 0.114 * b) * 255.0, dtype=np.float32)


def check_mask(mask: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    if mask is None:
        return None
    if mask.shape != shape:
        raise ValueError(f"mask has shape {mask.shape}, expected the image's {shape}")
    return np.asarray(mask) > 0.5


# --- JPEG ------------------------------------------------------------------------------------


def jpeg_quality_from_file(path: str | Path) -> int | None:
    """IJG quality 1–100 whose quantization tables best match the file's; None if not a JPEG.

    Exact for files written by libjpeg (Pillow, most software); a camera JPEG with its own tables
    gets the nearest IJG quality. Raises FileNotFoundError for a missing file.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.format != "JPEG":
                return None
            tables = dict(getattr(img, "quantization", None) or {})
    except UnidentifiedImageError:
        return None
    if 0 not in tables:
        return None
    err = np.abs(_ALL_TABLES - np.asarray(tables[0], np.float32).reshape(8, 8)).sum(axis=(1, 2))
    if 1 in tables:
        chroma = np.asarray(tables[1], np.float32).reshape(8, 8)
        err = err + np.abs(_ALL_CHROMA - chroma).sum(axis=(1, 2))
    return int(np.argmin(err)) + 1


def blockiness(image: np.ndarray) -> tuple[float, tuple[int, int]]:
    """JPEG blockiness of the luma and the 8×8 grid's phase.

    Returns (score, (row_phase, col_phase)): score is the mean absolute luma jump across the
    strongest 8-periodic column/row boundary over the mean jump at the other 7 positions,
    averaged over both axes (≈ 1.0 for natural images, > 1.1 for visible JPEG blocks); the
    phase is the first pixel row/column of a block.
    """
    y = luma255(check_image(image))
    score, phase = [], []
    for axis in (0, 1):
        d = np.abs(np.diff(y, axis=axis))
        n = d.shape[axis]
        if n < 16:
            return 1.0, (0, 0)
        profile = np.array([_mean_jump(d, axis, k + 1, 8) for k in range(8)])
        k = int(np.argmax(profile))
        score.append(profile[k] / max(np.delete(profile, k).mean(), 1e-6))
        phase.append((k + 1) % 8)
    return float(np.mean(score)), (phase[0], phase[1])


def _mean_jump(d: np.ndarray, axis: int, start: int, period: int) -> float:
    """Mean of the absolute differences ``d`` across the boundaries before pixel ``start`` + k·period."""
    idx = np.arange(start - 1, d.shape[axis], period)
    idx = idx[idx >= 0]
    return float(np.take(d, idx, axis=axis).mean()) if len(idx) else 0.0


def _chroma_grid(image: np.ndarray, grid: tuple[int, int]) -> tuple[int, int]:
    """Refine an 8-px ``grid`` phase to the 16-px 4:2:0 chroma grid (each of p or p + 8).

    Subsampled chroma blocks cover 16×16 pixels, so the chroma jumps are strongest every 16 px;
    per axis the candidate with the larger mean Cb/Cr jump across its boundaries wins (images
    without subsampled chroma tie and keep p).
    """
    chroma = (image * 255.0) @ YCBCR[1:].T  # (h, w, 2): Cb, Cr
    out = []
    for axis, p in zip((0, 1), grid, strict=True):
        d = np.abs(np.diff(chroma, axis=axis))
        jumps = [_mean_jump(d, axis, start, 16) for start in (p, p + 8)]
        out.append(p + 8 if jumps[1] > 1.05 * jumps[0] else p)
    return out[0], out[1]


def _block_dct(y: np.ndarray, phase: tuple[int, int], max_blocks: int = 20000) -> np.ndarray:
    """8×8 DCT of the luma blocks on the grid starting at ``phase``: (B, 8, 8), level-shifted."""
    y = y[phase[0] :, phase[1] :]
    h, w = (y.shape[0] // 8) * 8, (y.shape[1] // 8) * 8
    blocks = (y[:h, :w] - 128.0).reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 8, 8)
    if len(blocks) > max_blocks:
        blocks = blocks[:: int(np.ceil(len(blocks) / max_blocks))]
    return np.einsum("ui,bij,vj->buv", DCT8, blocks, DCT8, optimize=True)


def _jpeg_fit(coefs: np.ndarray, positions: list[tuple[int, int]], qualities: np.ndarray) -> np.ndarray:
    """Per quality: mean cos(2π c / step) over coefficients that step would not round to zero.

    1 when every coefficient sits on a multiple of the quality's quantization step; ≈ 0 for
    coefficients that ignore the step.
    """
    num = np.zeros(len(qualities))
    den = np.zeros(len(qualities))
    for u, v in positions:
        c = coefs[:, u, v][:, None]  # (B, 1)
        step = _ALL_TABLES[None, qualities - 1, u, v]  # (1, Q)
        used = np.abs(c) > step / 2
        num += np.where(used, np.cos(2 * np.pi * c / step), 0.0).sum(axis=0)
        den += used.sum(axis=0)
    return np.where(den > 50, num / np.maximum(den, 1), 0.0)


def estimate_jpeg_quality(image: np.ndarray) -> int | None:
    """JPEG quality (1–100, IJG scale) of a decoded image, from its pixels; None if not detected.

    Works on images decoded from a JPEG and not resized since (crops too when the blocks are
    visible enough to locate the grid). Returns None for never-compressed images, quality above
    90, noise added after compression, and images under 64 px a side.
    """
    return estimate_jpeg(image)[0]


def estimate_jpeg(image: np.ndarray) -> tuple[int | None, tuple[int, int]]:
    """(quality, grid): ``estimate_jpeg_quality`` and where the blocks start, as the (row, column)
    of the first 16×16 (4:2:0 chroma) block's top-left pixel, 0–15 each ((0, 0) when nothing was
    detected or the whole image's grid fits as well as the located one)."""
    image = check_image(image)
    if min(image.shape[:2]) < 64:
        return None, (0, 0)
    score, phase = blockiness(image)
    y, qualities = luma255(image), np.arange(1, 101)
    # the grid of an uncropped image starts at (0, 0); blockiness locates it after a crop
    candidates = []
    for start in dict.fromkeys([(0, 0), phase]):
        coefs = _block_dct(y, start)
        candidates.append((_jpeg_fit(coefs, _JPEG_ZIGZAG, qualities), coefs, start))
    fit, coefs, grid = max(candidates, key=lambda fc: fc[0].max())
    best = int(np.argmax(fit))
    if fit[best] < _JPEG_FIT_MIN or best + 1 > _JPEG_MAX_DETECTED:
        logger.debug("no JPEG fit (%.2f at quality %d), blockiness %.3f", fit[best], best + 1, score)
        return None, (0, 0)
    # neighbouring qualities share the low-frequency steps: break the tie on all 63 AC steps
    ties = qualities[fit >= fit[best] - 0.005]
    ties = ties[np.abs(ties - (best + 1)) <= 5]
    if len(ties) > 1:
        full = _jpeg_fit(coefs, [(u, v) for u in range(8) for v in range(8) if u or v], ties)
        best = int(ties[len(full) - 1 - np.argmax(full[::-1])]) - 1  # the finest of equal fits
    if grid != (0, 0):
        grid = _chroma_grid(image, grid)
    logger.debug("JPEG fit %.2f at quality %d, grid %s, blockiness %.3f", fit[best], best + 1, grid, score)
    return best + 1, (int(grid[0]), int(grid[1]))


# --- noise -----------------------------------------------------------------------------------


def _pca_noise_variance(patches: np.ndarray) -> float:
    """Chen et al. 2015: mean of the smallest eigenvalues whose mean equals their median."""
    x = patches - patches.mean(axis=0)
    cov = (x.T @ x).astype(np.float64) / len(x)
    ev = np.sort(np.linalg.eigvalsh(cov))
    for i in range(len(ev), 0, -1):
        tail = ev[:i]
        tau = tail.mean()
        if np.sum(tail > tau) == np.sum(tail < tau):
            return max(float(tau), 0.0)
    return max(float(ev[0]), 0.0)


def _censored_var_ratio(mu: np.ndarray, sigma: float) -> np.ndarray:
    """Var(clip(mu + N(0, σ²), 0, 255)) / σ², elementwise (the variance clipping leaves)."""
    a, b = (0.0 - mu) / sigma, (255.0 - mu) / sigma
    pa, pb = ndtr(a), ndtr(b)
    da, db = np.exp(-0.5 * a * a), np.exp(-0.5 * b * b)
    da, db = da / np.sqrt(2 * np.pi), db / np.sqrt(2 * np.pi)
    m1 = a * pa + (da - db) + b * (1 - pb)
    m2 = a * a * pa + (pb - pa) + (a * da - b * db) + b * b * (1 - pb)
    return np.maximum(m2 - m1 * m1, 1e-3)


def _patch_gradient_energy(x: np.ndarray, p: int) -> np.ndarray:
    """Σ of squared horizontal and vertical differences inside each p×p patch: (H−p+1, W−p+1)."""
    h, w = x.shape[:2]
    dx = np.square(np.diff(x, axis=1)).sum(axis=2, dtype=np.float32)  # (H, W−1)
    dy = np.square(np.diff(x, axis=0)).sum(axis=2, dtype=np.float32)  # (H−1, W)
    ex = cv2.boxFilter(dx, -1, (p - 1, p), anchor=(0, 0), normalize=False)
    ey = cv2.boxFilter(dy, -1, (p, p - 1), anchor=(0, 0), normalize=False)
    return ex[: h - p + 1, : w - p + 1] + ey[: h - p + 1, : w - p + 1]


#: RGB noise σ per unit of luma noise σ for independent per-channel noise: 1/‖(.299, .587, .114)‖.
_LUMA_TO_RGB_NOISE = 1.0 / float(np.sqrt(0.299**2 + 0.587**2 + 0.114**2))


def estimate_noise_sigma(image: np.ndarray, mask: np.ndarray | None = None, jpeg: bool = False) -> float:
    """Additive white Gaussian noise σ on the 0–255 scale (≈ 0.3–1.5 on clean photos).

    mask: optional (H, W) region; patches whose centre lies inside (> 0.5) are used when there
    are enough of them, else the whole image.
    jpeg: the image was JPEG-compressed. Chroma subsampling and quantization then remove the
    weakest principal directions of RGB patches, so the RGB estimate reads far too low (σ 20
    noise saved at quality 60–95 reads ≈ 1). The luma channel keeps its noise, so the estimate
    is also taken on luma alone (scaled to per-channel RGB σ) and the larger one is returned.
    """
    image = check_image(image)
    if jpeg:
        luma = np.repeat(luma255(image)[..., None] / 255.0, 3, axis=2)
        return max(estimate_noise_sigma(image, mask), estimate_noise_sigma(luma, mask) * _LUMA_TO_RGB_NOISE)
    x = image * 255.0
    if np.ptp(image, axis=2).max(initial=0.0) == 0.0:
        x = np.ascontiguousarray(x[..., :1])  # grayscale as RGB: equal channels add no evidence
    h, w, c = x.shape
    p = _NOISE_PATCH[c] if min(h, w) >= 16 else 3
    if min(h, w) < p:
        return 0.0
    # every p×p patch position: its per-channel mean and gradient energy
    hp, wp = h - p + 1, w - p + 1
    view = sliding_window_view(x, (p, p), axis=(0, 1))  # (hp, wp, C, p, p), no copy
    means = cv2.boxFilter(x, -1, (p, p), anchor=(0, 0)).reshape(h, w, c)[:hp, :wp].reshape(-1, c)
    energy = _patch_gradient_energy(x, p).ravel()
    keep = np.ones(hp * wp, bool)
    region = check_mask(mask, (h, w))
    if region is not None:
        inside = region[p // 2 : p // 2 + hp, p // 2 : p // 2 + wp].ravel()
        if inside.sum() >= 20 * c * p * p:
            keep = inside
    enough = 20 * c * p * p  # fewer patches bias the smallest eigenvalues low
    if keep.sum() < 3 * c * p * p:
        return 0.0
    rng = np.random.default_rng(0)

    def sample(selected: np.ndarray, n: int) -> np.ndarray:
        idx = np.flatnonzero(selected)
        return np.sort(rng.choice(idx, n, replace=False)) if len(idx) > n else idx

    def pca_sigma(idx: np.ndarray) -> float:
        rows = view[idx // wp, idx % wp].reshape(len(idx), c * p * p)
        return float(np.sqrt(_pca_noise_variance(rows)))

    # 1. weak-texture patches (Liu, Tanaka & Okutomi 2013): gradient energy below what noise of
    #    the current σ explains, iterated; patches within 2σ of 0 or 255 (clipped) are left out
    used = sample(keep, _NOISE_MAX_PATCHES)
    sigma = pca_sigma(used)
    for _ in range(15):
        margin = 2.0 * sigma
        candidate = keep & np.all((means > margin) & (means < 255.0 - margin), axis=1)
        candidate &= energy < max(sigma, 0.1) ** 2 * _NOISE_ENERGY_QUANTILE[c]
        logger.debug("noise σ %.2f: %d weak-texture patches", sigma, candidate.sum())
        if candidate.sum() < enough:
            break
        used = sample(candidate, _NOISE_MAX_PATCHES)
        previous, sigma = sigma, pca_sigma(used)
        if abs(sigma - previous) <= 0.01 * previous:
            break
    # 2. correct the clipping that remains with a censored-Gaussian model around a smooth image
    observed = sigma
    if observed > 1.0:
        mu = cv2.GaussianBlur(x, (0, 0), 1.5).reshape(h, w, c)[p // 2 : p // 2 + hp, p // 2 : p // 2 + wp]
        mu = mu.reshape(-1, c)[used]
        for _ in range(3):
            sigma = observed / np.sqrt(_censored_var_ratio(mu, sigma).mean())
    return float(sigma)


# --- blur ------------------------------------------------------------------------------------


def _gradient_magnitude(y: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    return np.hypot(gx, gy)


def _edge_blur(y: np.ndarray, region: np.ndarray | None) -> float | None:
    """Median σ0 / sqrt(R² − 1) over strong edges of luma ``y`` (uncalibrated); None: no edges."""
    grad = _gradient_magnitude(y)
    reblurred = _gradient_magnitude(cv2.GaussianBlur(y, (0, 0), _BLUR_REBLUR))
    peaks = grad >= cv2.dilate(grad, np.ones((3, 3), np.uint8))
    pool = grad if region is None else grad[region]
    if pool.size == 0:
        return None
    edges = peaks & (grad > max(float(np.percentile(pool, 90)), 6.0))
    if region is not None:
        edges &= region
    ratio = grad[edges] / np.maximum(reblurred[edges], 1e-6)
    ratio = ratio[ratio > 1.0005]
    if ratio.size < 20:
        return None
    return float(np.median(_BLUR_REBLUR / np.sqrt(ratio**2 - 1.0)))


def estimate_blur_sigma(
    image: np.ndarray, noise_sigma: float | None = None, mask: np.ndarray | None = None
) -> float:
    """Gaussian blur σ in pixels (≈ 0.25 on sharp photos); 0.0 when there are no edges to measure.

    noise_sigma: the image's noise σ (0–255) if known; estimated when None. Above 1 the luma is
    denoised first, and the blur the denoiser itself adds is measured (by denoising the result
    again with fresh noise of the same σ) and removed in quadrature. Reliable up to σ ≈ 25 noise.
    mask: optional (H, W) region whose edges (> 0.5) are measured.
    """
    image = check_image(image)
    y = luma255(image)
    if min(y.shape) < 8:
        return 0.0
    region = check_mask(mask, y.shape)
    sigma_n = estimate_noise_sigma(image) if noise_sigma is None else float(noise_sigma)
    if sigma_n > 1.0:
        y = sliding_dct_denoise(y, sigma_n, wiener=False)
        raw = _edge_blur(y, region)
        noise = np.random.default_rng(0).normal(0.0, sigma_n, y.shape).astype(np.float32)
        again = _edge_blur(sliding_dct_denoise(y + noise, sigma_n, wiener=False), region)
        if raw is not None and again is not None:
            raw = float(np.sqrt(max(2.0 * raw * raw - again * again, 0.0)))
    else:
        raw = _edge_blur(y, region)
    if raw is None:
        return 0.0
    a, b = _BLUR_FIT
    return float(np.sqrt(max(a * raw * raw - b, 0.0)))
