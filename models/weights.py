"""Find, download and check model weights for the catalogue in ``models.catalog``.

Where a model's folder is looked for, first match wins:

1. an explicit folder (``weights=`` here, ``--weights DIR`` on the command line): ``DIR/<name>``,
   or ``DIR`` itself when it holds that kind of model (its ``config.json`` ``model_type``);
2. Restora's weights folder, ``$RESTORA_WEIGHTS_DIR/<name>`` (default
   ``~/.cache/restora/weights/<name>``);
3. the Hugging Face Hub cache (``$HF_HUB_CACHE``, default ``~/.cache/huggingface/hub``), where
   ``restora models download`` puts files unless a folder was given.

A folder counts as present when it holds a ``config.json`` of the right model type and all its
``*.safetensors`` files. Nothing here ever reaches the network except ``download``, which refuses
to run when ``HF_HUB_OFFLINE`` is set. Weight files are read only as safetensors or with
``torch.load(weights_only=True)`` (``load_state_dict``).

torch and huggingface_hub are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from models.catalog import ModelSpec, get_spec, weights_dir

logger = logging.getLogger(__name__)

_TRUE = {"1", "on", "yes", "true"}


class WeightsError(RuntimeError):
    """Weights are missing, incomplete or cannot be fetched; the message says what to run."""


@dataclass(frozen=True)
class Location:
    """Where a model's folder was found. source: "--weights", "RESTORA_WEIGHTS_DIR" or "hub cache"."""

    name: str
    path: Path
    source: str


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE asks for no network access (read at call time, not import time)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def hub_cache_dir() -> Path:
    """The Hugging Face Hub cache folder, honouring HF_HUB_CACHE and HF_HOME at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def missing_message(name: str) -> str:
    return (
        f"The {name} weights are not on this machine: run `restora models download {name}` "
        "or pass --weights DIR (a folder holding a "
        f"{name}/ subfolder). `restora models where` shows where Restora looks."
    )


def folder_problems(folder: Path, spec: ModelSpec, deep: bool = False) -> list[str]:
    """What is wrong with ``folder`` as a copy of ``spec``; an empty list means usable.

    deep: also read every safetensors header and check the file is as long as the header says
    (catches truncated downloads) — reads a few kB per file, never the tensors.
    """
    config = folder / "config.json"
    if not config.is_file():
        return [f"{folder} has no config.json"]
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except (OSError, ValueError) as err:
        return [f"{config} is not valid JSON ({err})"]
    if model_type not in spec.model_types:
        return [f"{config} is a {model_type!r} model, expected one of {list(spec.model_types)}"]
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError) as err:
            return [f"{index} is not a valid safetensors index ({err})"]
        files = [folder / s for s in shards]
    else:
        files = sorted(folder.glob("*.safetensors"))
        if not files:
            return [f"{folder} has no *.safetensors weights"]
    problems = [f"{f} is missing" for f in files if not f.is_file()]
    if deep and not problems:
        problems = [p for f in files if (p := _safetensors_problem(f))]
    return problems


def _safetensors_problem(path: Path) -> str | None:
    """None when ``path``'s header parses and the file holds every byte the header promises."""
    size = path.stat().st_size
    try:
        with path.open("rb") as fh:
            (header_len,) = struct.unpack("<Q", fh.read(8))
            if header_len > size - 8:
                return f"{path} is truncated (header longer than the file)"
            header = json.loads(fh.read(header_len))
    except (OSError, ValueError, struct.error) as err:
        return f"{path} is not a safetensors file ({err})"
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + end != size:
        return f"{path} is {size} bytes, its header says {8 + header_len + end}: re-download it"
    return None


def _model_type(folder: Path) -> str | None:
    try:
        return json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def _hub_repo_dir(spec: ModelSpec) -> Path:
    return hub_cache_dir() / ("models--" + spec.hf_id.replace("/", "--"))


def _hub_snapshot(spec: ModelSpec) -> Path | None:
    """The cached snapshot folder of ``spec.hf_id`` (main revision), or None. No network."""
    if not _hub_repo_dir(spec).is_dir():
        return None  # nothing cached: skip importing huggingface_hub
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(spec.hf_id, "config.json", cache_dir=str(hub_cache_dir()))
    return Path(hit).parent if isinstance(hit, str) else None


def candidates(name: str, weights: str | Path | None = None) -> list[Location]:
    """Every folder that could hold ``name``, in resolution order (present or not)."""
    spec = get_spec(name)
    found: list[Location] = []
    if weights is not None:
        root = Path(weights).expanduser()
        found.append(Location(name, root / name, "--weights"))
        if _model_type(root) in spec.model_types:
            found.append(Location(name, root, "--weights"))
    found.append(Location(name, weights_dir() / name, "RESTORA_WEIGHTS_DIR"))
    found.append(Location(name, _hub_snapshot(spec) or _hub_repo_dir(spec), "hub cache"))
    return found


def find_local(name: str, weights: str | Path | None = None) -> Location | None:
    """The first usable folder for ``name`` (see the module docstring for the order), or None."""
    spec = get_spec(name)
    for loc in candidates(name, weights):
        if loc.path.is_dir() and not folder_problems(loc.path, spec):
            return loc
    return None


def resolve(name: str, weights: str | Path | None = None) -> Path:
    """The local folder of ``name``; raises WeightsError naming `restora models download` if absent.

    An explicit ``weights`` folder that does not hold the model is an error, not a silent fallback
    to the other places.
    """
    spec = get_spec(name)
    if weights is not None:
        root = Path(weights).expanduser()
        for path in (root / name, root):
            if path.is_dir() and not folder_problems(path, spec):
                return path
        if (root / name).is_dir():
            why = "; ".join(folder_problems(root / name, spec))
        elif (root / "config.json").is_file():
            why = "; ".join(folder_problems(root, spec))
        else:
            why = f"there is no {root / name} folder" if root.is_dir() else f"{root} does not exist"
        raise WeightsError(
            f"--weights {root} does not hold {name} ({why}). Put the model in "
            f"{root / name}/ or run `restora models download {name} --weights {root}`."
        )
    loc = find_local(name)
    if loc is None:
        raise WeightsError(missing_message(name))
    logger.info("using %s from %s (%s)", name, loc.path, loc.source)
    return loc.path


def download(name: str, weights: str | Path | None = None) -> Path:
    """Fetch ``name`` with huggingface_hub (progress bars, resumes partial files) and return its folder.

    Goes to ``weights/<name>`` when a folder is given, to ``$RESTORA_WEIGHTS_DIR/<name>`` when that
    variable is set, else to the Hub cache. Raises WeightsError with the reason and what to do when
    offline (HF_HUB_OFFLINE), gated, not found or the network fails.
    """
    spec = get_spec(name)
    if weights is not None:
        local_dir: Path | None = Path(weights).expanduser() / name
    elif os.environ.get("RESTORA_WEIGHTS_DIR"):
        local_dir = weights_dir() / name
    else:
        local_dir = None
    if hub_offline():
        present = find_local(name, weights)
        if present is not None:
            logger.info(
                "%s is already at %s; HF_HUB_OFFLINE is set, so not checking for updates", name, present.path
            )
            return present.path
        raise WeightsError(
            f"Cannot download {name}: HF_HUB_OFFLINE is set, so Restora does not use the network. "
            f"Unset it (`unset HF_HUB_OFFLINE`) and run `restora models download {name}` again, or "
            f"copy a downloaded {spec.hf_id} folder to {local_dir or weights_dir() / name} "
            "(or pass --weights DIR)."
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    where = local_dir or hub_cache_dir()
    logger.info("downloading %s (%s, about %d MB) to %s", name, spec.hf_id, spec.size_mb, where)
    try:
        path = snapshot_download(
            spec.hf_id,
            allow_patterns=list(spec.allow_patterns),
            local_dir=str(local_dir) if local_dir else None,
            cache_dir=None if local_dir else str(hub_cache_dir()),
        )
    except GatedRepoError as err:
        raise WeightsError(
            f"{spec.hf_id} is gated: accept its licence ({spec.licence}) at "
            f"https://huggingface.co/{spec.hf_id}, log in with `hf auth login`, then run "
            f"`restora models download {name}` again."
        ) from err
    except RepositoryNotFoundError as err:
        raise WeightsError(f"{spec.hf_id} was not found on the Hub (or needs a login).") from err
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:
        raise WeightsError(
            f"Could not download {name} from {spec.hf_id}: {type(err).__name__}: {err}. Check the "
            f"network and run `restora models download {name}` again (finished files are kept and "
            "partial ones resume), or download it elsewhere and pass --weights DIR."
        ) from err
    problems = folder_problems(Path(path), spec, deep=True)
    if problems:
        raise WeightsError(f"Downloaded {name}, but: {'; '.join(problems)}")
    return Path(path)


def verify(name: str, weights: str | Path | None = None) -> tuple[Location | None, list[str]]:
    """(where ``name`` was found, problems). (None, [message]) when it is nowhere; reads headers only."""
    spec = get_spec(name)
    for loc in candidates(name, weights):
        if (loc.path / "config.json").is_file():
            return loc, folder_problems(loc.path, spec, deep=True)
    return None, [missing_message(name)]


def load_state_dict(path: str | Path) -> dict:
    """Tensors from a ``.safetensors`` file or a ``.pth/.pt/.bin`` read with ``weights_only=True``.

    A checkpoint that wraps its tensors (``{"model": {...}}`` or ``{"state_dict": {...}}``) is
    unwrapped. Other formats are refused: pickles that need code execution are never loaded.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if path.suffix not in (".pth", ".pt", ".bin"):
        raise ValueError(f"{path}: expected a .safetensors, .pth, .pt or .bin checkpoint")
    import pickle

    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path} needs arbitrary code to unpickle, which Restora refuses (weights_only=True): {err}"
        ) from err
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state
