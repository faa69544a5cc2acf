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

Heavy JPEG goes to a second network of the same architecture, ``restora-ffdnet-jpeg``: the
shipped network fine-tuned on pure JPEG at quality 10–15 only (``MODEL_CARD.md``). A small network
trained on every degradation has too little capacity for the heaviest compression (+1.40 dB at
quality 10 on CBSD68, after four CPU training rounds that had stopped paying); the specialist
reaches +1.54 there and is slightly better up to quality 20, but is worse at noise and blur.
So each pixel is routed by its own conditions (``expert_weight``): weight 1 where the JPEG
condition is at least quality 15's and the noise and blur asked for are small (σ ≤ 3, blur
σ ≤ 1 px), 0 from quality 25 down or from noise σ 6 or blur σ 1.5 px up, linear in between;
output = general + weight × (expert − general). The expert sees the JPEG condition only: it was
trained with noise and blur conditions 0 on compressed ordinary photos, and on exactly such
photos the estimator reads small levels (CBSD432 training images at quality 10: blur σ median
0.43 px, 90th percentile 0.67, max 0.94; noise σ ≤ 1.4): compression removes the detail it
measures. Those readings are what the expert already handles; given to the general network they
cost 0.08 dB at quality 10 (held-out images).
A tile runs only the networks its weights need, so a uniformly heavy JPEG costs one pass, not
two. With ``$RESTORA_OFFLINE_WEIGHTS`` (a general network of your own) the shipped expert is not
used unless named by ``$RESTORA_OFFLINE_JPEG_WEIGHTS``; ``off`` turns it off.

On a JPEG the blur estimate reads the compression's own softness as blur (CBSD432 training images,
no blur added: median 0.3 px at quality 30, up to 0.7), and the network, trained with blur 0 on
such images, then sharpens the compression artefacts: −0.22 dB at quality 30 and −0.72 dB at 90
against blur 0 (held-out measurements in ``MODEL_CARD.md``). So on JPEGs the network is asked for
``network_blur_sigma``: the reading less ``JPEG_SOFTNESS_PX`` = 0.45 px in quadrature. That
recovers most of the loss (quality 30 +0.19, 90 +0.68 dB) and costs a really blurred JPEG some
sharpening (blur σ 1 at quality 40: −0.28 dB; σ 2: −0.11); fidelity below 1 asks for more. Files
that are not JPEGs keep the reading: there the floor would cost blurred photos more than it gains.

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
import math
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
#: Environment variable naming the heavy-JPEG network (a file, or ``off``).
JPEG_EXPERT_ENV = "RESTORA_OFFLINE_JPEG_WEIGHTS"
#: The heavy-JPEG network shipped in the package (see the module docstring).
DEFAULT_JPEG_EXPERT = DEFAULT_WEIGHTS.with_name("restora-ffdnet-jpeg.safetensors")

#: Routing (``expert_weight``): the JPEG condition ramps the expert in from quality 25 to 15 …
_EXPERT_JPEG_RAMP = (jpeg_condition(25), jpeg_condition(15))
#: … and noise or blur conditions ramp it out: σ 3 → 6 (0–255 scale), blur σ 1 → 1.5 px.
_EXPERT_NOISE_RAMP = (3.0 / NOISE_SCALE, 6.0 / NOISE_SCALE)
_EXPERT_BLUR_RAMP = (1.0 / BLUR_SCALE, 1.5 / BLUR_SCALE)


def _ramp(values: np.ndarray, start: float, end: float) -> np.ndarray:
    """0 at ``start``, 1 at ``end``, linear in between (either order)."""
    return np.clip((values - start) / (end - start), 0.0, 1.0)


def expert_weight(conditions: np.ndarray) -> np.ndarray:
    """(h, w) float32 share of the heavy-JPEG network per pixel, from (3, h, w) conditions."""
    noise, jpeg, blur = conditions
    weight = _ramp(jpeg, *_EXPERT_JPEG_RAMP)
    weight *= _ramp(noise, *_EXPERT_NOISE_RAMP[::-1])
    weight *= _ramp(blur, *_EXPERT_BLUR_RAMP[::-1])
    # Snap float32 rounding at the ramp's ends (quality 15 exactly is weight 1): one network, not two.
    return np.where(weight > 1 - 1e-4, 1.0, np.where(weight < 1e-4, 0.0, weight)).astype(np.float32)


def expert_conditions(conditions: np.ndarray) -> np.ndarray:
    """The heavy-JPEG network's input: the JPEG condition alone (module docstring)."""
    out = np.zeros_like(conditions)
    out[1] = conditions[1]
    return out


#: On a JPEG, blur readings up to about this much (px) are the compression's own softness.
JPEG_SOFTNESS_PX = 0.45


def network_blur_sigma(degradation: Degradation) -> float:
    """The blur σ (px) the network is asked to remove at fidelity 1 (module docstring)."""
    if degradation.jpeg_quality is None:
        return degradation.blur_sigma
    return math.sqrt(max(0.0, degradation.blur_sigma**2 - JPEG_SOFTNESS_PX**2))


def default_weights() -> Path:
    """``$RESTORA_OFFLINE_WEIGHTS`` when set (your own trained network), else the shipped weights.

    An override instead of exporting over the package's file: the shipped network stays intact
    and unsetting the variable brings it back.
    """
    override = os.environ.get(WEIGHTS_ENV, "").strip()
    if not override:
        return DEFAULT_WEIGHTS
    return _exported_file(WEIGHTS_ENV, override, "or unset it to use the network that ships with Restora")


def _exported_file(variable: str, value: str, otherwise: str) -> Path:
    """The network file ``$variable`` names, or a ValueError that says how to fix the setting."""
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(
            f"{variable} is set to '{value}', which is not a file. Point it at a network exported "
            f"by 'python scripts/train_restorer.py --run-dir RUN --export {path}', {otherwise}."
        )
    return path


def default_jpeg_expert(general: Path) -> Path | None:
    """The heavy-JPEG network to pair with the general network ``general``; None = none.

    ``$RESTORA_OFFLINE_JPEG_WEIGHTS`` names a file or says ``off``; unset, the shipped expert goes
    with the shipped network only: it was fine-tuned from it, and a network of your own should not
    be overridden on JPEG pixels without your saying so.
    """
    override = os.environ.get(JPEG_EXPERT_ENV, "").strip()
    if override.lower() in {"off", "none", "0"}:
        return None
    if not override:
        return DEFAULT_JPEG_EXPERT if general.resolve() == DEFAULT_WEIGHTS.resolve() else None
    otherwise = "set it to 'off' to restore heavy JPEG with the general network, or unset it"
    return _exported_file(JPEG_EXPERT_ENV, override, otherwise)


def apron(config) -> int:
    """Pixels of context around each tile: the receptive-field radius (each 3×3 half-resolution
    layer adds 2 px) plus 8 px, rounded up to a multiple of 16."""
    return -(-(2 * config.layers + 8) // 16) * 16


DEFAULT_TILE = 512
_FADE = 0.05  # strengths below this fade to the exact input


@functools.lru_cache(maxsize=4)
def _cached_header(path: str):
    from models.restorers.network import read_header

    return read_header(path)[0]


@functools.lru_cache(maxsize=4)
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

    def __init__(
        self,
        weights: Path | str | None = None,
        tile: int = DEFAULT_TILE,
        jpeg_expert: Path | str | bool = True,
    ):
        """``weights``: a ConditionalFFDNet safetensors file; None = ``default_weights()``.

        ``jpeg_expert``: the heavy-JPEG network; True = ``default_jpeg_expert(weights)``, False =
        none (the general network restores every pixel), or a file.
        """
        if tile < 64 or tile % 2:
            raise ValueError(f"tile must be an even number of pixels ≥ 64, got {tile}")
        self.weights = Path(weights) if weights is not None else default_weights()
        if self.weights.resolve() != DEFAULT_WEIGHTS.resolve():
            self.name = f"Restora network ({self.weights.name}, offline)"
        if jpeg_expert is True:
            self.jpeg_expert = default_jpeg_expert(self.weights)
        else:
            self.jpeg_expert = Path(jpeg_expert) if jpeg_expert is not False else None
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
        blur = network_blur_sigma(degradation) / BLUR_SCALE * s * deblur
        return np.stack([noise, jpeg, blur]).astype(np.float32)

    def run_tiled(
        self,
        image: np.ndarray,
        conditions_for,
        grid: tuple[int, int] = (0, 0),
        share: np.ndarray | None = None,
    ) -> np.ndarray:
        """Run the network over ``image`` in tiles; ``conditions_for(rows, cols)`` gives each tile's maps.

        ``grid``: where the JPEG blocks start (``Degradation.jpeg_grid``); each window tells the
        network its position on that grid, so tiles see the blocks where the whole image has them.
        ``share``: an (h, w) float32 array that receives each pixel's ``expert_weight`` (0 without
        a heavy-JPEG network).
        """
        import torch

        h, w = image.shape[:2]
        out = np.empty_like(image)
        model = self.network
        pad = apron(model.config)
        if self.jpeg_expert is not None:  # its header only: the weights load when a tile needs them
            pad = max(pad, apron(_cached_header(str(self.jpeg_expert))))
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
                inner = (slice(y0 - ya, y1 - ya), slice(x0 - xa, x1 - xa))
                origin = (ya - grid[0], xa - grid[1])
                weight = None if self.jpeg_expert is None else expert_weight(c[(slice(None), *inner)])
                if share is not None:
                    share[y0:y1, x0:x1] = 0.0 if weight is None else weight
                y = None
                with torch.inference_mode():
                    if weight is None or weight.min() < 1.0:
                        y = model(xt, ct, origin)[0].numpy().transpose(1, 2, 0)[inner]
                    if weight is not None and weight.max() > 0.0:
                        expert = _cached_network(str(self.jpeg_expert))
                        ce = torch.from_numpy(expert_conditions(c))[None].contiguous(memory_format=nhwc)
                        e = expert(xt, ce, origin)[0].numpy().transpose(1, 2, 0)[inner]
                        y = e if y is None else y + weight[..., None] * (e - y)
                out[y0:y1, x0:x1] = y
        return out

    def run_network(self, image, x, maps, strength, degradation, notes):
        """One conditioned forward pass over the whole image (tiled); see the module docstring."""
        share = np.zeros(x.shape[:2], np.float32)
        restored = self.run_tiled(
            x,
            lambda r, c: self.condition_maps(maps, strength, degradation, r, c),
            degradation.jpeg_grid,
            share,
        )
        fade = np.clip(strength / _FADE, 0.0, 1.0)[..., None]
        out = np.clip(x + fade * (restored - x), 0.0, 1.0).astype(np.float32)
        notes.extend(self.describe(maps, strength, degradation, general=share < 1.0))
        routed = share > 0
        if routed.any():
            part = f" on {100 * float(np.mean(routed)):.0f} % of the image"
            note = "used the heavy-JPEG network" + ("" if routed.all() else part)
            asked = np.zeros_like(routed)  # noise or blur the expert is not given
            if degradation.noise_sigma > 0:
                asked |= maps.denoise > 0
            if network_blur_sigma(degradation) > 0:
                asked |= maps.deblur * (1.0 - maps.bokeh) > 0
            if asked[routed].any():
                note += ", which takes small noise and blur readings as part of the compression"
            notes.append(note)
        return out

    @staticmethod
    def describe(
        maps: RegionMaps, strength: np.ndarray, degradation: Degradation, general: np.ndarray | None = None
    ) -> list[str]:
        """What the network was asked to remove, in the units users know.

        ``general``: (h, w) bool, where the general network had a share; noise and blur are
        described there only (the heavy-JPEG network is given the JPEG level alone).
        """
        notes = []
        general = np.ones(strength.shape, bool) if general is None else general
        noise = degradation.noise_sigma * strength * maps.denoise
        active = (maps.denoise > 0) & general
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
        sharpen = (maps.deblur * (1.0 - maps.bokeh) > 0) & general
        if sharpen.any():
            sigma, jpeg = network_blur_sigma(degradation), degradation.jpeg_quality is not None
            blur = sigma * strength[sharpen]
            if float(blur.max()) < 0.35:
                softness = " (a JPEG's own softness)" if jpeg else ""
                notes.append(f"no blur to sharpen (σ≈{degradation.blur_sigma:.1f} px{softness})")
            else:
                read = f" (read {degradation.blur_sigma:.1f}, less a JPEG's own softness)" if jpeg else ""
                notes.append(f"sharpened blur σ≈{sigma:.1f} px{read}" + _range_note(blur, "σ", "{:.1f}"))
        return notes
