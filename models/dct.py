"""The 8×8 DCT tools shared by the quality estimators and the classical restorer.

JPEG's transform and tables (the orthonormal 8-point DCT, the RGB → YCbCr matrix, the IJG
quantization tables at any quality) and the shift-invariant sliding-DCT denoiser built on them.
``models.quality`` reads JPEG quality against these tables and pre-denoises before measuring blur;
``models.restorers.classical`` deblocks and denoises with them. Both import this module, which
imports neither.
"""

from __future__ import annotations

import cv2
import numpy as np

_HARD_THRESHOLD = 2.7  # × σ, as BM3D's first stage
_TILE = 512

#: IJG (libjpeg) standard quantization tables at quality 50, natural (row-major) order.
IJG_LUMA = np.array(
    [
        16,
        11,
        10,
        16,
        24,
        40,
        51,
        61,
        12,
        12,
        14,
        19,
        26,
        58,
        60,
        55,
        14,
        13,
        16,
        24,
        40,
        57,
        69,
        56,
        14,
        17,
        22,
        29,
        51,
        87,
        80,
        62,
        18,
        22,
        37,
        56,
        68,
        109,
        103,
        77,
        24,
        35,
        55,
        64,
        81,
        104,
        113,
        92,
        49,
        64,
        78,
        87,
        103,
        121,
        120,
        101,
        72,
        92,
        95,
        98,
        112,
        100,
        103,
        99,
    ],
    np.float32,
).reshape(8, 8)
IJG_CHROMA = np.full((8, 8), 99.0, np.float32)
IJG_CHROMA[:4, :4] = np.array(
    [17, 18, 24, 47, 18, 21, 26, 66, 24, 26, 56, 99, 47, 66, 99, 99], np.float32
).reshape(4, 4)

#: Orthonormal 8-point DCT-II matrix: coefficients = D @ block @ D.T (JPEG's transform).
DCT8 = (np.cos(np.pi * (2 * np.arange(8)[None, :] + 1) * np.arange(8)[:, None] / 16) / 2).astype(np.float32)
DCT8[0] /= np.sqrt(2.0)

#: JPEG's RGB → YCbCr (rows, 0–255 scale; add 128 to Cb and Cr).
YCBCR = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32
)


def ijg_quant_table(quality: int, chroma: bool = False) -> np.ndarray:
    """The IJG quantization table libjpeg writes for ``quality`` 1–100: (8, 8) float32 ≥ 1."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality  # libjpeg's integer arithmetic
    base = IJG_CHROMA if chroma else IJG_LUMA
    return np.clip((base.astype(np.int64) * scale + 50) // 100, 1, 255).astype(np.float32)


# --- sliding 8×8 DCT shrinkage ---------------------------------------------------------------


def _shrink_chunk(x: np.ndarray, tau: float, freq: np.ndarray, wiener_sigma: float | None) -> np.ndarray:
    """One tile of ``sliding_dct_shrink``; output pixels within 16 px of the edge are approximate."""
    pad = 8
    xp = cv2.copyMakeBorder(x, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)

    def fwd(img, u, v):  # coefficient (u, v) of the patch starting at each pixel
        return cv2.sepFilter2D(
            img, cv2.CV_32F, DCT8[v], DCT8[u], anchor=(0, 0), borderType=cv2.BORDER_REFLECT
        )

    def aggregate(coefs, weight, shrink=None):  # weighted overlap-add of the (shrunk) patches
        acc = np.zeros_like(xp)
        for (u, v), c in coefs.items():
            c = c * weight if shrink is None else shrink(u, v, c) * weight
            acc += cv2.sepFilter2D(
                c,
                cv2.CV_32F,
                DCT8[v][::-1].copy(),
                DCT8[u][::-1].copy(),
                anchor=(7, 7),
                borderType=cv2.BORDER_REFLECT,
            )
        norm = cv2.boxFilter(
            weight, -1, (8, 8), anchor=(7, 7), normalize=False, borderType=cv2.BORDER_REFLECT
        )
        return acc / np.maximum(norm, 1e-12)

    def hard(u, v, c):  # the DC coefficient is always kept
        return c if not (u or v) else c * (np.abs(c) >= tau * freq[u, v])

    # stage 1: hard thresholding, patches weighted by 1 / #kept coefficients
    coefs = {(u, v): fwd(xp, u, v) for u in range(8) for v in range(8)}
    kept = np.ones_like(xp)
    for (u, v), c in coefs.items():
        if u or v:
            kept += np.abs(c) >= tau * freq[u, v]
    basic = aggregate(coefs, 1.0 / kept, hard)
    if wiener_sigma is None:
        return basic[pad:-pad, pad:-pad]
    # stage 2: empirical Wiener shrinkage of the input's coefficients, the basic estimate as pilot
    energy = np.zeros_like(xp)
    for (u, v), c in coefs.items():
        b2 = fwd(basic, u, v) ** 2
        gain = b2 / (b2 + (wiener_sigma * freq[u, v]) ** 2 + 1e-8)
        c *= gain  # in place: the raw coefficients are not needed again
        energy += gain * gain
    return aggregate(coefs, 1.0 / np.maximum(energy, 1e-3))[pad:-pad, pad:-pad]


def sliding_dct_shrink(
    x: np.ndarray, threshold: float, freq: np.ndarray | None = None, wiener_sigma: float | None = None
) -> np.ndarray:
    """Shift-invariant 8×8 DCT shrinkage of one channel (all overlapping patches, averaged).

    x: (H, W) float32 on the 0–255 scale. The AC coefficient (u, v) of every patch is zeroed
    when ``|c| < threshold·freq[u, v]``; freq: (8, 8) per-frequency multipliers (ones when
    None). wiener_sigma: optional noise σ for a second, empirical-Wiener pass. Returns (H, W)
    float32; threshold 0 and σ 0 return the input (to float rounding). Processed in tiles with a
    16 px apron (reflected at the image border): memory stays bounded and the result does not
    depend on the tiling.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    freq = np.ones((8, 8), np.float32) if freq is None else freq.astype(np.float32)
    tau = float(threshold)
    sigma = None if wiener_sigma is None else float(wiener_sigma)
    h, w = x.shape
    apron = 16
    xp = cv2.copyMakeBorder(x, apron, apron, apron, apron, cv2.BORDER_REFLECT_101)
    out = np.empty_like(x)
    for y0 in range(0, h, _TILE):
        for x0 in range(0, w, _TILE):
            y1, x1 = min(y0 + _TILE, h), min(x0 + _TILE, w)
            tile = _shrink_chunk(xp[y0 : y1 + 2 * apron, x0 : x1 + 2 * apron], tau, freq, sigma)
            out[y0:y1, x0:x1] = tile[apron:-apron, apron:-apron]
    return out


def sliding_dct_denoise(x: np.ndarray, sigma: float, wiener: bool = True) -> np.ndarray:
    """Denoise one (H, W) float32 channel (0–255 scale) with white Gaussian noise of ``sigma``."""
    return sliding_dct_shrink(x, _HARD_THRESHOLD * sigma, wiener_sigma=sigma if wiener else None)
