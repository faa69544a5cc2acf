"""InstructRestore (SD-2.1-base + a ControlNet with a learned region-mask decoder), region-modulated.

Modules, in the order a request meets them: ``restorer`` (the ``Restorer``: prompts from the plan,
the fidelity map, settings), ``pipeline`` (the ``DiffusionPipeline``: residuals scaled per pixel,
tiled denoising, colour fix), ``controlnet`` (the ControlNet + mask decoder and its checked
loader), ``mask_decoder`` (the decoder and the hooks that feed it) and ``grounder`` (the decoder
offered to the grounding stage). Weights are found by ``diffusion.families``
and loaded by ``diffusion.loading``.

Importing this package imports nothing; its modules import torch and diffusers.
"""
