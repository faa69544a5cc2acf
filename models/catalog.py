"""Which backend runs each stage on this machine.

The ``offline`` backend needs nothing downloaded: the rule parser, the offline grounder and the
offline restorer ship inside the package. The ``full`` backend's stages (GroundingDINO + SAM
grounding; the region-modulated diffusion restorer) need downloaded weights. ``auto`` picks
``full`` for each stage whose weights are present, else ``offline``.

Each full stage registers a readiness check in FULL_STAGE_CHECKS as its loader lands; a stage with
no check is reported as not available in this version.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

STAGES: tuple[str, ...] = ("grounding", "restorer")

#: Where downloaded weights live; override with RESTORA_WEIGHTS_DIR.
DEFAULT_WEIGHTS_DIR = Path.home() / ".cache" / "restora" / "weights"

#: stage → function returning (ready, reason when not ready).
FULL_STAGE_CHECKS: dict[str, Callable[[], tuple[bool, str]]] = {}


def weights_dir() -> Path:
    return Path(os.environ.get("RESTORA_WEIGHTS_DIR", DEFAULT_WEIGHTS_DIR)).expanduser()


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
