"""``RegionMaps``, the per-pixel contract of DESIGN.md, and how EditPlan edits + grounded masks build it.

Edits are painted in order over a default layer, each with its soft mask, so later edits override
earlier ones where they overlap and soft mask edges blend smoothly: no crops, no seams.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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


@dataclass
class RegionMaps:
    """Per-pixel instructions for a restorer, all (H, W) float32.

    fidelity: InstructRestore fidelity in [0, 2]; 1 = restore at the estimated level, lower =
        stronger, higher = gentler, 2 = leave as the input.
    denoise, deblur, dejpeg: how much of each operation applies, in [0, 1].
    bokeh: weight of "keep/add background blur": never sharpen, optional lens blur, in [0, 1].
    keep: weight of "leave untouched", in [0, 1]; pixels with keep == 1 are returned bit-exact.
    explicit: weight of an operation the user named ("denoise", "sharpen", "remove the JPEG
        artifacts"), in [0, 1]. There a fidelity below 1 acts even when the estimate found
        little (``levels.asked_level``); "restore" and automatic edits never do more than measured.
    """

    fidelity: np.ndarray
    denoise: np.ndarray
    deblur: np.ndarray
    dejpeg: np.ndarray
    bokeh: np.ndarray
    keep: np.ndarray
    explicit: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.explicit is None:
            self.explicit = np.zeros_like(self.fidelity)

    @property
    def shape(self) -> tuple[int, int]:
        return self.fidelity.shape  # type: ignore[return-value]

    @classmethod
    def uniform(cls, height: int, width: int, fidelity: float = 1.0, action: str = "restore") -> RegionMaps:
        """Maps for one action applied to the whole image."""
        weights = ACTION_WEIGHTS[action]
        full = lambda v: np.full((height, width), v, np.float32)  # noqa: E731
        return cls(fidelity=full(fidelity), **{k: full(v) for k, v in weights.items()})


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
