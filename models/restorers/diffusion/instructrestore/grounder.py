"""InstructRestore's learned mask decoder offered to the grounding stage as a ``Grounder``.

For a target "dog" the ControlNet reads the control prompt "make dog clear" (training phrasing,
``parsers.prompts``) with the image as its hint; the decoder's soft mask is upsampled bilinearly
from latent resolution to the image. Text only: clicks and boxes are for the other grounders.
The mask is whatever the released decoder predicts at one mid-noise timestep; no claim is made
about its accuracy beyond the authors' paper.
"""

from __future__ import annotations

import math

import numpy as np

from models.grounding.base import Grounder, Grounding, GroundingError, RegionPrompt
from parsers.plan import BACKGROUND, IMAGE

HOW = "InstructRestore mask decoder"
#: The decoder was trained at uniformly drawn timesteps; mid-noise is our choice, not the authors'.
MASK_TIMESTEP = 500


def decoder_mask(
    pipeline, image: np.ndarray, control_prompt: str, generator=None, timestep: int = MASK_TIMESTEP
):
    """The decoder's soft mask (H, W) float32 in (0, 1) for ``control_prompt`` on ``image``.

    One conditional ControlNet pass (no CFG) on the input's latent noised to ``timestep``, the
    image as hint; the latent-resolution mask is upsampled bilinearly and the padding cropped.
    pipeline: an InstructRestorePipeline; generator: seeds the latent sample and the noise.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
    from diffusers.utils.torch_utils import randn_tensor

    if not hasattr(pipeline.controlnet, "mask_decoder"):
        raise ValueError("the decoder grounder needs an InstructRestore ControlNet with a mask_decoder")
    with torch.no_grad():
        device, dtype = pipeline._execution_device, pipeline.unet.dtype
        lq = pipeline.prepare_image(image, device)
        embeds = pipeline.encode_prompt(control_prompt, device, do_classifier_free_guidance=False)
        z = pipeline.vae.encode((2.0 * lq - 1.0).to(pipeline.vae.dtype)).latent_dist.sample(generator)
        z = z * pipeline.vae.config.scaling_factor
        noise = randn_tensor(z.shape, generator=generator, device=device, dtype=z.dtype)
        alpha_bar = float(pipeline.scheduler.alphas_cumprod[timestep])  # the scheduler is not stepped
        latent = (math.sqrt(alpha_bar) * z + math.sqrt(1.0 - alpha_bar) * noise).to(dtype)
        t = torch.tensor([timestep], device=device)
        _, _, mask = pipeline.controlnet(
            latent,
            t,
            encoder_hidden_states=embeds,
            controlnet_cond=lq.to(dtype),
            return_dict=False,
            return_mask=True,
        )
        mask = F.interpolate(mask.float(), size=lq.shape[-2:], mode="bilinear", align_corners=False)
    pipeline.maybe_free_model_hooks()
    h, w = image.shape[:2]
    return mask[0, 0, :h, :w].cpu().numpy()


class DecoderGrounder(Grounder):
    """Grounder over an ``InstructRestorePipeline`` (see ``decoder_mask``).

    seed: seeds the latent sample and noise so a target grounds the same way every time.
    """

    name = "instructrestore-decoder"

    def __init__(self, pipeline, seed: int = 0, threshold: float = 0.5) -> None:
        self.pipeline = pipeline
        self.seed = seed
        self.threshold = threshold
        self._image: np.ndarray | None = None
        self._cache: dict[str, np.ndarray] = {}

    def set_image(self, image: np.ndarray) -> None:
        self._image = image.astype(np.float32)
        self._cache.clear()

    def reset_image(self) -> None:
        self._image = None
        self._cache.clear()

    def ground(
        self, target: str, prompt: RegionPrompt | None = None, others: np.ndarray | None = None
    ) -> Grounding:
        import torch

        from parsers.prompts import region_prompts

        if self._image is None:
            raise ValueError("call set_image before ground")
        if prompt:
            raise GroundingError(
                target, f"{HOW} reads text only; use the click/box grounder for clicks and boxes."
            )
        h, w = self._image.shape[:2]
        if target == IMAGE:
            return Grounding(target, np.ones((h, w), np.float32), 1.0, "whole image")
        if target == BACKGROUND:
            if others is None:
                raise GroundingError(
                    target, "The background is what the other targets are not; name a target first."
                )
            return Grounding(
                target, (1.0 - others).astype(np.float32), 1.0, "complement of the other targets"
            )
        if target not in self._cache:
            generator = torch.Generator(device="cpu").manual_seed(self.seed)
            control = region_prompts(target).control
            self._cache[target] = decoder_mask(self.pipeline, self._image, control, generator)
        mask = self._cache[target]
        inside = mask > self.threshold
        if not inside.any():
            raise GroundingError(target, f'The {HOW} did not find "{target}".', needs_prompt=True)
        return Grounding(target, mask.astype(np.float32), float(mask[inside].mean()), HOW)
