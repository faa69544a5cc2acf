"""The offline default restorer: the trained ``ConditionalFFDNet`` driven by the region maps.

Fidelity semantics (DESIGN.md) become condition maps. At a pixel with fidelity ``f`` the
strength is ``s = 2 − f`` and the network is asked to remove

    noise level × s × maps.denoise, JPEG level × s × maps.dejpeg, blur σ × s × maps.deblur × (1 − maps.bokeh)

where the levels are the estimated ones (``Degradation``): f = 1 removes exactly the estimate,
f = 0 twice as much, f = 2 nothing. Where the user named the operation ("denoise strongly",
``maps.explicit``) a fidelity below 1 removes at least ``levels.ASKED_FLOORS × (s − 1)``, so asking
for more than was measured always does something visible, and the note says what was measured;
"restore" and automatic edits never go beyond the measurement. All regions go through **one**
forward pass with spatially varying conditions (FFDNet's noise-level map, extended to three
degradations), so region borders blend smoothly and there are no seams. Afterwards, as in the
classical restorer, bokeh regions may get a lens blur (never sharpening) and ``keep`` pixels are
composited back bit-exactly. Pixels whose strength is below 0.05 (fidelity ≥ 1.95) fade to the
exact input, so fidelity 2 means "as it came in" even though the network is only nearly the
identity at zero conditions.

Three networks of the same family share the pass (``routing.py``): the general one; the
camera-noise network, for photos whose noise the estimator finds spatially correlated
(``Degradation.noise_whiteness``): averaged with the general one on such noise, each asked for a
multiple of the measured level (``routing.correlated_gains``), blended in by
``routing.camera_share``; and the heavy-JPEG network,
routed per pixel by the conditions (``routing.expert_weight``). The expert sees the JPEG condition
only: it was trained with noise and blur conditions 0 on compressed ordinary photos, and on
exactly such photos the estimator reads small levels (compression removes the detail it measures);
given to the general network those readings cost 0.08 dB at quality 10 (held-out images). A tile
runs only the networks its shares need, so a uniformly heavy JPEG or a photo with white noise
costs one pass; correlated (camera) noise costs two.

On a JPEG the blur estimate reads the compression's own softness as blur (CBSD432 training images,
no blur added: median 0.3 px at quality 30, up to 0.7), and the network, trained with blur 0 on
such images, then sharpens the compression artefacts: −0.22 dB at quality 30 and −0.72 dB at 90
against blur 0 (held-out measurements in ``MODEL_CARD.md``). So on JPEGs the network is asked for
``routing.network_blur_sigma``: the confident part of the reading less ``JPEG_SOFTNESS_PX`` = 0.45 px
in quadrature. That recovers most of the loss (quality 30 +0.19, 90 +0.68 dB) and costs a really
blurred JPEG some sharpening (blur σ 1 at quality 40: −0.28 dB; σ 2: −0.11); fidelity below 1
asks for more. Files that are not JPEGs keep the reading: there the floor would cost blurred
photos more than it gains.

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
from pathlib import Path

import numpy as np

from models.restorers.base import Degradation
from models.restorers.classical import ClassicalRestorer, _range_note
from models.restorers.levels import (
    ASKED_FLOORS,
    BLUR_SCALE,
    NEGLIGIBLE,
    NOISE_SCALE,
    asked_level,
    jpeg_condition,
)
from models.restorers.maps import RegionMaps
from models.restorers.network import DEFAULT_WEIGHTS, fast_bf16
from models.restorers.routing import (
    camera_share,
    correlated_gains,
    default_camera_network,
    default_jpeg_expert,
    default_weights,
    expert_conditions,
    expert_weight,
    network_blur_sigma,
)

logger = logging.getLogger(__name__)


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


def _named(explicit: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """How much an operation of per-pixel ``weight`` was named by the user there: both at once,
    max(0, explicit + weight − 1). Where a named "denoise" (no JPEG weight) blends into a
    "restore" (JPEG weight, not named) along a feathered border, each pixel has some of both,
    and a plain product would apply the JPEG floor that neither region asked for."""
    return np.clip(explicit + weight - 1.0, 0.0, 1.0)


def _scaled_noise(conditions, gain: float):
    """``conditions`` (1, 3, h, w) with the noise condition × ``gain`` (a copy when gain ≠ 1)."""
    if gain == 1.0:
        return conditions
    out = conditions.clone()
    out[:, 0] *= gain
    return out


class NetworkRestorer(ClassicalRestorer):
    """Region-aware restoration by Restora's trained network (see the module docstring)."""

    name = "Restora network (offline)"

    def __init__(
        self,
        weights: Path | str | None = None,
        tile: int = DEFAULT_TILE,
        jpeg_expert: Path | str | bool = True,
        camera: Path | str | bool = True,
    ):
        """``weights``: a ConditionalFFDNet safetensors file; None = ``default_weights()``.

        ``jpeg_expert``, ``camera``: the heavy-JPEG and camera-noise networks (``routing.py``);
        True = the defaults for ``weights``, False = none (the general network restores those
        pixels), or a file.
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
        if camera is True:
            self.camera = default_camera_network(self.weights)
        else:
            self.camera = Path(camera) if camera is not False else None
        self.tile = tile

    @property
    def network(self):
        return _cached_network(str(self.weights))

    def steps(self):
        return [self.run_network, self.add_bokeh]

    @staticmethod
    def levels(
        maps: RegionMaps,
        strength: np.ndarray,
        degradation: Degradation,
        rows: slice = slice(None),
        cols: slice = slice(None),
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(noise σ, JPEG condition, blur σ px) to remove in the window ``rows, cols``, (h, w) each.

        The measured level × strength, at least the floor of an
        explicit request (``levels.asked_level``), × the action's weight. A named "denoise"
        measures from ``Degradation.asked_noise`` (a suspected level the estimate set aside);
        automatic edits from ``Degradation.automatic_noise`` (less where the level is in doubt).
        """
        s = np.clip(strength[rows, cols], 0.0, 2.0)
        explicit = maps.explicit[rows, cols]
        denoise, dejpeg = maps.denoise[rows, cols], maps.dejpeg[rows, cols]
        deblur = maps.deblur[rows, cols] * (1.0 - maps.bokeh[rows, cols])
        # named "denoise" pixels measure from the asked level (a suspicion included), the rest from
        # the automatic one (less where in doubt); the two differ only in one of those two cases
        automatic, asked = degradation.automatic_noise, degradation.asked_noise
        measured = automatic + _named(explicit, denoise) * (asked - automatic)
        noise = asked_level(measured, s, _named(explicit, denoise), ASKED_FLOORS["noise"]) * denoise
        jpeg = asked_level(
            jpeg_condition(degradation.jpeg_quality), s, _named(explicit, dejpeg), ASKED_FLOORS["jpeg"]
        )
        blur = asked_level(network_blur_sigma(degradation), s, _named(explicit, deblur), ASKED_FLOORS["blur"])
        return noise, jpeg * dejpeg, blur * deblur

    def condition_maps(
        self, maps: RegionMaps, strength: np.ndarray, degradation: Degradation, rows: slice, cols: slice
    ) -> np.ndarray:
        """(3, h, w) float32 conditions (noise, jpeg, blur) for the window ``rows, cols``."""
        noise, jpeg, blur = self.levels(maps, strength, degradation, rows, cols)
        return np.stack([noise / NOISE_SCALE, jpeg, blur / BLUR_SCALE]).astype(np.float32)

    def run_tiled(
        self,
        image: np.ndarray,
        conditions_for,
        grid: tuple[int, int] = (0, 0),
        share: np.ndarray | None = None,
        camera: float = 0.0,
        confidence: float = 1.0,
    ) -> np.ndarray:
        """Run the networks over ``image`` in tiles; ``conditions_for(rows, cols)`` gives each tile's maps.

        ``grid``: where the JPEG blocks start (``Degradation.jpeg_grid``); each window tells the
        network its position on that grid, so tiles see the blocks where the whole image has them.
        ``share``: an (h, w) float32 array that receives each pixel's ``expert_weight`` (0 without
        a heavy-JPEG network). ``camera``: the camera-noise network's share (``routing.camera_share``;
        used only when there is one); ``confidence``: the noise reading's (``routing.correlated_gains``).
        A tile runs only the networks its shares need.
        """
        import torch

        h, w = image.shape[:2]
        out = np.empty_like(image)
        camera = camera if self.camera is not None else 0.0
        pad = apron(self.network.config)
        for extra in (self.jpeg_expert, self.camera if camera > 0 else None):
            if extra is not None:  # its header only: the weights load when a tile needs them
                pad = max(pad, apron(_cached_header(str(extra))))
        for y0 in range(0, h, self.tile):
            for x0 in range(0, w, self.tile):
                y1, x1 = min(y0 + self.tile, h), min(x0 + self.tile, w)
                ya, xa = max(0, y0 - pad), max(0, x0 - pad)
                yb, xb = min(h, y1 + pad), min(w, x1 + pad)
                rows, cols = slice(ya, yb), slice(xa, xb)
                x = image[rows, cols].transpose(2, 0, 1)
                c = conditions_for(rows, cols)
                # The networks need even sizes: pad the window by one replicated row/column.
                ph, pw = (yb - ya) % 2, (xb - xa) % 2
                if ph or pw:
                    x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="edge")
                    c = np.pad(c, ((0, 0), (0, ph), (0, pw)), mode="edge")
                nhwc = torch.channels_last
                xt = torch.from_numpy(np.ascontiguousarray(x))[None].contiguous(memory_format=nhwc)
                ct = torch.from_numpy(np.ascontiguousarray(c))[None].contiguous(memory_format=nhwc)
                inner = (slice(y0 - ya, y1 - ya), slice(x0 - xa, x1 - xa))
                origin = (ya - grid[0], xa - grid[1])
                run = functools.partial(self._forward, xt=xt, origin=origin, inner=inner)
                weight = None if self.jpeg_expert is None else expert_weight(c[(slice(None), *inner)])
                if share is not None:
                    share[y0:y1, x0:x1] = 0.0 if weight is None else weight
                y = None
                with torch.inference_mode():
                    if weight is None or weight.min() < 1.0:
                        y = run(None, ct) if camera == 0.0 else self._correlated(run, ct, camera, confidence)
                    if weight is not None and weight.max() > 0.0:
                        ce = torch.from_numpy(expert_conditions(c))[None].contiguous(memory_format=nhwc)
                        e = run(self.jpeg_expert, ce)
                        y = e if y is None else y + weight[..., None] * (e - y)
                out[y0:y1, x0:x1] = y
        return out

    def _correlated(self, run, ct, camera: float, confidence: float) -> np.ndarray:
        """The tile restored for noise of camera share ``camera`` > 0 read with ``confidence``
        (``routing.correlated_gains``): the general network and the camera network on the
        transposed tile, averaged at share and confidence 1, the camera network alone at 0.

        The transpose makes the two passes a small geometric ensemble as well (the x8 flip and
        rotation ensemble gained 0.25 dB on ``cc15_realnoise`` for 8× the time; this pass is
        free).
        """
        general, gain, weight = correlated_gains(camera, confidence)
        if weight >= 1.0:
            return run(self.camera, _scaled_noise(ct, gain), transposed=True)
        y = run(None, _scaled_noise(ct, general))
        y += weight * (run(self.camera, _scaled_noise(ct, gain), transposed=True) - y)
        return y

    def _forward(self, path: Path | None, conditions, *, xt, origin, inner, transposed=False) -> np.ndarray:
        """One network (None = the general one) on one tile: its inner part, (h, w, 3).

        ``transposed``: run it on the transposed tile (rows for columns) and transpose back.
        """
        import torch

        model = self.network if path is None else _cached_network(str(path))
        if transposed:
            nhwc = torch.channels_last
            xt = xt.transpose(-1, -2).contiguous(memory_format=nhwc)
            conditions = conditions.transpose(-1, -2).contiguous(memory_format=nhwc)
            origin = origin[::-1]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast_bf16()):
            y = model(xt, conditions, origin)[0].float()
        y = y.numpy().transpose(2, 1, 0) if transposed else y.numpy().transpose(1, 2, 0)
        return y[inner]

    def run_network(self, image, x, maps, strength, degradation, notes):
        """One conditioned forward pass over the whole image (tiled); see the module docstring."""
        share = np.zeros(x.shape[:2], np.float32)
        noise, jpeg, blur = self.levels(maps, strength, degradation)
        idle = (noise < NEGLIGIBLE["noise"]) & (jpeg <= 0.0) & (blur < NEGLIGIBLE["blur"])
        if idle.all():  # nothing visible to remove anywhere: no network runs
            notes.extend(self.describe(maps, strength, degradation))
            return x.copy()
        # A suspected level is acted on only where the user named "denoise", which settles the
        # doubt (noise or texture) that made it a suspicion.
        asked = bool(_named(maps.explicit, maps.denoise).max() > 0)
        suspected = asked and degradation.asked_noise > degradation.noise_sigma
        camera = camera_share(degradation, suspected) if self.camera is not None else 0.0
        confidence = 1.0 if suspected else degradation.noise_confidence
        restored = self.run_tiled(
            x,
            lambda r, c: self.condition_maps(maps, strength, degradation, r, c),
            degradation.jpeg_grid,
            share,
            camera,
            confidence,
        )
        fade = np.clip(strength / _FADE, 0.0, 1.0)[..., None]
        out = np.clip(x + fade * (restored - x), 0.0, 1.0).astype(np.float32)
        out[idle] = x[idle]  # nothing visible to remove: the input exactly, as the reply says
        notes.extend(self.describe(maps, strength, degradation, general=share < 1.0))
        if camera > 0 and (share < 1.0).any() and (noise[share < 1.0] >= NEGLIGIBLE["noise"]).any():
            general, gain, weight = correlated_gains(camera, confidence)
            kind = "the noise is spatially correlated, as a camera's processing leaves it"
            if weight >= 1.0:
                notes.append(f"{kind}: used the camera-noise network")
            else:
                blend = "an even blend" if weight == 0.5 else f"a {weight:.0%} share"
                notes.append(
                    f"{kind}: blended the camera-noise network in ({blend}), the networks asked for "
                    f"×{general:.1f} and ×{gain:.1f} the measured level, as correlated grain needs"
                )
        routed = share > 0
        if routed.any():
            part = f" on {100 * float(np.mean(routed)):.0f} % of the image"
            note = "used the heavy-JPEG network" + ("" if routed.all() else part)
            asked = np.zeros_like(routed)  # noise or blur the expert is not given
            asked |= noise > 0
            asked |= blur > 0
            if asked[routed].any():
                note += ", which takes small noise and blur readings as part of the compression"
            notes.append(note)
        return out

    @classmethod
    def describe(
        cls,
        maps: RegionMaps,
        strength: np.ndarray,
        degradation: Degradation,
        general: np.ndarray | None = None,
    ) -> list[str]:
        """What the network was asked to remove, in the units users know, beside what was measured.

        ``general``: (h, w) bool, where the general network had a share; noise and blur are
        described there only (the heavy-JPEG network is given the JPEG level alone).
        """
        notes = []
        general = np.ones(strength.shape, bool) if general is None else general
        noise, jpeg, blur = cls.levels(maps, strength, degradation)
        plain = degradation.noise_sigma * np.clip(strength, 0, 2)  # without the asked floors
        active = (maps.denoise > 0) & general
        if active.any():
            used = noise[active]
            suspected = degradation.asked_noise > degradation.noise_sigma
            if float(used.max()) < NEGLIGIBLE["noise"]:
                note = f"no visible noise to remove (measured σ≈{degradation.noise_sigma:.1f})"
                if suspected:  # grain set aside as texture, which the user did not name
                    note += (
                        f"; the flattest areas vary as grain of σ≈{degradation.noise_suspected:.0f} "
                        "would, which the estimate took for texture: ask to denoise to remove it"
                    )
                notes.append(note)
            else:
                note = f"removed noise at σ≈{float(np.median(used)):.0f}" + _range_note(used, "σ", "{:.0f}")
                if suspected and _named(maps.explicit, maps.denoise)[active].max() > 0:
                    note += (
                        " as you asked: the estimate found no visible noise "
                        f"(σ≈{degradation.noise_sigma:.1f}) and took the grain of the flattest areas "
                        f"(σ≈{degradation.noise_suspected:.0f}) for texture"
                    )
                elif float(used.max()) > float(plain[active].max()) + 0.5:
                    note += f", more than the σ≈{degradation.noise_sigma:.1f} measured, as you asked"
                if degradation.texture_doubt and not suspected:
                    floor = f"the smoothest tones vary only as σ≈{degradation.noise_floor:.0f} would"
                    if (_named(maps.explicit, maps.denoise)[active] > 0).all():
                        note += f"; {floor}, so part of it may be texture (if detail was lost, ask gently)"
                    else:  # automatic: the level was reduced (``Degradation.automatic_noise``)
                        note += (
                            f" of the σ≈{degradation.noise_sigma:.0f} read: {floor}, so the rest is likely "
                            "texture (ask to denoise to remove all of it)"
                        )
                notes.append(note)
        dejpeg = (maps.dejpeg > 0) & (jpeg > 0)
        if dejpeg.any():
            if degradation.jpeg_quality is not None:
                how = "" if degradation.jpeg_exact else "≈"
                notes.append(f"smoothed JPEG blocks (quality {how}{degradation.jpeg_quality})")
            else:
                notes.append(
                    "smoothed compression artefacts as you asked, though no JPEG compression was detected"
                )
        sharpen = (maps.deblur * (1.0 - maps.bokeh) > 0) & general
        if sharpen.any():
            used, jpeg = blur[sharpen], degradation.jpeg_quality is not None
            doubt = ""
            if degradation.blur_sigma >= 0.35 and degradation.blur_confidence < 0.5:
                confidence = degradation.blur_confidence
                doubt = f", read with {confidence:.0%} confidence: noise or flat content, not blur"
            if float(used.max()) < NEGLIGIBLE["blur"]:
                softness = " (a JPEG's own softness)" if jpeg and not doubt else ""
                notes.append(f"no blur to sharpen (σ≈{degradation.blur_sigma:.1f} px{softness}{doubt})")
            else:
                sigma = float(np.median(used))
                read = f" (read {degradation.blur_sigma:.1f}, less a JPEG's own softness)" if jpeg else ""
                note = f"sharpened blur σ≈{sigma:.1f} px{read}" + _range_note(used, "σ", "{:.1f}")
                plain_blur = network_blur_sigma(degradation) * np.clip(strength[sharpen], 0, 2)
                if float(used.max()) > float(plain_blur.max()) + 0.05:
                    note += f", more than the σ≈{degradation.sharpen_sigma:.1f} px measured, as you asked"
                elif degradation.blur_confidence < 0.95:
                    note += f" (the confident part of a σ≈{degradation.blur_sigma:.1f} px reading)"
                notes.append(note)
        return notes
