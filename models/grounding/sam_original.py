"""Use the original segment-anything checkpoints (``sam_vit_b_01ec64.pth`` and friends).

Restora runs SAM through transformers' ``SamModel`` only, so an original checkpoint is converted
once into a catalogue folder (``config.json`` + ``model.safetensors`` + ``processor_config.json``)
that ``models.weights`` then finds like a download::

    restora models convert sam_vit_b_01ec64.pth          # → $RESTORA_WEIGHTS_DIR/sam-vit-base/

Why convert instead of importing the ``segment_anything`` package: it imports torchvision at
module level, and torchvision breaks transformers' imports in this project's environment; the
conversion needs nothing but torch. The checkpoint is read with ``torch.load(weights_only=True)``.

The configuration is read off the tensor shapes (width, depth, heads from the relative-position
tables, which blocks attend globally, image and patch size, mask-decoder sizes), so ViT-B/L/H and
other widths convert without a table. The mask decoder's head count is not visible in any shape;
it is 8 in every released SAM checkpoint and can be overridden.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: segment-anything key → transformers SamModel key, applied in order (regular expressions).
RENAMES: tuple[tuple[str, str], ...] = (
    (r"^image_encoder\.", "vision_encoder."),
    (r"^vision_encoder\.patch_embed\.proj\.", "vision_encoder.patch_embed.projection."),
    (r"^vision_encoder\.blocks\.(\d+)\.norm(\d)\.", r"vision_encoder.layers.\1.layer_norm\2."),
    (r"^vision_encoder\.blocks\.", "vision_encoder.layers."),
    (r"^vision_encoder\.neck\.0\.", "vision_encoder.neck.conv1."),
    (r"^vision_encoder\.neck\.1\.", "vision_encoder.neck.layer_norm1."),
    (r"^vision_encoder\.neck\.2\.", "vision_encoder.neck.conv2."),
    (r"^vision_encoder\.neck\.3\.", "vision_encoder.neck.layer_norm2."),
    (
        r"^prompt_encoder\.pe_layer\.positional_encoding_gaussian_matrix$",
        "prompt_encoder.shared_embedding.positional_embedding",
    ),
    (r"^prompt_encoder\.point_embeddings\.", "prompt_encoder.point_embed."),
    (r"^prompt_encoder\.mask_downscaling\.0\.", "prompt_encoder.mask_embed.conv1."),
    (r"^prompt_encoder\.mask_downscaling\.1\.", "prompt_encoder.mask_embed.layer_norm1."),
    (r"^prompt_encoder\.mask_downscaling\.3\.", "prompt_encoder.mask_embed.conv2."),
    (r"^prompt_encoder\.mask_downscaling\.4\.", "prompt_encoder.mask_embed.layer_norm2."),
    (r"^prompt_encoder\.mask_downscaling\.6\.", "prompt_encoder.mask_embed.conv3."),
    (
        r"^mask_decoder\.transformer\.layers\.(\d+)\.norm(\d)\.",
        r"mask_decoder.transformer.layers.\1.layer_norm\2.",
    ),
    (r"^mask_decoder\.transformer\.norm_final_attn\.", "mask_decoder.transformer.layer_norm_final_attn."),
    (r"^mask_decoder\.output_upscaling\.0\.", "mask_decoder.upscale_conv1."),
    (r"^mask_decoder\.output_upscaling\.1\.", "mask_decoder.upscale_layer_norm."),
    (r"^mask_decoder\.output_upscaling\.3\.", "mask_decoder.upscale_conv2."),
)
#: The original's buffers that transformers keeps in the image processor instead.
DROPPED = ("pixel_mean", "pixel_std")
_MLP = re.compile(
    r"^(mask_decoder\.(?:output_hypernetworks_mlps\.\d+|iou_prediction_head))\.layers\.(\d+)\.(.+)$"
)
#: segment-anything checkpoint width → catalogue name.
NAMES_BY_WIDTH = {768: "sam-vit-base", 1024: "sam-vit-large", 1280: "sam-vit-huge"}


def convert_state_dict(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a segment-anything ``Sam`` state dict to transformers ``SamModel`` keys.

    The MLP heads (``layers.0 … layers.N-1``) become ``proj_in``, ``layers.0 … layers.N-3`` and
    ``proj_out``; the prompt encoder's random-Fourier matrix also fills
    ``shared_image_embedding``. Unknown keys raise ValueError (a wrong file, not a silent drop).
    """
    depth: dict[str, int] = {}
    for key in original:
        m = _MLP.match(key)
        if m:
            depth[m.group(1)] = max(depth.get(m.group(1), 0), int(m.group(2)) + 1)
    known = re.compile(r"^(image_encoder|prompt_encoder|mask_decoder)\.")
    out: dict[str, torch.Tensor] = {}
    for key, value in original.items():
        if key in DROPPED:
            continue
        if not known.match(key):
            raise ValueError(f"{key!r} is not a segment-anything Sam key; is this a SAM checkpoint?")
        m = _MLP.match(key)
        if m:
            prefix, i, rest = m.group(1), int(m.group(2)), m.group(3)
            n = depth[prefix]
            layer = "proj_in" if i == 0 else "proj_out" if i == n - 1 else f"layers.{i - 1}"
            out[f"{prefix}.{layer}.{rest}"] = value
            continue
        for pattern, repl in RENAMES:
            key = re.sub(pattern, repl, key)
        out[key] = value
    out["shared_image_embedding.positional_embedding"] = out[
        "prompt_encoder.shared_embedding.positional_embedding"
    ]
    return out


def infer_config(original: dict[str, torch.Tensor], mask_decoder_heads: int = 8):
    """A transformers ``SamConfig`` matching a segment-anything state dict's shapes."""
    from transformers import SamConfig, SamMaskDecoderConfig, SamPromptEncoderConfig, SamVisionConfig

    sd = original
    width, _, patch, _ = sd["image_encoder.patch_embed.proj.weight"].shape
    grid = sd["image_encoder.pos_embed"].shape[1]
    blocks = sorted({int(k.split(".")[2]) for k in sd if k.startswith("image_encoder.blocks.")})
    rel = [sd[f"image_encoder.blocks.{i}.attn.rel_pos_h"] for i in blocks]
    head_dim = rel[0].shape[1]
    global_layers = [i for i, r in zip(blocks, rel, strict=True) if r.shape[0] == 2 * grid - 1]
    windowed = [r.shape[0] for i, r in zip(blocks, rel, strict=True) if i not in global_layers]
    vision = SamVisionConfig(
        hidden_size=width,
        output_channels=sd["image_encoder.neck.0.weight"].shape[0],
        num_hidden_layers=len(blocks),
        num_attention_heads=width // head_dim,
        image_size=grid * patch,
        patch_size=patch,
        window_size=(windowed[0] + 1) // 2 if windowed else 0,
        global_attn_indexes=global_layers,
        num_pos_feats=sd["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"].shape[1],
        mlp_dim=sd["image_encoder.blocks.0.mlp.lin1.weight"].shape[0],
    )
    hidden = sd["mask_decoder.iou_token.weight"].shape[1]
    prompt = SamPromptEncoderConfig(
        hidden_size=sd["prompt_encoder.no_mask_embed.weight"].shape[1],
        image_size=grid * patch,
        patch_size=patch,
        mask_input_channels=sd["prompt_encoder.mask_downscaling.3.weight"].shape[0],
        num_point_embeddings=len([k for k in sd if k.startswith("prompt_encoder.point_embeddings.")]),
    )
    layers = {int(k.split(".")[3]) for k in sd if k.startswith("mask_decoder.transformer.layers.")}
    inner = sd["mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight"].shape[0]
    iou_layers = {k.split(".")[3] for k in sd if k.startswith("mask_decoder.iou_prediction_head.layers.")}
    decoder = SamMaskDecoderConfig(
        hidden_size=hidden,
        mlp_dim=sd["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0],
        num_hidden_layers=len(layers),
        num_attention_heads=mask_decoder_heads,
        attention_downsample_rate=hidden // inner,
        num_multimask_outputs=sd["mask_decoder.mask_tokens.weight"].shape[0] - 1,
        iou_head_depth=len(iou_layers),
        iou_head_hidden_dim=sd["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0],
    )
    return SamConfig(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder)


def load_original_sam(checkpoint: str | Path, mask_decoder_heads: int = 8):
    """A transformers ``SamModel`` (eval mode) with the weights of an original SAM checkpoint."""
    from transformers import SamModel

    from models.weights import load_state_dict

    original = load_state_dict(checkpoint)
    model = SamModel(infer_config(original, mask_decoder_heads))
    missing, unexpected = model.load_state_dict(convert_state_dict(original), strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{checkpoint} does not match SAM's layout: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return model.eval()


def convert_sam_checkpoint(
    checkpoint: str | Path, out_dir: str | Path | None = None, mask_decoder_heads: int = 8
) -> Path:
    """Write an original SAM checkpoint as a catalogue folder; returns the folder.

    out_dir: default ``$RESTORA_WEIGHTS_DIR/<name>`` with the name from the width (ViT-B/L/H →
    sam-vit-base/-large/-huge); other widths need an explicit ``out_dir``.
    """
    from transformers import SamProcessor
    from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

    from models.catalog import weights_dir

    model = load_original_sam(checkpoint, mask_decoder_heads)
    if out_dir is None:
        width = model.config.vision_config.hidden_size
        if width not in NAMES_BY_WIDTH:
            raise ValueError(f"a SAM of width {width} has no catalogue name; pass an output folder")
        out_dir = weights_dir() / NAMES_BY_WIDTH[width]
    out = Path(out_dir)
    model.save_pretrained(out)
    size = model.config.vision_config.image_size
    SamProcessor(
        image_processor=SamImageProcessorPil(
            size={"longest_edge": size}, pad_size={"height": size, "width": size}
        )
    ).save_pretrained(out)
    return out
