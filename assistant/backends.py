"""Which backend runs each stage on this machine, and what the diffusion restorer would cost here.

``resolve_backends`` turns the user's choice (auto | offline | full) into one backend per stage
from the files present (``models.readiness``) and the hardware (``accelerator``); the CPU estimates
say what ``auto`` passed over. Nothing here loads a model.
"""

from __future__ import annotations

from typing import Literal

Backend = Literal["auto", "offline", "full"]


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here; the message says what to install."""


def resolve_backends(requested: Backend, stages: tuple[str, ...] | None = None) -> dict[str, str]:
    """Which backend runs each stage: ``{"grounding": "offline"|"full", "restorer": ...}``.

    ``offline`` always can run; ``full`` needs downloaded weights and raises BackendUnavailable
    (with what to install) when a stage's weights are missing; ``auto`` picks ``full`` for each
    stage whose weights are present, else ``offline`` — except the diffusion restorer on a machine
    without a GPU (CUDA or MPS), where one image takes many minutes (``diffusion_cpu_note``):
    ``auto`` then restores offline and says so; ``full`` still forces it.
    """
    from models.readiness import STAGES, full_stage_status

    chosen: dict[str, str] = {}
    for stage in stages or STAGES:
        if requested == "offline":
            chosen[stage] = "offline"
            continue
        ready, why = full_stage_status(stage)
        if requested == "full" and not ready:
            raise BackendUnavailable(why)
        too_slow = requested == "auto" and ready and stage == "restorer" and accelerator() is None
        chosen[stage] = "full" if ready and not too_slow else "offline"
    return chosen


def restorer_too_slow() -> bool:
    """Whether ``auto`` passed over an installed diffusion restorer for want of a GPU."""
    from models.readiness import full_stage_status

    return full_stage_status("restorer")[0] and accelerator() is None


def accelerator() -> str | None:
    """``cuda`` or ``mps`` when PyTorch sees one, else None."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else None


#: Measured CPU cost of one sampler step at 512² (``benchmarks/diffusion_speed.py --device cpu``,
#: fp32, 2-vCPU AMD EPYC, 2026-11-23) and each family's default step count.
_CPU_STEP_S_512 = {"instructrestore": (100.0, 20), "diffbir-v2": (11.0, 50)}


def diffusion_cpu_minutes(shape: tuple[int, int], steps: int | None = None) -> tuple[str, float] | None:
    """(installed diffusion family, estimated minutes for an image of ``shape`` on a 2-core CPU),
    or None when no family is installed. Linear in pixels and steps from ``_CPU_STEP_S_512``."""
    from models.restorers.diffusion.families import choose_family

    try:
        family = choose_family()[0]
    except ValueError:
        return None
    if family is None:
        return None
    per_step, default_steps = _CPU_STEP_S_512[family]
    return family, per_step * (steps or default_steps) * shape[0] * shape[1] / 512**2 / 60


def diffusion_cpu_note(shape: tuple[int, int], steps: int | None = None) -> str | None:
    """What ``auto`` says when it restored offline although a diffusion family is installed and the
    machine has no GPU: the family and how long ``--backend full`` would take here."""
    estimate = diffusion_cpu_minutes(shape, steps)
    if estimate is None:
        return None
    family, minutes = estimate
    return (
        f"the {family} diffusion restorer is installed, but this machine has no GPU: at about "
        f"{minutes:.0f} min for this photo on a 2-core CPU it is too slow for the automatic "
        "choice, so the offline restorer ran (--backend full forces the diffusion restorer)"
    )
