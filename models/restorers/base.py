"""Restorer contracts.

A restorer never sees crops: it gets the whole image, a per-pixel fidelity map and per-pixel
action weights (RegionMaps), so there are no seams. Images are ``(H, W, 3)`` float32 RGB in [0, 1].
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from parsers.plan import EditPlan

#: Called with (done, total) as a restorer makes progress.
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Degradation:
    """Degradation levels of an image (or region), in the units users know.

    noise_sigma: additive Gaussian noise σ on the 0–255 scale (0 = clean).
    blur_sigma: Gaussian blur σ in pixels (0 = sharp).
    jpeg_quality: JPEG quality factor 1–100, or None when no compression was detected.
    jpeg_exact: True when jpeg_quality was read from the file's quantization tables.
    jpeg_grid: (row, column) of the first 16×16 block's top-left pixel (JPEG's 8×8 luma blocks
        and 4:2:0 chroma blocks), 0–15 each: (0, 0) for a whole decoded JPEG, the located phase
        for a crop of one (``quality.estimate_jpeg``).
    """

    noise_sigma: float = 0.0
    blur_sigma: float = 0.0
    jpeg_quality: int | None = None
    jpeg_exact: bool = False
    jpeg_grid: tuple[int, int] = (0, 0)

    def describe(self) -> str:
        """E.g. ``noise σ≈18, blur σ≈1.2 px, JPEG quality 35 (from the file)``."""
        parts = [f"noise σ≈{self.noise_sigma:.0f}", f"blur σ≈{self.blur_sigma:.1f} px"]
        if self.jpeg_quality is not None:
            how = " (from the file)" if self.jpeg_exact else ""
            approx = "" if self.jpeg_exact else "≈"
            parts.append(f"JPEG quality {approx}{self.jpeg_quality}{how}")
        else:
            parts.append("no JPEG artifacts detected")
        return ", ".join(parts)


@dataclass
class RegionMaps:
    """Per-pixel instructions for a restorer, all (H, W) float32.

    fidelity: InstructRestore fidelity in [0, 2]; 1 = restore at the estimated level, lower =
        stronger, higher = gentler, 2 = leave as the input.
    denoise, deblur, dejpeg: how much of each operation applies, in [0, 1].
    bokeh: weight of "keep/add background blur": never sharpen, optional lens blur, in [0, 1].
    keep: weight of "leave untouched", in [0, 1]; pixels with keep == 1 are returned bit-exact.
    """

    fidelity: np.ndarray
    denoise: np.ndarray
    deblur: np.ndarray
    dejpeg: np.ndarray
    bokeh: np.ndarray
    keep: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.fidelity.shape  # type: ignore[return-value]

    @classmethod
    def uniform(cls, height: int, width: int, fidelity: float = 1.0, action: str = "restore") -> RegionMaps:
        """Maps for one action applied to the whole image."""
        from models.restorers.maps import ACTION_WEIGHTS

        weights = ACTION_WEIGHTS[action]
        full = lambda v: np.full((height, width), v, np.float32)  # noqa: E731
        return cls(fidelity=full(fidelity), **{k: full(v) for k, v in weights.items()})


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
