"""InstructRestore's ControlNet: a stock diffusers ``ControlNetModel`` plus a ``mask_decoder``.

The released checkpoint is a diffusers folder (``config.json`` + ``diffusion_pytorch_model.*``)
with 360 tensors: the 340 of a stock SD-2.1-base ControlNet (4 latent channels, RGB pixel hint),
same names and shapes, plus 20 ``mask_decoder.*`` ones; its config is the stock one plus
``"mask_decoder_type": "MaskDecoder"``. Stock ``ControlNetModel.from_pretrained`` would silently
drop the decoder, so this module builds the model itself and loads it only after checking every
key and shape (``CheckpointMismatchError`` lists what is missing, unexpected or misshaped).

Weights are read from safetensors, or from ``.bin``/``.pth`` with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
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
from models.restorers.diffusion.instructrestore.mask_decoder import (
    RELEASED_REDUCED_CHANNELS,
    MaskDecoder,
    capture_decoder_features,
    decoder_in_channels,
)

#: Config entries that are ours, not ``ControlNetModel``'s. ``mask_decoder_channels`` is only
#: written for test-sized models; absent means the released 512.
_DECODER_CONFIG_KEYS = ("mask_decoder_type", "mask_decoder_channels")
WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")


class InstructRestoreControlNetModel(ControlNetModel):
    """``ControlNetModel`` with InstructRestore's ``mask_decoder`` submodule.

    Build it with ``from_architecture`` (the inherited constructors know nothing about the decoder).
    ``forward(..., return_mask=True)`` returns ``(down_residuals, mid_residual, mask)`` with the
    decoder's soft mask ``(B, 1, h, w)`` at latent resolution; without it, it behaves exactly like
    ``ControlNetModel.forward``.
    """

    mask_decoder: MaskDecoder

    @classmethod
    def from_architecture(
        cls, config: Mapping[str, Any], mask_decoder_channels: int | None = None
    ) -> InstructRestoreControlNetModel:
        """A randomly initialised model for ``config`` (a ControlNet config, decoder keys allowed).

        Respects an enclosing ``torch.device("meta")`` context (no memory allocated).
        """
        stock = {k: v for k, v in config.items() if k not in _DECODER_CONFIG_KEYS}
        channels = mask_decoder_channels or config.get("mask_decoder_channels") or RELEASED_REDUCED_CHANNELS
        model = cls.from_config(stock)
        model.mask_decoder = MaskDecoder(
            decoder_in_channels(model.config.block_out_channels, model.config.down_block_types), channels
        )
        extra = {"mask_decoder_type": "MaskDecoder"}
        if channels != RELEASED_REDUCED_CHANNELS:
            extra["mask_decoder_channels"] = channels
        model.register_to_config(**extra)
        return model

    def forward(self, *args: Any, return_mask: bool = False, **kwargs: Any) -> Any:
        if not return_mask:
            return super().forward(*args, **kwargs)
        kwargs["return_dict"] = False
        with capture_decoder_features(self) as features:  # fine to coarse
            down, mid = super().forward(*args, **kwargs)
        return down, mid, self.mask_decoder(features[::-1])


def instructrestore_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``config.json`` contents the authors' ``save_pretrained`` writes for ``config``."""
    import diffusers

    out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items() if not k.startswith("_")}
    out.update({"_class_name": "ControlNetModel", "_diffusers_version": diffusers.__version__})
    out["mask_decoder_type"] = "MaskDecoder"
    return dict(sorted(out.items()))


def expected_shapes(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """State-dict key → shape of the model ``config`` describes (built on the meta device)."""
    with torch.device("meta"):
        model = InstructRestoreControlNetModel.from_architecture(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def resolve_checkpoint(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """(weights file, config) for a ControlNet folder, or for a bare weights file.

    A folder needs ``config.json`` and one weights file (``diffusion_pytorch_model.safetensors``
    or ``.bin``, else the only ``*.safetensors``/``*.bin``/``*.pth``/``*.pt`` in it). A bare file
    (the authors also name it ``InstructRestore_sd21.pth``) is read with the SD-2.1-base config,
    or with the ``config.json`` beside it.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"InstructRestore ControlNet not found at {path}")
    folder = path if path.is_dir() else path.parent
    config_file = folder / "config.json"
    if path.is_dir():
        if not config_file.is_file():
            raise FileNotFoundError(f"{path} has no config.json (expected a diffusers ControlNet folder)")
        named = [path / n for n in WEIGHT_NAMES if (path / n).is_file()]
        others = sorted(p for p in path.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file())
        if named:
            weights = named[0]
        elif len(others) == 1:
            weights = others[0]
        else:
            raise FileNotFoundError(
                f"{path} holds {'no' if not others else len(others)} weight files; expected "
                f"{WEIGHT_NAMES[0]} (or exactly one *.safetensors / *.bin / *.pth file)"
            )
    else:
        weights = path
    if config_file.is_file():
        config = json.loads(config_file.read_text())
        if config.get("_class_name", "ControlNetModel") not in (
            "ControlNetModel",
            InstructRestoreControlNetModel.__name__,
        ):
            raise ValueError(
                f"{config_file} describes a {config['_class_name']!r}, expected a ControlNetModel"
            )
    else:
        config = dict(SD21_BASE_CONTROLNET_CONFIG)
    return weights, config


def _read_state_dict(weights: Path, shapes_only: bool) -> dict[str, Any]:
    if weights.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as fh:
            if shapes_only:
                return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
            return {k: fh.get_tensor(k) for k in fh.keys()}
    state = torch.load(weights, map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{weights} does not hold a flat state dict of tensors")
    return {k: tuple(v.shape) for k, v in state.items()} if shapes_only else state


def check_checkpoint(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """Raise CheckpointMismatchError unless ``path``'s tensors match its config exactly.

    Reads only the tensor headers (safetensors) and returns (weights file, config).
    """
    weights, config = resolve_checkpoint(path)
    missing, unexpected, misshaped = compare_shapes(
        _read_state_dict(weights, shapes_only=True), expected_shapes(config)
    )
    if missing or unexpected or misshaped:
        raise CheckpointMismatchError(str(weights), missing, unexpected, misshaped)
    return weights, config


def load_instructrestore_controlnet(
    path: str | Path, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
) -> InstructRestoreControlNetModel:
    """Load a checked InstructRestore ControlNet (folder or bare weights file), in eval mode."""
    weights, config = check_checkpoint(path)
    with torch.device("meta"):
        model = InstructRestoreControlNetModel.from_architecture(config)
    state = {k: v.to(dtype) for k, v in _read_state_dict(weights, shapes_only=False).items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(device).eval().requires_grad_(False)


def save_instructrestore_controlnet(model: InstructRestoreControlNetModel, folder: str | Path) -> Path:
    """Write ``model`` in the released layout: config.json + diffusion_pytorch_model.safetensors."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(instructrestore_config(model.config), indent=2) + "\n")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHT_NAMES[0]), metadata={"format": "pt"})
    return folder
