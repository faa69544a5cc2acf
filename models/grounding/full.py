"""The full grounding backend: GroundingDINO finds boxes for a phrase, SAM turns boxes and clicks
into masks (the transformers ports of both; weights from ``models.weights``).

The two models' wrappers (``GroundingDinoDetector``, ``SamSegmenter``) and their cache live in
``models.grounding.hf_models``; this module combines them (``FullGrounder``) and loads them.
Per image, ``set_image`` preprocesses once for both models and the SAM image embedding is computed
at most once (on first use), then reused for every target, box and click. GroundingDINO runs once
per distinct noun phrase. Both are also kept across turns, keyed by a digest of the preprocessed
photo (``RecentImages``): a conversation's refinements and slider moves re-run their plan on the
same photo, and on a CPU (a free Space) each re-run would otherwise recompute the SAM embedding
(about 13 s) and every GroundingDINO phrase (about 10 s each; ``benchmarks/grounding_cpu_time.py``).

Images are ``(H, W, 3)`` float32 RGB in [0, 1]; boxes are XYXY pixels (``models.grounding.boxes``);
masks come back at the image's full resolution as ``(H, W)`` float32 in [0, 1], feathered by about
0.2 % of the longer side.

torch and transformers are imported inside the loaders, never at module import.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.grounding.base import (
    Grounder,
    Grounding,
    GroundingError,
    RegionPrompt,
    complement_of_others,
)
from models.grounding.boxes import (
    TargetQuery,
    parse_target,
    select_boxes,
    union_box,
)
from models.grounding.hf_models import (  # noqa: F401 - the wrappers are also imported from here
    Detections,
    GroundingDinoDetector,
    RecentImages,
    SamSegmenter,
    digest,
    to_pil,
)

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: What GroundingDINO is asked for when a target means "the subject" or when "background" has no
#: named regions to complement.
SALIENT_PHRASE = "person . animal . object"
SUBJECT_TARGETS = {"main subject", "subject", "foreground", "main object", "object"}


def select_device(device: str | None = None) -> torch.device:
    """The torch device to run on. None or "auto": CUDA, else Apple MPS, else CPU.

    An explicitly requested device that is not usable raises ValueError: no silent CPU fallback.
    """
    import torch

    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was requested but this torch ({torch.__version__}) sees no "
            "CUDA GPU; pass --device cpu to run on the CPU (slow) or install a CUDA build."
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} was requested but Apple MPS is not available here.")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {device!r}: expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'.")
    return dev


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate an ``(H, W, 3)`` float RGB image in [0, 1]; returns it as float32."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"expected an (H, W, 3) RGB array, got {type(image).__name__} of shape {shape}")
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"expected a float image in [0, 1], got dtype {image.dtype}")
    lo, hi = float(image.min()), float(image.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"expected values in [0, 1], got [{lo:.3g}, {hi:.3g}]")
    return image.astype(np.float32, copy=False)


def feather(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool → (H, W) float32 in [0, 1] with a soft edge of ~0.2 % of the longer side."""
    import cv2

    sigma = max(0.75, 0.002 * max(mask.shape))
    return np.clip(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma), 0.0, 1.0)


class FullGrounder(Grounder):
    """GroundingDINO boxes → SAM masks; clicks and boxes go to SAM directly.

    Plurals and "all the X" take the union of every box; a singular target takes the best box;
    spatial qualifiers ("on the left", "largest", "in the middle", …) pick among the boxes and are
    not sent to GroundingDINO (see ``boxes.parse_target`` / ``boxes.select_boxes``).
    """

    name = "GroundingDINO + SAM"

    def __init__(self, detector: GroundingDinoDetector, segmenter: SamSegmenter):
        self.detector = detector
        self.segmenter = segmenter
        self._size: tuple[int, int] | None = None

    def set_image(self, image: np.ndarray) -> None:
        image = check_image(image)
        self._size = image.shape[:2]
        self.detector.set_image(image)
        self.segmenter.set_image(image)

    def reset_image(self) -> None:
        self._size = None
        self.detector.reset_image()
        self.segmenter.reset_image()

    def ground(
        self, target: str, prompt: RegionPrompt | None = None, others: np.ndarray | None = None
    ) -> Grounding:
        if self._size is None:
            raise RuntimeError("call set_image before ground")
        h, w = self._size
        if prompt:
            prompt.check(h, w)
            mask, score = self.segmenter.segment_prompt(prompt)
            how = "box → SAM" if prompt.box_xyxy is not None else "click → SAM"
            if not mask.any():
                hint = "try a tighter box" if prompt.box_xyxy else "try clicking nearer its middle"
                raise GroundingError(target, f'SAM found no region for "{target}" there; {hint}.')
            return Grounding(target, feather(mask), score, how, prompt.box_xyxy or _mask_box(mask))
        if target == "image":
            return Grounding(target, np.ones((h, w), np.float32), 1.0, "whole image")
        if target == "background":
            if others is not None:
                return complement_of_others(target, others, (h, w))
            try:
                found = self._ground_phrase(target, SALIENT_PHRASE, plural=True, qualifier=None)
            except GroundingError:
                raise GroundingError(
                    target,
                    "I could not tell the background from the subject: "
                    "GroundingDINO found no person, animal or object. Name the subject "
                    '(e.g. "keep the dog sharp and blur the background") or click on it.',
                ) from None
            return Grounding(
                target,
                1.0 - found.mask,
                found.score,
                "GroundingDINO + SAM (everything outside the detected subjects)",
            )
        query = parse_target(target)
        if query.noun in SUBJECT_TARGETS:
            try:
                found = self._ground_phrase(
                    target, SALIENT_PHRASE, plural=query.plural, qualifier=query.qualifier
                )
            except GroundingError:
                raise GroundingError(
                    target,
                    f'GroundingDINO found no person, animal or object to take as "{target}".',
                    needs_prompt=True,
                ) from None
            found.how = "GroundingDINO + SAM (most salient object)"
            return found
        return self._ground_phrase(target, query.noun, query.plural, query.qualifier, query.rank)

    def _ground_phrase(
        self, target: str, phrase: str, plural: bool, qualifier: str | None, rank: int = 0
    ) -> Grounding:
        det = self.detector.detect(phrase)
        if len(det.boxes) == 0:
            raise GroundingError(
                target,
                f'GroundingDINO found no "{phrase}" in this image above the box '
                f"threshold {self.detector.box_threshold:g}.",
                needs_prompt=True,
            )
        pick = select_boxes(det.boxes, det.scores, TargetQuery(phrase, qualifier, plural, rank), self._size)
        if not len(pick):
            raise GroundingError(
                target, f'GroundingDINO found {len(det.boxes)} "{phrase}", but none matches "{target}".',
                needs_prompt=True,
            )
        boxes, score = det.boxes[pick], float(det.scores[pick].mean())
        mask, _ = self.segmenter.segment_boxes(boxes)
        how = self.name
        if not mask.any():  # SAM declined every box: keep the detector's rectangles, and say so
            mask = _boxes_mask(boxes, self._size)
            how = "GroundingDINO boxes (SAM returned empty masks)"
        return Grounding(target, feather(mask), score, how, union_box(boxes))


def _boxes_mask(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(size, bool)
    for x0, y0, x1, y1 in np.round(boxes).astype(int):
        mask[y0:y1, x0:x1] = True
    return mask


def _mask_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def load_full_grounder(
    weights: str | Path | None = None,
    device: str | None = None,
    *,
    detector: str | None = None,
    segmenter: str | None = None,
    box_threshold: float = 0.3,
    text_threshold: float = 0.25,
) -> FullGrounder:
    """Build the GroundingDINO + SAM grounder from local weights (never downloads).

    weights: a folder holding ``<name>/`` model folders (``--weights DIR``); None searches
        RESTORA_WEIGHTS_DIR and the Hub cache (``models.weights``).
    device: "cuda", "cuda:1", "mps", "cpu" or None/"auto".
    detector / segmenter: catalogue names; default ``models.catalog.grounding_models()``.
    Raises models.weights.WeightsError (naming `restora models download`) when weights are missing.
    """
    from models.catalog import get_spec, grounding_models
    from models.weights import resolve

    default_detector, default_segmenter = grounding_models()
    detector, segmenter = detector or default_detector, segmenter or default_segmenter
    for name, kind in ((detector, "detector"), (segmenter, "segmenter")):
        if get_spec(name).kind != kind:
            raise ValueError(f"{name!r} is not a {kind}")
    det_dir, seg_dir = resolve(detector, weights), resolve(segmenter, weights)
    dev = select_device(device)
    det, seg = _load_models(str(det_dir), str(seg_dir), str(dev))
    return FullGrounder(det.with_thresholds(box_threshold, text_threshold), seg)


@functools.lru_cache(maxsize=1)
def _load_models(det_dir: str, seg_dir: str, device: str) -> tuple[GroundingDinoDetector, SamSegmenter]:
    """Load the detector and segmenter once per process (the UI's later turns reuse them)."""
    import torch

    t0 = time.perf_counter()
    dev = torch.device(device)
    models = GroundingDinoDetector.from_pretrained(det_dir, dev), SamSegmenter.from_pretrained(seg_dir, dev)
    logger.info("loaded %s + %s on %s in %.1f s", det_dir, seg_dir, dev, time.perf_counter() - t0)
    return models
