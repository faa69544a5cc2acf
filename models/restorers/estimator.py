"""Blind noise and blur estimation that reads real damage, not only synthetic white noise.

Camera noise defeats the classical estimators of ``quality.py``. PCA of patches takes the
smallest eigenvalues, i.e. the finest-scale part of the noise, and demosaicking and in-camera
noise reduction have moved camera noise to coarser scales (``cc15_realnoise``: σ 3.6–8.3 per
pixel, read as 0.5–0.7); an edge-width blur estimator then reads the leftover noise as detail.
What the restorer needs is its noise condition (``camera.cell_noise_sigma``: the noise's σ on
2×2 cells × 2, 0–255 scale; equal to σ for white noise). Three readings, each good at one thing,
are combined (``noise_reading``):

- **PCA σ** (``quality.estimate_noise_sigma``): exact for white noise, robust to texture, blind
  to correlated noise;
- **flat-patch level** (``flat_readings``): the whole cell-scale variance of the flattest
  patches, so correlated noise reads in full; calibrated on the camera model (``FLAT_BIAS``);
  texture reads as noise in a photo without flat areas, which the same reading in the smoothest
  tone band (its floor) flags where a few smooth things are far quieter than the level;
- **learned map** (``DegradationEstimator``, trained by ``scripts/train_estimator.py`` on the
  camera model, white and correlated Gaussian noise and RAP's mixtures): tells noise from texture,
  but with a wider error (±50 % per image) than the flat-patch level on photos with flat areas;
  it vetoes flat-patch readings that are texture (``AGREEMENT``).

Their ratio says whether the noise is white (PCA explains the flat-patch level) or correlated
(``Degradation.noise_whiteness``; the restorer routes correlated noise to its camera network).
The result is one level per image or region (``noise_reading`` says why not a per-pixel map).

Where the learned map sees no visible noise but the flat patches do, the level is a suspicion of
texture, unless the flattest areas carry a camera sensor's colour-filter pattern (``sensor.py``,
``_suspicion``).

Blur (``blur_reading``): the classical edge-width estimate, denoised at the level above; it is
trusted in proportion to the noise's whiteness, and for camera noise only above the softness
that demosaicking and in-camera processing leave (``CAMERA_SOFTNESS_PX``).

The network: pixel-unshuffle ×2 of the image, the JPEG condition (the file's quality, which
tells how much of the noise compression already removed) and five log high-pass energies
(1, 2, 4 px scales) → conv 32 → strided conv 64 (quarter resolution) → five 3×3 convs with
dilations 1, 2, 4, 8, 1 → 1×1 conv; receptive field ≈ 140 px; 0.2 M parameters. It was trained
with an auxiliary blur target that it did not learn in the CPU budget; that output is not used.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.restorers.levels import NEGLIGIBLE

logger = logging.getLogger(__name__)

#: The estimator shipped in the package (trained by ``scripts/train_estimator.py``).
DEFAULT_ESTIMATOR = Path(__file__).parent / "weights" / "restora-estimator.safetensors"


def save_estimator(model, path: Path, metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    meta = {"config": model.config.to_json(), "architecture": "DegradationEstimator", **(metadata or {})}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta
    )


def load_estimator(path: Path | str = DEFAULT_ESTIMATOR):
    """(model, metadata) from a ``save_estimator`` file; strict, safetensors only."""
    from safetensors.torch import load_file

    from models.restorers.network import DegradationEstimator, EstimatorConfig, checked_header

    path = Path(path)
    metadata = checked_header(path, "DegradationEstimator", "degradation estimator", "train_estimator.py")

    config = json.loads(metadata["config"])
    config["dilations"] = tuple(config["dilations"])
    config.setdefault("features", False)  # files from before the energy features
    model = DegradationEstimator(EstimatorConfig(**config))
    try:
        model.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path} does not match this version's DegradationEstimator ({err})") from None
    return model.eval(), metadata


@functools.lru_cache(maxsize=2)
def _cached(path: str):
    return load_estimator(path)[0]


def run_estimator(
    image: np.ndarray, jpeg_quality: int | None = None, path: Path | str = DEFAULT_ESTIMATOR, tile: int = 1024
) -> np.ndarray:
    """The learned noise map of an (H, W, 3) float32 RGB image in [0, 1]: (H, W) float32, the
    noise condition σ (0–255), smoothed over ~8 px. Tiles of ``tile`` px with a 128-px apron
    (more than the receptive field), so memory is bounded and tiles agree with one pass."""
    import cv2
    import torch

    from models.restorers.levels import jpeg_condition

    h, w = image.shape[:2]
    if min(h, w) < 16:  # too little evidence: reads as clean, as the classical estimators do
        return np.zeros((h, w), np.float32)
    model = _cached(str(path))
    pad_h, pad_w = -h % 4, -w % 4
    x = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect") if pad_h or pad_w else image
    H, W = x.shape[:2]
    out = np.zeros((H // 4, W // 4), np.float32)
    apron = 128
    cond = float(jpeg_condition(jpeg_quality))
    from models.restorers.network import fast_bf16

    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast_bf16()):
        for y0 in range(0, H, tile):
            for x0 in range(0, W, tile):
                y1, x1 = min(y0 + tile, H), min(x0 + tile, W)
                ya, xa = max(0, y0 - apron), max(0, x0 - apron)
                yb, xb = min(H, y1 + apron), min(W, x1 + apron)
                t = torch.from_numpy(np.ascontiguousarray(x[ya:yb, xa:xb].transpose(2, 0, 1)))[None]
                o = model(t, torch.full((1, 1, yb - ya, xb - xa), cond))[0, 0].float().numpy()
                inner = (slice((y0 - ya) // 4, (y1 - ya) // 4), slice((x0 - xa) // 4, (x1 - xa) // 4))
                out[y0 // 4 : y1 // 4, x0 // 4 : x1 // 4] = o[inner]
    noise = cv2.GaussianBlur(np.expm1(np.maximum(out, 0.0)), (0, 0), 2.0)  # 8 px at full resolution
    return cv2.resize(noise, (W, H), interpolation=cv2.INTER_LINEAR)[:h, :w].astype(np.float32)


#: Flat-patch reading: 16×16-pixel patches (8×8 cells of 2×2 pixels), every 8 pixels; the level
#: is 2 × the square root of the 10th percentile of their cell variance (after a plane fit)
#: divided by ``FLAT_BIAS``, the median ratio of that reading to the true level for the camera
#: model on texture-free scenes (CBSD432 training photos blurred by σ 6 px; 10–90 %: 0.70–1.07).
_FLAT_CELLS, _FLAT_STEP, _FLAT_QUANTILE, FLAT_BIAS = 8, 4, 0.10, 0.86
#: The floor (``flat_readings``): patches in this many bands of brightness (equal counts), a band
#: read where it holds this many patches.
_TONE_BANDS, _BAND_PATCHES = 6, 30
#: Whiteness of the noise from r = PCA σ / the correlated reading (the flat-patch level where
#: trusted, and separately the learned median): 0 (correlated) at r ≤ 0.3, 1 (white) at r ≥ 0.6.
#: White noise reads r ≈ 0.8–1.1, camera JPEGs' noise r ≈ 0.05–0.2 (PCA sees only its finest
#: scale, which demosaicking and noise reduction have removed). Either ratio can say "white": on
#: textured photos with weak white noise the flat patches hold texture (σ 5 on CBSD432 training
#: photos: flat-patch level up to 23, learned median 3.3–8.4, PCA 4.8–5.1).
WHITE_RATIO = (0.3, 0.6)
#: Texture reads as noise in a flat-patch measurement where a photo has no flat areas, and the
#: learned map then reads far less than it: the flat-patch level is trusted from 0 at a learned /
#: flat ratio of 0.2 to fully at 0.4 (textured clean held-out CBSD432 photos read 0.09–0.18; noisy
#: ones, white or camera-model, mostly ≥ 0.4), and where it is not, the PCA σ stands.
AGREEMENT = (0.2, 0.4)
#: The learned / flat ratio from which the level counts as sure (``NoiseReading.confidence``): from
#: 0 at 0.4 to 1 at 0.6, stricter than ``AGREEMENT``. Camera-model photos whose level was over-read
#: 1.5× by flat texture read 0.30–0.34; ``cc15_realnoise`` 0.49–2.4 (one 0.25: its leaves'
#: grain, read as a suspicion that the sensor's pattern settles: ``_suspicion``).
CONFIDENT_AGREEMENT = (0.4, 0.6)
#: Below this JPEG quality compression has removed most noise and its blocks fill the flat patches:
#: the learned and flat-patch readings are not used (the estimator was not trained to read noise
#: there either: ``scripts/train_estimator.py``), the PCA σ stands.
_READABLE_QUALITY = 60
#: Below this learned level (0–255) there is too little visible noise to tell its kind, and the
#: flat-patch level is more likely a photo's faint grain or JPEG ringing: the PCA σ stands.
_MIN_LEVEL = 2.5
#: A photo with camera noise reads up to this much blur (px) with no blur added: demosaicking,
#: in-camera noise reduction and the noise's own residue after denoising (camera model on CBSD432
#: training photos, true noise level given: median 0.54, 90th percentile 1.06 px); the margin
#: above it is for optics the model lacks (anti-aliasing filters, lenses at full resolution).
CAMERA_SOFTNESS_PX = 1.5
#: Over this much blur above that softness (px) a camera-noise photo's reading is fully trusted.
_CAMERA_BLUR_RAMP = 1.0
#: Flat-patch level / PCA σ from which small blur readings lose trust (4) and are ignored (8).
_SUSPICION = (4.0, 8.0)
#: The blur a noisy photo with none reads after denoising, per unit of noise level (px per σ):
#: the 90th percentile of readings on 32 CBSD432 training photos with white noise and no blur is
#: 0.53 / 0.54 / 0.71 / 1.15 / 1.63 px at σ 10 / 15 / 25 / 35 / 50 (≈ 0.036 σ from σ 15 up).
#: That much of a reading is not sharpened (subtracted in quadrature): sharpening it made
#: "restore" 0.4–0.7 dB worse than "denoise" on white noise σ 15–25. The price: under noise σ 25 a
#: 1 px blur is sharpened as 0.8 px, and under σ 50 it is not seen at all.
NOISE_SOFTNESS_PER_SIGMA = 0.036


def flat_readings(image: np.ndarray, region: np.ndarray | None = None) -> tuple[float, float]:
    """(level, floor): the noise level (the restorer's condition: σ on 2×2 cells × 2, 0–255) read
    on the flattest patches of ``image`` (H, W, 3) float in [0, 1], and the same reading in its
    smoothest tone band; ``region``: bool (H, W) or None.

    Unlike PCA the level measures the whole variance, so correlated noise reads in full; texture
    reads as noise where a photo has no flat area (``noise_reading`` caps it with the learned map).
    The floor splits the patches into ``_TONE_BANDS`` bands of brightness and takes the lowest
    band's reading: real noise shows in every band, so a floor far below the level says part of
    the level is texture (``Degradation.texture_doubt``). It is the level where fewer than two
    bands have ``_BAND_PATCHES`` patches.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    p = _FLAT_CELLS
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    if min(h, w) < 4 * p:
        return 0.0, 0.0
    cells = (image[:h, :w] * 255.0).reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3), dtype=np.float32)
    patches = sliding_window_view(cells, (p, p), axis=(0, 1))[::_FLAT_STEP, ::_FLAT_STEP]  # (a, b, 3, p, p)
    a, b = patches.shape[:2]
    patches = patches.reshape(a * b, 3, p * p)
    residual = patches @ _plane_residual(p).T  # (n, 3, p²): each channel less its best plane
    variance = np.square(residual).sum(axis=2).mean(axis=1) / (p * p - 3)
    mean = patches.mean(axis=(1, 2))
    keep = (mean > 10.0) & (mean < 245.0)
    if region is not None:
        centre = region[p :: 2 * _FLAT_STEP, p :: 2 * _FLAT_STEP][:a, :b]  # each patch's centre pixel
        inside = keep & np.pad(centre, ((0, a - centre.shape[0]), (0, b - centre.shape[1]))).ravel()
        keep = inside if inside.sum() >= 50 else keep
    if keep.sum() < 20:
        return 0.0, 0.0
    variance, mean = variance[keep], mean[keep]
    level = _flat_level(variance)
    edges = np.quantile(mean, np.linspace(0.0, 1.0, _TONE_BANDS + 1))[1:-1]
    band = np.searchsorted(edges, mean, side="right")
    counts = np.bincount(band, minlength=_TONE_BANDS)
    floors = [_flat_level(variance[band == k]) for k in range(_TONE_BANDS) if counts[k] >= _BAND_PATCHES]
    return level, (min(floors) if len(floors) >= 2 else level)


def _flat_level(variance: np.ndarray) -> float:
    return float(2.0 * np.sqrt(np.quantile(variance, _FLAT_QUANTILE)) / FLAT_BIAS)


def flat_noise_level(image: np.ndarray, region: np.ndarray | None = None) -> float:
    """The flat-patch noise level alone (``flat_readings``)."""
    return flat_readings(image, region)[0]


@functools.lru_cache(maxsize=4)
def _plane_residual(p: int) -> np.ndarray:
    """(p², p²) projector onto what a plane a + b·y + c·x does not explain, over a p×p patch."""
    yy, xx = np.mgrid[0:p, 0:p].astype(np.float64) - (p - 1) / 2
    basis = np.stack([np.ones_like(yy), yy, xx], axis=-1).reshape(-1, 3)
    return (np.eye(p * p) - basis @ np.linalg.pinv(basis)).astype(np.float32)


@dataclass(frozen=True)
class NoiseReading:
    """The fused noise reading and its parts (0–255 scale, the restorer's noise condition).

    level: the noise level; whiteness: 1 white, 0 spatially correlated; white, flat, learned: the
    PCA σ, the flat-patch level and the learned map's median; suspected: the flat-patch level
    when it was set aside as likely texture and nothing visible was left (0 otherwise): what a
    user who asks to denoise most likely sees (``Degradation.noise_suspected``); confidence: how well
    the learned reading bears out the flat-patch level (``CONFIDENT_AGREEMENT``), 1 where that was
    not needed (white noise); floor: the flat-patch level of the smoothest tone band
    (``flat_readings``, ``Degradation.noise_floor``); sensor: the flat-patch level was taken as
    noise on the evidence of a camera sensor's pattern (``_suspicion``).
    """

    level: float
    whiteness: float
    white: float
    flat: float
    learned: float
    suspected: float = 0.0
    confidence: float = 1.0
    floor: float = 0.0
    sensor: bool = False


def noise_reading(
    image: np.ndarray, learned_map: np.ndarray, region: np.ndarray | None, jpeg_quality: int | None
) -> NoiseReading:
    """The noise level and its whiteness from three readings.

    - PCA σ (``quality.estimate_noise_sigma``): exact for white noise, blind to correlated noise;
    - the flat-patch level (``flat_noise_level``): the whole variance, so correlated noise too,
      but texture reads as noise where there are no flat areas;
    - the learned map: tells noise from texture, with a wider error.

    The flat-patch level counts where the learned reading accounts for enough of it
    (``AGREEMENT``: otherwise it is texture; when that leaves no visible noise, the flat-patch
    level is kept aside as ``suspected`` for a user who names the operation); the PCA σ's share
    of it, or of the learned reading, tells white noise from correlated (``WHITE_RATIO``). White
    noise gets the PCA σ, correlated noise the flat-patch level, noise in between a blend.

    One level for the whole image (or region), not the learned map's per-pixel shape: spreading the
    level in that shape cost 0.75 dB on camera-model photos (15 CBSD68 crops, denoised by the
    camera network: 29.30 against 30.04 dB uniform) and as much on ``cc15_realnoise`` (35.45
    against 36.21), while even the true per-pixel level gains only 0.13 dB over the true uniform
    one (31.98 against 31.85 on the same crops): a noisy shape costs more than brightness
    dependence is worth.
    """
    from models.quality import estimate_noise_sigma

    inside = learned_map if region is None or region.sum() < 64 else learned_map[region]
    learned = float(np.median(inside))
    white = estimate_noise_sigma(image, region, jpeg=jpeg_quality is not None)
    flat, floor = flat_readings(image, region)
    if jpeg_quality is not None and jpeg_quality < _READABLE_QUALITY:
        return NoiseReading(white, 1.0, white, flat, learned, floor=floor)
    if learned < _MIN_LEVEL:
        reading = NoiseReading(white, 1.0, white, flat, learned)
    else:
        lo, hi = AGREEMENT
        agreement = (learned / max(flat, 1e-6) - lo) / (hi - lo)
        trust = float(np.clip(agreement, 0.0, 1.0)) if flat > white else 0.0
        correlated = trust * flat + (1.0 - trust) * white
        lo, hi = WHITE_RATIO
        ratio = white / max(min(correlated, learned), 1e-6)
        whiteness = float(np.clip((ratio - lo) / (hi - lo), 0.0, 1.0))
        level = whiteness * white + (1.0 - whiteness) * correlated
        lo, hi = CONFIDENT_AGREEMENT
        sure = (learned / max(flat, 1e-6) - lo) / (hi - lo)
        confidence = float(np.clip(sure, 0.0, 1.0)) if flat > white else 1.0
        reading = NoiseReading(level, whiteness, white, flat, learned, confidence=confidence)
    reading = dataclasses.replace(reading, floor=floor)
    if reading.level < NEGLIGIBLE["noise"] and flat >= _MIN_LEVEL:
        return _suspicion(reading, image, region)
    return reading


def _suspicion(reading: NoiseReading, image: np.ndarray, region: np.ndarray | None) -> NoiseReading:
    """A reading that found no visible noise while the flat patches read ``reading.flat`` ≥
    ``_MIN_LEVEL``: the flat-patch level is kept aside as ``suspected`` (likely texture), unless
    two things say it is noise: the flattest areas carry a camera sensor's colour-filter pattern
    (``sensor.is_sensor_noise``), and the learned map accounts for at least the share of the level
    from which ``AGREEMENT`` starts to trust it (0.2). Then the reading is what a named "denoise"
    acts on for a suspicion (``Degradation.asked_noise``, ``learned.run_network``): the flat-patch
    level up to ``SUSPECTED_NOISE_CAP``, correlated, with confidence.

    Why: the learned map misses real noise on fine texture. On ``cc15_realnoise``'s leaf photo it
    read 2.1 against a true 7.9 (flat patches 8.4: a share of 0.25), and "restore" left the noise
    that "denoise" removes (2.8 dB). No statistic alone separated that from the film grain and
    texture of clean scans (the model card lists those tried). The pattern does on real files
    (``benchmarks/sensor_pattern.py``: 5 of 15 cc15 noisy shots, none of their clean means, none
    of 1,100 scans and resized photos), but the camera model's clean captures of grainy scans carry
    it too (47 of 72), and there the learned map, trained on that model, reads 0.02–0.15 of the
    level: with both conditions 3 of 72 are read as noise, at σ ≤ 6.
    Only here, where the learned map saw nothing visible: where it reads a visible level,
    ``AGREEMENT`` already weighs the two, and the pattern is no better a judge (applied there, it
    raised three camera-model texture readings to σ 10–20: −0.66 dB for "restore" on that row).
    """
    from models.restorers.levels import SUSPECTED_NOISE_CAP
    from models.restorers.sensor import is_sensor_noise

    agreement = reading.learned / max(reading.flat, 1e-6)
    if agreement < AGREEMENT[0] or not is_sensor_noise(image, region):
        return dataclasses.replace(reading, suspected=reading.flat)
    level = min(reading.flat, SUSPECTED_NOISE_CAP)
    return dataclasses.replace(reading, level=level, whiteness=0.0, confidence=1.0, sensor=True)


def blur_reading(
    image: np.ndarray, noise: NoiseReading, region: np.ndarray | None = None
) -> tuple[float, float]:
    """(blur σ px, confidence in [0, 1]): the classical edge-width estimate after denoising at the
    noise level (``quality.estimate_blur_sigma``), and how far to trust it.

    The part of the reading that the noise level explains (``NOISE_SOFTNESS_PER_SIGMA``) is never
    trusted: confidence × reading = the rest, in quadrature.
    Readings up to ``CAMERA_SOFTNESS_PX`` are trusted only where nothing suggests noise that the
    denoising may have left: the confidence ramps from 0 there to 1 ``_CAMERA_BLUR_RAMP`` px above
    it in proportion to how camera-like the photo is (1 − whiteness), or how much more variance its
    flattest patches hold than the PCA σ explains (hidden correlated noise, or texture, which
    needs no sharpening either: ``_SUSPICION``). Clean and white-noise photos keep the reading as
    calibrated on CBSD432.
    """
    from models.quality import estimate_blur_sigma

    blur = estimate_blur_sigma(image, noise_sigma=noise.level, mask=region)
    lo, hi = _SUSPICION
    suspicion = float(np.clip((noise.flat / max(noise.white, 1.0) - lo) / (hi - lo), 0.0, 1.0))
    camera_like = max(1.0 - noise.whiteness, suspicion)
    beyond = float(np.clip((blur - CAMERA_SOFTNESS_PX) / _CAMERA_BLUR_RAMP, 0.0, 1.0))
    softness = NOISE_SOFTNESS_PER_SIGMA * noise.level
    unexplained = float(np.sqrt(max(0.0, 1.0 - (softness / blur) ** 2))) if blur > softness else 0.0
    unexplained = 1.0 if softness == 0.0 else unexplained
    return blur, unexplained * ((1.0 - camera_like) + camera_like * beyond)
