"""InstructRestore's learned region-mask decoder and the hooks that feed it.

The decoder reads three feature maps from *inside* the ControlNet encoder: for each
``CrossAttnDownBlock2D`` the hidden state after its last resnet + transformer pair, i.e. before
that block's downsampler and before any zero-conv. These are raw ControlNet features (noisy latent
plus LQ hint, cross-attended with the control prompt), not control residuals. For SD-2.1-base and
a latent of h×w they are 320 ch @ h×w, 640 ch @ h/2, 1280 ch @ h/4.

The decoder consumes them coarse to fine (InstructRestore fact sheet §3)::

    x = proj0(f_coarse)                       # (B, C_red, h/4, w/4)
    x = proj1(cat[up2(x), f_mid])             # (B, C_red, h/2, w/2)
    x = proj2(cat[up2(x), f_fine])            # (B, C_red, h, w)
    mask = sigmoid(final_conv(x))             # (B, 1, h, w), values in (0, 1), LATENT resolution

Each ``proj`` is conv3×3 (no bias) → GroupNorm(32) → ReLU → conv3×3 (no bias) → GroupNorm(32) →
ReLU with ``reduced_channels`` (512 in the released model) outputs. Module and parameter names
match the released checkpoint's ``mask_decoder.*`` keys. Latent h and w must be divisible by 4.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import nn

#: Output channels of every projection stage in the released InstructRestore checkpoint.
RELEASED_REDUCED_CHANNELS = 512


class ProjectionStage(nn.Module):
    """conv3×3 → GroupNorm → ReLU → conv3×3 → GroupNorm → ReLU (convs without bias)."""

    def __init__(self, in_channels: int, out_channels: int, num_groups: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(num_groups, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(num_groups, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.norm2(self.conv2(x)))


class MaskDecoder(nn.Module):
    """Soft region mask from three ControlNet feature maps.

    in_channels: channels of the feature maps coarse to fine, ``(1280, 640, 320)`` for SD-2.1-base.
    reduced_channels: width of every projection stage (512 in the released checkpoint).
    """

    def __init__(
        self,
        in_channels: Sequence[int] = (1280, 640, 320),
        reduced_channels: int = RELEASED_REDUCED_CHANNELS,
        num_groups: int = 32,
    ) -> None:
        super().__init__()
        if len(in_channels) != 3:
            raise ValueError(f"MaskDecoder takes 3 feature maps, got in_channels={tuple(in_channels)}")
        coarse, mid, fine = in_channels
        self.in_channels = tuple(in_channels)
        self.projects = nn.ModuleList(
            [
                ProjectionStage(coarse, reduced_channels, num_groups),
                ProjectionStage(reduced_channels + mid, reduced_channels, num_groups),
                ProjectionStage(reduced_channels + fine, reduced_channels, num_groups),
            ]
        )
        self.final_conv = nn.Conv2d(reduced_channels, 1, 1)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """features: ``[(B, C0, h/4, w/4), (B, C1, h/2, w/2), (B, C2, h, w)]`` coarse to fine.

        Returns the mask ``(B, 1, h, w)`` in (0, 1).
        """
        coarse, mid, fine = features
        if mid.shape[-2:] != (2 * coarse.shape[-2], 2 * coarse.shape[-1]) or fine.shape[-2:] != (
            2 * mid.shape[-2],
            2 * mid.shape[-1],
        ):
            raise ValueError(
                "mask decoder features must halve in size from fine to coarse (latent sides divisible "
                f"by 4), got {[tuple(f.shape[-2:]) for f in features]}"
            )
        x = self.projects[0](coarse)
        x = self.projects[1](torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), mid], dim=1))
        x = self.projects[2](torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), fine], dim=1))
        return torch.sigmoid(self.final_conv(x))


def decoder_feature_modules(controlnet: nn.Module) -> list[nn.Module]:
    """The last transformer of each cross-attention down block, fine to coarse.

    Their outputs are the hidden states after each block's last resnet + transformer pair, before
    its downsampler: exactly what the decoder reads.
    """
    return [
        block.attentions[-1]
        for block in controlnet.down_blocks
        if getattr(block, "has_cross_attention", False)
    ]


def decoder_in_channels(
    block_out_channels: Sequence[int], down_block_types: Sequence[str]
) -> tuple[int, ...]:
    """The decoder's ``in_channels`` (coarse to fine) for a ControlNet config.

    For SD-2.1-base this is ``(1280, 640, 320)`` (= ``reversed(block_out_channels)[1:]``).
    """
    chans = [
        c
        for c, kind in zip(block_out_channels, down_block_types, strict=True)
        if kind.startswith("CrossAttn")
    ]
    if len(chans) != 3:
        raise ValueError(
            f"the mask decoder needs exactly 3 cross-attention down blocks, the ControlNet has "
            f"{len(chans)} ({list(down_block_types)})"
        )
    return tuple(reversed(chans))


@contextmanager
def capture_decoder_features(controlnet: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Collect the decoder's input features during one ControlNet forward.

    Yields a list that fills up fine to coarse while the ControlNet runs. The forward hooks are
    removed when the block exits, even on error, so the ControlNet is left as it was.
    """
    features: list[torch.Tensor] = []

    def hook(_module: nn.Module, _args: tuple, output: tuple[torch.Tensor, ...]) -> None:
        features.append(output[0])  # Transformer2DModel is called with return_dict=False

    handles = [module.register_forward_hook(hook) for module in decoder_feature_modules(controlnet)]
    try:
        yield features
    finally:
        for handle in handles:
            handle.remove()
