"""The offline default restorer: the trained ``ConditionalFFDNet`` driven by the region maps.

Fidelity semantics (DESIGN.md) become condition maps. At a pixel with fidelity ``f`` the
strength is ``s = 2 − f`` and the network is asked to remove

    noise σ × s × maps.denoise,   JPEG level × s × maps.dejpeg,   blur σ × s × maps.deblur × (1 − maps.bokeh)

where the levels are the estimated ones (``Degradation``): f = 1 removes exactly the estimate, f = 0
twice as much, f = 2 nothing. All regions go through **one** forward pass with spatially varying
conditions (FFDNet's noise-level map, extended to three degradations), so region borders blend
smoothly and there are no seams. Afterwards, as in the classical restorer, bokeh regions may get a
lens blur (never sharpening) and ``keep`` pixels are composited back bit-exactly. Pixels whose
strength is below 0.05 (fidelity ≥ 1.95) fade to the exact input, so fidelity 2 means "as it came
in" even though the network is only nearly the identity at zero conditions.

Large images run in tiles of ``tile`` pixels, each with an apron of ``apron(config)`` pixels of
real image around it (32 for the shipped network). The apron covers the network's whole
receptive field (25 px for the shipped 12 layers: 2 px per half-resolution layer plus the 2×2
cell), so every output pixel sees exactly the context it would see untiled: tiled and untiled
outputs agree to float rounding, with no blending weights to tune and no seams. Memory is
bounded by the tile, not the image (a 12-megapixel photo stays well under 2 GB).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np

from models.restorers.base import Degradation, RegionMaps
from models.restorers.classical import ClassicalRestorer, _range_note
from models.restorers.levels import BLUR_SCALE, NOISE_SCALE, jpeg_condition
from models.restorers.network import DEFAULT_WEIGHTS

logger = logging.getLogger(__name__)

#: Environment variable naming a network of your own (a ``scripts/train_restorer.py --export`` file).
WEIGHTS_ENV = "RESTORA_OFFLINE_WEIGHTS"


def default_weights() -> Path:
    """``$RESTORA_OFFLINE_WEIGHTS`` when set (your own trained network), else the shipped weights.

    An override instead of exporting over the package's file: the shipped network stays intact
    and unsetting the variable brings it back.
    """
    override = os.environ.get(WEIGHTS_ENV, "").strip()
    if not override:
        return DEFAULT_WEIGHTS
    path = Path(override).expanduser()
    if not path.is_file():
        raise ValueError(
            f"{WEIGHTS_ENV} is set to '{override}', which is not a file. Point it at a network "
            f"exported by 'python scripts/train_restorer.py --run-dir RUN --export {path}', "
            f"or unset it to use the network that ships with Restora."
        )
    return path


def apron(config) -> int:
    """Pixels of context around each tile: the receptive-field radius (each 3×3 half-resolution
    layer adds 2 px) plus 8 px, rounded up to a multiple of 16."""
    return -(-(2 * config.layers + 8) // 16) * 16


DEFAULT_TILE = 512
_FADE = 0.05  # strengths below this fade to the exact input


@functools.lru_cache(maxsize=2)
def _cached_network(path: str):
    import torch

    from models.restorers.network import load_network

    model, metadata = load_network(Path(path))
    logger.info("loaded restorer network %s (%s iterations)", path, metadata.get("iterations", "?"))
    # NHWC: oneDNN's CPU convolutions run ~30 % faster on it, with the same fp32 arithmetic.
    return model.to(memory_format=torch.channels_last)


class NetworkRestorer(ClassicalRestorer):
    """Region-aware restoration by Restora's trained network (see the module docstring)."""

    name = "Restora network (offline)"

    def __init__(self, weights: Path | str | None = None, tile: int = DEFAULT_TILE):
        """``weights``: a ConditionalFFDNet safetensors file; None = ``default_weights()``."""
        if tile < 64 or tile % 2:
            raise ValueError(f"tile must be an even number of pixels ≥ 64, got {tile}")
        self.weights = Path(weights) if weights is not None else default_weights()
        if self.weights.resolve() != DEFAULT_WEIGHTS.resolve():
            self.name = f"Restora network ({self.weights.name}, offline)"
        self.tile = tile

    @property
    def network(self):
        return _cached_network(str(self.weights))

    def steps(self):
        return [self.run_network, self.add_bokeh]

    def condition_maps(
        self, maps: RegionMaps, strength: np.ndarray, degradation: Degradation, rows: slice, cols: slice
    ) -> np.ndarray:
        """(3, h, w) float32 conditions (noise, jpeg, blur) for the window ``rows, cols``."""
        s = np.clip(strength[rows, cols], 0.0, 2.0)
        noise = degradation.noise_sigma / NOISE_SCALE * s * maps.denoise[rows, cols]
        jpeg = jpeg_condition(degradation.jpeg_quality) * s * maps.dejpeg[rows, cols]
        deblur = maps.deblur[rows, cols] * (1.0 - maps.bokeh[rows, cols])
        blur = degradation.blur_sigma / BLUR_SCALE * s * deblur
        return np.stack([noise, jpeg, blur]).astype(np.float32)

    def run_tiled(self, image: np.ndarray, conditions_for, grid: tuple[int, int] = (0, 0)) -> np.ndarray:
        """Run the network over ``image`` in tiles; ``conditions_for(rows, cols)`` gives each tile's maps.

        ``grid``: where the JPEG blocks start (``Degradation.jpeg_grid``); each window tells the
        network its position on that grid, so tiles see the blocks where the whole image has them.
        """
        import torch

        h, w = image.shape[:2]
        out = np.empty_like(image)
        model = self.network
        pad = apron(model.config)
        for y0 in range(0, h, self.tile):
            for x0 in range(0, w, self.tile):
                y1, x1 = min(y0 + self.tile, h), min(x0 + self.tile, w)
                ya, xa = max(0, y0 - pad), max(0, x0 - pad)
                yb, xb = min(h, y1 + pad), min(w, x1 + pad)
                rows, cols = slice(ya, yb), slice(xa, xb)
                x = image[rows, cols].transpose(2, 0, 1)
                c = conditions_for(rows, cols)
                # The network needs even sizes: pad the window by one replicated row/column.
                ph, pw = (yb - ya) % 2, (xb - xa) % 2
                if ph or pw:
                    x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="edge")
                    c = np.pad(c, ((0, 0), (0, ph), (0, pw)), mode="edge")
                nhwc = torch.channels_last
                xt = torch.from_numpy(np.ascontiguousarray(x))[None].contiguous(memory_format=nhwc)
                ct = torch.from_numpy(np.ascontiguousarray(c))[None].contiguous(memory_format=nhwc)
                with torch.inference_mode():
                    y = model(xt, ct, (ya - grid[0], xa - grid[1]))
                y = y[0].numpy().transpose(1, 2, 0)
                out[y0:y1, x0:x1] = y[y0 - ya : y1 - ya, x0 - xa : x1 - xa]
        return out

    def run_network(self, image, x, maps, strength, degradation, notes):
        """One conditioned forward pass over the whole image (tiled); see the module docstring."""
        restored = self.run_tiled(
            x, lambda r, c: self.condition_maps(maps, strength, degradation, r, c), degradation.jpeg_grid
        )
        fade = np.clip(strength / _FADE, 0.0, 1.0)[..., None]
        out = np.clip(x + fade * (restored - x), 0.0, 1.0).astype(np.float32)
        notes.extend(self.describe(maps, strength, degradation))
        return out

    @staticmethod
    def describe(maps: RegionMaps, strength: np.ndarray, degradation: Degradation) -> list[str]:
        """What the network was asked to remove, in the units users know."""
        notes = []
        noise = degradation.noise_sigma * strength * maps.denoise
        active = maps.denoise > 0
        if active.any():
            if float(noise[active].max()) < 1.0:
                notes.append(f"no visible noise to remove (σ≈{degradation.noise_sigma:.1f})")
            else:
                sigma = noise[active]
                notes.append(
                    f"removed noise at σ≈{degradation.noise_sigma:.0f}" + _range_note(sigma, "σ", "{:.0f}")
                )
        if degradation.jpeg_quality is not None and (maps.dejpeg > 0).any():
            how = "" if degradation.jpeg_exact else "≈"
            notes.append(f"smoothed JPEG blocks (quality {how}{degradation.jpeg_quality})")
        sharpen = maps.deblur * (1.0 - maps.bokeh) > 0
        if sharpen.any():
            blur = degradation.blur_sigma * strength[sharpen]
            if float(blur.max()) < 0.35:
                notes.append(f"no blur to sharpen (σ≈{degradation.blur_sigma:.1f} px)")
            else:
                notes.append(
                    f"sharpened blur σ≈{degradation.blur_sigma:.1f} px" + _range_note(blur, "σ", "{:.1f}")
                )
        return notes
