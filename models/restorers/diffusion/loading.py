"""Load the diffusion restorer: devices and precision, SD-2.1-base, each family's pipeline and
the ready ``Restorer`` (``load_diffusion_restorer``).

Which family is installed and where its weights are is ``families`` (file reads only; the README's
model-setup text is its docstring). torch, diffusers and transformers are imported inside the
functions here.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.restorers.diffusion.families import (
    BASE_ENV,
    choose_family,
    controlnet_problems,
    diffbir_files,
    diffbir_problems,
    resolve_base,
    resolve_controlnet,
    resolve_diffbir,
)
from models.weights import WeightsError

if TYPE_CHECKING:
    import torch

    from models.restorers.diffusion.diffbir.pipeline import DiffBIRPipeline
    from models.restorers.diffusion.diffbir.restorer import DiffBIRRestorer
    from models.restorers.diffusion.instructrestore.pipeline import InstructRestorePipeline
    from models.restorers.diffusion.instructrestore.restorer import DiffusionRestorer
    from models.restorers.diffusion.settings import DiffusionSettings

logger = logging.getLogger(__name__)

DTYPES = {
    "fp32": "float32",
    "float32": "float32",
    "fp16": "float16",
    "float16": "float16",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
}


# ---------------------------------------------------------------- devices and precision


def select_device(device: str | None = None) -> str:
    """None / "auto": CUDA, else MPS, else CPU. A requested device that is absent raises."""
    import torch

    if device in (None, "auto"):
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    kind = str(device).split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available here")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} was requested but Apple MPS is not available here")
    if kind not in ("cuda", "mps", "cpu"):
        raise ValueError(f"unknown device {device!r}; expected auto, cuda, cuda:N, mps or cpu")
    return str(device)


def select_dtype(device: str, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """None: bf16 on CUDA where supported, else fp16; fp16 on MPS; fp32 on CPU."""
    import torch

    kind = device.split(":")[0]
    if dtype is None:
        if kind == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if kind == "mps" else torch.float32
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(DTYPES)}")
        dtype = getattr(torch, DTYPES[dtype])
    if kind == "cpu" and dtype == torch.float16:
        raise ValueError("fp16 is not supported on CPU (many kernels are missing); use fp32 or bf16")
    return dtype


# ---------------------------------------------------------------- loading


def _load_base(base: str | Path | None, torch_dtype: torch.dtype) -> dict[str, Any]:
    """SD-2.1-base's unet, vae, text_encoder, tokenizer and scheduler config (epsilon model only)."""
    try:
        from diffusers import AutoencoderKL, UNet2DConditionModel, UniPCMultistepScheduler
        from transformers import CLIPTextModel, CLIPTokenizer
    except ImportError as err:
        raise ImportError(
            f"the diffusion restorer needs diffusers and transformers ({err}); install with pip install -e ."
        ) from err

    source = resolve_base(base)
    try:
        parts = {
            "unet": UNet2DConditionModel.from_pretrained(source, subfolder="unet", torch_dtype=torch_dtype),
            "vae": AutoencoderKL.from_pretrained(source, subfolder="vae", torch_dtype=torch_dtype),
            "text_encoder": CLIPTextModel.from_pretrained(
                source, subfolder="text_encoder", dtype=torch_dtype
            ),
            "tokenizer": CLIPTokenizer.from_pretrained(source, subfolder="tokenizer"),
            "scheduler_config": UniPCMultistepScheduler.load_config(source, subfolder="scheduler"),
        }
    except OSError as err:
        raise WeightsError(
            f"could not load SD-2.1-base from {source} ({err}). Download it as the README's model-setup "
            f"section says, or set {BASE_ENV} to a local diffusers folder."
        ) from err
    prediction = parts["scheduler_config"].get("prediction_type", "epsilon")
    if prediction != "epsilon":
        raise ValueError(
            f"{source} predicts {prediction!r}; both diffusion families need the epsilon-prediction "
            "SD-2.1-base (stabilityai/stable-diffusion-2-1-base), not the 768-px v model"
        )
    return parts


def _device_and_dtype(device: str | None, dtype, offload: bool) -> tuple[str, torch.dtype]:
    """select_device / select_dtype, refusing CPU offload on a CPU."""
    device = select_device(device)
    if offload and device.split(":")[0] == "cpu":
        raise ValueError("offload=True moves models between CPU and an accelerator; it needs CUDA or MPS")
    return device, select_dtype(device, dtype)


def _place(pipe, device: str, offload: bool, torch_dtype) -> None:
    if offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    processor = type(next(iter(pipe.unet.attn_processors.values()))).__name__
    logger.info(
        "%s loaded on %s (%s, attention %s%s)", type(pipe).__name__, device,
        str(torch_dtype).removeprefix("torch."), processor, ", model CPU offload" if offload else "",
    )  # fmt: skip


def load_pipeline(
    base: str | Path | None = None,
    controlnet: str | Path | None = None,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    offload: bool = False,
) -> InstructRestorePipeline:
    """The InstructRestore pipeline on ``device`` in ``dtype`` (see select_device / select_dtype).

    offload: accelerate's model CPU offload (one model on the GPU at a time); needs CUDA or MPS.
    Raises WeightsError when weights are missing, CheckpointMismatchError when the ControlNet's
    tensors differ from its architecture, ValueError when the base is not SD-2.1-base-compatible.
    """
    device, torch_dtype = _device_and_dtype(device, dtype, offload)
    cn_path = resolve_controlnet(controlnet)
    if problems := controlnet_problems(cn_path):
        raise WeightsError(
            "InstructRestore ControlNet: " + "; ".join(problems) + " (see families.py's setup notes)"
        )
    parts = _load_base(base, torch_dtype)
    from diffusers import UniPCMultistepScheduler

    from models.restorers.diffusion.instructrestore.controlnet import load_instructrestore_controlnet
    from models.restorers.diffusion.instructrestore.pipeline import InstructRestorePipeline

    scheduler = UniPCMultistepScheduler.from_config(parts.pop("scheduler_config"))
    cn = load_instructrestore_controlnet(cn_path, dtype=torch_dtype)
    pipe = InstructRestorePipeline(controlnet=cn, scheduler=scheduler, **parts)
    _place(pipe, device, offload, torch_dtype)
    return pipe


def load_diffbir_pipeline(
    base: str | Path | None = None,
    diffbir: str | Path | None = None,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    offload: bool = False,
) -> DiffBIRPipeline:
    """The DiffBIR v2 pipeline (spaced DDPM scheduler); arguments and errors as ``load_pipeline``.

    The first call for a ``v2.pth`` converts it to diffusers names and caches the result.
    """
    device, torch_dtype = _device_and_dtype(device, dtype, offload)
    if problems := diffbir_problems(diffbir):
        raise WeightsError("DiffBIR v2: " + "; ".join(problems))
    parts = _load_base(base, torch_dtype)
    from models.restorers.diffusion.diffbir.controlnet import load_diffbir_controlnet
    from models.restorers.diffusion.diffbir.pipeline import DiffBIRPipeline, make_scheduler

    scheduler = make_scheduler("spaced", parts.pop("scheduler_config"))
    cn = load_diffbir_controlnet(diffbir_files(diffbir)[0], dtype=torch_dtype)
    pipe = DiffBIRPipeline(controlnet=cn, scheduler=scheduler, **parts)
    _place(pipe, device, offload, torch_dtype)
    return pipe


def load_diffusion_restorer(
    base: str | Path | None = None,
    controlnet: str | Path | None = None,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    offload: bool = False,
    settings: DiffusionSettings | None = None,
    family: str | None = None,
    diffbir: str | Path | None = None,
) -> DiffusionRestorer | DiffBIRRestorer:
    """A ready restorer of the installed family (``choose_family``). Arguments as load_pipeline;
    settings: steps, guidance, seed, … (None fields take the family's published recipe).

    The pipeline is loaded once per process for the same weights, device and dtype (the UI's
    later turns and a batch's later images reuse it); the settings are per call.
    """
    from models.restorers.diffusion.instructrestore.restorer import DiffusionRestorer
    from models.restorers.diffusion.settings import DiffusionSettings

    settings = settings or DiffusionSettings()
    chosen, problems = choose_family(family, controlnet, diffbir)
    if chosen is None:
        raise WeightsError(
            "no diffusion family is installed: " + " or ".join("; ".join(p) for p in problems.values())
        )
    base_dir = str(resolve_base(base))
    if chosen == "diffbir-v2":
        from models.restorers.diffusion.diffbir.restorer import DiffBIRRestorer

        pipe = _cached_pipeline("diffbir-v2", base_dir, str(resolve_diffbir(diffbir)), device, dtype, offload)
        return DiffBIRRestorer(pipe, settings, swinir=diffbir_files(diffbir)[1])
    pipe = _cached_pipeline(
        "instructrestore", base_dir, str(resolve_controlnet(controlnet)), device, dtype, offload
    )
    return DiffusionRestorer(pipe, settings)


@functools.lru_cache(maxsize=1)
def _cached_pipeline(
    family: str,
    base: str,
    controlnet: str,
    device: str | None,
    dtype: str | torch.dtype | None,
    offload: bool,
) -> InstructRestorePipeline | DiffBIRPipeline:
    if family == "diffbir-v2":
        return load_diffbir_pipeline(base, controlnet, device, dtype, offload)
    return load_pipeline(base, controlnet, device, dtype, offload)
