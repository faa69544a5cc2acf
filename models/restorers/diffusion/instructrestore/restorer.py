"""``DiffusionRestorer``: the ``Restorer`` contract over the region-modulated InstructRestore pipeline.

What it does with the inputs:

- ``maps.fidelity`` (H, W) in [0, 2] is exactly the per-pixel scale of the 13 control residuals
  (area-resized to each residual's resolution): 0 = uncontrolled generation, 1 = plain ControlNet
  guidance, 2 = twice the guidance toward the input. The other action maps (denoise, deblur,
  dejpeg, bokeh) do not steer a diffusion restorer; bokeh is expressed through the prompts.
  ``maps.keep`` is composited back at the end, so keep == 1 pixels are returned bit-exact.
- ``degradation`` is not used: the model estimates the degradation itself.
- Prompts: given ones (constructor) win; otherwise ``parsers.prompts`` derives InstructRestore's
  training phrasing from the plan (several restored regions are described together, "dog and
  cat"); with neither, both prompts are empty (the training's prompt drop, a whole-image restore).
- Mask source (``DiffusionSettings.mask_source``): ``grounding`` uses the fidelity map built from
  Restora's grounding masks; ``decoder`` uses InstructRestore's learned mask decoder with
  ``s_in`` = the restored target's fidelity and ``s_out`` = the background's (automatic = 1);
  ``auto`` uses grounding when the caller's maps came from grounding the targets
  (``grounded=True``) and the decoder otherwise. The notes say which ran, and why.
"""

from __future__ import annotations

import logging

import numpy as np

from models.restorers.base import Degradation, ProgressFn, RestoredImage, Restorer
from models.restorers.diffusion.settings import DiffusionSettings
from models.restorers.maps import RegionMaps
from parsers.plan import BACKGROUND, IMAGE, EditPlan

logger = logging.getLogger(__name__)

_RESTORE_ACTIONS = ("restore", "denoise", "deblur", "dejpeg")
_AUTO_FIDELITY = 1.0
DEFAULT_STEPS = 20  # InstructRestore's demo.sh
DEFAULT_GUIDANCE = 3.6  # demo.sh (demo.py's default is 5.5, diffusers' 7.5)


def _describe_fidelity(value: float | None) -> str:
    return f"automatic={_AUTO_FIDELITY:g}" if value is None else f"{value:g}"


class DiffusionRestorer(Restorer):
    """Restorer over an ``InstructRestorePipeline`` (build one with ``load_diffusion_restorer``).

    main_prompt / control_prompt: fixed prompts for every call instead of deriving them from the
        plan (``parsers.prompts``).
    After ``restore``, ``last_output`` holds the pipeline's output (timings, decoder mask).
    """

    name = "InstructRestore diffusion"
    family = "instructrestore"

    def __init__(
        self,
        pipeline,  # InstructRestorePipeline; untyped here so this module imports without torch
        settings: DiffusionSettings | None = None,
        main_prompt: str | None = None,
        control_prompt: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.settings = settings or DiffusionSettings()
        self.main_prompt = main_prompt
        self.control_prompt = control_prompt
        self.last_output = None
        pipeline.set_progress_bar_config(disable=True)  # progress goes through ``progress``

    def grounder(self, seed: int = 0):
        """The learned mask decoder as a ``Grounder`` sharing this restorer's models."""
        from models.restorers.diffusion.instructrestore.grounder import DecoderGrounder

        return DecoderGrounder(self.pipeline, seed=seed)

    def prompts_for(self, plan: EditPlan | None) -> tuple[str, str, str]:
        """(main prompt, control prompt, where they came from)."""
        if self.main_prompt is not None or self.control_prompt is not None:
            return self.main_prompt or "", self.control_prompt or "", "given"
        if plan is None:
            return "", "", "no plan, so empty prompts: a whole-image restoration"
        from parsers.prompts import derive_prompts, region_prompts

        pairs = [p for p in derive_prompts(plan) if p.main or p.control]
        if not pairs:
            return "", "", "no named region, so empty prompts: a whole-image restoration"
        if len(pairs) > 1:
            pairs = [region_prompts(" and ".join(p.target for p in pairs), bokeh=pairs[0].bokeh)]
        return pairs[0].main, pairs[0].control, "InstructRestore's training phrasing"

    def decoder_scales(self, plan: EditPlan | None) -> tuple[float, float]:
        """(s_in, s_out) for the decoder source: the first restored target's fidelity and the
        background's; automatic (None) and absent are 1."""
        s_in = s_out = None
        for edit in plan.edits if plan is not None else ():
            if edit.target == BACKGROUND and edit.action != "keep":
                s_out = edit.fidelity
            elif edit.target != IMAGE and edit.action in _RESTORE_ACTIONS and s_in is None:
                s_in = edit.fidelity
        return (_AUTO_FIDELITY if s_in is None else s_in), (_AUTO_FIDELITY if s_out is None else s_out)

    def choose_mask_source(self, grounded: bool) -> tuple[str, str]:
        """("external" | "decoder", explanation)."""
        choice = self.settings.mask_source
        if choice == "grounding" or (choice == "auto" and grounded):
            return "external", "Restora's grounding masks"
        if choice == "decoder":
            return "decoder", "InstructRestore's learned mask decoder (chosen in the settings)"
        return "decoder", "InstructRestore's learned mask decoder (grounding did not find the target)"

    def restore(
        self,
        image: np.ndarray,
        maps: RegionMaps,
        degradation: Degradation,
        progress: ProgressFn | None = None,
        plan: EditPlan | None = None,
        *,
        grounded: bool = True,
    ) -> RestoredImage:
        """Restore ``image`` ((H, W, 3) float32 RGB in [0, 1]) following ``maps``.

        grounded: whether ``maps`` came from grounding the plan's targets; with mask_source
            "auto", False switches to the learned mask decoder.
        progress: called with (step, steps); raising ``steps.Cancelled`` in it stops the run.
        """
        import torch

        from models.restorers.diffusion.tiling import Tiling

        if maps.shape != image.shape[:2]:
            raise ValueError(f"region maps are {maps.shape}, the image is {image.shape[:2]}")
        s = self.settings
        steps = s.steps if s.steps is not None else DEFAULT_STEPS
        guidance = s.guidance if s.guidance is not None else DEFAULT_GUIDANCE
        main, control, prompt_source = self.prompts_for(plan)
        source, source_note = self.choose_mask_source(grounded)
        s_in, s_out = self.decoder_scales(plan)
        if source == "decoder" and guidance <= 1.0:
            raise ValueError(f"the mask decoder needs classifier-free guidance > 1, got {guidance}")
        region = (
            {"fidelity": maps.fidelity}
            if source == "external"
            else {"inner_scale": s_in, "outer_scale": s_out}
        )

        def on_step(_pipe, step: int, _t, info: dict) -> None:
            if progress is not None:
                progress(step + 1, info["num_steps"])

        out = self.pipeline(
            image.astype(np.float32),
            prompt=main,
            control_prompt=control,
            mask_source=source,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=torch.Generator(device="cpu").manual_seed(s.seed),
            start_point=s.start_point,
            color_fix=s.color_fix,
            mask_init_step=s.mask_init_step,
            callback_on_step_end=on_step,
            tiling=Tiling(s.tile, s.tile_stride, s.vae_tile),
            **region,
        )
        self.last_output = out
        keep = np.clip(maps.keep, 0.0, 1.0)[..., None]
        restored = np.where(keep >= 1.0, image, keep * image + (1.0 - keep) * out.image).astype(np.float32)

        device = self.pipeline._execution_device
        dtype = str(self.pipeline.unet.dtype).removeprefix("torch.")
        start = "the input's latent noised to t=999" if s.start_point == "lr" else "pure noise"
        notes = [
            f"Diffusion restorer: InstructRestore ControlNet on SD-2.1-base, {steps} UniPC steps, "
            f"guidance {guidance:g}, seed {s.seed}, starting from {start}, colour fix {s.color_fix}.",
            f'Prompts ({prompt_source}): main "{main}", control "{control}".',
        ]
        if source == "external":
            notes.append(
                f"Mask source: {source_note}; fidelity map from {maps.fidelity.min():.2g} to "
                f"{maps.fidelity.max():.2g} scales the control residuals per pixel."
            )
        else:
            covered = f"; it covered {out.mask.mean():.0%} of the image" if out.mask is not None else ""
            notes.append(f"Mask source: {source_note}, inside fidelity {s_in:g}, outside {s_out:g}{covered}.")
        if plan is not None and plan.edits:
            per_region = ", ".join(
                f"{e.target} {_describe_fidelity(e.fidelity)} ({e.action})" for e in plan.edits
            )
            notes.append(f"Fidelity per region: {per_region}.")
        eta = (
            f"; first-step estimate {out.estimated_seconds:.0f} s"
            if out.estimated_seconds is not None
            else ""
        )
        notes.append(f"Ran on {device} ({dtype}) in {out.seconds:.1f} s{eta}.")
        return RestoredImage(image=restored, notes=notes)
