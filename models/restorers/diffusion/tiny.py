"""Tiny random-weight stand-ins for SD-2.1-base and the InstructRestore ControlNet, for tests.

The real diffusers / transformers classes at a few hundred thousand parameters, structured like
the real ones: four UNet levels (three cross-attention down blocks feeding the mask decoder, then a
plain one), two resnet+attention pairs per block (so 12 down + 1 mid control residuals), a 2×
VAE, a 2-layer CLIP text model and a byte-level CLIP tokenizer built offline. Images must be
multiples of 16 px here (2× VAE · 8× UNet); the pipeline pads anything else.

ControlNet zero-convs (and the hint embedding's last conv) are randomised: a fresh ControlNet's
residuals are exactly zero, which would make every masking test pass trivially.

``save_tiny_checkpoints(folder)`` writes a base folder in the SD-2.1-base diffusers layout and an
InstructRestore ControlNet folder in the released layout, under the names the loader looks for:
with ``RESTORA_WEIGHTS_DIR=folder``, ``load_diffusion_restorer()`` and ``restora run --backend
full`` run end to end offline in about a second per image.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

#: SD-2.1-base's scheduler_config.json values (a PNDM config; the pipeline converts it to UniPC).
SD21_SCHEDULER_CONFIG: dict[str, Any] = {
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}

_TINY_UNET = {
    "sample_size": 16,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (32, 32, 64, 64),
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
    "use_linear_projection": True,
}


@dataclass(frozen=True)
class TinyCheckpoints:
    """base: SD-2.1-base-layout folder; controlnet: InstructRestore ControlNet folder."""

    base: Path
    controlnet: Path


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP byte → printable character table (the standard published mapping)."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def tiny_tokenizer() -> Any:
    """A CLIP tokenizer over single bytes (no merges): real CLIP special tokens, 77 positions."""
    from transformers import CLIPTokenizer

    chars = list(_bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[], model_max_length=77)


def _randomise_zero_convs(controlnet: torch.nn.Module, generator: torch.Generator) -> None:
    convs = [
        *controlnet.controlnet_down_blocks,
        controlnet.controlnet_mid_block,
        controlnet.controlnet_cond_embedding.conv_out,
    ]
    for conv in convs:
        for p in conv.parameters():
            p.data.copy_(torch.randn(p.shape, generator=generator) * 0.1)


def tiny_components(seed: int = 0) -> dict[str, Any]:
    """vae, text_encoder, tokenizer, unet, controlnet, scheduler (UniPC) with random weights."""
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel, UniPCMultistepScheduler
    from transformers import CLIPTextConfig, CLIPTextModel

    from models.restorers.diffusion.instructrestore.controlnet import InstructRestoreControlNetModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**_TINY_UNET)
    # The ControlNet starts as a copy of the UNet's encoder (ControlNetModel.from_unet), as in training.
    stock = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))
    controlnet = InstructRestoreControlNetModel.from_architecture(stock.config, mask_decoder_channels=32)
    controlnet.load_state_dict(stock.state_dict(), strict=False)
    _randomise_zero_convs(controlnet, torch.Generator().manual_seed(seed + 1))
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=32,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=1000,
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            projection_dim=32,
            bos_token_id=512,
            eos_token_id=513,
            pad_token_id=513,
        )
    )
    scheduler = UniPCMultistepScheduler.from_config(SD21_SCHEDULER_CONFIG)
    for model in (unet, controlnet, vae, text_encoder):
        model.eval().requires_grad_(False)
    return {
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tiny_tokenizer(),
        "unet": unet,
        "controlnet": controlnet,
        "scheduler": scheduler,
    }


def save_tiny_base(folder: str | Path, parts: dict[str, Any]) -> Path:
    """Write ``parts``' UNet, VAE, text encoder, tokenizer and a PNDM scheduler as
    ``folder/stable-diffusion-2-1-base`` (the SD-2.1-base diffusers layout)."""
    import diffusers
    from diffusers import PNDMScheduler

    from models.restorers.diffusion.families import BASE_DIRNAME

    base = Path(folder) / BASE_DIRNAME
    for name in ("unet", "vae", "text_encoder", "tokenizer"):
        parts[name].save_pretrained(base / name)
    PNDMScheduler.from_config(SD21_SCHEDULER_CONFIG).save_pretrained(base / "scheduler")
    index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": diffusers.__version__,
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "safety_checker": [None, None],
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
    }
    (base / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    return base


def save_tiny_checkpoints(folder: str | Path, seed: int = 0) -> TinyCheckpoints:
    """Write ``folder/stable-diffusion-2-1-base`` and ``folder/instructrestore-controlnet``.

    These are the folder names the loader looks for, so ``RESTORA_WEIGHTS_DIR=folder`` makes
    ``diffusion_status()`` ready and ``restora run --backend full`` use the tiny models.
    """
    from models.restorers.diffusion.families import CONTROLNET_DIRNAME
    from models.restorers.diffusion.instructrestore.controlnet import save_instructrestore_controlnet

    parts = tiny_components(seed)
    base = save_tiny_base(folder, parts)
    controlnet = save_instructrestore_controlnet(parts["controlnet"], Path(folder) / CONTROLNET_DIRNAME)
    return TinyCheckpoints(base=base, controlnet=controlnet)


def tiny_diffbir_controlnet(unet: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """A DiffBIR ControlNet (8 input channels, no pixel hint) copied from ``unet``'s encoder, as
    DiffBIR initialises it, with randomised zero-convs."""
    from diffusers import ControlNetModel

    from models.restorers.diffusion.diffbir.controlnet import DiffBIRControlNetModel

    stock = ControlNetModel.from_unet(unet)
    config = {k: v for k, v in stock.config.items() if not k.startswith("_")}
    model = DiffBIRControlNetModel.from_architecture({**config, "in_channels": 8})
    state = {k: v for k, v in stock.state_dict().items() if not k.startswith("controlnet_cond_embedding.")}
    conv = state["conv_in.weight"]
    state["conv_in.weight"] = torch.cat([conv, conv * 0.5], dim=1)  # the hint half starts as a copy
    model.load_state_dict(state, strict=True)
    generator = torch.Generator().manual_seed(seed + 2)
    for conv in [*model.controlnet_down_blocks, model.controlnet_mid_block]:
        for p in conv.parameters():
            p.data.copy_(torch.randn(p.shape, generator=generator) * 0.1)
    return model.eval().requires_grad_(False)


def save_tiny_diffbir(folder: str | Path, seed: int = 0) -> TinyCheckpoints:
    """Write ``folder/stable-diffusion-2-1-base`` and ``folder/diffbir-v2/v2.pth``.

    ``v2.pth`` holds the tiny ControlNet under DiffBIR's LDM names (a bare state dict, as
    DiffBIR's training script saves it) with a ``config.json`` beside it describing the tiny
    geometry, so the real conversion path runs.
    """
    from models.restorers.diffusion.diffbir.controlnet import to_ldm_state_dict
    from models.restorers.diffusion.families import DIFFBIR_CONTROLNET_FILE, DIFFBIR_DIRNAME

    parts = tiny_components(seed)
    base = save_tiny_base(folder, parts)
    controlnet = tiny_diffbir_controlnet(parts["unet"], seed)
    target = Path(folder) / DIFFBIR_DIRNAME
    target.mkdir(parents=True, exist_ok=True)
    weights = target / DIFFBIR_CONTROLNET_FILE
    torch.save(to_ldm_state_dict(controlnet.state_dict(), controlnet.config), weights)
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in controlnet.config.items()}
    (target / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k[0] != "_"}))
    return TinyCheckpoints(base=base, controlnet=weights)
