"""Which diffusion family is installed, and where: SD-2.1-base, InstructRestore, DiffBIR v2.

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

Everything here reads files only (no torch, no network) except ``download_diffbir``; the weights
are loaded by ``loading``.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from pathlib import Path

from models.catalog import weights_dir
from models.weights import WeightsError, hub_cache_dir

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
            "model-setup section (models/restorers/diffusion/families.py) for how to install them."
        )
    if chosen == "diffbir-v2":
        cn, swinir = diffbir_files(diffbir)
        cleaner = "SwinIR" if swinir else "Restora's offline restorer"
        return True, f"DiffBIR v2 ControlNet ({cn}, stage 1: {cleaner}) on SD-2.1-base ({where})"
    return True, f"InstructRestore ControlNet ({resolve_controlnet(controlnet)}) on SD-2.1-base ({where})"


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
