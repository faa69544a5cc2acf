"""What both families' pipelines share around the denoising loop.

Input checks (``check_image``, ``check_fit``: the ControlNet was built for this UNet), reflection
padding to the latent grid (``pad_to_multiple``), the per-pixel scaling of the 13 control
residuals by a fidelity map (``modulate_residuals``, ``resize_map``), the step callback
(``StepCallback``, ``call_step_callback``, ``Cancelled``) and the whole-run time estimate made
after the first step (``estimate_duration``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from diffusers import DiffusionPipeline

logger = logging.getLogger(__name__)

#: On CPU, warn before a run expected to take longer than this (seconds).
SLOW_RUN_S = 30.0

#: ``callback_on_step_end(pipeline, step_index, timestep, info) -> bool | dict | None``. ``info``
#: holds ``latents``, ``mask`` (decoder mask or None), ``elapsed_s``, ``estimated_total_s`` and
#: ``num_steps``. Returning ``False`` (or raising Cancelled) stops the run; a dict with
#: ``"latents"`` replaces the latents (diffusers' convention); anything else is ignored.
StepCallback = Callable[[DiffusionPipeline, int, int, dict[str, Any]], Any]


class Cancelled(RuntimeError):
    """The run was stopped by its step callback (or by a progress function raising it)."""


def pad_to_multiple(array: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad the bottom and right of an (H, W, …) array up to multiples of ``multiple``."""
    h, w = array.shape[:2]
    pad = [(0, -h % multiple), (0, -w % multiple)] + [(0, 0)] * (array.ndim - 2)
    mode = "reflect" if min(h, w) > 1 else "edge"  # reflect needs two pixels to mirror
    return np.pad(array, pad, mode=mode)


def resize_map(fmap: torch.Tensor, size: Sequence[int], mode: str) -> torch.Tensor:
    """Resize a (B, 1, H, W) map to ``size``: ``area`` averages blocks, ``nearest`` picks pixels."""
    if tuple(fmap.shape[-2:]) == tuple(size):
        return fmap
    return F.interpolate(fmap, size=tuple(size), mode=mode)


def check_fit(controlnet, unet, keys: Sequence[str], needs: str) -> None:
    """Raise unless ``controlnet`` was built for ``unet`` (same ``keys`` in both configs)."""
    for key in keys:
        ours, theirs = controlnet.config[key], unet.config[key]
        if json.dumps(ours) != json.dumps(theirs):  # lists and tuples compare equal this way
            raise ValueError(
                f"the ControlNet does not fit this UNet: {key} is {ours} in the ControlNet and "
                f"{theirs} in the UNet ({needs} needs SD-2.1-base)"
            )


def check_image(image: np.ndarray) -> None:
    """Raise unless ``image`` is an (H, W, 3) float RGB array in [0, 1]."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        got = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"image must be an (H, W, 3) float RGB array in [0, 1], got {got}")
    if not np.issubdtype(image.dtype, np.floating) or not (
        np.isfinite(image).all() and image.min() >= 0.0 and image.max() <= 1.0
    ):
        raise ValueError(
            f"image must be float RGB in [0, 1], got dtype {image.dtype} with values outside [0, 1]"
        )


def estimate_duration(
    name: str, step_start: float, loop_start: float, start: float, num_steps: int, device: torch.device
) -> float:
    """Whole-run estimate from the first step (the VAE decode counts as ~1.5 steps), logged as a
    warning on CPU when it exceeds SLOW_RUN_S."""
    step = time.perf_counter() - step_start
    estimate = (loop_start - start) + step * (num_steps + 1.5)
    level = logging.WARNING if device.type == "cpu" and estimate > SLOW_RUN_S else logging.INFO
    logger.log(
        level, "%s on %s: first step took %.2f s; expected total ≈ %.0f s for %d steps "
        "(return False from the step callback to cancel)", name, device.type, step, estimate, num_steps,
    )  # fmt: skip
    return estimate


def call_step_callback(
    pipe: DiffusionPipeline,
    callback: StepCallback,
    step: int,
    t: torch.Tensor,
    latents: torch.Tensor,
    mask: torch.Tensor | None,
    start: float,
    estimate: float | None,
    num_steps: int,
) -> torch.Tensor:
    """Run the user's step callback (see ``StepCallback``); returns the latents to continue with."""
    info = {"latents": latents, "mask": mask, "elapsed_s": time.perf_counter() - start,
            "estimated_total_s": estimate, "num_steps": num_steps}  # fmt: skip
    answer = callback(pipe, step, t, info)
    if answer is False:
        pipe.maybe_free_model_hooks()
        raise Cancelled(f"cancelled after step {step + 1} of {num_steps}")
    if isinstance(answer, dict) and "latents" in answer:
        return answer["latents"]
    return latents


def modulate_residuals(
    down: Sequence[torch.Tensor],
    mid: torch.Tensor,
    fidelity: torch.Tensor,
    mode: str,
    cache: dict[tuple[int, int], torch.Tensor] | None = None,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``r · resize(F, r's size)`` for every control residual; the same F for both CFG halves.

    cache: resized maps by size, reusable across steps while ``fidelity`` stays the same.
    """
    cache = {} if cache is None else cache

    def scale(r: torch.Tensor) -> torch.Tensor:
        size = tuple(r.shape[-2:])
        if size not in cache:
            cache[size] = resize_map(fidelity, size, mode).to(r.dtype)
        return r * cache[size]

    return [scale(r) for r in down], scale(mid)
