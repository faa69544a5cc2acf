"""Restorers: image + per-pixel region maps → restored image.

``load_restorer(backend)`` builds the restorer a backend uses; heavy modules are imported there.
"""

from __future__ import annotations

from models.restorers.base import Restorer

RESTORERS: dict[str, str] = {
    "offline": "classical OpenCV restorer (no downloads)",
    "full": "region-modulated SD-2.1 ControlNet (InstructRestore weights)",
}


def load_restorer(backend: str = "offline", mask_source: str = "auto") -> Restorer:
    """The restorer of ``backend``; ``mask_source`` is passed to the diffusion restorer."""
    if backend == "offline":
        from models.restorers.classical import ClassicalRestorer

        return ClassicalRestorer()
    if backend == "full":
        from models.restorers.diffusion import load_diffusion_restorer
        from models.restorers.diffusion.restorer import DiffusionSettings

        return load_diffusion_restorer(settings=DiffusionSettings(mask_source=mask_source))
    raise ValueError(f"unknown restorer backend {backend!r}; available: {sorted(RESTORERS)}")
