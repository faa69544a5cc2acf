"""Short, honest explanations of what a turn did: regions, how they were found, strengths, models.

Every sentence is built from the RunResult, so it can never claim something that did not run.
"""

from __future__ import annotations

from assistant.pipeline import RegionReport, RunResult
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
        return f" at automatic fidelity {f:g}"
    if f < 1:
        direction = "stronger than the estimated level"
    elif f > 1:
        direction = "gentler, closer to the input"
    else:
        direction = "the estimated level"
    return f" at fidelity {f:g} ({direction})"


def describe_region(region: RegionReport) -> str:
    """E.g. "restored the dog at fidelity 0.5 (stronger …) — found by saliency, 23% of the photo"."""
    name = _region_name(region.target)
    verb = _ACTION_VERBS[region.action]
    where = ""
    if region.target != IMAGE:
        where = f" — found by {region.how}, {region.area_fraction:.0%} of the photo"
    return f"{verb} {name}{_strength(region)}{where}"


def explain(result: RunResult) -> str:
    """The reply text for a restoring turn."""
    lines: list[str] = []
    if result.plan.changes:
        lines.append(f"Adjusted your last request: {result.plan.changes}.")
    parts = [describe_region(r) for r in result.regions]
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
