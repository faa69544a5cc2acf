"""Grounding: a target phrase (plus optional clicks/box) → a soft mask.

Import-light: each backend's heavy imports (OpenCV, scikit-image, transformers) happen inside
its builder, called by ``load_grounder``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.grounding.base import Grounder


def _build_offline(**_options: float) -> Grounder:
    """The offline grounder has no detector thresholds; the options are accepted and unused."""
    from models.grounding.offline import OfflineGrounder

    return OfflineGrounder()


def _build_full(**options: float) -> Grounder:
    from models.grounding.full import load_full_grounder

    return load_full_grounder(**options)


#: Backend name → builder. Another backend adds its builder here.
GROUNDERS: dict[str, Callable[..., Grounder]] = {
    "offline": _build_offline,
    "full": _build_full,
}


def load_grounder(
    backend: str = "offline", box_threshold: float = 0.3, text_threshold: float = 0.25
) -> Grounder:
    """Build the grounder for ``backend`` (a key of ``GROUNDERS``); the thresholds are
    GroundingDINO's (the full backend's detector)."""
    if backend not in GROUNDERS:
        raise ValueError(f"Unknown grounding backend {backend!r}; choose one of {sorted(GROUNDERS)}.")
    return GROUNDERS[backend](box_threshold=box_threshold, text_threshold=text_threshold)
