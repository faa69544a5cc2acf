"""DiffBIR v2 (SD-2.1-base + IRControlNet on a cleaned image's latent), region-modulated.

Modules, in the order a request meets them: ``restorer`` (the ``Restorer``: stage 1 then stage 2),
``cleaners`` (stage 1: SwinIR or the offline restorer), ``swinir_cleaner`` (SwinIR's checked
loader and tiled runner), ``swinir`` (the SwinIR network), ``pipeline`` (stage 2, the
``DiffusionPipeline``) and ``controlnet`` (DiffBIR's ControlNet as a diffusers model: LDM key
conversion and checked loading). Weights are found by ``diffusion.families``
and loaded by ``diffusion.loading``.

Importing this package imports nothing; its modules import torch and diffusers.
"""
