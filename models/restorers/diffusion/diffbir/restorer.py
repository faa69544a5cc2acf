"""``DiffBIRRestorer``: the ``Restorer`` contract over the DiffBIR v2 pipeline.

Two stages, as DiffBIR runs them: a cleaner (``cleaners``) removes the estimated degradation from
the whole photo, then the diffusion stage regenerates detail conditioned on the cleaned image's
latent. Regions: ``maps.fidelity`` scales the 13 control residuals per pixel (0 = unguided
generation, 1 = DiffBIR's guidance, 2 = twice as close to the cleaned image); ``keep`` pixels are
composited back bit-exact; ``bokeh`` and the per-action maps (denoise / deblur / dejpeg) do not
steer a diffusion model and are stated as such in the notes. DiffBIR reads no region phrase: its
prompts are the recipe's (empty positive, the quality negative prompt); the region instructions
reach it only through the fidelity map, so the mask source is always Restora's grounding.

Sampler: ``auto`` runs DiffBIR v2's spaced DDPM at 50 or more steps and UniPC below that (an
ancestral DDPM sampler at 20 steps leaves visible noise; UniPC converges there).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from models.restorers.base import Degradation, ProgressFn, RestoredImage, Restorer
from models.restorers.diffusion.settings import DiffusionSettings
from models.restorers.maps import RegionMaps

logger = logging.getLogger(__name__)

SPACED_MIN_STEPS = 50


class DiffBIRRestorer(Restorer):
    """Restorer over a ``DiffBIRPipeline`` (build one with ``load_diffusion_restorer``).

    swinir: the SwinIR cleaner's weights, or None when only the offline cleaner is available.
    After ``restore``, ``last_output`` holds the pipeline's output (timings, tiling).
    """

    name = "DiffBIR v2 diffusion"
    family = "diffbir-v2"

    def __init__(
        self, pipeline, settings: DiffusionSettings | None = None, swinir: Path | None = None
    ) -> None:
        self.pipeline = pipeline
        self.settings = settings or DiffusionSettings()
        self.swinir = swinir
        self.last_output = None
        self._cleaner = None
        pipeline.set_progress_bar_config(disable=True)

    def cleaner(self):
        if self._cleaner is None:
            from models.restorers.diffusion.diffbir.cleaners import load_cleaner

            device = str(self.pipeline._execution_device)
            self._cleaner = load_cleaner(self.settings.cleaner, self.swinir, device, self.pipeline.unet.dtype)
        return self._cleaner

    def recipe(self) -> tuple[int, float, str]:
        """(steps, guidance, sampler) after filling the family defaults."""
        from models.restorers.diffusion.diffbir.pipeline import DEFAULT_GUIDANCE, DEFAULT_STEPS

        s = self.settings
        steps = s.steps if s.steps is not None else DEFAULT_STEPS
        guidance = s.guidance if s.guidance is not None else DEFAULT_GUIDANCE
        sampler = s.sampler if s.sampler != "auto" else ("spaced" if steps >= SPACED_MIN_STEPS else "unipc")
        return steps, guidance, sampler

    def restore(
        self,
        image: np.ndarray,
        maps: RegionMaps,
        degradation: Degradation,
        progress: ProgressFn | None = None,
        plan: object | None = None,
        *,
        grounded: bool = True,
    ) -> RestoredImage:
        """Clean ``image`` ((H, W, 3) float32 RGB in [0, 1]), then run DiffBIR following ``maps``."""
        import torch

        from models.restorers.diffusion.diffbir.pipeline import make_scheduler
        from models.restorers.diffusion.tiling import Tiling

        if maps.shape != image.shape[:2]:
            raise ValueError(f"region maps are {maps.shape}, the image is {image.shape[:2]}")
        s = self.settings
        if s.mask_source == "decoder":
            raise ValueError(
                "mask source 'decoder' needs InstructRestore's learned mask decoder; the installed "
                "DiffBIR v2 has none. Use mask source 'grounding' or 'auto', or install InstructRestore's "
                "ControlNet."
            )
        steps, guidance, sampler = self.recipe()
        cleaner = self.cleaner()
        cleaned = np.clip(cleaner(image.astype(np.float32), degradation), 0.0, 1.0).astype(np.float32)

        def on_step(_pipe, step: int, _t, info: dict) -> None:
            if progress is not None:
                progress(step + 1, info["num_steps"])

        out = self.pipeline(
            cleaned,
            fidelity=maps.fidelity,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=torch.Generator(device="cpu").manual_seed(s.seed),
            scheduler=make_scheduler(sampler, dict(self.pipeline.scheduler.config)),
            tiling=Tiling(s.tile, s.tile_stride, s.vae_tile),
            callback_on_step_end=on_step,
        )
        self.last_output = out
        keep = np.clip(maps.keep, 0.0, 1.0)[..., None]
        restored = np.where(keep >= 1.0, image, keep * image + (1.0 - keep) * out.image).astype(np.float32)

        device = self.pipeline._execution_device
        dtype = str(self.pipeline.unet.dtype).removeprefix("torch.")
        notes = [
            f"Diffusion restorer: DiffBIR v2 ControlNet on SD-2.1-base; stage 1 cleaned the photo with "
            f"{cleaner.name}, then {steps} {'spaced DDPM' if sampler == 'spaced' else 'UniPC'} steps, "
            f"guidance {guidance:g}, seed {s.seed}, wavelet colour fix.",
            f"Fidelity map from {maps.fidelity.min():.2g} to {maps.fidelity.max():.2g} scales the control "
            "residuals per pixel (Restora's grounding masks; DiffBIR reads no region phrase).",
        ]
        if (maps.bokeh > 0).any():
            notes.append(
                "DiffBIR has no bokeh control: those regions follow their fidelity only, so the diffusion "
                "stage may add detail there (the offline backend never sharpens them)."
            )
        plan_tiles = out.plan.reason if out.plan is not None else "untiled"
        notes.append(
            f"Ran on {device} ({dtype}) in {out.seconds:.1f} s; {out.tiles} latent window(s) per step "
            f"({plan_tiles})."
        )
        return RestoredImage(image=restored, notes=notes)
