"""DiffBIR's stage-1 SwinIR "cleaner" network, written for Restora (the architecture only).

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

Checked loading and the tiled runner (DiffBIR's stage-1 use of this network) are
``swinir_cleaner``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

#: Logit offset for window pairs the cyclic shift joined from different regions (Swin's value).
MASK_VALUE = -100.0


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
