"""Restorers: image + per-pixel region maps → restored image.

``load_restorer(backend)`` builds the restorer a backend uses; heavy modules are imported there.
"""

from __future__ import annotations

from models.restorers.base import Restorer

RESTORERS: dict[str, str] = {
    "offline": "Restora's trained conditional FFDNet (ships in the package, no downloads)",
    "classical": "classical OpenCV restorer (sliding-DCT shrinkage + Wiener deconvolution; no weights)",
    "full": "region-modulated SD-2.1 ControlNet (InstructRestore or DiffBIR v2 weights)",
}


def load_restorer(
    backend: str = "offline",
    mask_source: str = "auto",
    *,
    steps: int | None = None,
    guidance: float | None = None,
    seed: int = 0,
    tile: int | None = None,
    cleaner: str = "auto",
) -> Restorer:
    """The restorer of ``backend``; ``mask_source``, ``steps``, ``guidance`` and ``seed`` are the
    diffusion restorer's settings (the pixel restorers have none; None = the family's recipe);
    ``tile`` its window in px (None automatic, 0 untiled) and ``cleaner`` DiffBIR's stage 1."""
    if backend == "offline":
        from models.restorers.learned import NetworkRestorer

        return NetworkRestorer()
    if backend == "classical":
        from models.restorers.classical import ClassicalRestorer

        return ClassicalRestorer()
    if backend == "full":
        from models.restorers.diffusion import load_diffusion_restorer
        from models.restorers.diffusion.settings import DiffusionSettings

        settings = DiffusionSettings(
            steps=steps, guidance=guidance, seed=seed, mask_source=mask_source, tile=tile, cleaner=cleaner
        )
        return load_diffusion_restorer(settings=settings)
    raise ValueError(f"unknown restorer backend {backend!r}; available: {sorted(RESTORERS)}")
