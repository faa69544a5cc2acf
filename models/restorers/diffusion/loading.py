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

3. **Or DiffBIR v2** (Apache-2.0, ``lxq007/DiffBIR-v2`` on the Hub) instead of InstructRestore:
   ``restora models download diffbir-v2`` fetches its ControlNet (``v2.pth``, 1.45 GB), the
   Real-ESRGAN-degradation SwinIR stage-1 cleaner (``realesrgan_s4_swinir_100k.pth``, 64 MB) into
   ``~/.cache/restora/weights/diffbir-v2/`` and SD-2.1-base as in step 1, with progress bars and
   resume. Elsewhere on disk: ``RESTORA_DIFFBIR=/path/to/folder``. The LDM-named ControlNet is
   converted to diffusers names on first use and cached as safetensors under
   ``<weights dir>/converted/`` (``diffbir.controlnet``). Without the SwinIR file, Restora's own
   offline restorer is the stage-1 cleaner.

**Which family runs.** ``restora run --backend full`` uses InstructRestore when its ControlNet is
installed (it reads the instruction's region phrase and has a learned mask decoder), else DiffBIR
v2; ``RESTORA_DIFFUSION_FAMILY=diffbir-v2`` (or ``instructrestore``) forces one. The report names
the family that ran.

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

    from models.restorers.diffusion.diffbir.pipeline import DiffBIRPipeline
    from models.restorers.diffusion.diffbir.restorer import DiffBIRRestorer
    from models.restorers.diffusion.instructrestore.pipeline import InstructRestorePipeline
    from models.restorers.diffusion.instructrestore.restorer import DiffusionRestorer
    from models.restorers.diffusion.settings import DiffusionSettings

logger = logging.getLogger(__name__)

BASE_MODEL_ID = "stabilityai/stable-diffusion-2-1-base"
BASE_DIRNAME = "stable-diffusion-2-1-base"
CONTROLNET_DIRNAME = "instructrestore-controlnet"
BASE_ENV = "RESTORA_SD21_BASE"
CONTROLNET_ENV = "RESTORA_INSTRUCTRESTORE"
DIFFBIR_REPO = "lxq007/DiffBIR-v2"
DIFFBIR_DIRNAME = "diffbir-v2"
DIFFBIR_CONTROLNET_FILE = "v2.pth"
DIFFBIR_SWINIR_FILE = "realesrgan_s4_swinir_100k.pth"
DIFFBIR_ENV = "RESTORA_DIFFBIR"
FAMILY_ENV = "RESTORA_DIFFUSION_FAMILY"
#: Preference order when several are installed (see the module docstring).
FAMILIES: tuple[str, ...] = ("instructrestore", "diffbir-v2")
#: SD-2.1-base files the restorers read (``restora models download diffbir-v2`` fetches these).
BASE_FILES: tuple[str, ...] = (
    "model_index.json", "scheduler/*", "tokenizer/*", "text_encoder/config.json",
    "text_encoder/model.safetensors", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
)  # fmt: skip
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


def resolve_diffbir(diffbir: str | Path | None = None) -> Path:
    """The DiffBIR v2 folder (holding ``v2.pth``): ``diffbir``, $RESTORA_DIFFBIR, else the
    weights folder's ``diffbir-v2``."""
    value = diffbir or os.environ.get(DIFFBIR_ENV)
    return Path(value).expanduser() if value else weights_dir() / DIFFBIR_DIRNAME


def diffbir_files(diffbir: str | Path | None = None) -> tuple[Path, Path | None]:
    """(ControlNet file, SwinIR cleaner file or None when absent) of the DiffBIR folder."""
    where = resolve_diffbir(diffbir)
    if where.is_file():
        return where, None
    swinir = where / DIFFBIR_SWINIR_FILE
    return where / DIFFBIR_CONTROLNET_FILE, swinir if swinir.is_file() else None


def diffbir_problems(diffbir: str | Path | None = None) -> list[str]:
    """What is missing for the DiffBIR v2 family (file checks only)."""
    controlnet, _ = diffbir_files(diffbir)
    if not controlnet.is_file() or controlnet.stat().st_size == 0:
        return [
            f"DiffBIR v2's ControlNet is not at {controlnet} (run `restora models download diffbir-v2`, "
            f"or set ${DIFFBIR_ENV})"
        ]
    return []


def _base_problems_anywhere(base: str | Path | None) -> tuple[str | Path, list[str]]:
    where = resolve_base(base)
    if isinstance(where, str):
        return where, [
            f"SD-2.1-base is not on this machine (looked for {weights_dir() / BASE_DIRNAME}, "
            f"${BASE_ENV} and the Hugging Face cache of {where})"
        ]
    return where, base_problems(where)


def choose_family(
    family: str | None = None, controlnet: str | Path | None = None, diffbir: str | Path | None = None
) -> tuple[str | None, dict[str, list[str]]]:
    """(the family to run or None, each family's problems). ``family`` or $RESTORA_DIFFUSION_FAMILY
    forces one ("auto" / unset: the first installed in ``FAMILIES`` order)."""
    wanted = family or os.environ.get(FAMILY_ENV) or "auto"
    if wanted not in (*FAMILIES, "auto"):
        raise ValueError(
            f"diffusion family must be one of {FAMILIES} or 'auto', got {wanted!r} (${FAMILY_ENV})"
        )
    problems = {
        "instructrestore": controlnet_problems(resolve_controlnet(controlnet)),
        "diffbir-v2": diffbir_problems(diffbir),
    }
    candidates = FAMILIES if wanted == "auto" else (wanted,)
    chosen = next((f for f in candidates if not problems[f]), None)
    return chosen, {f: problems[f] for f in candidates}


def diffusion_status(
    base: str | Path | None = None,
    controlnet: str | Path | None = None,
    family: str | None = None,
    diffbir: str | Path | None = None,
) -> tuple[bool, str]:
    """(ready, reason): are SD-2.1-base and a diffusion family's ControlNet on this machine?

    Reads files and safetensors headers only (no torch import, no network); the full key/shape
    check happens when loading.
    """
    where, problems = _base_problems_anywhere(base)
    try:
        chosen, family_problems = choose_family(family, controlnet, diffbir)
    except ValueError as err:
        return False, str(err)
    if chosen is None:
        problems += [" or ".join("; ".join(p) for p in family_problems.values())]
    if problems:
        return False, (
            "The diffusion restorer is not ready: " + "; ".join(problems) + ". See the README's "
            "model-setup section (models/restorers/diffusion/loading.py) for how to install them."
        )
    if chosen == "diffbir-v2":
        cn, swinir = diffbir_files(diffbir)
        cleaner = "SwinIR" if swinir else "Restora's offline restorer"
        return True, f"DiffBIR v2 ControlNet ({cn}, stage 1: {cleaner}) on SD-2.1-base ({where})"
    return True, f"InstructRestore ControlNet ({resolve_controlnet(controlnet)}) on SD-2.1-base ({where})"


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
            "InstructRestore ControlNet: " + "; ".join(problems) + " (see loading.py's setup notes)"
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


def download_diffbir(weights: str | Path | None = None) -> tuple[Path, Path]:
    """Fetch DiffBIR v2 (ControlNet + SwinIR cleaner) and SD-2.1-base with huggingface_hub
    (progress bars, resumable). Returns (DiffBIR folder, SD-2.1-base folder).

    weights: a folder to download into (default: the weights folder). Raises WeightsError when
    offline (HF_HUB_OFFLINE) or the download fails, saying what to do.
    """
    from models.weights import hub_offline

    root = Path(weights).expanduser() if weights is not None else weights_dir()
    target, base_dir = root / DIFFBIR_DIRNAME, root / BASE_DIRNAME
    if hub_offline():
        if not diffbir_problems(target) and not base_problems(base_dir):
            return target, base_dir
        raise WeightsError(
            "Cannot download diffbir-v2: HF_HUB_OFFLINE is set, so Restora does not use the network. "
            "Unset it and run `restora models download diffbir-v2` again, or copy "
            f"{DIFFBIR_CONTROLNET_FILE} and {DIFFBIR_SWINIR_FILE} from https://huggingface.co/{DIFFBIR_REPO} "
            f"to {target}/."
        )
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        for name in (DIFFBIR_CONTROLNET_FILE, DIFFBIR_SWINIR_FILE):
            logger.info("downloading %s/%s to %s", DIFFBIR_REPO, name, target)
            hf_hub_download(DIFFBIR_REPO, name, local_dir=str(target))
        if base_problems(base_dir):
            logger.info("downloading %s to %s", BASE_MODEL_ID, base_dir)
            snapshot_download(BASE_MODEL_ID, allow_patterns=list(BASE_FILES), local_dir=str(base_dir))
    except (RepositoryNotFoundError, LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:
        raise WeightsError(
            f"Could not download diffbir-v2: {type(err).__name__}: {err}. Check the network and run "
            "`restora models download diffbir-v2` again (finished files are kept, partial ones resume)."
        ) from err
    if problems := base_problems(base_dir) + diffbir_problems(target):
        raise WeightsError("Downloaded diffbir-v2, but: " + "; ".join(problems))
    return target, base_dir
