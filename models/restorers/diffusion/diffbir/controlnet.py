"""DiffBIR v2's IRControlNet as a diffusers ``ControlNetModel``: key conversion and checked loading.

DiffBIR (XPixelGroup, Apache-2.0; weights ``lxq007/DiffBIR-v2``) ships its ControlNet with LDM
names (``input_blocks.1.1.proj_in.weight``, ``zero_convs.3.0.bias``, …; 324 tensors, 363 M
parameters). It is an SD-2.1-base encoder copy whose first conv takes **8** channels, the noisy
latent and the *hint latent* concatenated, and it has **no pixel-hint encoder**: the hint is the
VAE latent (posterior mode × 0.18215) of a stage-1 cleaned image.

Here it becomes ``DiffBIRControlNetModel``: a stock ``ControlNetModel(in_channels=8)`` whose
``controlnet_cond_embedding`` is replaced by ``NoPixelHint`` (no parameters, adds nothing), so its
state dict has exactly the 324 converted keys and a strict load checks every one. The LDM →
diffusers names come from ``ldm_key_rules``, generated from the architecture (levels, resnets
per level, attention levels) rather than written out; the tests compare them with the verified
78-rule map in ``reference/checkpoints/stock_diffusers_sd21_controlnet.json``, and that map's
authors checked all 13 outputs bit-identical to DiffBIR's own ControlNet.

Loading (``load_diffbir_controlnet``): DiffBIR's own loader rules (unwrap a ``state_dict`` entry,
strip a leading ``module.``), ``torch.load(weights_only=True)``, conversion, a strict key/shape
check with a report of anything missing, unexpected or misshaped (``CheckpointMismatchError``,
with hints for the usual wrong files), and a converted safetensors copy cached beside the weights
so the conversion runs once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from diffusers import ControlNetModel

from models.restorers.diffusion.checkpoints import (
    SD21_BASE_CONTROLNET_CONFIG,
    CheckpointMismatchError,
    compare_shapes,
)

logger = logging.getLogger(__name__)

#: DiffBIR's latent scale (SD's VAE scaling factor), applied to the hint latent.
LATENT_SCALE = 0.18215
#: SD-2.1-base's ControlNet config with DiffBIR's 8-channel input.
DIFFBIR_CONTROLNET_CONFIG: dict[str, Any] = {**SD21_BASE_CONTROLNET_CONFIG, "in_channels": 8}
KIND = "a DiffBIR IRControlNet"
CONVERTED_NAME = "diffusion_pytorch_model.safetensors"
_FORMAT = "restora-diffbir-controlnet-v1"  # metadata tag of our converted files

_RESNET_NAMES = {
    "in_layers.0.": "norm1.",
    "in_layers.2.": "conv1.",
    "emb_layers.1.": "time_emb_proj.",
    "out_layers.0.": "norm2.",
    "out_layers.3.": "conv2.",
    "skip_connection.": "conv_shortcut.",
}


class NoPixelHint(torch.nn.Module):
    """Stands in for ``controlnet_cond_embedding``: DiffBIR has no pixel hint, so it adds zero."""

    def forward(self, conditioning: torch.Tensor) -> torch.Tensor:
        return conditioning.new_zeros(())


def ldm_key_rules(config: Mapping[str, Any] = DIFFBIR_CONTROLNET_CONFIG) -> list[tuple[str, str]]:
    """(LDM prefix, diffusers prefix) rules for a ControlNet of ``config``'s geometry.

    LDM numbers the encoder's blocks flat: ``input_blocks.0`` is conv_in, then per level ``i``
    ``layers_per_block`` (resnet ``.0``, attention ``.1`` on cross-attention levels) blocks, then a
    downsampler (``.0.op``) on every level but the last. Each rule ends with ``.``, so
    ``input_blocks.1.`` never matches ``input_blocks.10.``.
    """
    layers = config["layers_per_block"]
    levels = len(config["block_out_channels"])
    rules = [("time_embed.0.", "time_embedding.linear_1."), ("time_embed.2.", "time_embedding.linear_2."),
             ("input_blocks.0.0.", "conv_in.")]  # fmt: skip
    block = 1
    for i, kind in enumerate(config["down_block_types"][:levels]):
        for j in range(layers):
            for ldm, ours in _RESNET_NAMES.items():
                if ldm != "skip_connection." or (j == 0 and i > 0 and _changes_width(config, i)):
                    rules.append((f"input_blocks.{block}.0.{ldm}", f"down_blocks.{i}.resnets.{j}.{ours}"))
            if kind.startswith("CrossAttn"):
                rules.append((f"input_blocks.{block}.1.", f"down_blocks.{i}.attentions.{j}."))
            block += 1
        if i < levels - 1:
            rules.append((f"input_blocks.{block}.0.op.", f"down_blocks.{i}.downsamplers.0.conv."))
            block += 1
    for ldm_index, resnet in ((0, 0), (2, 1)):
        for ldm, ours in _RESNET_NAMES.items():
            if ldm != "skip_connection.":
                rules.append((f"middle_block.{ldm_index}.{ldm}", f"mid_block.resnets.{resnet}.{ours}"))
    rules.append(("middle_block.1.", "mid_block.attentions.0."))
    rules += [(f"zero_convs.{k}.0.", f"controlnet_down_blocks.{k}.") for k in range(block)]
    rules.append(("middle_block_out.0.", "controlnet_mid_block."))
    return rules


def _changes_width(config: Mapping[str, Any], level: int) -> bool:
    channels = config["block_out_channels"]
    return channels[level] != channels[level - 1]


def unwrap_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """DiffBIR's loader rules: use a ``state_dict`` entry if present; if the first key starts with
    ``module``, drop ``module.`` from every key."""
    if isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    keys = list(state)
    if keys and keys[0].startswith("module"):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return dict(state)


def _hints(unmapped: list[str], state: Mapping[str, Any]) -> list[str]:
    hints = []
    if any(k.startswith("input_hint_block.") for k in unmapped):
        hints.append("it has input_hint_block.*: a standard LDM ControlNet with a pixel hint, not DiffBIR's")
    if any(k.startswith("model.diffusion_model.") for k in unmapped):
        hints.append("it has model.diffusion_model.*: a Stable Diffusion checkpoint, not a ControlNet")
    if any(k.startswith(("control_model.", "controlnet.")) for k in unmapped):
        hints.append(
            "its keys carry a control_model./controlnet. prefix: save only the ControlNet's state dict"
        )
    if any(k.startswith(("down_blocks.", "controlnet_down_blocks.")) for k in state):
        hints.append("it already has diffusers names: pass its folder (config.json + safetensors) instead")
    if any(k.startswith("mask_decoder.") for k in state):
        hints.append("it has mask_decoder.*: an InstructRestore ControlNet (use that family's folder)")
    conv = state.get("input_blocks.0.0.weight")
    if conv is not None and tuple(conv.shape)[1:2] != (8,):
        hints.append(
            f"its first conv takes {tuple(conv.shape)[1]} channels; DiffBIR's takes 8 (latent + hint)"
        )
    return hints


def map_key(key: str, rules: list[tuple[str, str]]) -> str | None:
    """The diffusers name of LDM ``key`` under ``rules`` (None unless exactly one rule matches)."""
    matches = [(ldm, ours) for ldm, ours in rules if key.startswith(ldm)]
    if len(matches) != 1:
        return None
    ldm, ours = matches[0]
    return ours + key[len(ldm) :]


def convert_ldm_state_dict(
    state: Mapping[str, Any],
    config: Mapping[str, Any] = DIFFBIR_CONTROLNET_CONFIG,
    source: str = "checkpoint",
) -> dict[str, Any]:
    """LDM-named DiffBIR ControlNet tensors → diffusers names, checked against ``config``'s model.

    Every key must match exactly one rule and every converted key and shape must be the model's;
    otherwise ``CheckpointMismatchError`` lists what is missing, unexpected (incl. keys no rule
    maps) and misshaped, with hints about what the file seems to be.
    """
    state = unwrap_state_dict(state)
    rules = ldm_key_rules(config)
    converted: dict[str, Any] = {}
    unmapped: list[str] = []
    for key, value in state.items():
        name = map_key(key, rules)
        if name is None:
            unmapped.append(key)
        else:
            converted[name] = value
    expected = expected_shapes(config)
    missing, unexpected, misshaped = compare_shapes(
        {k: tuple(v.shape) for k, v in converted.items()}, expected
    )
    if unmapped or missing or unexpected or misshaped:
        raise CheckpointMismatchError(
            source,
            missing,
            sorted(unmapped + unexpected),
            misshaped,
            kind=KIND,
            hints=_hints(unmapped, state),
        )
    return converted


def to_ldm_state_dict(
    model_state: Mapping[str, Any], config: Mapping[str, Any] = DIFFBIR_CONTROLNET_CONFIG
) -> dict:
    """The inverse of ``convert_ldm_state_dict`` (diffusers names → DiffBIR's); for tests and tools."""
    rules = [(ours, ldm) for ldm, ours in ldm_key_rules(config)]
    out = {}
    for key, value in model_state.items():
        (ours, ldm), *_ = [(o, ld) for o, ld in rules if key.startswith(o)]
        out[ldm + key[len(ours) :]] = value
    return out


class DiffBIRControlNetModel(ControlNetModel):
    """``ControlNetModel(in_channels=8)`` without the pixel-hint path (see the module docstring).

    ``control(latents, hint_latent, t, embeds)`` runs it the DiffBIR way and returns the 12 down
    residuals and the mid residual.
    """

    @classmethod
    def from_architecture(
        cls, config: Mapping[str, Any] = DIFFBIR_CONTROLNET_CONFIG
    ) -> DiffBIRControlNetModel:
        """A randomly initialised model (respects an enclosing ``torch.device("meta")``)."""
        stock = {k: v for k, v in config.items() if not k.startswith("_")}
        if stock.get("in_channels") != 8:
            raise ValueError(
                f"DiffBIR's ControlNet takes 8 input channels, the config says {stock.get('in_channels')}"
            )
        model = cls.from_config(stock)
        model.controlnet_cond_embedding = NoPixelHint()
        return model

    def control(
        self,
        latents: torch.Tensor,
        hint_latent: torch.Tensor,
        timestep: torch.Tensor | float,
        encoder_hidden_states: torch.Tensor,
        conditioning_scale: float = 1.0,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(down residuals, mid residual) for ``cat([latents, hint_latent])`` (both (B, 4, h, w))."""
        sample = torch.cat([latents, hint_latent.to(latents.dtype)], dim=1)
        down, mid = self(
            sample, timestep, encoder_hidden_states=encoder_hidden_states, controlnet_cond=hint_latent,
            conditioning_scale=conditioning_scale, return_dict=False,
        )  # fmt: skip
        return list(down), mid


def expected_shapes(config: Mapping[str, Any] = DIFFBIR_CONTROLNET_CONFIG) -> dict[str, tuple[int, ...]]:
    """diffusers key → shape of ``DiffBIRControlNetModel`` for ``config`` (built on the meta device)."""
    with torch.device("meta"):
        model = DiffBIRControlNetModel.from_architecture(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- reading, caching, loading


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The raw tensors of a ``.pth/.pt/.ckpt/.bin`` (``weights_only=True``) or ``.safetensors``."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if path.suffix not in (".pth", ".pt", ".ckpt", ".bin"):
        raise ValueError(f"{path}: expected a .pth, .pt, .ckpt, .bin or .safetensors DiffBIR ControlNet")
    import pickle

    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (non-zip) format cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path} needs arbitrary code to unpickle, which Restora refuses (weights_only=True): {err}"
        ) from err
    if not isinstance(state, Mapping):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict")
    return dict(state)


def converted_cache_dir(source: Path, cache_root: Path | None = None) -> Path:
    """Where the converted copy of ``source`` lives: keyed by its resolved path, size and mtime,
    so a replaced file is converted again."""
    from models.catalog import weights_dir

    st = source.stat()
    key = hashlib.sha256(f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    root = cache_root if cache_root is not None else weights_dir() / "converted"
    return root / f"diffbir-controlnet-{key}"


def is_converted_folder(folder: Path) -> bool:
    """True for a folder written by ``save_converted`` (config.json says DiffBIR)."""
    config = folder / "config.json"
    if not (config.is_file() and (folder / CONVERTED_NAME).is_file()):
        return False
    try:
        return json.loads(config.read_text()).get("restora_format") == _FORMAT
    except (OSError, ValueError):
        return False


def save_converted(
    state: Mapping[str, torch.Tensor], folder: Path, config: Mapping[str, Any], source: str
) -> Path:
    """Write converted tensors + config atomically (a half-written cache is never picked up)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (CONVERTED_NAME + ".tmp")
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    save_file(tensors, str(tmp), metadata={"format": "pt", "source": source, "restora_format": _FORMAT})
    os.replace(tmp, folder / CONVERTED_NAME)
    out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items() if not k.startswith("_")}
    (folder / "config.json").write_text(
        json.dumps({**out, "restora_format": _FORMAT, "source": source}, indent=2)
    )
    return folder


def load_diffbir_controlnet(
    path: str | Path,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    cache_root: Path | None = None,
    config: Mapping[str, Any] = DIFFBIR_CONTROLNET_CONFIG,
) -> DiffBIRControlNetModel:
    """Load DiffBIR's ControlNet from its LDM-named file (``v2.pth``) or from a converted folder.

    The first load of a file converts it and caches the result under ``cache_root`` (default
    ``<weights dir>/converted/``); later loads read the cached safetensors. Raises
    FileNotFoundError (with how to get the file) or CheckpointMismatchError.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"DiffBIR's ControlNet is not at {path}: run `restora models download diffbir-v2` (or put "
            "v2.pth from huggingface.co/lxq007/DiffBIR-v2 there)"
        )
    if path.is_dir():
        if not is_converted_folder(path):
            raise FileNotFoundError(
                f"{path} is not a converted DiffBIR ControlNet folder (no Restora config.json)"
            )
        folder = path
        cfg = {k: v for k, v in json.loads((folder / "config.json").read_text()).items()
               if k not in ("restora_format", "source")}  # fmt: skip
    else:
        folder = converted_cache_dir(path, cache_root)
        cfg = dict(config)
        beside = path.parent / "config.json"
        if beside.is_file():  # a non-standard geometry (the tests' tiny models) describes itself
            cfg = {k: v for k, v in json.loads(beside.read_text()).items() if not k.startswith("_")}
    state = None
    if path.is_file() and not is_converted_folder(folder):
        logger.info("converting %s to diffusers names (once; cached in %s)", path, folder)
        state = convert_ldm_state_dict(read_checkpoint(path), cfg, source=str(path))  # checked
        save_converted(state, folder, cfg, str(path))
    if state is None:  # a cached or given converted folder: check it as strictly
        from safetensors.torch import load_file

        state = load_file(str(folder / CONVERTED_NAME))
        missing, unexpected, misshaped = compare_shapes(
            {k: tuple(v.shape) for k, v in state.items()}, expected_shapes(cfg)
        )
        if missing or unexpected or misshaped:
            where = str(folder / CONVERTED_NAME)
            raise CheckpointMismatchError(where, missing, unexpected, misshaped, kind=KIND)
    with torch.device("meta"):
        model = DiffBIRControlNetModel.from_architecture(cfg)
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True, assign=True)
    return model.to(device).eval().requires_grad_(False)
