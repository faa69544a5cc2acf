"""Short, honest explanations of what a turn did: regions, how they were found, strengths, models.

Every sentence is built from the RunResult, so it can never claim something that did not run.
"""

from __future__ import annotations

from assistant.pipeline import RegionReport, RunResult
from models.restorers.base import Degradation
from models.restorers.maps import ACTION_WEIGHTS
from parsers.plan import BACKGROUND, IMAGE

_ACTION_VERBS = {
    "restore": "restored",
    "denoise": "denoised",
    "deblur": "sharpened",
    "dejpeg": "removed JPEG artifacts from",
    "bokeh": "kept the bokeh blur of",
    "keep": "left untouched",
}


def _region_name(target: str) -> str:
    if target == IMAGE:
        return "the whole photo"
    if target == BACKGROUND:
        return "the background"
    return f"the {target}"


def _strength(region: RegionReport) -> str:
    if region.action == "keep":
        return ""
    f = region.fidelity_used
    if region.fidelity is None:
        if region.adaptive is not None:  # the diffusion restorer's quality-adaptive choice
            a = region.adaptive
            return f" at automatic fidelity {f:g} ({a.severity}: quality {a.score:.0f}/100 by {a.source})"
        return f" at automatic fidelity {f:g}"
    if f < 1:
        direction = "stronger than the estimated level"
    elif f > 1:
        direction = "gentler, closer to the input"
    else:
        direction = "the estimated level"
    return f" at fidelity {f:g} ({direction})"


def _effect(region: RegionReport, degradation: Degradation | None) -> str:
    """What the fidelity asked the restorer to remove there: the estimate × (2 − fidelity), and for
    an operation the user named at least ``levels.asked_level``'s floor."""
    if degradation is None or region.action == "keep":
        return ""
    from models.restorers.levels import ASKED_FLOORS, NEGLIGIBLE, asked_level, jpeg_condition

    weights = ACTION_WEIGHTS[region.action]
    strength = 2.0 - region.fidelity_used
    explicit = weights["explicit"]

    def level(measured: float, floor: str) -> float:
        return float(asked_level(measured, strength, explicit, ASKED_FLOORS[floor]))

    parts = []
    noise = level(degradation.asked_noise if explicit else degradation.automatic_noise, "noise")
    if weights["denoise"] and noise >= NEGLIGIBLE["noise"]:
        parts.append(f"noise σ≈{noise:.0f}")
    blur = level(degradation.sharpen_sigma, "blur")
    if weights["deblur"] and not weights["bokeh"] and blur >= NEGLIGIBLE["blur"]:
        parts.append(f"blur σ≈{blur:.1f} px")
    if weights["dejpeg"] and strength > 0:
        if degradation.jpeg_quality is not None:
            parts.append(f"JPEG blocks ×{strength:g}")
        elif level(jpeg_condition(None), "jpeg") > 0:
            parts.append("compression artefacts (none detected)")
    return f", removing {', '.join(parts)}" if parts else ", nothing to remove at this strength"


#: What to say when an operation found nothing to remove (the offline restorer then returns the
#: region as it came in): the operation's noun and how to ask for it anyway.
_NOTHING = {
    "restore": ("no damage", "“denoise strongly” or “sharpen strongly”"),
    "denoise": ("no noise", "“denoise strongly”"),
    "deblur": ("no blur", "“sharpen strongly”"),
    "dejpeg": ("no JPEG artifacts", "“remove the JPEG artifacts strongly”"),
}


def describe_region(region: RegionReport, degradation: Degradation | None = None, pixel: bool = True) -> str:
    """E.g. "restored the dog at fidelity 0.5 (stronger …), removing noise σ≈27 — found by
    saliency, 23% of the photo".

    pixel: the restorer removes exactly the levels asked for (the offline one), so a region with
    nothing to remove is reported as left as it was; a diffusion restorer changes it regardless.
    """
    name = _region_name(region.target)
    verb = _ACTION_VERBS[region.action]
    where = ""
    if region.target != IMAGE:
        where = f" — found by {region.how}, {region.area_fraction:.0%} of the photo"
    effect = _effect(region, degradation)
    if pixel and effect.endswith("nothing to remove at this strength") and region.action in _NOTHING:
        what, ask = _NOTHING[region.action]
        anyway = f"ask {ask} to act anyway"
        return f"left {name} as it was{_strength(region)}: {what} measured to remove ({anyway}){where}"
    return f"{verb} {name}{_strength(region)}{effect}{where}"


def explain(result: RunResult) -> str:
    """The reply text for a restoring turn."""
    lines: list[str] = []
    if result.plan.changes:
        lines.append(f"Adjusted your last request: {result.plan.changes}.")
    pixel = str(result.backends.get("restorer", "")).startswith("offline")
    parts = [describe_region(r, result.degradation, pixel) for r in result.regions]
    sentence = "; ".join(parts)
    lines.append(sentence[0].upper() + sentence[1:] + ".")
    covered = {r.target for r in result.regions}
    if not covered & {IMAGE, BACKGROUND}:
        lines.append("The rest of the photo got the default restoration at automatic fidelity.")
    lines.append(f"Estimated degradation: {result.degradation.describe()}.")
    if result.notes:
        lines.append("What the restorer did: " + "; ".join(result.notes) + ".")
    before, after = result.quality_before, result.quality_after
    if "noise_sigma" in before and "noise_sigma" in after:
        lines.append(
            f"Estimated noise σ {before['noise_sigma']:.1f} → {after['noise_sigma']:.1f}"
            + (
                f", sharpness {before['sharpness']:.0f} → {after['sharpness']:.0f}."
                if "sharpness" in before and "sharpness" in after
                else "."
            )
        )
    total = sum(result.timings.values())
    lines.append(
        f"Ran on: grounding {result.backends['grounding']}, restorer {result.backends['restorer']}"
        f" in {total:.1f} s."
    )
    return "\n".join(lines)
