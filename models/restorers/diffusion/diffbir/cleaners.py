"""Stage-1 cleaners for DiffBIR: remove most of the degradation before the diffusion stage.

DiffBIR conditions its ControlNet on the VAE latent of a *cleaned* image, so the cleaner sets how
much of the input's damage the diffusion stage has to repair. Two are offered:

- ``swinir``: DiffBIR's SwinIR trained on Real-ESRGAN degradations
  (``realesrgan_s4_swinir_100k.pth`` from ``lxq007/DiffBIR-v2``, downloaded with the family),
  loaded into Restora's own implementation (``swinir``, run by ``swinir_cleaner``). DiffBIR's
  authors pair it with v2.1; for v2 they used BSRNet / SCUNet. Pairing it with v2 is our choice:
  any RGB cleaner fits, since the condition is just an image, and it is the one cleaner the same
  repository ships.
- ``offline``: Restora's trained conditional FFDNet at fidelity 1 with the estimated noise,
  JPEG and blur levels: 0.5 s per 512² on a CPU and nothing to download.

``auto`` is SwinIR when its file is present, else the offline restorer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from models.restorers.base import Degradation
from models.restorers.maps import RegionMaps

logger = logging.getLogger(__name__)

CLEANERS: tuple[str, ...] = ("auto", "swinir", "offline")


class Cleaner(Protocol):
    name: str

    def __call__(self, image: np.ndarray, degradation: Degradation) -> np.ndarray: ...


class OfflineCleaner:
    """Restora's offline restorer over the whole image at the estimated degradation levels."""

    name = "Restora's offline restorer"

    def __init__(self) -> None:
        from models.restorers.learned import NetworkRestorer

        self.restorer = NetworkRestorer()

    def __call__(self, image: np.ndarray, degradation: Degradation) -> np.ndarray:
        maps = RegionMaps.uniform(*image.shape[:2], 1.0, "restore")
        return self.restorer.restore(image, maps, degradation).image


class SwinIRStage:
    """DiffBIR's SwinIR cleaner (blind: the estimated levels are not used)."""

    name = "DiffBIR's SwinIR (Real-ESRGAN degradations)"

    def __init__(self, path: Path, device: str = "cpu", dtype=None) -> None:
        import torch

        from models.restorers.diffusion.diffbir.swinir_cleaner import SwinIRCleaner, load_swinir

        self.cleaner = SwinIRCleaner(load_swinir(path, dtype=dtype or torch.float32, device=device))

    def __call__(self, image: np.ndarray, degradation: Degradation) -> np.ndarray:
        return self.cleaner(image)


def load_cleaner(choice: str, swinir: Path | None, device: str = "cpu", dtype=None) -> Cleaner:
    """The cleaner ``choice`` names (see the module docstring); ``swinir``: its weights or None."""
    if choice not in CLEANERS:
        raise ValueError(f"cleaner must be one of {CLEANERS}, got {choice!r}")
    if choice == "swinir" and swinir is None:
        raise FileNotFoundError(
            "the SwinIR cleaner was requested but realesrgan_s4_swinir_100k.pth is not in the DiffBIR "
            "folder: run `restora models download diffbir-v2`, or choose the offline cleaner"
        )
    if choice == "offline" or swinir is None:
        return OfflineCleaner()
    return SwinIRStage(swinir, device, dtype)
