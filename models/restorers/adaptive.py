"""Quality-adaptive automatic fidelity (AdaptBIR), for the diffusion restorer.

When an edit's fidelity is automatic, its region gets a quality score in [0, 100] (higher =
better), a class, and the class's fidelity from ``FIDELITY_BY_CLASS``:

    score  < 40  → severe → fidelity 0.7  (lean on the generative prior)
    40 ≤ score < 70 → medium → fidelity 1.0  (the default)
    score ≥ 70  → mild   → fidelity 1.3  (stay close to the input, keep its detail)

The breakpoints are AdaptBIR's: with k = MUSIQ / 100 it switches its fine-detail branch off at
k ≤ 0.4 and saturates at k > 0.7. The score is

- MUSIQ (KonIQ weights) via the optional ``pyiqa`` extra, when it is installed and its weights
  are already in ``torch.hub.get_dir()/pyiqa`` (never downloaded here); on the region's bounding
  box; otherwise
- Restora's own estimators: ``100 × (1 − severity)`` with severity the worst of noise σ / 50,
  blur σ / 3 px and the JPEG level ((100 − quality) / 90), each clipped to [0, 1] and estimated
  inside the region. So σ 30 noise alone scores 40 (medium), σ 35 scores 30 (severe).

Why only the diffusion restorer: the offline network is parameterised by the measured levels
(fidelity 1 = "remove the estimated σ / blur / JPEG"), so severity already sets its strength;
scaling its fidelity by severity as well would count the damage twice. Its automatic fidelity
stays 1 and its explanation states the estimates instead.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.restorers.base import Degradation
from models.restorers.levels import BLUR_SCALE, NOISE_SCALE, jpeg_condition

logger = logging.getLogger(__name__)

#: Quality class → fidelity for automatic edits (see the module docstring).
FIDELITY_BY_CLASS: dict[str, float] = {"severe": 0.7, "medium": 1.0, "mild": 1.3}
#: Score breakpoints: below the first is severe, from the second on is mild.
BREAKPOINTS = (40.0, 70.0)
MUSIQ_WEIGHTS = "musiq_koniq_ckpt-e95806b9.pth"


@dataclass(frozen=True)
class AdaptiveFidelity:
    """One region's automatic fidelity: its quality score, the source of the score, its class."""

    score: float
    source: str  # "MUSIQ" or "noise/blur/JPEG estimates"
    severity: str  # "mild" | "medium" | "severe"
    fidelity: float

    def describe(self) -> str:
        """E.g. ``severe (quality 31/100 by MUSIQ) → fidelity 0.7``."""
        return f"{self.severity} (quality {self.score:.0f}/100 by {self.source}) → fidelity {self.fidelity:g}"

    def to_dict(self) -> dict[str, float | str]:
        return {
            "score": round(self.score, 2),
            "source": self.source,
            "class": self.severity,
            "fidelity": self.fidelity,
        }


def classify(score: float) -> str:
    """Score in [0, 100] → "severe" / "medium" / "mild" by ``BREAKPOINTS``."""
    if not 0.0 <= score <= 100.0:
        raise ValueError(f"quality score must be in [0, 100], got {score}")
    return "severe" if score < BREAKPOINTS[0] else "medium" if score < BREAKPOINTS[1] else "mild"


def estimator_score(degradation: Degradation) -> float:
    """Restora's offline quality score: 100 × (1 − the worst normalised degradation)."""
    severity = max(
        min(degradation.noise_sigma / NOISE_SCALE, 1.0),
        min(degradation.blur_sigma / BLUR_SCALE, 1.0),
        jpeg_condition(degradation.jpeg_quality),
    )
    return 100.0 * (1.0 - severity)


@functools.lru_cache(maxsize=1)
def musiq_scorer() -> Callable[[np.ndarray], float] | None:
    """MUSIQ via pyiqa when the extra and its weights are present, else None (never downloads)."""
    try:
        import pyiqa
        import torch
    except ImportError:
        return None
    weights = Path(torch.hub.get_dir()) / "pyiqa" / MUSIQ_WEIGHTS
    if not weights.is_file():
        logger.info("pyiqa is installed but %s is not; using Restora's estimators for quality", weights)
        return None
    metric = pyiqa.create_metric("musiq", device="cuda" if torch.cuda.is_available() else "cpu")

    def score(image: np.ndarray) -> float:
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(metric.device)
        with torch.inference_mode():
            return float(metric(x).item())

    return score


def choose_fidelity(
    image: np.ndarray,
    mask: np.ndarray,
    estimate: Callable[[np.ndarray, np.ndarray], Degradation],
    scorer: Callable[[np.ndarray], float] | None = None,
) -> AdaptiveFidelity:
    """The automatic fidelity of the region ``mask`` (> 0.5 = inside) of ``image``.

    estimate: ``(image, mask) → Degradation`` (the pipeline passes ``estimate_degradation`` with
    the file's JPEG quality); used when ``scorer`` (MUSIQ) is None.
    """
    inside = mask > 0.5
    if not inside.any():
        inside = np.ones(mask.shape, bool)
    if scorer is not None:
        ys, xs = np.nonzero(inside)
        crop = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        score, source = float(np.clip(scorer(crop), 0.0, 100.0)), "MUSIQ"
    else:
        score, source = (
            estimator_score(estimate(image, inside.astype(np.float32))),
            "noise/blur/JPEG estimates",
        )
    severity = classify(score)
    return AdaptiveFidelity(score, source, severity, FIDELITY_BY_CLASS[severity])
