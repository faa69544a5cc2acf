"""The region-modulated diffusion restorers: one package per checkpoint family over a shared core.

- ``instructrestore/``: InstructRestore's ControlNet + learned mask decoder on SD-2.1-base.
- ``diffbir/``: DiffBIR v2, a stage-1 cleaner then IRControlNet on SD-2.1-base.
- The shared core: ``families`` (finding each family's weights, choosing the family; the README's
  model-setup text is its docstring), ``loading`` (devices, precision, building the pipeline),
  ``settings`` (``DiffusionSettings``), ``steps`` (input checks, residual modulation, step
  callbacks around the denoising loop), ``checkpoints`` (checked state-dict loading), ``tiling``
  (latent tiles, tiled VAE), ``colorfix`` (AdaIN / wavelet) and ``tiny`` (random tiny
  checkpoints of both families for tests).

Importing this package imports neither torch nor diffusers: ``diffusion_status()`` only reads
files; ``load_diffusion_restorer()`` does the heavy imports.
"""

from __future__ import annotations

from models.restorers.diffusion.families import diffusion_status
from models.restorers.diffusion.loading import load_diffusion_restorer

__all__ = ["diffusion_status", "load_diffusion_restorer"]
