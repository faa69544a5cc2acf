"""The region-modulated DiffBIR v2 pipeline: SD-2.1-base + IRControlNet on a cleaned image's latent.

Stage 1 (outside this class: ``cleaners``) removes most of the degradation; this pipeline is
DiffBIR's stage 2. The hint is the VAE latent of the cleaned image (posterior mode × 0.18215).
At every step the ControlNet sees ``cat([x_t, hint])`` and the prompt; its 13 residuals are
scaled per pixel by the fidelity map (area-resized to each residual, as in the InstructRestore
pipeline: 0 = unguided generation, 1 = DiffBIR's guidance, 2 = twice as close to the cleaned
image) and added to the frozen UNet. Classifier-free guidance contrasts the positive prompt with
the negative one; both branches share the hint.

Defaults are DiffBIR v2's published recipe (README, ``--version v2``): the "spaced" DDPM sampler
(diffusers ``DDPMScheduler`` with ``timestep_spacing="linspace"``, the same 50 respaced timesteps
0, 20, 41, …, 999 and ancestral posterior steps), 50 steps, CFG 4, empty positive prompt, the
negative prompt "low quality, blurry, low-resolution, noisy, unsharp, weird textures", start from
pure noise, wavelet colour fix against the cleaned image. ``sampler="unipc"`` trades a little
fidelity to that recipe for speed (20 steps are typical).

Large images are tiled (``tiling``): latent windows with Gaussian blending, diffusers' tiled VAE.
Image sides are reflect-padded to multiples of 64 px and cropped back: never resized.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from diffusers import (
    AutoencoderKL,
    DDPMScheduler,
    DiffusionPipeline,
    UNet2DConditionModel,
    UniPCMultistepScheduler,
)
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTokenizer

from models.restorers.diffusion.colorfix import COLOR_FIXES, apply_color_fix
from models.restorers.diffusion.diffbir.controlnet import LATENT_SCALE, DiffBIRControlNetModel
from models.restorers.diffusion.steps import (
    StepCallback,
    call_step_callback,
    check_fit,
    check_image,
    estimate_duration,
    modulate_residuals,
    pad_to_multiple,
)
from models.restorers.diffusion.tiling import TilePlan, Tiling, blend_windows, choose_tiling, vae_tiling

logger = logging.getLogger(__name__)

DEFAULT_STEPS = 50
DEFAULT_GUIDANCE = 4.0
DEFAULT_PROMPT = ""
DEFAULT_NEGATIVE_PROMPT = "low quality, blurry, low-resolution, noisy, unsharp, weird textures"
SAMPLERS: tuple[str, ...] = ("spaced", "unipc")


def make_scheduler(sampler: str, config: dict[str, Any]):
    """DiffBIR v2's "spaced" DDPM sampler or UniPC, from SD-2.1-base's scheduler config."""
    if sampler == "spaced":
        return DDPMScheduler.from_config(config, timestep_spacing="linspace", clip_sample=False)
    if sampler == "unipc":
        return UniPCMultistepScheduler.from_config(config)
    raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")


@dataclass
class DiffBIROutput:
    """image: (H, W, 3) float32 RGB in [0, 1]; tiles: latent windows per step; plan: the tiling."""

    image: np.ndarray
    seconds: float = 0.0
    estimated_seconds: float | None = None
    step_seconds: list[float] = field(default_factory=list)
    tiles: int = 1
    plan: TilePlan | None = None


class DiffBIRPipeline(DiffusionPipeline):
    """SD-2.1-base + DiffBIR's IRControlNet with per-pixel residual modulation and tiling."""

    model_cpu_offload_seq = "text_encoder->vae->controlnet->unet"

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNet2DConditionModel,
        controlnet: DiffBIRControlNetModel,
        scheduler: DDPMScheduler | UniPCMultistepScheduler,
    ) -> None:
        super().__init__()
        keys = ("block_out_channels", "layers_per_block", "cross_attention_dim", "down_block_types")
        check_fit(controlnet, unet, keys, "DiffBIR v2")
        if controlnet.config.in_channels != 2 * unet.config.in_channels:
            raise ValueError(
                f"DiffBIR's ControlNet takes latent + hint ({2 * unet.config.in_channels} channels), "
                f"this one takes {controlnet.config.in_channels}"
            )
        self.register_modules(
            vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, controlnet=controlnet,
            scheduler=scheduler,
        )  # fmt: skip
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.size_multiple = self.vae_scale_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)

    # ------------------------------------------------------------------ steps

    def check_inputs(self, image, fidelity, steps, guidance, color_fix, control_scale) -> None:
        check_image(image)
        if fidelity is not None:
            if fidelity.shape != image.shape[:2]:
                raise ValueError(
                    f"fidelity has shape {fidelity.shape}, expected the image's {image.shape[:2]}"
                )
            if not (np.isfinite(fidelity).all() and fidelity.min() >= 0.0 and fidelity.max() <= 2.0):
                raise ValueError(
                    f"fidelity values must lie in [0, 2], got [{fidelity.min():g}, {fidelity.max():g}]"
                )
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"num_inference_steps must be a positive integer, got {steps!r}")
        if not (isinstance(guidance, int | float) and math.isfinite(guidance) and guidance >= 0):
            raise ValueError(f"guidance_scale must be a finite number ≥ 0, got {guidance!r}")
        if color_fix not in COLOR_FIXES:
            raise ValueError(f"color_fix must be one of {COLOR_FIXES}, got {color_fix!r}")
        if not 0.0 <= control_scale <= 2.0:
            raise ValueError(f"control_scale must lie in [0, 2], got {control_scale}")

    def encode_prompts(
        self, prompt: str, negative_prompt: str, device: torch.device, cfg: bool
    ) -> torch.Tensor:
        """(2, 77, D) as [negative, positive] with CFG, else (1, 77, D)."""
        texts = [negative_prompt, prompt] if cfg else [prompt]
        tokens = self.tokenizer(
            texts, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True,
            return_tensors="pt",
        )  # fmt: skip
        embeds = self.text_encoder(tokens.input_ids.to(device))[0]
        return embeds.to(dtype=self.unet.dtype, device=device)

    def encode_hint(self, cleaned: torch.Tensor, vae_tile_px: int | None) -> torch.Tensor:
        """VAE posterior **mode** of ``2·cleaned − 1`` × 0.18215 (DiffBIR's condition)."""
        with vae_tiling(self.vae, vae_tile_px):
            posterior = self.vae.encode((2.0 * cleaned - 1.0).to(self.vae.dtype)).latent_dist
        return posterior.mode() * LATENT_SCALE

    def decode(self, latents: torch.Tensor, vae_tile_px: int | None) -> torch.Tensor:
        with vae_tiling(self.vae, vae_tile_px):
            decoded = self.vae.decode(latents.to(self.vae.dtype) / LATENT_SCALE, return_dict=False)[0]
        return (decoded.float() / 2 + 0.5).clamp(0, 1)

    def predict_window(
        self,
        latents: torch.Tensor,
        hint: torch.Tensor,
        t: torch.Tensor,
        embeds: torch.Tensor,
        fidelity: torch.Tensor | None,
        control_scale: float,
        cache: dict,
        key: Any,
    ) -> torch.Tensor:
        """ControlNet + modulated residuals + UNet on one (CFG-batched) window → ε."""
        down, mid = self.controlnet.control(latents, hint, t, embeds, conditioning_scale=control_scale)
        if fidelity is not None:
            down, mid = modulate_residuals(down, mid, fidelity, "area", cache.setdefault(key, {}))
        return self.unet(
            latents, t, encoder_hidden_states=embeds, down_block_additional_residuals=down,
            mid_block_additional_residual=mid, return_dict=False,
        )[0]  # fmt: skip

    def predict_noise(
        self,
        latents: torch.Tensor,
        hint: torch.Tensor,
        t: torch.Tensor,
        embeds: torch.Tensor,
        fidelity: torch.Tensor | None,
        plan: TilePlan,
        control_scale: float,
        cache: dict,
    ) -> torch.Tensor:
        """ε over the whole latent: one call, or Gaussian-blended windows (see ``tiling``)."""
        s = self.vae_scale_factor

        def window(ys: slice, xs: slice) -> list[torch.Tensor]:
            fid = (
                None
                if fidelity is None
                else fidelity[..., ys.start * s : ys.stop * s, xs.start * s : xs.stop * s]
            )
            key = (ys.start, xs.start)
            return [
                self.predict_window(
                    latents[..., ys, xs], hint[..., ys, xs], t, embeds, fid, control_scale, cache, key
                )
            ]

        return blend_windows(plan.windows(*latents.shape[-2:]), *latents.shape[-2:], window)[0]

    # ------------------------------------------------------------------ entry point

    @torch.no_grad()
    def __call__(
        self,
        image: np.ndarray,
        fidelity: np.ndarray | None = None,
        prompt: str = DEFAULT_PROMPT,
        negative_prompt: str = DEFAULT_NEGATIVE_PROMPT,
        num_inference_steps: int = DEFAULT_STEPS,
        guidance_scale: float = DEFAULT_GUIDANCE,
        generator: torch.Generator | None = None,
        control_scale: float = 1.0,
        color_fix: str = "wavelet",
        tiling: Tiling | None = None,
        callback_on_step_end: StepCallback | None = None,
        scheduler: DDPMScheduler | UniPCMultistepScheduler | None = None,
    ) -> DiffBIROutput:
        """Restore ``image``, the **stage-1 cleaned** photo ((H, W, 3) float32 RGB in [0, 1]).

        fidelity: (H, W) per-pixel residual scale in [0, 2] (None = 1 everywhere).
        tiling: window/stride/VAE-tile overrides (default automatic from free memory).
        scheduler: a sampler for this call (``make_scheduler``) instead of the pipeline's own.
        """
        self.check_inputs(image, fidelity, num_inference_steps, guidance_scale, color_fix, control_scale)
        start = time.perf_counter()
        device = self._execution_device
        dtype = self.unet.dtype
        do_cfg = guidance_scale > 1.0
        height, width = image.shape[:2]

        embeds = self.encode_prompts(prompt, negative_prompt, device, do_cfg)
        cleaned = torch.from_numpy(
            np.ascontiguousarray(pad_to_multiple(image.astype(np.float32), self.size_multiple))
        )
        cleaned = cleaned.permute(2, 0, 1)[None].to(device)
        plan = choose_tiling(
            cleaned.shape[2], cleaned.shape[3], self.vae_scale_factor, self.size_multiple, tiling or Tiling(),
            dtype, device=device,
        )  # fmt: skip
        logger.info("DiffBIR tiling: %s", plan.reason)
        hint = self.encode_hint(cleaned, plan.vae_tile_px).to(dtype)
        hint = torch.cat([hint] * 2) if do_cfg else hint
        fmap = None
        if fidelity is not None:
            padded = pad_to_multiple(np.asarray(fidelity, np.float32), self.size_multiple)
            fmap = torch.from_numpy(np.ascontiguousarray(padded))[None, None].to(device)

        scheduler = scheduler if scheduler is not None else self.scheduler
        scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = scheduler.timesteps
        shape = (1, self.unet.config.in_channels, *hint.shape[-2:])
        latents = (
            randn_tensor(shape, generator=generator, device=device, dtype=dtype) * scheduler.init_noise_sigma
        )
        step_kwargs = (
            {"generator": generator} if "generator" in inspect.signature(scheduler.step).parameters else {}
        )

        cache: dict = {}
        step_seconds: list[float] = []
        estimate = None
        loop_start = time.perf_counter()
        tiles = len(plan.windows(*latents.shape[-2:]))
        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for i, t in enumerate(timesteps):
                step_start = time.perf_counter()
                latent_input = torch.cat([latents] * 2) if do_cfg else latents
                latent_input = scheduler.scale_model_input(latent_input, t)
                eps = self.predict_noise(latent_input, hint, t, embeds, fmap, plan, control_scale, cache)
                if do_cfg:
                    uncond, cond = eps.chunk(2)
                    eps = uncond + guidance_scale * (cond - uncond)
                latents = scheduler.step(eps, t, latents, return_dict=False, **step_kwargs)[0]
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                if i == 0:
                    estimate = estimate_duration(
                        "DiffBIR", step_start, loop_start, start, len(timesteps), device
                    )
                step_seconds.append(time.perf_counter() - step_start)
                progress_bar.update()
                if callback_on_step_end is not None:
                    latents = call_step_callback(
                        self, callback_on_step_end, i, t, latents, None, start, estimate, len(timesteps)
                    )

        restored = self.decode(latents, plan.vae_tile_px)[:, :, :height, :width]
        restored = apply_color_fix(restored, cleaned[:, :, :height, :width].float(), color_fix)
        self.maybe_free_model_hooks()
        out = restored[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)
        return DiffBIROutput(out, time.perf_counter() - start, estimate, step_seconds, tiles, plan)
