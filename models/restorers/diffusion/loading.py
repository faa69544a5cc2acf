"""Find and load the diffusion restorer's weights: SD-2.1-base and the InstructRestore ControlNet.

Model setup (for the README)
----------------------------

The ``full`` restorer needs two sets of weights. Restora never downloads the second one for you
and does not redistribute either.

1. **Stable Diffusion 2.1-base** (``stabilityai/stable-diffusion-2-1-base``, licence CreativeML
   Open RAIL++-M: read and accept its use restrictions on the model page). Only the diffusers
   subfolders are used: ``unet``, ``vae``, ``text_encoder``, ``tokenizer``, ``scheduler``
   (about 2.6 GB as fp32 safetensors)::

       hf download stabilityai/stable-diffusion-2-1-base \\
           --include "model_index.json" "scheduler/*" "tokenizer/*" "text_encoder/config.json" \\
                     "text_encoder/model.safetensors" "unet/config.json" \\
                     "unet/diffusion_pytorch_model.safetensors" "vae/config.json" \\
                     "vae/diffusion_pytorch_model.safetensors" \\
           --local-dir ~/.cache/restora/weights/stable-diffusion-2-1-base

   (If a listed file name differs in the repository, drop ``--include`` to fetch everything.)
   A copy already in the Hugging Face cache (a plain ``hf download
   stabilityai/stable-diffusion-2-1-base``) is found too. Any other diffusers-format folder of
   SD-2.1-base works: set ``RESTORA_SD21_BASE=/path/to/folder`` (or a Hub id). The 768-px
   v-prediction SD 2.1 is refused: InstructRestore was trained on the 512-px epsilon model.

2. **The InstructRestore ControlNet** (ControlNet + mask decoder, ~1.5 GB fp32). Its authors
   distribute it outside the Hugging Face Hub, from the Google Drive folder linked in
   https://github.com/shuaizhengliu/InstructRestore (folder id
   ``1oAGr-k5Rvg7hRh6sDa1gU0kFl5jbSbim``). **Licence:** that repository has no LICENSE file, so
   no licence is granted for the code or the weights; Restora does not redistribute them or fetch
   them, and whether you may use them is between you and the authors. Download it yourself and
   place it so that this folder holds ``config.json`` and ``diffusion_pytorch_model.safetensors``
   (or ``.bin``)::

       ~/.cache/restora/weights/instructrestore-controlnet/

   If the download is a single weights file (the authors' README calls it
   ``InstructRestore_sd21.pth``), put that file in the folder instead; the SD-2.1-base ControlNet
   config is then assumed. Elsewhere on disk: ``RESTORA_INSTRUCTRESTORE=/path/to/folder-or-file``.
   Restora checks all 360 tensors (names and shapes) before using it and refuses a folder that
   differs, listing the missing, unexpected or misshaped keys.

``RESTORA_WEIGHTS_DIR`` moves the default folder (``~/.cache/restora/weights``). The restorer runs
on CUDA (bf16 where supported, else fp16; PyTorch SDPA attention, no xformers needed), Apple MPS
(fp16) or CPU (fp32, minutes per image: the expected time is logged after the first step).
``offload=True`` keeps only the running model on a small GPU (accelerate's model CPU offload).

Nothing heavy is imported at module import: ``diffusion_status`` reads only files.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.catalog import weights_dir
from models.weights import WeightsError, hub_cache_dir

if TYPE_CHECKING:
    import torch

    from models.restorers.diffusion.pipeline import InstructRestorePipeline
    from models.restorers.diffusion.restorer import DiffusionRestorer, DiffusionSettings

logger = logging.getLogger(__name__)

BASE_MODEL_ID = "stabilityai/stable-diffusion-2-1-base"
BASE_DIRNAME = "stable-diffusion-2-1-base"
CONTROLNET_DIRNAME = "instructrestore-controlnet"
BASE_ENV = "RESTORA_SD21_BASE"
CONTROLNET_ENV = "RESTORA_INSTRUCTRESTORE"
DTYPES = {
    "fp32": "float32",
    "float32": "float32",
    "fp16": "float16",
    "float16": "float16",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
}


# ---------------------------------------------------------------- finding the weights (no torch)


def _hub_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot of ``repo_id``'s main revision, read from the cache layout only."""
    repo = hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    ref = repo / "refs" / "main"
    if ref.is_file():
        snap = repo / "snapshots" / ref.read_text().strip()
        return snap if snap.is_dir() else None
    snaps = sorted((repo / "snapshots").glob("*")) if (repo / "snapshots").is_dir() else []
    return snaps[-1] if snaps else None


def resolve_base(base: str | Path | None = None) -> str | Path:
    """Where SD-2.1-base comes from: a folder Path, or a Hub id (str) to load from the cache.

    Order: ``base``, $RESTORA_SD21_BASE, the weights folder's ``stable-diffusion-2-1-base``, the
    Hub cache copy of ``stabilityai/stable-diffusion-2-1-base``. A value that is an existing folder
    is a folder; otherwise it is a Hub id.
    """
    for value in (base, os.environ.get(BASE_ENV)):
        if value:
            path = Path(value).expanduser()
            if path.exists():
                return path
            if isinstance(value, Path) or str(value).startswith((".", "/", "~")):
                return path  # meant as a folder: reported missing rather than tried as a Hub id
            return _hub_snapshot(str(value)) or str(value)
    local = weights_dir() / BASE_DIRNAME
    if local.is_dir():
        return local
    return _hub_snapshot(BASE_MODEL_ID) or BASE_MODEL_ID


def resolve_controlnet(controlnet: str | Path | None = None) -> Path:
    """The InstructRestore ControlNet folder (or weights file): ``controlnet``,
    $RESTORA_INSTRUCTRESTORE, else the weights folder's ``instructrestore-controlnet``."""
    value = controlnet or os.environ.get(CONTROLNET_ENV)
    return Path(value).expanduser() if value else weights_dir() / CONTROLNET_DIRNAME


def base_problems(folder: Path) -> list[str]:
    """What is missing from an SD-2.1-base diffusers folder (file checks only)."""
    if not folder.is_dir():
        return [f"{folder} does not exist"]
    checks = {
        "unet": ("config.json", "diffusion_pytorch_model*"),
        "vae": ("config.json", "diffusion_pytorch_model*"),
        "text_encoder": ("config.json", "model*.safetensors"),
        "scheduler": ("scheduler_config.json",),
    }
    problems = [
        f"{folder / sub} has no {pattern}"
        for sub, patterns in checks.items()
        for pattern in patterns
        if not any((folder / sub).glob(pattern))
    ]
    if not (
        (folder / "tokenizer" / "tokenizer.json").is_file() or (folder / "tokenizer" / "vocab.json").is_file()
    ):
        problems.append(f"{folder / 'tokenizer'} has no tokenizer.json or vocab.json")
    return problems


def controlnet_problems(path: Path) -> list[str]:
    """What is wrong with an InstructRestore ControlNet folder, from its files and headers only."""
    if not path.exists():
        return [
            f"the InstructRestore ControlNet is not at {path} (the authors distribute it; download it "
            f"yourself, or set ${CONTROLNET_ENV} if it is elsewhere)"
        ]
    files = (
        [path]
        if path.is_file()
        else sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".pth", ".pt"))
    )
    if not files:
        return [f"{path} holds no weights file (diffusion_pytorch_model.safetensors / .bin / .pth)"]
    if path.is_dir() and not (path / "config.json").is_file() and len(files) != 1:
        return [f"{path} has no config.json"]
    tensors = [f for f in files if f.suffix == ".safetensors"]
    if tensors:
        try:
            with tensors[0].open("rb") as fh:
                (size,) = struct.unpack("<Q", fh.read(8))
                keys = set(json.loads(fh.read(size))) - {"__metadata__"}
        except (OSError, ValueError, struct.error) as err:
            return [f"{tensors[0]} is not a readable safetensors file ({err})"]
        if not any(k.startswith("mask_decoder.") for k in keys):
            return [f"{tensors[0]} has no mask_decoder.* tensors: a stock ControlNet, not InstructRestore's"]
    return []


def diffusion_status(
    base: str | Path | None = None, controlnet: str | Path | None = None
) -> tuple[bool, str]:
    """(ready, reason): are SD-2.1-base and the InstructRestore ControlNet on this machine?

    Reads files and safetensors headers only (no torch import, no network); the full key/shape
    check happens when loading.
    """
    problems: list[str] = []
    where = resolve_base(base)
    if isinstance(where, str):
        problems.append(
            f"SD-2.1-base is not on this machine (looked for {weights_dir() / BASE_DIRNAME}, "
            f"${BASE_ENV} and the Hugging Face cache of {where})"
        )
    else:
        problems += base_problems(where)
    cn = resolve_controlnet(controlnet)
    problems += controlnet_problems(cn)
    if problems:
        return False, (
            "The diffusion restorer is not ready: " + "; ".join(problems) + ". See the README's "
            "model-setup section (models/restorers/diffusion/loading.py) for how to install them."
        )
    return True, f"InstructRestore ControlNet ({cn}) on SD-2.1-base ({where})"


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
    try:
        from diffusers import AutoencoderKL, UNet2DConditionModel, UniPCMultistepScheduler
        from transformers import CLIPTextModel, CLIPTokenizer
    except ImportError as err:
        raise ImportError(
            f"the diffusion restorer needs diffusers and transformers ({err}); install with pip install -e ."
        ) from err

    from models.restorers.diffusion.controlnet import load_instructrestore_controlnet
    from models.restorers.diffusion.pipeline import InstructRestorePipeline

    device = select_device(device)
    torch_dtype = select_dtype(device, dtype)
    if offload and device.split(":")[0] == "cpu":
        raise ValueError("offload=True moves models between CPU and an accelerator; it needs CUDA or MPS")
    source = resolve_base(base)
    cn_path = resolve_controlnet(controlnet)
    if problems := controlnet_problems(cn_path):
        raise WeightsError(
            "InstructRestore ControlNet: " + "; ".join(problems) + " (see loading.py's setup notes)"
        )
    try:
        unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet", torch_dtype=torch_dtype)
        vae = AutoencoderKL.from_pretrained(source, subfolder="vae", torch_dtype=torch_dtype)
        text_encoder = CLIPTextModel.from_pretrained(source, subfolder="text_encoder", dtype=torch_dtype)
        tokenizer = CLIPTokenizer.from_pretrained(source, subfolder="tokenizer")
        scheduler_config: dict[str, Any] = UniPCMultistepScheduler.load_config(source, subfolder="scheduler")
    except OSError as err:
        raise WeightsError(
            f"could not load SD-2.1-base from {source} ({err}). Download it as the README's model-setup "
            f"section says, or set {BASE_ENV} to a local diffusers folder."
        ) from err
    if scheduler_config.get("prediction_type", "epsilon") != "epsilon":
        raise ValueError(
            f"{source} predicts {scheduler_config['prediction_type']!r}; InstructRestore needs the epsilon-"
            "prediction SD-2.1-base (stabilityai/stable-diffusion-2-1-base), not the 768-px v model"
        )
    scheduler = UniPCMultistepScheduler.from_config(scheduler_config)
    cn = load_instructrestore_controlnet(cn_path, dtype=torch_dtype)
    pipe = InstructRestorePipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, controlnet=cn, scheduler=scheduler
    )
    if offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    processor = type(next(iter(unet.attn_processors.values()))).__name__
    logger.info(
        "diffusion restorer loaded on %s (%s, attention %s%s)",
        device,
        str(torch_dtype).removeprefix("torch."),
        processor,
        ", model CPU offload" if offload else "",
    )
    return pipe


def load_diffusion_restorer(
    base: str | Path | None = None,
    controlnet: str | Path | None = None,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    offload: bool = False,
    settings: DiffusionSettings | None = None,
) -> DiffusionRestorer:
    """A ready DiffusionRestorer. Arguments as load_pipeline; settings: steps, guidance, seed, …

    The pipeline is loaded once per process for the same weights, device and dtype (the UI's
    later turns and a batch's later images reuse it); the settings are per call.
    """
    from models.restorers.diffusion.restorer import DiffusionRestorer, DiffusionSettings

    base_dir, controlnet_dir = str(resolve_base(base)), str(resolve_controlnet(controlnet))
    pipe = _cached_pipeline(base_dir, controlnet_dir, device, dtype, offload)
    return DiffusionRestorer(pipe, settings or DiffusionSettings())


@functools.lru_cache(maxsize=1)
def _cached_pipeline(base: str, controlnet: str, device: str | None, dtype: str | torch.dtype | None,
                     offload: bool) -> InstructRestorePipeline:
    return load_pipeline(base, controlnet, device, dtype, offload)
