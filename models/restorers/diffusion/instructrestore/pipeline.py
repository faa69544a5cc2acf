"""The region-modulated InstructRestore pipeline (SD-2.1-base + ControlNet + mask decoder).

At every denoising step the ControlNet (fed the noisy latent, the control prompt and the LQ image
as pixel hint) produces 12 down residuals and 1 mid residual. Each residual ``r`` is scaled per
pixel, ``r ← r · F``, by a fidelity map ``F`` resized to ``r``'s spatial size, then injected into
the frozen UNet (which reads the main prompt). ``F`` comes from one of two mask sources:

- ``"external"``: a per-pixel fidelity map in [0, 2] (Restora's ``RegionMaps.fidelity``), or a
  soft mask ``M`` with scales, ``F = s_in·M + s_out·(1−M)``. Soft maps are resized to each
  residual's size by **area averaging** (``F.interpolate(mode="area")``): image sides are padded
  to multiples of 64, so every residual pixel is the exact mean of the block of image pixels it
  covers and a region's mean fidelity is preserved at every resolution.
- ``"decoder"``: InstructRestore's learned mask decoder. Its mask is taken from the
  *conditional* half of the CFG batch, binarised at 0.5, and ``F = s_in·M + s_out·(1−M)`` is
  **nearest**-resized to each residual, exactly as the authors do. CFG must be on.

Modulation applies at step index ``i > mask_init_step`` (InstructRestore's default 0: the first
step uses plain residuals); ``-1`` modulates every step. F = 0 everywhere gives the uncontrolled
UNet; F = 1 plain ControlNet guidance; F > 1 sticks closer to the input.

Defaults follow the authors' ``demo.sh``: UniPC, 20 steps, guidance 3.6, start from the LQ latent
noised to t = 999 ("lr"), AdaIN colour fix. Image sides that are not multiples of 64 are padded
by reflection and cropped back: never resized.

Long because: one self-contained ``DiffusionPipeline`` file whose numbered steps are methods of
one class (STYLE.md §8); what both families share around the loop is ``diffusion.steps``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTokenizer

from models.restorers.diffusion.colorfix import COLOR_FIXES, apply_color_fix
from models.restorers.diffusion.instructrestore.controlnet import InstructRestoreControlNetModel
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

MASK_SOURCES: tuple[str, ...] = ("external", "decoder")
START_POINTS: tuple[str, ...] = ("lr", "noise")
#: InstructRestore's demo.sh value (its demo.py default is 5.5, diffusers' 7.5).
DEFAULT_GUIDANCE = 3.6
DEFAULT_STEPS = 20
MASK_THRESHOLD = 0.5
@dataclass
class InstructRestoreOutput:
    """image: (H, W, 3) float32 RGB in [0, 1], same size as the input.

    mask: the decoder's binarised mask (H, W) float32 in {0, 1} from the last modulated step, or
        None for the external source. tiles: latent windows per step (1 = untiled).
    seconds: wall time of the whole call; estimated_seconds: the estimate made after step 1.
    """

    image: np.ndarray
    mask: np.ndarray | None = None
    seconds: float = 0.0
    estimated_seconds: float | None = None
    step_seconds: list[float] = field(default_factory=list)
    tiles: int = 1  # latent windows per step (``tiling``)


class InstructRestorePipeline(DiffusionPipeline):
    """SD-2.1-base + InstructRestore ControlNet with per-pixel residual modulation.

    Components are never modified by a call; the decoder's feature hooks are removed after every
    ControlNet forward, even on error.
    """

    model_cpu_offload_seq = "text_encoder->unet->vae"

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNet2DConditionModel,
        controlnet: InstructRestoreControlNetModel,
        scheduler: KarrasDiffusionSchedulers,
    ) -> None:
        super().__init__()
        keys = (
            "in_channels",
            "block_out_channels",
            "layers_per_block",
            "cross_attention_dim",
            "down_block_types",
        )
        check_fit(controlnet, unet, keys, "InstructRestore")
        self.register_modules(
            vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, controlnet=controlnet,
            scheduler=scheduler,
        )  # fmt: skip
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        # Latents must halve cleanly through every UNet level (and by 4 for the mask decoder).
        self.size_multiple = self.vae_scale_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)

    # ------------------------------------------------------------------ lifecycle steps

    def check_inputs(
        self,
        image: np.ndarray,
        fidelity: np.ndarray | None,
        mask: np.ndarray | None,
        inner_scale: float,
        outer_scale: float,
        mask_source: str,
        prompt: str,
        control_prompt: str,
        num_inference_steps: int,
        guidance_scale: float,
        start_point: str,
        color_fix: str,
        mask_init_step: int,
        callback_on_step_end: StepCallback | None,
    ) -> None:
        check_image(image)
        hw = image.shape[:2]
        for name, value, choices in (
            ("mask_source", mask_source, MASK_SOURCES),
            ("start_point", start_point, START_POINTS),
            ("color_fix", color_fix, COLOR_FIXES),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        if mask_source == "external":
            if (fidelity is None) == (mask is None):
                raise ValueError(
                    "the external mask source needs exactly one of fidelity= (H, W) or mask= (H, W)"
                )
        elif fidelity is not None or mask is not None:
            raise ValueError(
                "mask_source='decoder' computes its own mask: pass inner/outer scales, not fidelity/mask"
            )
        for name, arr, top in (("fidelity", fidelity, 2.0), ("mask", mask, 1.0)):
            if arr is None:
                continue
            if arr.shape != hw:
                raise ValueError(f"{name} has shape {arr.shape}, expected the image's {hw}")
            if not (np.isfinite(arr).all() and arr.min() >= 0.0 and arr.max() <= top):
                raise ValueError(
                    f"{name} values must lie in [0, {top:g}], got [{arr.min():g}, {arr.max():g}]"
                )
        for name, value in (("inner_scale", inner_scale), ("outer_scale", outer_scale)):
            if not 0.0 <= value <= 2.0:
                raise ValueError(f"{name} must be a fidelity scale in [0, 2], got {value}")
        if mask_source == "decoder":
            if guidance_scale <= 1.0:
                raise ValueError(
                    f"mask_source='decoder' needs classifier-free guidance (guidance_scale > 1, got "
                    f"{guidance_scale}): the decoder's mask is read from the conditional CFG half"
                )
            if not hasattr(self.controlnet, "mask_decoder"):
                raise ValueError(
                    "mask_source='decoder' needs an InstructRestore ControlNet with a mask_decoder"
                )
        if not isinstance(prompt, str) or not isinstance(control_prompt, str):
            raise ValueError(
                f"prompt and control_prompt must be strings, got {prompt!r} and {control_prompt!r}"
            )
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be a positive integer, got {num_inference_steps!r}")
        if not (
            isinstance(guidance_scale, int | float) and math.isfinite(guidance_scale) and guidance_scale >= 0
        ):
            raise ValueError(f"guidance_scale must be a finite number ≥ 0, got {guidance_scale!r}")
        if not isinstance(mask_init_step, int) or mask_init_step < -1:
            raise ValueError(
                f"mask_init_step must be an integer ≥ -1 (-1: modulate every step), got {mask_init_step!r}"
            )
        if callback_on_step_end is not None and not callable(callback_on_step_end):
            raise ValueError(
                f"callback_on_step_end must be callable, got {type(callback_on_step_end).__name__}"
            )

    # Adapted from diffusers.pipelines.stable_diffusion.StableDiffusionPipeline.encode_prompt
    # (one prompt, empty negative prompt, no LoRA / clip-skip / textual inversion).
    def encode_prompt(
        self, prompt: str, device: torch.device, do_classifier_free_guidance: bool
    ) -> torch.Tensor:
        """Text embeddings ``(2, 77, D)`` as [empty prompt, prompt] with CFG, else ``(1, 77, D)``."""
        texts = ["", prompt] if do_classifier_free_guidance else [prompt]
        max_length = self.tokenizer.model_max_length
        tokens = self.tokenizer(
            texts, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
        )
        if len(self.tokenizer(prompt).input_ids) > max_length:
            logger.warning("prompt %r is longer than %d tokens and was truncated", prompt, max_length)
        attention_mask = None
        if getattr(self.text_encoder.config, "use_attention_mask", False):
            attention_mask = tokens.attention_mask.to(device)
        embeds = self.text_encoder(tokens.input_ids.to(device), attention_mask=attention_mask)[0]
        return embeds.to(dtype=self.text_encoder.dtype, device=device)

    def prepare_image(self, image: np.ndarray, device: torch.device) -> torch.Tensor:
        """(H, W, 3) [0, 1] → reflect-padded (1, 3, H', W') float32 on ``device`` (H', W' multiples)."""
        padded = pad_to_multiple(image.astype(np.float32), self.size_multiple)
        return torch.from_numpy(np.ascontiguousarray(padded)).permute(2, 0, 1)[None].to(device)

    def prepare_fidelity(
        self,
        fidelity: np.ndarray | None,
        mask: np.ndarray | None,
        inner_scale: float,
        outer_scale: float,
        device: torch.device,
    ) -> torch.Tensor:
        """The external fidelity map, reflect-padded like the image: (1, 1, H', W') float32."""
        fmap = fidelity if fidelity is not None else inner_scale * mask + outer_scale * (1.0 - mask)
        padded = pad_to_multiple(np.asarray(fmap, np.float32), self.size_multiple)
        return torch.from_numpy(np.ascontiguousarray(padded))[None, None].to(device)

    def prepare_latents(
        self, lq: torch.Tensor, start_point: str, generator: torch.Generator | None, dtype: torch.dtype
    ) -> torch.Tensor:
        """x_T: the LQ latent noised to the first timestep ("lr") or pure noise ("noise").

        "lr" samples the VAE posterior of ``2·lq − 1`` with ``generator``, scales it by the VAE's
        scaling factor and noises it with the scheduler to ``timesteps[0]`` (999 for UniPC with the
        SD-2.1-base config): x_T = √ᾱ·z + √(1−ᾱ)·ε.
        """
        factor = self.vae_scale_factor
        shape = (lq.shape[0], self.unet.config.in_channels, lq.shape[2] // factor, lq.shape[3] // factor)
        if start_point == "noise":
            noise = randn_tensor(shape, generator=generator, device=lq.device, dtype=dtype)
            return noise * self.scheduler.init_noise_sigma
        posterior = self.vae.encode((2.0 * lq - 1.0).to(self.vae.dtype)).latent_dist
        z = posterior.sample(generator) * self.vae.config.scaling_factor
        noise = randn_tensor(shape, generator=generator, device=lq.device, dtype=z.dtype)
        return self.scheduler.add_noise(z, noise, self.scheduler.timesteps[:1]).to(dtype)

    def decoder_fidelity(self, mask: torch.Tensor, inner_scale: float, outer_scale: float) -> torch.Tensor:
        """F at latent resolution from the decoder mask of the conditional CFG half: (1, 1, h, w)."""
        binary = (mask[-1:].float() > MASK_THRESHOLD).float()
        return inner_scale * binary + outer_scale * (1.0 - binary)

    def modulate_residuals(
        self,
        down: Sequence[torch.Tensor],
        mid: torch.Tensor,
        fidelity: torch.Tensor,
        mode: str,
        cache: dict[tuple[int, int], torch.Tensor] | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """See the module-level ``modulate_residuals``."""
        return modulate_residuals(down, mid, fidelity, mode, cache)

    def predict_noise(
        self,
        latent_input: torch.Tensor,
        t: torch.Tensor,
        main_embeds: torch.Tensor,
        control_embeds: torch.Tensor,
        hint: torch.Tensor,
        fidelity: torch.Tensor | None,
        modulate: bool,
        inner_scale: float = 1.0,
        outer_scale: float = 1.0,
        cache: dict[tuple[int, int], torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One ControlNet + UNet evaluation on a (CFG-)batched latent → (ε, decoder mask or None).

        fidelity: the external map (pixel resolution, area-resized) or None for the decoder source.
        cache: for the external map, its resized copies (filled on first use, kept across steps).
        """
        use_decoder = fidelity is None and modulate
        out = self.controlnet(
            latent_input, t, encoder_hidden_states=control_embeds, controlnet_cond=hint, return_dict=False,
            **({"return_mask": True} if use_decoder else {}),
        )  # fmt: skip
        down, mid = out[0], out[1]
        mask = out[2] if use_decoder else None
        if modulate:
            if use_decoder:
                down, mid = self.modulate_residuals(
                    down, mid, self.decoder_fidelity(mask, inner_scale, outer_scale), "nearest"
                )
            else:
                down, mid = self.modulate_residuals(down, mid, fidelity, "area", cache)
        noise_pred = self.unet(
            latent_input, t, encoder_hidden_states=main_embeds, down_block_additional_residuals=down,
            mid_block_additional_residual=mid, return_dict=False,
        )[0]  # fmt: skip
        return noise_pred, mask

    def predict_tiled(
        self,
        plan: TilePlan,
        latent_input: torch.Tensor,
        t: torch.Tensor,
        main_embeds: torch.Tensor,
        control_embeds: torch.Tensor,
        hint: torch.Tensor,
        fidelity: torch.Tensor | None,
        modulate: bool,
        inner_scale: float,
        outer_scale: float,
        caches: dict,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``predict_noise`` over the plan's latent windows, Gaussian-blended (``tiling``); the
        pixel hint and the external fidelity map are cut at the window's pixel coordinates, and the
        decoder's per-window masks are blended like the noise. One window = ``predict_noise``."""
        s = self.vae_scale_factor

        def window(ys: slice, xs: slice) -> tuple[torch.Tensor, torch.Tensor | None]:
            pixels = (..., slice(ys.start * s, ys.stop * s), slice(xs.start * s, xs.stop * s))
            return self.predict_noise(
                latent_input[..., ys, xs], t, main_embeds, control_embeds, hint[pixels],
                None if fidelity is None else fidelity[pixels], modulate, inner_scale, outer_scale,
                caches.setdefault((ys.start, xs.start), {}),
            )  # fmt: skip

        size = latent_input.shape[-2:]
        noise_pred, mask = blend_windows(plan.windows(*size), *size, window)
        return noise_pred, mask

    # ------------------------------------------------------------------ entry point

    @torch.no_grad()
    def __call__(
        self,
        image: np.ndarray,
        prompt: str = "",
        control_prompt: str = "",
        fidelity: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        inner_scale: float = 1.0,
        outer_scale: float = 1.0,
        mask_source: str = "external",
        num_inference_steps: int = DEFAULT_STEPS,
        guidance_scale: float = DEFAULT_GUIDANCE,
        generator: torch.Generator | None = None,
        start_point: str = "lr",
        color_fix: str = "adain",
        mask_init_step: int = 0,
        callback_on_step_end: StepCallback | None = None,
        tiling: Tiling | None = None,
    ) -> InstructRestoreOutput:
        """Restore ``image`` ((H, W, 3) float32 RGB in [0, 1]).

        prompt / control_prompt: the UNet's and the ControlNet's text, e.g. "dog" and
            "make dog clear" (``parsers.prompts``); "" is the training's prompt drop.
        fidelity: (H, W) per-pixel residual scale in [0, 2] (external source), or
        mask + inner_scale / outer_scale: (H, W) soft mask in [0, 1] and its two scales; with the
            decoder source only the scales are given.
        generator: seeds the VAE posterior sample and the noise (pass a seeded one to reproduce).
        callback_on_step_end: see ``StepCallback``; return False or raise ``Cancelled`` to stop.
        tiling: latent-window / VAE tiling for large images (default automatic, see ``tiling``);
            the pixel hint, the fidelity map and the decoder's mask are tiled with the latent.
        """
        # 1. Check inputs
        self.check_inputs(
            image, fidelity, mask, inner_scale, outer_scale, mask_source, prompt, control_prompt,
            num_inference_steps, guidance_scale, start_point, color_fix, mask_init_step, callback_on_step_end,
        )  # fmt: skip
        start = time.perf_counter()
        device = self._execution_device
        dtype = self.unet.dtype
        do_cfg = guidance_scale > 1.0
        height, width = image.shape[:2]

        # 2. Encode the main (UNet) and control (ControlNet) prompts: [empty, prompt] with CFG
        main_embeds = self.encode_prompt(prompt, device, do_cfg)
        control_embeds = self.encode_prompt(control_prompt, device, do_cfg)

        # 3. Prepare the LQ image (padded, never resized) and its pixel hint
        lq = self.prepare_image(image, device)
        hint = torch.cat([lq] * 2) if do_cfg else lq
        hint = hint.to(self.controlnet.dtype)

        # 4. Prepare the external fidelity map at pixel resolution (resized per residual later)
        fmap, fmaps = None, {}  # fmaps: fmap resized to each residual size, filled at first use
        if mask_source == "external":
            fmap = self.prepare_fidelity(fidelity, mask, inner_scale, outer_scale, device)

        # 5. Prepare timesteps, the tiling and the start latents
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        plan = choose_tiling(
            lq.shape[2], lq.shape[3], self.vae_scale_factor, self.size_multiple, tiling or Tiling(), dtype,
            device=device,
        )  # fmt: skip
        logger.info("InstructRestore tiling: %s", plan.reason)
        with vae_tiling(self.vae, plan.vae_tile_px):
            latents = self.prepare_latents(lq, start_point, generator, dtype)

        # 6. Denoising loop
        decoder_mask: torch.Tensor | None = None
        step_seconds: list[float] = []
        estimate: float | None = None
        loop_start = time.perf_counter()
        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for i, t in enumerate(timesteps):
                step_start = time.perf_counter()
                latent_input = torch.cat([latents] * 2) if do_cfg else latents
                latent_input = self.scheduler.scale_model_input(latent_input, t)
                noise_pred, step_mask = self.predict_tiled(
                    plan, latent_input, t, main_embeds, control_embeds, hint, fmap, i > mask_init_step,
                    inner_scale, outer_scale, fmaps,
                )  # fmt: skip
                if step_mask is not None:
                    decoder_mask = step_mask
                if do_cfg:
                    noise_uncond, noise_cond = noise_pred.chunk(2)
                    noise_pred = noise_uncond + guidance_scale * (noise_cond - noise_uncond)
                latents = self.scheduler.step(noise_pred, t, latents, return_dict=False)[0]

                if device.type == "cuda":
                    torch.cuda.synchronize(device)  # honest step times (and the estimate)
                if i == 0:
                    estimate = estimate_duration(
                        "diffusion", step_start, loop_start, start, len(timesteps), device
                    )
                step_seconds.append(time.perf_counter() - step_start)
                progress_bar.update()
                if callback_on_step_end is not None:
                    latents = call_step_callback(
                        self, callback_on_step_end, i, t, latents, step_mask, start, estimate, len(timesteps)
                    )

        # 7. Decode, crop the padding away, colour-fix against the LQ input
        with vae_tiling(self.vae, plan.vae_tile_px):
            decoded = self.vae.decode(
                latents.to(self.vae.dtype) / self.vae.config.scaling_factor, return_dict=False
            )[0]
        restored = (decoded.float() / 2 + 0.5).clamp(0, 1)[:, :, :height, :width]
        restored = apply_color_fix(restored, lq[:, :, :height, :width].float(), color_fix)
        out_mask = None
        if decoder_mask is not None:
            binary = self.decoder_fidelity(decoder_mask, 1.0, 0.0)  # 1 inside, 0 outside
            out_mask = (
                F.interpolate(binary, size=lq.shape[-2:], mode="nearest")[0, 0, :height, :width].cpu().numpy()
            )
        self.maybe_free_model_hooks()
        image_out = restored[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)  # (H, W, 3)
        tiles = len(plan.windows(*latents.shape[-2:]))
        return InstructRestoreOutput(
            image_out, out_mask, time.perf_counter() - start, estimate, step_seconds, tiles
        )
