"""DiffBIR's stage-1 SwinIR "cleaner", written for Restora, with a checked loader and a tiled runner.

DiffBIR (XPixelGroup, Apache-2.0) removes degradations with a SwinIR (arXiv 2108.10257) before its
ControlNet sees the image. All of its SwinIR checkpoints (``realesrgan_s4_swinir_100k.pth``,
``face_swinir_v1.ckpt``, ``general_swinir_v1.ckpt``, ``codeformer_swinir.ckpt``) share one
architecture, ``configs/inference/swinir.yaml``; ``SwinIR`` reproduces it with the same state-dict
names and shapes (732 tensors, 15,792,587 parameters, 72 persistent buffers) so they load strictly:

* ``conv_first``: ``PixelUnshuffle(8)`` then a 3×3 conv 192 → 180, so an H×W image becomes an
  (H/8)×(W/8) token grid; H and W must be multiples of 64 (8 × the window), the cleaner pads.
* ``patch_embed.norm`` (LayerNorm), 8 residual Swin transformer blocks (``layers.i``: 6 Swin
  blocks each, then a 3×3 conv and the block's residual), ``norm``, ``conv_after_body`` and the
  long residual.
* Swin blocks (Liu et al., arXiv 2103.14030): pre-norm window attention over 8×8 windows with a
  learned relative-position bias (``relative_position_bias_table`` [(2·8−1)², heads], indexed by
  the ``relative_position_index`` buffer), then a GELU MLP (ratio 2). Odd blocks cyclically shift
  the grid by −4 first (and back after); window pairs that the roll brought together from different
  image regions get −100 added to their logits (``attn_mask``, stored for the 64×64 grid of a
  512 px input and recomputed for any other grid).
* "nearest+conv" reconstruction: ``conv_before_upsample`` (conv 180 → 64, LeakyReLU 0.01), then
  log2(8) = 3 × (nearest ×2, ``conv_up{k}``, LeakyReLU 0.2), ``conv_hr`` + LeakyReLU 0.2,
  ``conv_last`` 64 → 3. Net scale 1: the network cleans, it does not enlarge.
* The RGB mean (0.4488, 0.4371, 0.4040) is subtracted before and added after (image range 1).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from models.restorers.diffusion.tiling import blend_windows, window_starts

logger = logging.getLogger(__name__)

KIND = "a DiffBIR SwinIR cleaner"
#: Logit offset for window pairs the cyclic shift joined from different regions (Swin's value).
MASK_VALUE = -100.0
#: Gaussian tile-blending sigma as a fraction of the tile side (mixture-of-diffusers' variance
#: 0.01, as in DiffBIR's tiled cleaner).
#: Values this far outside [0, 1] are tolerated (then clipped): resampling overshoot.
RANGE_TOLERANCE = 1e-3
_WEIGHT_SUFFIXES = (".pth", ".ckpt", ".pt", ".bin")
_DOWNLOAD = (
    "run `restora models download diffbir-v2` (it fetches realesrgan_s4_swinir_100k.pth from "
    "huggingface.co/lxq007/DiffBIR-v2), or pass the path of a DiffBIR SwinIR checkpoint"
)


@dataclass(frozen=True)
class SwinIRConfig:
    """Hyper-parameters of DiffBIR's SwinIR; the defaults are ``configs/inference/swinir.yaml``.

    ``img_size`` is the side of the *token grid* (after ``PixelUnshuffle``) that the stored
    ``attn_mask`` buffers describe: DiffBIR's 64 means 512 px inputs; other sizes still run (the
    mask is recomputed). ``unshuffle_scale`` is both the unshuffle factor and the upsampler's
    total factor (log2 of it nearest-×2 stages), so the network keeps the input size.
    """

    img_size: int = 64
    embed_dim: int = 180
    depths: tuple[int, ...] = (6,) * 8
    num_heads: tuple[int, ...] = (6,) * 8
    window_size: int = 8
    mlp_ratio: float = 2.0
    qkv_bias: bool = True
    unshuffle_scale: int = 8
    upsample_channels: int = 64
    img_range: float = 1.0
    rgb_mean: tuple[float, float, float] = (0.4488, 0.4371, 0.4040)

    def __post_init__(self) -> None:
        for name in ("depths", "num_heads", "rgb_mean"):  # lists from a YAML/JSON config become tuples
            object.__setattr__(self, name, tuple(getattr(self, name)))
        problems = []
        if len(self.depths) != len(self.num_heads) or not self.depths:
            problems.append(
                f"depths {self.depths} and num_heads {self.num_heads} need the same non-zero length"
            )
        if any(d < 1 for d in self.depths):
            problems.append(f"depths must be positive, got {self.depths}")
        if any(h < 1 or self.embed_dim % h for h in self.num_heads):
            problems.append(
                f"embed_dim {self.embed_dim} must be divisible by every num_heads {self.num_heads}"
            )
        if self.window_size < 2:
            problems.append(f"window_size must be at least 2, got {self.window_size}")
        elif self.img_size <= self.window_size or self.img_size % self.window_size:
            # DiffBIR's code silently drops the shift when img_size <= window_size; not supported here.
            problems.append(
                f"img_size {self.img_size} must be a multiple of window_size {self.window_size} and larger"
            )
        s = self.unshuffle_scale
        if s < 2 or s & (s - 1):
            problems.append(f"unshuffle_scale must be a power of two >= 2, got {s}")
        if self.upsample_channels < 1 or self.mlp_ratio <= 0 or self.img_range <= 0:
            problems.append("upsample_channels, mlp_ratio and img_range must be positive")
        if len(self.rgb_mean) != 3:
            problems.append(f"rgb_mean needs 3 values, got {self.rgb_mean}")
        if problems:
            raise ValueError("invalid SwinIRConfig: " + "; ".join(problems))

    @property
    def shift_size(self) -> int:
        """Cyclic shift of the odd (shifted-window) Swin blocks."""
        return self.window_size // 2

    @property
    def num_upsamples(self) -> int:
        """Number of nearest-×2 + conv stages (``conv_up1`` …)."""
        return int(math.log2(self.unshuffle_scale))

    @property
    def pad_multiple(self) -> int:
        """Input sides must be multiples of this: the window size in pixels (64 for DiffBIR)."""
        return self.window_size * self.unshuffle_scale


#: DiffBIR's configuration (every released SwinIR cleaner).
DIFFBIR_SWINIR_CONFIG = SwinIRConfig()


# --------------------------------------------------------------------------------------------
# Window helpers
# --------------------------------------------------------------------------------------------


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) → (B·nW, window², C), windows in row-major order, tokens row-major inside."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def window_merge(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of ``window_partition``: (B·nW, window², C) → (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, h // window, w // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


def relative_position_index(window: int) -> torch.Tensor:
    """int64 [window², window²]: row i, column j → the bias-table row for token i attending to j.

    With (hᵢ, wᵢ) a token's row and column inside the window, the row is
    (hᵢ − hⱼ + window − 1)·(2·window − 1) + (wᵢ − wⱼ + window − 1), in 0 … (2·window − 1)² − 1.
    """
    rows, cols = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    dh = rows[:, None] - rows[None, :] + window - 1
    dw = cols[:, None] - cols[None, :] + window - 1
    return dh * (2 * window - 1) + dw


def shifted_window_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """float32 [nW, window², window²] additive mask for shifted windows over a height×width grid.

    After rolling the grid by −shift, each axis splits into three regions of the *rolled* grid:
    [0, n − window), [n − window, n − shift) and [n − shift, n); the last two hold tokens that
    came from opposite borders. Tokens of one window in different regions get ``MASK_VALUE``.
    """
    if height % window or width % window:
        raise ValueError(f"grid {height}x{width} is not a multiple of the window {window}")

    def regions(n: int) -> torch.Tensor:
        label = torch.zeros(n, dtype=torch.long)
        label[n - window :] = 1
        label[n - shift :] = 2
        return label

    label = regions(height)[:, None] * 3 + regions(width)[None, :]
    windows = window_partition(label[None, :, :, None], window)[..., 0]  # nW, window²
    differ = windows[:, :, None] != windows[:, None, :]
    return torch.zeros(differ.shape, dtype=torch.float32).masked_fill(differ, MASK_VALUE)


# --------------------------------------------------------------------------------------------
# Modules
# --------------------------------------------------------------------------------------------


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows with a relative-position bias (``attn.*``)."""

    def __init__(self, dim: int, window: int, heads: int, qkv_bias: bool = True):
        super().__init__()
        self.window, self.heads = window, heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B·nW, window², C); mask: (nW, window², window²) additive, or None."""
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)  # B·nW, heads, N, N
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, self.heads).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = (attn.view(bw // nw, nw, self.heads, n, n) + mask[None, :, None]).view(
                bw, self.heads, n, n
            )
        out = attn.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class Mlp(nn.Module):
    """fc1 → GELU → fc2 (``mlp.*``)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock(nn.Module):
    """Pre-norm (shifted-)window attention and MLP, each with a residual.

    A shifted block owns the persistent ``attn_mask`` buffer for a ``grid``×``grid`` token grid
    (on the block, as in DiffBIR); for other grids the mask is computed (and cached) at run time.
    """

    attn_mask: torch.Tensor

    def __init__(
        self, dim: int, heads: int, window: int, shift: int, mlp_ratio: float, qkv_bias: bool, grid: int
    ):
        super().__init__()
        self.window, self.shift, self.grid = window, shift, grid
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if shift:
            self.register_buffer("attn_mask", shifted_window_mask(grid, grid, window, shift))
        self._mask_cache: tuple[tuple[Any, ...], torch.Tensor] | None = None

    def _mask(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor | None:
        if not self.shift:
            return None
        if (h, w) == (self.grid, self.grid):
            return self.attn_mask.to(like.dtype)
        key = (h, w, like.device, like.dtype)
        if self._mask_cache is None or self._mask_cache[0] != key:
            mask = shifted_window_mask(h, w, self.window, self.shift).to(like.device, like.dtype)
            self._mask_cache = (key, mask)
        return self._mask_cache[1]

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """x: (B, H·W, C) tokens of an H×W grid (both multiples of the window)."""
        h, w = size
        b, length, c = x.shape
        y = self.norm1(x).view(b, h, w, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = self.attn(window_partition(y, self.window), self._mask(h, w, y))
        y = window_merge(y, self.window, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y.reshape(b, length, c)
        return x + self.mlp(self.norm2(x))


class SwinLayer(nn.Module):
    """A stack of Swin blocks, unshifted and shifted alternately (``residual_group.blocks.j``)."""

    def __init__(self, config: SwinIRConfig, depth: int, heads: int):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(
                config.embed_dim,
                heads,
                config.window_size,
                config.shift_size if j % 2 else 0,
                config.mlp_ratio,
                config.qkv_bias,
                config.img_size,
            )
            for j in range(depth)
        )

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, size)
        return x


class ResidualSwinBlock(nn.Module):
    """RSTB: Swin blocks, a 3×3 conv on the token grid, and the block's residual (``layers.i``)."""

    def __init__(self, config: SwinIRConfig, depth: int, heads: int):
        super().__init__()
        self.residual_group = SwinLayer(config, depth, heads)
        self.conv = nn.Conv2d(config.embed_dim, config.embed_dim, 3, 1, 1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, _, c = x.shape
        y = self.residual_group(x, size).transpose(1, 2).reshape(b, c, *size)
        return self.conv(y).flatten(2).transpose(1, 2) + x


class PatchEmbed(nn.Module):
    """Feature map → tokens (patch size 1), then LayerNorm (``patch_embed.norm``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.flatten(2).transpose(1, 2))


class SwinIR(nn.Module):
    """DiffBIR's SwinIR cleaner: (B, 3, H, W) RGB in [0, 1] → (B, 3, H, W), H and W multiples of
    ``config.pad_multiple`` (64). The output is not clamped. See the module docstring."""

    def __init__(self, config: SwinIRConfig = DIFFBIR_SWINIR_CONFIG):
        super().__init__()
        self.config = config
        s, dim, feat = config.unshuffle_scale, config.embed_dim, config.upsample_channels
        self.conv_first = nn.Sequential(nn.PixelUnshuffle(s), nn.Conv2d(3 * s * s, dim, 3, 1, 1))
        self.patch_embed = PatchEmbed(dim)
        self.layers = nn.ModuleList(
            ResidualSwinBlock(config, d, h) for d, h in zip(config.depths, config.num_heads, strict=True)
        )
        self.norm = nn.LayerNorm(dim)
        self.conv_after_body = nn.Conv2d(dim, dim, 3, 1, 1)
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(dim, feat, 3, 1, 1), nn.LeakyReLU(0.01))
        for k in range(1, config.num_upsamples + 1):
            self.add_module(f"conv_up{k}", nn.Conv2d(feat, feat, 3, 1, 1))
        self.conv_hr = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(feat, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, WindowAttention):
            nn.init.trunc_normal_(module.relative_position_bias_table, std=0.02)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The Swin body on a (B, C, h, w) feature map; returns the same shape."""
        b, c, h, w = x.shape
        tokens = self.patch_embed(x)
        for layer in self.layers:
            tokens = layer(tokens, (h, w))
        return self.norm(tokens).transpose(1, 2).reshape(b, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.config.pad_multiple
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] % m or x.shape[3] % m:
            raise ValueError(
                f"SwinIR expects a (B, 3, H, W) tensor with H and W multiples of {m}, got "
                f"{tuple(x.shape)} (SwinIRCleaner pads for you)"
            )
        cfg = self.config
        mean = torch.tensor(cfg.rgb_mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x = (x - mean) * cfg.img_range
        feat = self.conv_first(x)
        y = self.conv_before_upsample(self.conv_after_body(self.forward_features(feat)) + feat)
        for k in range(1, cfg.num_upsamples + 1):
            conv = getattr(self, f"conv_up{k}")
            y = self.lrelu(conv(F.interpolate(y, scale_factor=2, mode="nearest")))
        y = self.conv_last(self.lrelu(self.conv_hr(y)))
        return y / cfg.img_range + mean


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
