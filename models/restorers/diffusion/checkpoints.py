"""Checked checkpoint loading shared by both families: the stock SD-2.1-base ControlNet config,
the key/shape comparison and the error that names every missing, unexpected or misshaped key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_LISTED = 12  # how many keys of each kind an error message names

#: ``ControlNetModel.from_unet(<SD-2.1-base UNet>)``'s config (diffusers 0.42), i.e. the released
#: InstructRestore config without ``mask_decoder_type`` and the ``_``-prefixed bookkeeping keys.
SD21_BASE_CONTROLNET_CONFIG: dict[str, Any] = {
    "act_fn": "silu",
    "addition_embed_type": None,
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": None,
    "attention_head_dim": [5, 10, 20, 20],
    "block_out_channels": [320, 640, 1280, 1280],
    "class_embed_type": None,
    "conditioning_channels": 3,
    "conditioning_embedding_out_channels": [16, 32, 96, 256],
    "controlnet_conditioning_channel_order": "rgb",
    "cross_attention_dim": 1024,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "downsample_padding": 1,
    "encoder_hid_dim": None,
    "encoder_hid_dim_type": None,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "global_pool_conditions": False,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_attention_heads": None,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "projection_class_embeddings_input_dim": None,
    "resnet_time_scale_shift": "default",
    "transformer_layers_per_block": 1,
    "upcast_attention": False,
    "use_linear_projection": True,
}


class CheckpointMismatchError(ValueError):
    """A checkpoint's tensors do not match the architecture. The message names the keys."""

    def __init__(
        self,
        source: str,
        missing: list[str],
        unexpected: list[str],
        misshaped: list[str],
        kind: str = "an InstructRestore ControlNet",
        hints: Sequence[str] = (),
    ):
        self.missing, self.unexpected, self.misshaped = missing, unexpected, misshaped
        lines = [f"{source} is not {kind} checkpoint for this architecture:"]
        for label, items in (("missing", missing), ("unexpected", unexpected), ("misshaped", misshaped)):
            if items:
                shown = ", ".join(items[:_LISTED]) + (
                    f", … ({len(items) - _LISTED} more)" if len(items) > _LISTED else ""
                )
                lines.append(f"  {len(items)} {label} key(s): {shown}")
        if missing and all(k.startswith("mask_decoder.") for k in missing) and len(missing) == 20:
            lines.append("  (all 20 mask_decoder.* tensors are missing: this looks like a stock ControlNet)")
        prefixes = {k.split(".", 1)[0] + "." for k in unexpected}
        if len(prefixes) == 1 and {k.split(".", 1)[-1] for k in unexpected} & set(missing):
            lines.append(
                f"  (the keys carry an extra {prefixes.pop()!r} prefix: a training wrapper's state dict?)"
            )
        lines += [f"  ({hint})" for hint in hints]
        super().__init__("\n".join(lines))


def compare_shapes(
    found: Mapping[str, Sequence[int]], expected: Mapping[str, Sequence[int]]
) -> tuple[list[str], list[str], list[str]]:
    """(missing, unexpected, misshaped) keys of ``found`` against ``expected``, sorted."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    misshaped = [
        f"{k} (file {list(found[k])}, expected {list(expected[k])})"
        for k in sorted(set(found) & set(expected))
        if tuple(found[k]) != tuple(expected[k])
    ]
    return missing, unexpected, misshaped
