"""Which backend can run each stage on this machine: the full backend's readiness checks.

``full_stage_status(stage)`` answers (ready, reason) for ``grounding`` (the catalogue's GroundingDINO
+ SAM folders are present, ``models.weights.find_local``) and ``restorer`` (a diffusion family's
weights are present, ``models.restorers.diffusion.diffusion_status``). ``auto`` picks ``full`` for
each stage that is ready, else ``offline``. This module sits above the catalogue, the weights
finder and the diffusion loaders, which import nothing from it.

Nothing heavy is imported here: the checks look at files only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from models.catalog import grounding_models

STAGES: tuple[str, ...] = ("grounding", "restorer")


def full_stage_status(stage: str) -> tuple[bool, str]:
    """(ready, reason) for the full backend of ``stage``."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    check = FULL_STAGE_CHECKS.get(stage)
    if check is None:
        return False, (
            f"The full {stage} backend is not available in this version of Restora; use "
            "--backend offline (or auto, which picks it)."
        )
    return check()


def grounding_ready(weights: str | Path | None = None) -> tuple[bool, str]:
    """(ready, reason): the configured GroundingDINO + SAM weights are on this machine.

    Looks at files only (``models.weights.find_local``); nothing is loaded or downloaded.
    weights: an explicit ``--weights DIR`` searched first.
    """
    from models.weights import find_local

    try:
        names = grounding_models()
    except ValueError as err:
        return False, str(err)
    missing = [name for name in names if find_local(name, weights) is None]
    if missing:
        return False, (
            f"The full grounding backend needs {' and '.join(missing)}: run "
            f"`restora models download {' '.join(missing)}` or pass --weights DIR."
        )
    return True, f"GroundingDINO + SAM ({' + '.join(names)})"


def _restorer_ready() -> tuple[bool, str]:
    from models.restorers.diffusion import diffusion_status

    return diffusion_status()


#: stage → function returning (ready, reason when not ready).
FULL_STAGE_CHECKS: dict[str, Callable[[], tuple[bool, str]]] = {
    "grounding": grounding_ready,
    "restorer": _restorer_ready,
}
