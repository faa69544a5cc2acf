"""Text prompts for the diffusion restorer, phrased exactly as InstructRestore was trained.

InstructRestore's ControlNet and UNet each read a prompt (training phrasing, see the paper's code):

=====================  ==========================================  =======================================
background             control prompt (ControlNet)                 main prompt (UNet)
=====================  ==========================================  =======================================
restored / automatic   ``make {region} clear``                     ``{region}``
bokeh                  ``make {region} clear and keep other part   ``{region} in front of bokeh background``
                       bokeh blur``  ("part", singular)
=====================  ==========================================  =======================================

The reserved targets ``image`` and ``background`` are not object descriptions. They get the
training's *prompt drop*: both prompts empty (``""``), which the model saw together with an
all-ones mask, i.e. a whole-image restoration. Where the background is restored, the fidelity map
built from the plan (outer scale) already says so, so no text is needed for it.

The demo's habit of overwriting the control prompt with ``make {main prompt} clear`` (which
gives "make X in front of bokeh background clear" for bokeh) is a bug and is not reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass

from parsers.plan import BACKGROUND, IMAGE, EditPlan

#: Actions the diffusion restorer performs (keep leaves pixels alone; bokeh is a background
#: treatment, not a region to restore).
DIFFUSION_ACTIONS = ("restore", "denoise", "deblur", "dejpeg")


@dataclass(frozen=True)
class DiffusionPrompts:
    """The prompt pair for one region.

    target: the plan's target the prompts describe (``image`` / ``background`` included).
    control: ControlNet prompt, e.g. "make dog clear"; "" for a prompt-dropped (whole-image) run.
    main: UNet prompt, e.g. "dog" or "dog in front of bokeh background"; "" likewise.
    bokeh: True when the plan keeps or adds background blur.
    """

    target: str
    control: str
    main: str
    bokeh: bool = False


def region_prompts(region: str, *, bokeh: bool = False) -> DiffusionPrompts:
    """Prompts for one region description, e.g. ``region_prompts("dog", bokeh=True)``."""
    if region in (IMAGE, BACKGROUND):
        return DiffusionPrompts(region, "", "", bokeh)
    if bokeh:
        control = f"make {region} clear and keep other part bokeh blur"
        return DiffusionPrompts(region, control, f"{region} in front of bokeh background", True)
    return DiffusionPrompts(region, f"make {region} clear", region, False)


def derive_prompts(plan: EditPlan) -> list[DiffusionPrompts]:
    """One prompt pair per distinct target the restorer works on, in first-mention order.

    A target counts when one of its edits is restore / denoise / deblur / dejpeg. The bokeh
    phrasing is used when the plan has a ``bokeh`` edit on ``background``. A plan with nothing to
    restore (only keep / bokeh edits, or a command) gives an empty list.
    """
    bokeh = any(e.action == "bokeh" and e.target == BACKGROUND for e in plan.edits)
    targets = dict.fromkeys(e.target for e in plan.edits if e.action in DIFFUSION_ACTIONS)
    return [region_prompts(target, bokeh=bokeh) for target in targets]
