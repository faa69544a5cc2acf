"""Convert groundingdino-py's original checkpoints (``groundingdino_swint_ogc.pth``,
``groundingdino_swinb_cogcoor.pth``) to transformers' ``GroundingDinoForObjectDetection``.

Restora does not use the groundingdino-py package: it is unmaintained since 2023, fails with
transformers 5 and needs torchvision. Its weights are still usable: this module renames the
original state dict's keys to the transformers layout, splits the fused attention projections, and
writes a catalogue folder that ``models.weights`` finds like a download::

    restora models convert groundingdino_swint_ogc.pth --tokenizer DIR   # → .../grounding-dino-tiny/

Key mapping, original → transformers (``i``, ``j``, ``n`` are indices; ``SWIN`` is
``model.backbone.conv_encoder.model.swin``):

- ``backbone.0.patch_embed.{proj,norm}`` → ``SWIN.embeddings.{patch_embeddings.projection,norm}``
- ``backbone.0.layers.i.blocks.j.*`` → ``SWIN.encoder.layers.i.blocks.j.*``: norm1/norm2 →
  layernorm_before/after; ``attn.qkv`` (fused, rows q|k|v) → ``attention.{q,k,v}_proj``;
  ``attn.proj`` → ``attention.o_proj``; ``attn.relative_position_bias_table`` →
  ``attention.relative_position_bias.relative_position_bias_table``; ``mlp.fc1/fc2`` unchanged
- ``backbone.0.layers.i.downsample`` → ``SWIN.encoder.layers.i.downsample``
- ``backbone.0.norm{n}`` → ``model.backbone.conv_encoder.model.hidden_states_norms.stage{n+1}``
- ``bert.*`` → ``model.text_backbone.*`` (the unused pooler is dropped)
- ``feat_map`` → ``model.text_projection``; ``input_proj.n`` → ``model.input_proj_vision.n``
- ``transformer.level_embed`` → ``model.level_embed``; ``transformer.tgt_embed`` →
  ``model.query_position_embeddings``; ``transformer.enc_output(_norm)`` →
  ``model.enc_output(_norm)``; ``transformer.enc_out_bbox_embed`` → ``model.encoder_output_bbox_embed``
- ``transformer.encoder.layers.i`` → ``model.encoder.layers.i.deformable_layer`` (norm1 →
  self_attn_layer_norm, linear1/2 → fc1/2, norm2 → final_layer_norm)
- ``transformer.encoder.text_layers.i`` → ``model.encoder.layers.i.text_enhancer_layer``
  (``self_attn.in_proj_*`` split into query/key/value, norm1/2 → layer_norm_before/after)
- ``transformer.encoder.fusion_layers.i`` → ``model.encoder.layers.i.fusion_layer`` (gamma_v/l →
  vision/text_param, ``*_v``/``*_l`` → ``*_vision``/``*_text``)
- ``transformer.decoder.layers.i`` → ``model.decoder.layers.i`` (cross_attn → encoder_attn,
  ca_text → encoder_attn_text, self_attn in_proj split, norm1 / catext_norm / norm2 / norm3 →
  encoder_attn_layer_norm / encoder_attn_text_layer_norm / self_attn_layer_norm / final_layer_norm)
- ``transformer.decoder.norm`` → ``model.decoder.layer_norm``; ``transformer.decoder.ref_point_head``
  → ``model.decoder.reference_points_head``; ``(transformer.decoder.)bbox_embed.i`` →
  ``(model.decoder.)bbox_embed.i``

Buffers (``relative_position_index``, ``position_ids``) are dropped; transformers rebuilds them.
transformers' Swin also has a final ``layernorm`` that GroundingDINO never uses; it keeps its
initial values. Shapes give the whole configuration except attention head counts and the number of
deformable sampling points, whose defaults (8 heads, 4 points, BERT 12 heads, 256 text tokens) are
those of both released checkpoints; pass overrides for anything else.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

SWIN = "model.backbone.conv_encoder.model.swin."
#: transformers keys with no counterpart in the original (unused by GroundingDINO's forward).
UNMATCHED = {SWIN + "layernorm.weight", SWIN + "layernorm.bias"}

SWIN_BLOCK = {
    "norm1": "layernorm_before",
    "norm2": "layernorm_after",
    "attn.proj": "attention.o_proj",
    "attn.relative_position_bias_table": "attention.relative_position_bias.relative_position_bias_table",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
    "attn.qkv": ("attention.q_proj", "attention.k_proj", "attention.v_proj"),
}
ENCODER_LAYER = {
    "self_attn.sampling_offsets": "deformable_layer.self_attn.sampling_offsets",
    "self_attn.attention_weights": "deformable_layer.self_attn.attention_weights",
    "self_attn.value_proj": "deformable_layer.self_attn.value_proj",
    "self_attn.output_proj": "deformable_layer.self_attn.output_proj",
    "norm1": "deformable_layer.self_attn_layer_norm",
    "linear1": "deformable_layer.fc1",
    "linear2": "deformable_layer.fc2",
    "norm2": "deformable_layer.final_layer_norm",
}
TEXT_LAYER = {
    "self_attn.in_proj": (
        "text_enhancer_layer.self_attn.query",
        "text_enhancer_layer.self_attn.key",
        "text_enhancer_layer.self_attn.value",
    ),
    "self_attn.out_proj": "text_enhancer_layer.self_attn.out_proj",
    "linear1": "text_enhancer_layer.fc1",
    "linear2": "text_enhancer_layer.fc2",
    "norm1": "text_enhancer_layer.layer_norm_before",
    "norm2": "text_enhancer_layer.layer_norm_after",
}
FUSION_LAYER = {
    "gamma_v": "fusion_layer.vision_param",
    "gamma_l": "fusion_layer.text_param",
    "layer_norm_v": "fusion_layer.layer_norm_vision",
    "layer_norm_l": "fusion_layer.layer_norm_text",
    "attn.v_proj": "fusion_layer.attn.vision_proj",
    "attn.l_proj": "fusion_layer.attn.text_proj",
    "attn.values_v_proj": "fusion_layer.attn.values_vision_proj",
    "attn.values_l_proj": "fusion_layer.attn.values_text_proj",
    "attn.out_v_proj": "fusion_layer.attn.out_vision_proj",
    "attn.out_l_proj": "fusion_layer.attn.out_text_proj",
}
DECODER_LAYER = {
    "cross_attn.sampling_offsets": "encoder_attn.sampling_offsets",
    "cross_attn.attention_weights": "encoder_attn.attention_weights",
    "cross_attn.value_proj": "encoder_attn.value_proj",
    "cross_attn.output_proj": "encoder_attn.output_proj",
    "norm1": "encoder_attn_layer_norm",
    "ca_text.in_proj": ("encoder_attn_text.query", "encoder_attn_text.key", "encoder_attn_text.value"),
    "ca_text.out_proj": "encoder_attn_text.out_proj",
    "catext_norm": "encoder_attn_text_layer_norm",
    "self_attn.in_proj": ("self_attn.query", "self_attn.key", "self_attn.value"),
    "self_attn.out_proj": "self_attn.out_proj",
    "norm2": "self_attn_layer_norm",
    "linear1": "fc1",
    "linear2": "fc2",
    "norm3": "final_layer_norm",
}
#: (pattern for the original key's prefix, transformers prefix, table for the rest or None = copy)
SECTIONS: tuple[tuple[str, str, dict | None], ...] = (
    (r"backbone\.0\.patch_embed\.proj", SWIN + "embeddings.patch_embeddings.projection", None),
    (r"backbone\.0\.patch_embed\.norm", SWIN + "embeddings.norm", None),
    (r"backbone\.0\.layers\.(\d+)\.blocks\.(\d+)", SWIN + r"encoder.layers.\1.blocks.\2", SWIN_BLOCK),
    (r"backbone\.0\.layers\.(\d+)\.downsample", SWIN + r"encoder.layers.\1.downsample", None),
    (r"bert", "model.text_backbone", None),
    (r"feat_map", "model.text_projection", None),
    (r"input_proj", "model.input_proj_vision", None),
    (r"transformer\.level_embed", "model.level_embed", None),
    (r"transformer\.tgt_embed", "model.query_position_embeddings", None),
    (r"transformer\.enc_output_norm", "model.enc_output_norm", None),
    (r"transformer\.enc_output", "model.enc_output", None),
    (r"transformer\.enc_out_bbox_embed", "model.encoder_output_bbox_embed", None),
    (r"transformer\.encoder\.layers\.(\d+)", r"model.encoder.layers.\1", ENCODER_LAYER),
    (r"transformer\.encoder\.text_layers\.(\d+)", r"model.encoder.layers.\1", TEXT_LAYER),
    (r"transformer\.encoder\.fusion_layers\.(\d+)", r"model.encoder.layers.\1", FUSION_LAYER),
    (r"transformer\.decoder\.layers\.(\d+)", r"model.decoder.layers.\1", DECODER_LAYER),
    (r"transformer\.decoder\.norm", "model.decoder.layer_norm", None),
    (r"transformer\.decoder\.ref_point_head", "model.decoder.reference_points_head", None),
    (r"transformer\.decoder\.bbox_embed", "model.decoder.bbox_embed", None),
    (r"bbox_embed", "bbox_embed", None),
)
_SECTION_RES = [(re.compile(rf"^{p}(?:\.(.+))?$"), repl, table) for p, repl, table in SECTIONS]
_STAGE_NORM = re.compile(r"^backbone\.0\.norm(\d)\.(weight|bias)$")
_DROP = re.compile(r"(relative_position_index|position_ids)$|^bert\.pooler\.")


def _split_param(rest: str) -> tuple[str, str]:
    """Module path and parameter name of the part of a key after its section prefix.

    "attn.qkv.weight" → ("attn.qkv", "weight"); "self_attn.in_proj_bias" → ("self_attn.in_proj", "bias").
    """
    if rest.endswith(("in_proj_weight", "in_proj_bias")):
        module, _, param = rest.rpartition("_")
        return module, param
    module, _, param = rest.rpartition(".")
    if param in ("weight", "bias"):
        return module, param
    return rest, ""


def convert_state_dict(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename (and split fused q|k|v projections of) an original GroundingDINO state dict.

    A ``module.`` prefix (DataParallel) is removed. Unknown keys raise ValueError.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in original.items():
        key = key.removeprefix("module.")
        if _DROP.search(key):
            continue
        norm = _STAGE_NORM.match(key)
        if norm:  # the original counts output norms from 0, transformers names stages from 1
            stage, param = int(norm.group(1)) + 1, norm.group(2)
            out[f"model.backbone.conv_encoder.model.hidden_states_norms.stage{stage}.{param}"] = value
            continue
        section = next(
            ((m, repl, table) for pattern, repl, table in _SECTION_RES if (m := pattern.match(key))), None
        )
        if section is None:
            raise ValueError(f"{key!r} is not a GroundingDINO key; is this a groundingdino-py checkpoint?")
        m, repl, table = section
        rest = m.group(m.re.groups)  # the part after the section prefix (the last group)
        prefix = m.expand(repl)
        if table is None:
            out[f"{prefix}.{rest}" if rest else prefix] = value
            continue
        module, param = _split_param(rest)
        if module not in table:
            raise ValueError(f"{key!r}: unknown part {module!r} of {prefix}")
        target = table[module]
        suffix = f".{param}" if param else ""
        if isinstance(target, tuple):  # fused projection: rows are q, then k, then v
            for name, chunk in zip(target, value.chunk(3, dim=0), strict=True):
                out[f"{prefix}.{name}{suffix}"] = chunk.clone()
        else:
            out[f"{prefix}.{target}{suffix}"] = value
    return out


def infer_config(original: dict[str, torch.Tensor], **overrides):
    """A ``GroundingDinoConfig`` matching the original state dict's shapes; ``overrides`` win."""
    from transformers import BertConfig, GroundingDinoConfig, SwinConfig

    sd = {k.removeprefix("module."): v for k, v in original.items()}
    embed = sd["backbone.0.patch_embed.proj.weight"].shape[0]
    stages = sorted({int(k.split(".")[3]) for k in sd if k.startswith("backbone.0.layers.")})
    depths = [
        len({k.split(".")[5] for k in sd if k.startswith(f"backbone.0.layers.{s}.blocks.")}) for s in stages
    ]
    tables = [sd[f"backbone.0.layers.{s}.blocks.0.attn.relative_position_bias_table"] for s in stages]
    window = (math.isqrt(tables[0].shape[0]) + 1) // 2
    outs = sorted(int(m.group(1)) for k in sd if (m := re.match(r"backbone\.0\.norm(\d)\.weight$", k)))
    swin = SwinConfig(
        embed_dim=embed,
        depths=depths,
        num_heads=[t.shape[1] for t in tables],
        window_size=window,
        image_size=32 * window,  # 224 for Swin-T (window 7), 384 for Swin-B (window 12)
        patch_size=sd["backbone.0.patch_embed.proj.weight"].shape[-1],
        mlp_ratio=sd["backbone.0.layers.0.blocks.0.mlp.fc1.weight"].shape[0] / embed,
        out_features=[f"stage{n + 1}" for n in outs],
    )
    words = sd["bert.embeddings.word_embeddings.weight"]
    bert = BertConfig(
        vocab_size=words.shape[0],
        hidden_size=words.shape[1],
        num_hidden_layers=len({k.split(".")[3] for k in sd if k.startswith("bert.encoder.layer.")}),
        num_attention_heads=overrides.pop("text_attention_heads", 12),
        intermediate_size=sd["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=sd["bert.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=sd["bert.embeddings.token_type_embeddings.weight"].shape[0],
    )

    def count(prefix: str) -> int:
        return len({k[len(prefix) :].split(".")[0] for k in sd if k.startswith(prefix)})

    settings = dict(
        backbone_config=swin,
        text_config=bert,
        d_model=sd["feat_map.weight"].shape[0],
        encoder_layers=count("transformer.encoder.layers."),
        decoder_layers=count("transformer.decoder.layers."),
        encoder_ffn_dim=sd["transformer.encoder.layers.0.linear1.weight"].shape[0],
        decoder_ffn_dim=sd["transformer.decoder.layers.0.linear1.weight"].shape[0],
        num_queries=sd["transformer.tgt_embed.weight"].shape[0],
        num_feature_levels=sd["transformer.level_embed"].shape[0],
    )
    settings.update(overrides)
    return GroundingDinoConfig(**settings)


def load_original_gdino(checkpoint: str | Path, **overrides):
    """A ``GroundingDinoForObjectDetection`` (eval) with an original checkpoint's weights."""
    from transformers import GroundingDinoForObjectDetection

    from models.weights import load_state_dict

    original = load_state_dict(checkpoint)
    model = GroundingDinoForObjectDetection(infer_config(original, **overrides))
    missing, unexpected = model.load_state_dict(convert_state_dict(original), strict=False)
    missing = sorted(set(missing) - UNMATCHED)
    if missing or unexpected:
        raise ValueError(
            f"{checkpoint} does not match GroundingDINO's layout: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    return model.eval()


def convert_gdino_checkpoint(
    checkpoint: str | Path, tokenizer: str | Path, out_dir: str | Path | None = None, **overrides
) -> Path:
    """Write an original GroundingDINO checkpoint as a catalogue folder; returns the folder.

    tokenizer: a folder (or cached Hub id) with the BERT tokenizer the checkpoint was trained with —
        ``bert-base-uncased`` for both released checkpoints; it is not inside the .pth.
    out_dir: default ``$RESTORA_WEIGHTS_DIR/grounding-dino-tiny`` (Swin-T) or ``-base`` (Swin-B).
    """
    from transformers import AutoTokenizer, GroundingDinoProcessor
    from transformers.models.grounding_dino.image_processing_pil_grounding_dino import (
        GroundingDinoImageProcessorPil,
    )

    from models.catalog import weights_dir
    from models.weights import hub_offline

    model = load_original_gdino(checkpoint, **overrides)
    if out_dir is None:
        width = model.config.backbone_config.embed_dim
        names = {96: "grounding-dino-tiny", 128: "grounding-dino-base"}
        if width not in names:
            raise ValueError(f"a Swin backbone of width {width} has no catalogue name; pass an output folder")
        out_dir = weights_dir() / names[width]
    out = Path(out_dir)
    text = AutoTokenizer.from_pretrained(str(tokenizer), local_files_only=hub_offline())
    model.save_pretrained(out)
    processor = GroundingDinoProcessor(image_processor=GroundingDinoImageProcessorPil(), tokenizer=text)
    processor.save_pretrained(out)
    return out
