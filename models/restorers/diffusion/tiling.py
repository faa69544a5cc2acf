"""Large images: latent tiles blended with Gaussian weights, and tiled VAE encode/decode.

Diffusion tiling (mixture of diffusers, as DiffBIR's ``--cldm_tiled``): at every step the
ControlNet + UNet run on overlapping latent windows; each window's noise prediction is weighted by
a 2-D Gaussian that is ~1 at its centre and ~0 at its border, and the weighted sum is divided by
the summed weights. Windows start at 0, stride, 2·stride, … plus one window flush with the far
edge, so every pixel is covered and no window leaves the image. The text embedding is shared; the
hint latent and the fidelity map are sliced with the same window (the fidelity map at pixel
resolution, ``vae_scale_factor`` × the latent window), so masks stay aligned across tiles.

Cost: ``tiles × (one ControlNet + UNet call on a window)`` per step (× 2 with CFG, batched); e.g.
2048² with 512-px windows at stride 384 px is 5 × 5 = 25 windows, about 1.6× the work of an
untiled pass over the same area (the overlaps) and far less memory.

Automatic choice (``choose_tiling``): run untiled when the image is at most ``MAX_UNTILED_PX`` on
its longer side (SD-2.1-base was trained at 512 px and drifts into repeated content well above
1024 px) **and** its estimated activation memory fits the budget; otherwise use the largest
window of 512 / 384 / 256 px whose estimate fits, at stride ¾ of the window. The budget is the
free accelerator memory (``torch.cuda.mem_get_info``) or, on CPU, the available RAM, less the
margin. The estimate, ``ACTIVATION_BYTES_PER_LATENT_PX`` per latent pixel of a CFG batch at 2-byte
precision, is conservative (a 512² window ≈ 1 GB). Both are overridable (``Tiling(tile=…, stride=…)``).

VAE tiling uses diffusers' own tiled encoder/decoder (``AutoencoderKL.tiled_encode`` /
``tiled_decode``, 25 % overlap with linear blending), switched on for one call by ``vae_tiling``
and restored afterwards; the wavelet colour fix after decoding removes the small per-tile tone
differences its per-tile GroupNorm statistics can leave.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

logger = logging.getLogger(__name__)

MAX_UNTILED_PX = 1024
WINDOW_CANDIDATES_PX = (512, 384, 256)
ACTIVATION_BYTES_PER_LATENT_PX = 250_000  # per latent pixel, CFG batch of 2, 2-byte dtype
SAFETY_MARGIN_BYTES = 1 << 30
VAE_TILE_PX = 512
#: The Gaussian's variance relative to the window side² (mixture of diffusers / DiffBIR: 0.01).
GAUSSIAN_VARIANCE = 0.01


@dataclass(frozen=True)
class Tiling:
    """Tiling settings in **pixels**; None = automatic (see the module docstring).

    tile / stride: the diffusion window and its step (multiples of the pipeline's size multiple,
        64 px for SD); ``tile=0`` forces untiled.
    vae_tile: tile size of the VAE encoder/decoder in pixels (0 = untiled VAE).
    """

    tile: int | None = None
    stride: int | None = None
    vae_tile: int | None = None

    def __post_init__(self) -> None:
        for name in ("tile", "stride", "vae_tile"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"Tiling.{name} must be a whole number of pixels ≥ 0 or None, got {value!r}")
        if self.stride is not None and self.tile and not 0 < self.stride <= self.tile:
            raise ValueError(f"Tiling.stride must be in (0, tile={self.tile}], got {self.stride}")


@dataclass(frozen=True)
class TilePlan:
    """Resolved tiling for one image, in latent pixels (tile None = untiled)."""

    tile: int | None
    stride: int | None
    vae_tile_px: int | None
    reason: str

    def windows(self, height: int, width: int) -> list[tuple[slice, slice]]:
        if self.tile is None:
            return [(slice(0, height), slice(0, width))]
        return [
            (slice(y, y + min(self.tile, height)), slice(x, x + min(self.tile, width)))
            for y in window_starts(height, self.tile, self.stride)
            for x in window_starts(width, self.tile, self.stride)
        ]


def window_starts(size: int, tile: int, stride: int) -> list[int]:
    """0, stride, 2·stride, … while a window fits, plus one flush with the end (no duplicates)."""
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile + 1, stride))
    if starts[-1] != size - tile:
        starts.append(size - tile)
    return starts


def gaussian_weights(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(1, 1, height, width) weights exp(−(x−m)² / (2·0.01·n²)) per axis (m = (n−1)/2)."""

    def axis(n: int) -> torch.Tensor:
        x = torch.arange(n, dtype=torch.float64)
        return torch.exp(-((x - (n - 1) / 2) ** 2) / (2 * GAUSSIAN_VARIANCE * n * n))

    return torch.outer(axis(height), axis(width)).to(device=device, dtype=dtype)[None, None]


def memory_budget(device: torch.device) -> int:
    """Bytes the diffusion activations may use on ``device`` (free memory less a margin)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return max(0, free - SAFETY_MARGIN_BYTES)
    try:
        with open("/proc/meminfo") as fh:
            info = {line.split(":")[0]: line.split()[1] for line in fh}
        return max(0, int(info["MemAvailable"]) * 1024 - SAFETY_MARGIN_BYTES)
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") - SAFETY_MARGIN_BYTES


def activation_bytes(latent_pixels: int, dtype: torch.dtype) -> int:
    itemsize = torch.finfo(dtype).bits // 8
    return int(latent_pixels * ACTIVATION_BYTES_PER_LATENT_PX * itemsize / 2)


def choose_tiling(
    height_px: int,
    width_px: int,
    scale: int,
    multiple_px: int,
    settings: Tiling,
    dtype: torch.dtype,
    budget: int | None = None,
    device: torch.device | None = None,
) -> TilePlan:
    """Resolve ``settings`` for a (padded) ``height_px × width_px`` image.

    scale: pixels per latent pixel (the VAE's factor); multiple_px: windows must be multiples of
    this (the UNet's full downsampling in pixels). ``budget`` defaults to ``memory_budget(device)``.
    """
    h, w = height_px // scale, width_px // scale
    vae_tile = settings.vae_tile
    if vae_tile is None:
        vae_tile = VAE_TILE_PX if max(height_px, width_px) > MAX_UNTILED_PX else 0
    vae_tile_px = vae_tile or None

    if settings.tile is not None:
        if settings.tile == 0 or settings.tile >= max(height_px, width_px):
            return TilePlan(None, None, vae_tile_px, "untiled (as set)")
        if settings.tile % multiple_px:
            raise ValueError(f"tile {settings.tile} px must be a multiple of {multiple_px} px")
        stride = settings.stride or settings.tile * 3 // 4
        if stride % scale:
            raise ValueError(f"stride {stride} px must be a multiple of {scale} px (one latent pixel)")
        return TilePlan(
            settings.tile // scale, stride // scale, vae_tile_px, f"{settings.tile} px windows (as set)"
        )

    budget = memory_budget(device or torch.device("cpu")) if budget is None else budget
    whole = activation_bytes(h * w, dtype)
    if max(height_px, width_px) <= MAX_UNTILED_PX and whole <= budget:
        return TilePlan(None, None, vae_tile_px, "untiled (fits in memory)")
    for window in WINDOW_CANDIDATES_PX:
        side = max(multiple_px, window - window % multiple_px)
        if activation_bytes((side // scale) ** 2, dtype) <= budget or window == WINDOW_CANDIDATES_PX[-1]:
            stride = max(scale, (side * 3 // 4) // scale * scale)
            why = f"{side} px windows at stride {stride} px: " + (
                f"the image is larger than {MAX_UNTILED_PX} px"
                if whole <= budget
                else f"an untiled pass needs ≈{whole / 2**30:.1f} GB, {budget / 2**30:.1f} GB free"
            )
            return TilePlan(side // scale, stride // scale, vae_tile_px, why)
    raise AssertionError("unreachable")


def blend_windows(
    windows: Sequence[tuple[slice, slice]],
    height: int,
    width: int,
    predict: Callable[[slice, slice], Sequence[torch.Tensor | None]],
) -> list[torch.Tensor | None]:
    """Run ``predict(rows, cols)`` on every window (e.g. ``TilePlan.windows``) of a ``height ×
    width`` canvas and blend each of its outputs (tensors ``(…, rows, cols)``, or None) with
    Gaussian weights.

    One window covering everything is returned as ``predict`` gave it (bit-identical to untiled).
    """
    if len(windows) == 1:
        return list(predict(*windows[0]))
    totals: list[torch.Tensor | None] = []
    weight_sum: torch.Tensor | None = None
    for ys, xs in windows:
        outputs = predict(ys, xs)
        ref = next(o for o in outputs if o is not None)
        w = gaussian_weights(ys.stop - ys.start, xs.stop - xs.start, device=ref.device)
        if weight_sum is None:
            weight_sum = torch.zeros((1, 1, height, width), device=ref.device, dtype=torch.float32)
            totals = [
                None if o is None else torch.zeros((*o.shape[:-2], height, width), device=o.device)
                for o in outputs
            ]
        weight_sum[..., ys, xs] += w
        for total, o in zip(totals, outputs, strict=True):
            if total is not None and o is not None:
                total[..., ys, xs] += o.float() * w
    ref_dtypes = [None if o is None else o.dtype for o in outputs]
    return [None if t is None else (t / weight_sum).to(d) for t, d in zip(totals, ref_dtypes, strict=True)]


@contextlib.contextmanager
def vae_tiling(vae, tile_px: int | None) -> Iterator[None]:
    """Switch diffusers' tiled VAE on (tile ``tile_px``) for the block; restore the VAE after."""
    if not tile_px:
        yield
        return
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    saved = (vae.use_tiling, vae.tile_sample_min_size, vae.tile_latent_min_size)
    vae.use_tiling = True
    vae.tile_sample_min_size = tile_px
    vae.tile_latent_min_size = max(1, math.ceil(tile_px / factor))
    try:
        yield
    finally:
        vae.use_tiling, vae.tile_sample_min_size, vae.tile_latent_min_size = saved
