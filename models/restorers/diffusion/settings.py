"""``DiffusionSettings``: the sampler settings both diffusion families take (None = the family's
published recipe), checked at construction.
"""

from __future__ import annotations

from dataclasses import dataclass

MASK_SOURCE_CHOICES: tuple[str, ...] = ("auto", "grounding", "decoder")


@dataclass(frozen=True)
class DiffusionSettings:
    """Sampler settings for either family; None takes the family's published recipe
    (InstructRestore demo.sh: 20 UniPC steps, guidance 3.6; DiffBIR v2: 50 spaced-DDPM steps,
    guidance 4)."""

    steps: int | None = None
    guidance: float | None = None
    seed: int = 0  # demo.py seeds torch.manual_seed(0)
    start_point: str = "lr"  # InstructRestore: "lr" = the input's latent noised to t = 999; "noise"
    color_fix: str = "adain"  # InstructRestore: "adain" (demo.sh), "wavelet" or "none" (DiffBIR: wavelet)
    mask_source: str = "auto"  # "auto", "grounding" or "decoder" (InstructRestore's learned decoder)
    mask_init_step: int = 0  # residuals are modulated at step index i > mask_init_step
    sampler: str = "auto"  # DiffBIR: "spaced" (its recipe), "unipc", or auto = spaced at ≥ 50 steps
    cleaner: str = "auto"  # DiffBIR stage 1: "swinir", "offline", or auto = SwinIR when downloaded
    tile: int | None = None  # DiffBIR latent tiling window / stride / VAE tile in px (None = auto)
    tile_stride: int | None = None
    vae_tile: int | None = None

    def __post_init__(self) -> None:
        if self.mask_source not in MASK_SOURCE_CHOICES:
            raise ValueError(f"mask_source must be one of {MASK_SOURCE_CHOICES}, got {self.mask_source!r}")
        if (self.steps is not None and self.steps < 1) or (self.guidance is not None and self.guidance < 0):
            raise ValueError(
                f"need steps ≥ 1 and guidance ≥ 0, got steps={self.steps}, guidance={self.guidance}"
            )
        if self.sampler not in ("auto", "spaced", "unipc"):
            raise ValueError(f"sampler must be auto, spaced or unipc, got {self.sampler!r}")
        if self.cleaner not in ("auto", "swinir", "offline"):
            raise ValueError(f"cleaner must be auto, swinir or offline, got {self.cleaner!r}")
