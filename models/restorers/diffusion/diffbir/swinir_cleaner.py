"""DiffBIR's SwinIR as the stage-1 cleaner: a checked loader and a tiled runner.

``load_swinir`` reads a file with DiffBIR's rules (unwrap ``state_dict``; strip ``module.`` when
the first key has it), checks every key and shape (``CheckpointMismatchError``, with hints for the
usual wrong files) and loads strictly. ``SwinIRCleaner`` runs a loaded model on an (H, W, 3)
float image of any size, padding to multiples of 64 like DiffBIR, and in Gaussian-blended tiles for
large images.
"""

from __future__ import annotations

import logging
import math
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from models.restorers.diffusion.diffbir.swinir import (
    DIFFBIR_SWINIR_CONFIG,
    SwinIR,
    SwinIRConfig,
    relative_position_index,
)
from models.restorers.diffusion.tiling import blend_windows, window_starts

logger = logging.getLogger(__name__)

KIND = "a DiffBIR SwinIR cleaner"
#: Values this far outside [0, 1] are tolerated (then clipped): resampling overshoot.
RANGE_TOLERANCE = 1e-3
_WEIGHT_SUFFIXES = (".pth", ".ckpt", ".pt", ".bin")
_DOWNLOAD = (
    "run `restora models download diffbir-v2` (it fetches realesrgan_s4_swinir_100k.pth from "
    "huggingface.co/lxq007/DiffBIR-v2), or pass the path of a DiffBIR SwinIR checkpoint"
)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def read_swinir_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors under DiffBIR's rules, on the CPU, not yet checked.

    ``.safetensors`` is read with safetensors; ``.pth``/``.ckpt``/``.pt``/``.bin`` with
    ``torch.load(weights_only=True)``. A ``state_dict`` entry (else ``params_ema``, else
    ``params``: BasicSR/KAIR files) is unwrapped, and when the first key starts with ``module.``
    that prefix is removed from every key that has it.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: Any = load_file(str(path), device="cpu")
    elif path.suffix in _WEIGHT_SUFFIXES:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
            raise ValueError(
                f"{path} cannot be read with torch.load(weights_only=True) (a truncated download, or a "
                f"file that pickles more than tensors): {err}"
            ) from err
    else:
        raise ValueError(
            f"{path}: unsupported weights file type {path.suffix!r} (expected .safetensors, "
            + ", ".join(_WEIGHT_SUFFIXES)
            + ")"
        )
    if isinstance(state, Mapping):
        for wrapper in ("state_dict", "params_ema", "params"):
            if isinstance(state.get(wrapper), Mapping):
                state = state[wrapper]
                break
    if not isinstance(state, Mapping) or not state:
        raise ValueError(f"{path} does not hold a state dict of tensors (got {type(state).__name__})")
    odd = [str(k) for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if odd:
        raise ValueError(f"{path} holds non-tensor entries, e.g. {', '.join(odd[:5])}: not a state dict")
    if next(iter(state)).startswith("module."):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return dict(state)


def expected_swinir_shapes(config: SwinIRConfig = DIFFBIR_SWINIR_CONFIG) -> dict[str, tuple[int, ...]]:
    """Every state-dict key of ``SwinIR(config)`` with its shape (built on the meta device)."""
    with torch.device("meta"):
        model = SwinIR(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _mismatch_hints(
    found: Mapping[str, Sequence[int]],
    config: SwinIRConfig,
    missing: list[str],
    unexpected: list[str],
    misshaped: list[str],
) -> list[str]:
    """Guesses at what a file that failed the check is instead."""
    keys = set(found)
    hints = []
    if any(k.startswith(("input_blocks.", "zero_convs.", "middle_block_out.")) for k in keys):
        hints.append(
            "input_blocks.* / zero_convs.* tensors: this is a (DiffBIR IR-)ControlNet, the stage-2 model; "
            "the cleaner is a SwinIR file such as realesrgan_s4_swinir_100k.pth"
        )
    elif any(
        k.startswith(("model.diffusion_model.", "first_stage_model.", "cond_stage_model.")) for k in keys
    ):
        hints.append(
            "model.diffusion_model.* tensors: this is a Stable Diffusion checkpoint, not a SwinIR cleaner"
        )
    elif "conv_first.weight" in keys and "conv_first.1.weight" in missing:
        if any("RDB" in k or k.startswith(("body.", "RRDB_trunk.")) for k in keys):
            hints.append(
                "conv_first.weight with RRDB blocks: an ESRGAN/BSRNet (RRDBNet) model, the cleaner of "
                "DiffBIR v2's super-resolution, which this SwinIR loader does not read"
            )
        else:
            hints.append(
                "conv_first.weight instead of conv_first.1.weight: an original SwinIR (JingyunLiang/KAIR) "
                "checkpoint without DiffBIR's PixelUnshuffle front end; it is a different network"
            )
    elif any(k.startswith("upsample.") for k in unexpected):
        hints.append(
            "upsample.* tensors: a pixel-shuffle SwinIR super-resolution model, not DiffBIR's cleaner"
        )
    mask_keys = [k for k in misshaped if k.split(" ", 1)[0].endswith(".attn_mask")]
    if mask_keys and len(mask_keys) == len(misshaped) and not missing and not unexpected:
        first = mask_keys[0].split(" ", 1)[0]
        windows = int(found[first][0])
        side = math.isqrt(windows) * config.window_size
        hints.append(
            f"only the attn_mask buffers differ: the file was built for a {side}x{side} token grid; "
            f"load it with SwinIRConfig(img_size={side})"
        )
    elif misshaped and not missing and not unexpected:
        hints.append(
            "the names match but sizes differ: a SwinIR with another configuration (embed_dim, heads, "
            "window, unshuffle scale); pass a matching SwinIRConfig"
        )
    elif (missing or unexpected) and all(k.startswith("layers.") for k in missing + unexpected):
        hints.append(
            "only layers.* names differ: a different number of layers or blocks (SwinIRConfig.depths)"
        )
    return hints


def load_swinir(
    path: str | Path,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    config: SwinIRConfig = DIFFBIR_SWINIR_CONFIG,
) -> SwinIR:
    """Load a DiffBIR SwinIR checkpoint strictly into ``SwinIR(config)``, in eval mode, frozen.

    Raises FileNotFoundError (saying how to get the weights), ValueError for unreadable files,
    and ``CheckpointMismatchError`` naming every missing, unexpected or misshaped key.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a folder, not a weights file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"DiffBIR SwinIR cleaner checkpoint {path} {what}: {_DOWNLOAD}")
    state = read_swinir_state_dict(path)
    with torch.device("meta"):
        model = SwinIR(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    from models.restorers.diffusion.checkpoints import CheckpointMismatchError, compare_shapes

    missing, unexpected, misshaped = compare_shapes(found, expected)
    if missing or unexpected or misshaped:
        raise CheckpointMismatchError(
            str(path),
            missing,
            unexpected,
            misshaped,
            kind=KIND,
            hints=_mismatch_hints(found, config, missing, unexpected, misshaped),
        )
    model.load_state_dict(state, strict=True, assign=True)
    model = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    _warn_on_odd_buffers(model, path)
    logger.info("loaded DiffBIR SwinIR cleaner %s (%s, %s)", path, device, dtype)
    return model


def _warn_on_odd_buffers(model: SwinIR, path: Path) -> None:
    """The file's index/mask buffers are used as stored (as DiffBIR does); say so if they are odd."""
    window = model.config.window_size
    want = relative_position_index(window)
    odd = [
        name
        for name, buf in model.named_buffers()
        if name.endswith("relative_position_index") and not torch.equal(buf.cpu().long(), want)
    ]
    if odd:
        logger.warning(
            "%s: %d relative_position_index buffer(s) differ from Swin's (e.g. %s); using the file's",
            path,
            len(odd),
            odd[0],
        )


# --------------------------------------------------------------------------------------------
# Running on images
# --------------------------------------------------------------------------------------------


class SwinIRCleaner:
    """Run a loaded ``SwinIR`` on (H, W, 3) float32 RGB in [0, 1] of any size → same shape.

    The image is zero-padded bottom/right to multiples of ``model.config.pad_multiple`` (64) and
    cropped back, as DiffBIR does. When it is larger than one tile, overlapping
    ``tile_size``-pixel tiles every ``tile_stride`` pixels (the last flush with the edge) are run
    separately and blended with Gaussian weights; ``tile_size=None`` never tiles. Device and dtype
    are the model's; the output is clamped to [0, 1].
    """

    name = "DiffBIR SwinIR"

    def __init__(self, model: SwinIR, tile_size: int | None = 512, tile_stride: int = 256):
        self.model = model.eval()
        self.tile_size, self.tile_stride = self._checked_tiles(tile_size, tile_stride)

    def _checked_tiles(self, tile_size: int | None, tile_stride: int) -> tuple[int | None, int]:
        m = self.model.config.pad_multiple
        if tile_size is not None and (tile_size < m or tile_size % m):
            raise ValueError(
                f"tile_size must be a positive multiple of {m} pixels (or None), got {tile_size}"
            )
        if tile_stride < m or tile_stride % m or (tile_size is not None and tile_stride > tile_size):
            raise ValueError(
                f"tile_stride must be a positive multiple of {m} pixels, at most tile_size ({tile_size}), "
                f"got {tile_stride}"
            )
        return tile_size, tile_stride

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def __call__(
        self, image: np.ndarray, tile_size: int | None = None, tile_stride: int | None = None
    ) -> np.ndarray:
        """Clean ``image``; ``tile_size``/``tile_stride`` override the instance's for this call."""
        image = _checked_image(image)
        tile, stride = self._checked_tiles(
            self.tile_size if tile_size is None else tile_size,
            self.tile_stride if tile_stride is None else tile_stride,
        )
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
            out = self._run(x.to(self.device, self.dtype), tile, stride)
            out = out.float().clamp_(0, 1)[0].permute(1, 2, 0).cpu().numpy()
        return np.ascontiguousarray(out, dtype=np.float32)

    def _run(self, x: torch.Tensor, tile: int | None, stride: int) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.model.config.pad_multiple
        ph, pw = -(-h // m) * m, -(-w // m) * m
        # A tile never exceeds the padded image; along a side shorter than the tile it spans it.
        th = ph if tile is None or h < tile else tile
        tw = pw if tile is None or w < tile else tile
        if th >= ph and tw >= pw:
            return self.model(F.pad(x, (0, pw - w, 0, ph - h)))[..., :h, :w]
        canvas = F.pad(x, (0, max(w, tw) - w, 0, max(h, th) - h))
        ch, cw = canvas.shape[-2:]
        windows = [
            (slice(i, i + th), slice(j, j + tw))
            for i in window_starts(ch, th, stride)
            for j in window_starts(cw, tw, stride)
        ]
        logger.debug("SwinIR cleaner: %dx%d image in %d tiles of %dx%d", h, w, len(windows), th, tw)
        (out,) = blend_windows(windows, ch, cw, lambda ys, xs: [self.model(canvas[..., ys, xs]).float()])
        return out[..., :h, :w]


def _checked_image(image: Any) -> np.ndarray:
    """``image`` as float32 (H, W, 3) in [0, 1], or a ValueError saying what is wrong."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"SwinIRCleaner expects a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"SwinIRCleaner expects an (H, W, 3) RGB array, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"SwinIRCleaner got an empty image of shape {image.shape}")
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(
            f"SwinIRCleaner expects float32 RGB in [0, 1], got dtype {image.dtype} "
            "(for 8-bit images use image.astype(np.float32) / 255)"
        )
    image = image.astype(np.float32, copy=False)
    if not np.isfinite(image).all():
        raise ValueError("SwinIRCleaner got NaN or infinite values; expected float32 RGB in [0, 1]")
    lo, hi = float(image.min()), float(image.max())
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise ValueError(
            f"SwinIRCleaner expects values in [0, 1], got range [{lo:.4g}, {hi:.4g}]"
            + (" (0-255 data? divide by 255)" if hi > 1.5 else "")
        )
    return np.clip(image, 0, 1) if lo < 0 or hi > 1 else image
