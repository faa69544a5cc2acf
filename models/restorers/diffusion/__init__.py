"""The region-modulated diffusion restorer: InstructRestore's ControlNet on SD-2.1-base.

Modules: ``pipeline`` (the DiffusionPipeline), ``controlnet`` (ControlNet + mask decoder and its
checked loader), ``mask_decoder``, ``colorfix`` (AdaIN / wavelet), ``loading`` (finding weights,
devices; the README's model-setup text is its docstring), ``restorer`` (the ``Restorer``),
``grounder`` (the mask decoder as a ``Grounder``) and ``tiny`` (random tiny checkpoints for tests).

Importing this package imports neither torch nor diffusers: ``diffusion_status()`` only reads
files; ``load_diffusion_restorer()`` does the heavy imports.
"""

from __future__ import annotations

from models.restorers.diffusion.loading import diffusion_status, load_diffusion_restorer

__all__ = ["diffusion_status", "load_diffusion_restorer"]
