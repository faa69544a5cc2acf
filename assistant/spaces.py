"""Hugging Face Spaces support without depending on it: ZeroGPU's decorator, its per-turn GPU
durations, and the weights a Space preloads into the Hub cache.

``gpu`` is ``spaces.GPU`` when the ``spaces`` package is importable (Hugging Face Spaces), and an
identity decorator otherwise (CLI, tests, local app, CPU Spaces). ``spaces.GPU`` itself only wraps
the function when ``SPACES_ZERO_GPU`` is set, so decorating is harmless everywhere.

Use it on the one synchronous function that runs the models, never on UI code, with a duration
function that takes the same arguments (ZeroGPU's dynamic duration)::

    @gpu(duration=restore_turn_seconds)
    def restore_turn(session, text, prompt, options, progress): ...

On ZeroGPU the decorated function runs in a worker process: return everything it changes
(``assistant.ui`` returns the Session) instead of relying on side effects.

Durations. ZeroGPU reserves the requested seconds (checking the visitor's quota against them),
charges the seconds used, stops the call when they run out, and serves shorter requests first. So
each turn asks for its own estimate, from its photo size, step count and the backends it will run
(``turn_seconds``). The diffusion step time on ZeroGPU's GPU is an estimate (no GPU has been lent
to this project yet); how it grows with the photo is measured (on CPU, same arithmetic).

Nothing heavy is imported here: no torch, no huggingface_hub at import time.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from assistant.pipeline import RunOptions
    from assistant.session import Session

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

try:  # pragma: no cover - depends on the environment
    import spaces as _spaces
except ImportError:
    _spaces = None

#: True when decorated functions really get a ZeroGPU slice (the variable spaces.GPU reads).
ZERO_GPU = _spaces is not None and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")

#: Bounds of a turn's GPU request, in seconds. The upper one is the server's own limit per request
#: (``ui.SERVER_TIMEOUT_S``'s default): a turn past it is stopped anyway.
GPU_MIN_S = 20
GPU_MAX_S = 300
#: One sampler step of a 512² latent window with CFG (UNet + ControlNet, batch 2, bf16) on
#: ZeroGPU's GPU (an A100/H200-class slice). ESTIMATE, not measured: 2.4 TFLOP per step
#: (benchmarks/diffusion_speed.py counts 47.15 TFLOP for 20 steps) at about 25 % of an A100's
#: bf16 peak is 0.03 s; 0.1 s leaves room for the ControlNet's residual scaling, the tiled VAE
#: and a busy GPU.
GPU_STEP_S_512 = 0.1
#: How one step's time grows with the photo, relative to 512²: (pixels / 512², factor). MEASURED
#: (benchmarks/diffusion_speed.py --family diffbir, fp32 CPU): 11.0 s per step at 512², 67 s at
#: 1024² untiled, 255 s at 2048² tiled (25 windows). Beyond 2048² it grows with the windows.
STEP_GROWTH: tuple[tuple[float, float], ...] = ((1.0, 1.0), (4.0, 6.1), (16.0, 23.2))
#: Fixed cost of a diffusion turn: reading about 6.7 GB of fp32 weights and moving them to the GPU
#: the first time a worker runs (DiffBIR's ControlNet is also converted once), VAE encode/decode
#: and the colour fix. ESTIMATE: a safetensors read runs at roughly 0.2 (disk) to 2 (page cache) GB/s.
GPU_DIFFUSION_FIXED_S = 45.0
#: GroundingDINO + SAM on the GPU: loading about 1 GB and running both. ESTIMATE.
GPU_GROUNDING_S = 10.0
#: The offline stages: MEASURED on 2 CPU cores, 72 s for a 16 MP photo (ui.SERVER_MAX_PIXELS'
#: note), i.e. about 4.5 s per megapixel, plus the quality scoring.
OFFLINE_S_PER_MP = 5.0
#: Each family's default sampler steps (its published recipe; models.restorers.diffusion).
DEFAULT_STEPS = {"instructrestore": 20, "diffbir-v2": 50}


def gpu(fn: F | None = None, **kwargs: Any) -> F | Callable[[F], F]:
    """``@gpu`` or ``@gpu(duration=...)``: ``spaces.GPU`` when available, else a no-op.

    duration: seconds, or a function of the decorated function's arguments returning seconds.
    """
    if _spaces is not None:
        return _spaces.GPU(fn, **kwargs) if fn is not None else _spaces.GPU(**kwargs)
    if fn is not None:
        return fn
    return lambda f: f


def step_growth(pixels: float) -> float:
    """One sampler step's cost for ``pixels`` relative to a 512² image (STEP_GROWTH, linear
    between the measured sizes and in the pixel count beyond them)."""
    ratio = max(pixels / 512**2, 0.0)
    (r0, f0), (r1, f1), (r2, f2) = STEP_GROWTH
    if ratio <= r0:
        return ratio * f0
    if ratio <= r1:
        return f0 + (ratio - r0) * (f1 - f0) / (r1 - r0)
    if ratio <= r2:
        return f1 + (ratio - r1) * (f2 - f1) / (r2 - r1)
    return ratio * f2 / r2


def turn_seconds(shape: tuple[int, int], grounding: str, restorer: str, family: str | None = None,
                 steps: int | None = None) -> int:
    """GPU seconds to reserve for one turn on a ``shape`` (H, W) photo whose stages run on the
    ``grounding`` and ``restorer`` backends ("full" or "offline"), within [GPU_MIN_S, GPU_MAX_S].

    family, steps: the diffusion family and sampler steps (None: the family's default).
    """
    megapixels = shape[0] * shape[1] / 1e6
    seconds = OFFLINE_S_PER_MP * megapixels
    if grounding == "full":
        seconds += GPU_GROUNDING_S
    if restorer == "full":
        n = steps or DEFAULT_STEPS.get(family or "", max(DEFAULT_STEPS.values()))
        seconds += GPU_DIFFUSION_FIXED_S + n * GPU_STEP_S_512 * step_growth(shape[0] * shape[1])
    return int(min(max(math.ceil(seconds * 1.25), GPU_MIN_S), GPU_MAX_S))  # 25 % headroom


def _session_seconds(session: Session, options: RunOptions) -> int:
    """``turn_seconds`` for the next turn of ``session``. On a GPU (where ZeroGPU runs these
    turns) ``auto`` runs each stage whose weights are present, so that is assumed here without
    asking torch; only files are read."""
    from models.readiness import full_stage_status

    image = session.current
    if image is None:
        return GPU_MIN_S
    backends = {stage: "offline" if options.backend == "offline" or not full_stage_status(stage)[0]
                else "full" for stage in ("grounding", "restorer")}
    family = None
    if backends["restorer"] == "full":
        from models.restorers.diffusion.families import choose_family

        try:
            family = choose_family()[0]
        except ValueError:
            family = None
    seconds = turn_seconds(image.rgb.shape[:2], backends["grounding"], backends["restorer"], family,
                           options.steps)
    logger.info("asking for %d s of GPU time (%s)", seconds, backends)
    return seconds


def restore_turn_seconds(session: Session, text: str, prompt: Any, options: RunOptions,
                         progress: Any = None) -> int:
    """ZeroGPU duration of ``assistant.ui.restore_turn`` (same arguments)."""
    return _session_seconds(session, options)


def rerun_turn_seconds(session: Session, plan: Any, options: RunOptions, progress: Any = None) -> int:
    """ZeroGPU duration of ``assistant.ui.rerun_turn`` (same arguments)."""
    return _session_seconds(session, options)


# -- weights a Space preloads (README front matter, ``preload_from_hub``) ------------------------
def use_preloaded_weights() -> dict[str, Path]:
    """Make weights that a Space preloaded into the Hub cache findable; returns what was set.

    ``preload_from_hub`` puts files in the Hub cache. GroundingDINO, SAM and SD-2.1-base are looked
    up there already (``models.weights``, ``resolve_base``); DiffBIR v2's ``v2.pth`` is looked up
    in Restora's weights folder or ``$RESTORA_DIFFBIR``, so when neither holds it and the cache
    does, ``RESTORA_DIFFBIR`` is pointed at the cached snapshot. Reads the cache layout only: no
    network, nothing loaded. Call it once at startup (``app.main``), before the first turn.
    """
    from models.restorers.diffusion.families import (
        DIFFBIR_CONTROLNET_FILE,
        DIFFBIR_ENV,
        DIFFBIR_REPO,
        diffbir_problems,
    )
    from models.weights import hub_cache_dir

    if os.environ.get(DIFFBIR_ENV) or not diffbir_problems():
        return {}
    repo = hub_cache_dir() / ("models--" + DIFFBIR_REPO.replace("/", "--"))
    ref = repo / "refs" / "main"
    if not ref.is_file():
        return {}
    snapshot = repo / "snapshots" / ref.read_text().strip()
    if not (snapshot / DIFFBIR_CONTROLNET_FILE).is_file():
        return {}
    os.environ[DIFFBIR_ENV] = str(snapshot)
    logger.info("using the preloaded %s from %s", DIFFBIR_REPO, snapshot)
    return {DIFFBIR_ENV: snapshot}
