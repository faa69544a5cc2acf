"""Restorer contracts.

A restorer never sees crops: it gets the whole image, a per-pixel fidelity map and per-pixel
action weights (``RegionMaps``, defined in ``maps``), so there are no seams. Images are
``(H, W, 3)`` float32 RGB in [0, 1].
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from models.restorers.maps import RegionMaps
from parsers.plan import EditPlan

#: Called with (done, total) as a restorer makes progress.
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Degradation:
    """Degradation levels of an image (or region), in the units users know.

    noise_sigma: the noise level on the 0–255 scale (0 = clean): the σ of white Gaussian noise
        that the offline restorer's noise condition means, i.e. the noise's σ on 2×2 cell means
        × 2 (``camera.cell_noise_sigma``). For white noise that is its σ; for camera noise,
        which demosaicking and in-camera processing make spatially correlated, it is larger than
        the per-pixel σ.
    noise_whiteness: 1 when the noise is white (independent pixels: synthetic noise, raw
        conversions without noise reduction), 0 when it is spatially correlated as camera JPEGs'
        is; the offline restorer routes correlated noise to its camera network (``routing.py``).
    blur_sigma: Gaussian(-equivalent) blur σ in pixels (0 = sharp).
    blur_confidence: how sure the blur reading is, in [0, 1]; restorers sharpen only the
        confident part (``sharpen_sigma``): noise, flat or compressed content read as "unsure".
    jpeg_quality: JPEG quality factor 1–100, or None when no compression was detected.
    jpeg_exact: True when jpeg_quality was read from the file's quantization tables.
    jpeg_grid: (row, column) of the first 16×16 block's top-left pixel (JPEG's 8×8 luma blocks
        and 4:2:0 chroma blocks), 0–15 each: (0, 0) for a whole decoded JPEG, the located phase
        for a crop of one (``quality.estimate_jpeg``).
    noise_confidence: how sure the noise level is, in [0, 1]: 1 where the readings agree (or
        the noise is white), lower where the flat patches read more than the learned map (texture
        may be inflating the level); the offline restorer then leans on its camera network, which
        tolerates an over-read level (``routing.correlated_gains``).
    noise_suspected: a noise level the flattest patches hold but the estimator set aside as
        likely texture, leaving no visible noise (0 = none; ``estimator.noise_reading``).
        Automatic edits never act on it; an operation the user names does (``asked_noise``).
    noise_floor: the flat-patch level of the smoothest tone band (0 = not read;
        ``estimator.flat_readings``): far below ``noise_sigma``, part of that may be texture
        (``texture_doubt``).
    noise_sensor: the flattest areas' variation carries a camera sensor's colour-filter pattern,
        so the level was read as noise where the learned map took it for texture
        (``sensor.py``; ``estimator._suspicion``).
    """

    noise_sigma: float = 0.0
    blur_sigma: float = 0.0
    jpeg_quality: int | None = None
    jpeg_exact: bool = False
    jpeg_grid: tuple[int, int] = (0, 0)
    noise_whiteness: float = 1.0
    blur_confidence: float = 1.0
    noise_suspected: float = 0.0
    noise_confidence: float = 1.0
    noise_floor: float = 0.0
    noise_sensor: bool = False

    @property
    def asked_noise(self) -> float:
        """The noise level an explicit "denoise" acts on at fidelity 1: the measurement, or where
        it found nothing visible the suspected level, at most ``levels.SUSPECTED_NOISE_CAP``.

        A user who asks to denoise a photo has seen noise; when the estimator took the variance of
        its flattest areas for texture (fine leaves, fabric), the user's request settles it. The
        cap keeps a misread texture from being smoothed away: σ 10 is a visible smoothing of grain.
        """
        from models.restorers.levels import SUSPECTED_NOISE_CAP

        return max(self.noise_sigma, min(self.noise_suspected, SUSPECTED_NOISE_CAP))

    @property
    def texture_doubt(self) -> bool:
        """The noise level may be partly texture: its smoothest tone band reads less than
        ``levels.TEXTURE_DOUBT`` of it (dense texture, a lawn or fur, with a few smooth things)."""
        from models.restorers.levels import TEXTURE_DOUBT

        return self.noise_sigma >= 1.0 and 0.0 < self.noise_floor < TEXTURE_DOUBT * self.noise_sigma

    @property
    def automatic_noise(self) -> float:
        """The noise level an automatic edit ("restore", a region's restore) removes at fidelity 1:
        the measurement, or where it is in doubt (``texture_doubt``) less, with the square of how
        far the floor falls below ``levels.TEXTURE_DOUBT`` of it: level × (floor / (0.5 level))².
        Continuous at the doubt's edge, and on held-out COCO photos of texture (a lawn read σ 27
        with a floor of 9: 12; a desert from the air 16 → 6) it keeps the texture that the level,
        or the floor × 2 (18 and 10), smoothed flat. Automatic edits must not harm, and a level
        in doubt is more often texture than noise (module ``levels``). A named "denoise" removes
        the measurement."""
        from models.restorers.levels import TEXTURE_DOUBT

        if not self.texture_doubt:
            return self.noise_sigma
        return self.noise_sigma * (self.noise_floor / (TEXTURE_DOUBT * self.noise_sigma)) ** 2

    @property
    def sharpen_sigma(self) -> float:
        """The blur σ (px) worth sharpening at fidelity 1: the reading × its confidence."""
        return self.blur_sigma * self.blur_confidence

    def describe(self) -> str:
        """E.g. ``camera-like (spatially correlated) noise σ≈8, blur σ≈1.2 px, JPEG quality 35 (from
        the file)``."""
        kind = "camera-like (spatially correlated) noise" if self.noise_whiteness < 0.5 else "noise"
        if self.noise_sigma < 1.5:
            kind = "noise"
        parts = [f"{kind} σ≈{self.noise_sigma:.0f}", f"blur σ≈{self.blur_sigma:.1f} px"]
        if self.noise_sensor:
            parts[0] += " (its grain follows the camera sensor's colour pattern)"
        if self.texture_doubt:
            parts[0] += f" (perhaps partly texture: the smoothest tones read σ≈{self.noise_floor:.0f})"
        if self.blur_sigma >= 0.35 and self.blur_confidence < 0.5:
            parts[-1] += " (uncertain: not sharpened)" if self.blur_confidence < 0.15 else " (uncertain)"
        if self.jpeg_quality is not None:
            how = " (from the file)" if self.jpeg_exact else ""
            approx = "" if self.jpeg_exact else "≈"
            parts.append(f"JPEG quality {approx}{self.jpeg_quality}{how}")
        else:
            parts.append("no JPEG artifacts detected")
        return ", ".join(parts)


@dataclass
class RestoredImage:
    """A restorer's output: image (H, W, 3) float32 in [0, 1] and notes for the explanation."""

    image: np.ndarray
    notes: list[str] = field(default_factory=list)


class Restorer(abc.ABC):
    name: str = "restorer"

    @abc.abstractmethod
    def restore(
        self,
        image: np.ndarray,
        maps: RegionMaps,
        degradation: Degradation,
        progress: ProgressFn | None = None,
        plan: EditPlan | None = None,
        *,
        grounded: bool = True,
    ) -> RestoredImage:
        """Restore ``image`` following ``maps``; ``degradation`` is the level fidelity 1 means.

        plan: the EditPlan being run, for restorers that condition on text (the diffusion
            restorer derives its prompts from it); pixel restorers ignore it.
        grounded: False when grounding could not find the plan's targets, so ``maps`` do not
            locate them; restorers that can find regions themselves (the diffusion restorer's
            mask decoder) use that; others are never called with False.
        """
