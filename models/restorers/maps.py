"""EditPlan edits + grounded masks → RegionMaps (the per-pixel contract of DESIGN.md).

Edits are painted in order over a default layer, each with its soft mask, so later edits override
earlier ones where they overlap and soft mask edges blend smoothly: no crops, no seams.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.restorers.base import RegionMaps

#: Which operations each EditPlan action switches on (weights in [0, 1]).
#: ``explicit``: the edit names one operation, so a fidelity below 1 acts even on little measured
#: damage (``levels.asked_level``); "restore" and bokeh never go beyond what was measured.
ACTION_WEIGHTS: dict[str, dict[str, float]] = {
    "restore": {"denoise": 1.0, "deblur": 1.0, "dejpeg": 1.0, "bokeh": 0.0, "keep": 0.0, "explicit": 0.0},
    "denoise": {"denoise": 1.0, "deblur": 0.0, "dejpeg": 0.0, "bokeh": 0.0, "keep": 0.0, "explicit": 1.0},
    "deblur": {"denoise": 0.0, "deblur": 1.0, "dejpeg": 0.0, "bokeh": 0.0, "keep": 0.0, "explicit": 1.0},
    "dejpeg": {"denoise": 0.0, "deblur": 0.0, "dejpeg": 1.0, "bokeh": 0.0, "keep": 0.0, "explicit": 1.0},
    # Bokeh regions are cleaned of noise and blocks but never sharpened.
    "bokeh": {"denoise": 1.0, "deblur": 0.0, "dejpeg": 1.0, "bokeh": 1.0, "keep": 0.0, "explicit": 0.0},
    "keep": {"denoise": 0.0, "deblur": 0.0, "dejpeg": 0.0, "bokeh": 0.0, "keep": 1.0, "explicit": 0.0},
}

#: The fidelity an automatic (``None``) edit gets.
AUTO_FIDELITY = 1.0


@dataclass(frozen=True)
class MaskedEdit:
    """One edit with its grounded mask: (H, W) float32 in [0, 1]."""

    action: str
    fidelity: float | None
    mask: np.ndarray


def build_region_maps(
    height: int,
    width: int,
    edits: Sequence[MaskedEdit],
    default_action: str = "restore",
    default_fidelity: float | None = None,
) -> RegionMaps:
    """Paint ``edits`` in order over a layer of ``default_action`` covering the whole image.

    Each map becomes ``map·(1 − m) + value·m`` for an edit with mask ``m``; fidelity ``None``
    becomes AUTO_FIDELITY.
    """
    maps = RegionMaps.uniform(
        height,
        width,
        AUTO_FIDELITY if default_fidelity is None else default_fidelity,
        default_action,
    )
    for edit in edits:
        if edit.mask.shape != (height, width):
            raise ValueError(
                f"mask for a {edit.action!r} edit has shape {edit.mask.shape}, expected the "
                f"image's ({height}, {width})"
            )
        if edit.action not in ACTION_WEIGHTS:
            raise ValueError(f"unknown action {edit.action!r}; expected one of {list(ACTION_WEIGHTS)}")
        m = np.clip(edit.mask.astype(np.float32), 0.0, 1.0)
        inv = 1.0 - m
        fidelity = AUTO_FIDELITY if edit.fidelity is None else float(edit.fidelity)
        maps.fidelity = maps.fidelity * inv + fidelity * m
        for name, value in ACTION_WEIGHTS[edit.action].items():
            setattr(maps, name, getattr(maps, name) * inv + value * m)
    return maps
