"""Which models Restora knows, and where their weights live.

The ``offline`` backend needs nothing downloaded: the rule parser, the offline grounder and the
offline restorer ship inside the package. The ``full`` backend's stages (GroundingDINO + SAM
grounding; the region-modulated diffusion restorer) need downloaded weights. ``auto`` picks
``full`` for each stage whose weights are present, else ``offline``.

``MODELS`` is the catalogue of downloadable models (a plain dict, name → ModelSpec). Weights are
fetched and found by ``models.weights``; ``restora models list | download | verify | where`` is the
command line over both. Whether each full stage can run here is ``models.readiness``, which sits
above this module, ``models.weights`` and the loaders (this module imports none of them).

Nothing heavy is imported here: no torch, no transformers, no huggingface_hub at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Where downloaded weights live; override with RESTORA_WEIGHTS_DIR.
DEFAULT_WEIGHTS_DIR = Path.home() / ".cache" / "restora" / "weights"

#: What ``download`` fetches from a model repository: configs, tokenizers and safetensors only
#: (never pickled ``pytorch_model.bin`` / ``*.pth`` / TF / Flax weights).
TRANSFORMERS_FILES: tuple[str, ...] = ("*.json", "*.safetensors", "*.txt", "LICENSE*")


@dataclass(frozen=True)
class ModelSpec:
    """One downloadable model.

    hf_id: the Hugging Face Hub repository.
    kind: "detector" (text → boxes), "segmenter" (boxes/clicks → masks) or
        "text-segmenter" (text → masks).
    size_mb: approximate download size of the selected files, in megabytes.
    licence: the weights' licence as the model card states it.
    purpose: what Restora uses it for (shown by ``restora models list``).
    model_types: accepted ``config.json`` ``model_type`` values (used to recognise a folder).
    allow_patterns: which repository files ``download`` fetches.
    gated: the Hub asks users to accept the licence (and log in) before downloading.
    """

    hf_id: str
    kind: str
    size_mb: int
    licence: str
    purpose: str
    model_types: tuple[str, ...]
    allow_patterns: tuple[str, ...] = TRANSFORMERS_FILES
    gated: bool = False


MODELS: dict[str, ModelSpec] = {
    "grounding-dino-tiny": ModelSpec(
        hf_id="IDEA-Research/grounding-dino-tiny",
        kind="detector",
        size_mb=690,  # 172 M parameters, fp32
        licence="Apache-2.0",
        purpose="GroundingDINO Swin-T: finds boxes for a text phrase (default full-backend detector)",
        model_types=("grounding-dino",),
    ),
    "grounding-dino-base": ModelSpec(
        hf_id="IDEA-Research/grounding-dino-base",
        kind="detector",
        size_mb=935,  # 233 M parameters, fp32
        licence="Apache-2.0",
        purpose="GroundingDINO Swin-B: more accurate text → boxes, slower",
        model_types=("grounding-dino",),
    ),
    "sam-vit-base": ModelSpec(
        hf_id="facebook/sam-vit-base",
        kind="segmenter",
        size_mb=375,  # 94 M parameters
        licence="Apache-2.0",
        purpose="Segment Anything ViT-B: boxes and clicks → masks (default full-backend segmenter)",
        model_types=("sam",),
    ),
    "sam-vit-large": ModelSpec(
        hf_id="facebook/sam-vit-large",
        kind="segmenter",
        size_mb=1250,  # 312 M parameters
        licence="Apache-2.0",
        purpose="Segment Anything ViT-L: finer masks than ViT-B, about 2.5x slower",
        model_types=("sam",),
    ),
    "sam-vit-huge": ModelSpec(
        hf_id="facebook/sam-vit-huge",
        kind="segmenter",
        size_mb=2560,  # 641 M parameters
        licence="Apache-2.0",
        purpose="Segment Anything ViT-H: the original paper's best masks; needs a GPU in practice",
        model_types=("sam",),
    ),
    "sam3": ModelSpec(
        hf_id="facebook/sam3",
        kind="text-segmenter",
        size_mb=3450,  # 848 M parameters
        licence="SAM License",  # Meta's custom licence; accept it on the model page first
        purpose="SAM 3: text prompt → instance masks in one model (alternative grounding backend)",
        model_types=("sam3", "sam3_video"),
        gated=True,
    ),
}


@dataclass(frozen=True)
class Bundle:
    """A set of files from several Hub repositories that one full-backend family needs
    (fetched by ``restora models download NAME``; found by its loader's status check)."""

    sources: str
    size_mb: int
    licence: str
    purpose: str


#: Diffusion-restorer families downloadable in one command (models.restorers.diffusion.families).
BUNDLES: dict[str, Bundle] = {
    "diffbir-v2": Bundle(
        sources="lxq007/DiffBIR-v2 (v2.pth, realesrgan_s4_swinir_100k.pth) + "
        "stabilityai/stable-diffusion-2-1-base",
        size_mb=4200,  # ControlNet 1,450 + SwinIR 64 + SD-2.1-base unet/vae/text encoder 2,600 (fp32)
        licence="Apache-2.0 (DiffBIR) + CreativeML Open RAIL++-M (SD-2.1-base)",
        purpose="DiffBIR v2: the full backend's diffusion restorer (region-modulated, tiled for big photos)",
    ),
}

#: The full grounding backend's default models; RESTORA_DETECTOR / RESTORA_SEGMENTER override them.
DEFAULT_DETECTOR = "grounding-dino-tiny"
DEFAULT_SEGMENTER = "sam-vit-base"


def weights_dir() -> Path:
    return Path(os.environ.get("RESTORA_WEIGHTS_DIR", DEFAULT_WEIGHTS_DIR)).expanduser()


def get_spec(name: str) -> ModelSpec:
    """The catalogue entry for ``name``; an unknown name raises ValueError listing the valid ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; known models: {', '.join(MODELS)} (see `restora models list`)"
        ) from None


def grounding_models() -> tuple[str, str]:
    """(detector, segmenter) catalogue names the full grounding backend uses."""
    detector = os.environ.get("RESTORA_DETECTOR", DEFAULT_DETECTOR)
    segmenter = os.environ.get("RESTORA_SEGMENTER", DEFAULT_SEGMENTER)
    for name, kind, var in (
        (detector, "detector", "RESTORA_DETECTOR"),
        (segmenter, "segmenter", "RESTORA_SEGMENTER"),
    ):
        spec = get_spec(name)
        if spec.kind != kind:
            valid = [n for n, s in MODELS.items() if s.kind == kind]
            raise ValueError(f"{var}={name!r} is a {spec.kind}, not a {kind}; use one of {valid}")
    return detector, segmenter
