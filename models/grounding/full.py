"""The full grounding backend: GroundingDINO finds boxes for a phrase, SAM turns boxes and clicks
into masks (the transformers ports of both; weights from ``models.weights``).

Per image, ``set_image`` preprocesses once for both models and the SAM image embedding is computed
at most once (on first use), then reused for every target, box and click until ``reset_image`` or
the next ``set_image``. GroundingDINO runs once per distinct noun phrase (cached).

Images are ``(H, W, 3)`` float32 RGB in [0, 1]; boxes are XYXY pixels (``models.grounding.boxes``);
masks come back at the image's full resolution as ``(H, W)`` float32 in [0, 1], feathered by about
0.2 % of the longer side.

torch and transformers are imported inside the loaders, never at module import.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
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
    clip_boxes,
    parse_target,
    rescale_xy,
    select_boxes,
    union_box,
)

if TYPE_CHECKING:
    import torch
    from PIL import Image

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


def to_pil(image: np.ndarray) -> Image.Image:
    from PIL import Image

    return Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")


def feather(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool → (H, W) float32 in [0, 1] with a soft edge of ~0.2 % of the longer side."""
    import cv2

    sigma = max(0.75, 0.002 * max(mask.shape))
    return np.clip(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma), 0.0, 1.0)


@dataclass
class Detections:
    """GroundingDINO's answer for one phrase: boxes (N, 4) XYXY pixels, scores (N,) in [0, 1]."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: list[str]


class GroundingDinoDetector:
    """Text phrase → boxes, with the image preprocessed once per ``set_image``.

    box_threshold: keep boxes whose best token probability exceeds it (GroundingDINO's default 0.3).
    text_threshold: tokens above it name a box's label (0.25); labels are informational here.
    """

    def __init__(
        self, model, processor, device: torch.device, box_threshold: float = 0.3, text_threshold: float = 0.25
    ):
        for name, value in (("box_threshold", box_threshold), ("text_threshold", text_threshold)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        self.model = model.to(device).eval()
        self.processor = processor
        self.device = device
        self.box_threshold = box_threshold
        self.text_threshold = text_threshold
        self._pixels: dict | None = None
        self._size: tuple[int, int] = (0, 0)
        self._cache: dict[str, Detections] = {}

    def with_thresholds(self, box_threshold: float, text_threshold: float) -> GroundingDinoDetector:
        """A detector sharing this one's model with other thresholds (and its own image state)."""
        return type(self)(self.model, self.processor, self.device, box_threshold, text_threshold)

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: torch.device, **thresholds) -> GroundingDinoDetector:
        from transformers import AutoProcessor, GroundingDinoForObjectDetection

        processor = AutoProcessor.from_pretrained(str(folder), local_files_only=True)
        model = GroundingDinoForObjectDetection.from_pretrained(
            str(folder), local_files_only=True, use_safetensors=True
        )
        return cls(model, processor, device, **thresholds)

    def set_image(self, image: np.ndarray) -> None:
        """image: (H, W, 3) float32 RGB in [0, 1]."""
        self._size = image.shape[:2]
        inputs = self.processor.image_processor(images=to_pil(image), return_tensors="pt")
        self._pixels = {k: inputs[k].to(self.device) for k in ("pixel_values", "pixel_mask") if k in inputs}
        self._cache = {}

    def reset_image(self) -> None:
        self._pixels, self._cache = None, {}

    def detect(self, phrase: str) -> Detections:
        """Boxes for ``phrase`` ("dog", or several as "person . animal") above the box threshold."""
        import torch

        if self._pixels is None:
            raise RuntimeError("call set_image before detect")
        if phrase in self._cache:
            return self._cache[phrase]
        text = phrase.strip().lower().rstrip(".") + "."
        tokens = self.processor.tokenizer(text, return_tensors="pt").to(self.device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self.model(**self._pixels, **tokens)
        result = self.processor.post_process_grounded_object_detection(
            out,
            tokens["input_ids"],
            threshold=self.box_threshold,
            text_threshold=self.text_threshold,
            target_sizes=[self._size],
        )[0]
        boxes = clip_boxes(result["boxes"].float().cpu().numpy(), self._size)
        found = Detections(boxes, result["scores"].float().cpu().numpy(), list(result["text_labels"]))
        logger.info("GroundingDINO %r: %d boxes in %.2f s", phrase, len(boxes), time.perf_counter() - t0)
        self._cache[phrase] = found
        return found


class SamSegmenter:
    """Boxes and clicks → masks, with one image embedding per ``set_image``.

    ``embedding_calls`` counts vision-encoder runs (for tests and logs).
    """

    def __init__(self, model, processor, device: torch.device):
        self.model = model.to(device).eval()
        self.processor = processor
        self.device = device
        self.embedding_calls = 0
        self._inputs: dict | None = None
        self._embedding = None

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: torch.device) -> SamSegmenter:
        from transformers import SamModel, SamProcessor

        processor = SamProcessor.from_pretrained(str(folder), local_files_only=True)
        model = SamModel.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
        return cls(model, processor, device)

    def set_image(self, image: np.ndarray) -> None:
        """image: (H, W, 3) float32 RGB in [0, 1]. The embedding is computed on first use."""
        self._inputs = self.processor(images=to_pil(image), return_tensors="pt")
        self._embedding = None

    def reset_image(self) -> None:
        self._inputs, self._embedding = None, None

    @property
    def sizes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((H, W) of the image, (h, w) it was resized to before padding)."""
        if self._inputs is None:
            raise RuntimeError("call set_image first")
        return (
            tuple(int(v) for v in self._inputs["original_sizes"][0]),  # type: ignore[return-value]
            tuple(int(v) for v in self._inputs["reshaped_input_sizes"][0]),
        )

    def image_embeddings(self) -> torch.Tensor:
        """(1, C, 64, 64) SAM image embedding of the current image, computed once."""
        if self._embedding is None:
            if self._inputs is None:
                raise RuntimeError("call set_image first")
            t0 = time.perf_counter()
            pixels = self._inputs["pixel_values"].to(self.device)
            self._embedding = self.model.get_image_embeddings(pixels)
            self.embedding_calls += 1
            logger.info("SAM image embedding in %.2f s", time.perf_counter() - t0)
        return self._embedding

    def _decode(self, multimask: bool = False, **prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(low-res mask logits (1, P, M, 256, 256), iou scores (1, P, M)) for one prompt set."""
        import torch

        with torch.inference_mode():
            out = self.model(
                image_embeddings=self.image_embeddings(),
                multimask_output=multimask,
                **{k: v.to(self.device) for k, v in prompt.items()},
            )
        return out.pred_masks, out.iou_scores

    def _full_res(self, logits) -> np.ndarray:
        """(h, w) low-res logits → (H, W) bool mask at the image's resolution."""
        original, reshaped = self.sizes
        up = self.processor.post_process_masks(
            [logits[None, None].float().cpu()], [original], [reshaped], binarize=False
        )[0]
        return up[0, 0].numpy() > 0.0

    def segment_boxes(self, boxes_xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Union mask (H, W) bool of SAM's masks for (N, 4) XYXY pixel boxes, and (N,) IoU scores."""
        import torch

        original, reshaped = self.sizes
        boxes = torch.from_numpy(rescale_xy(boxes_xyxy, original, reshaped))[None]  # (1, N, 4)
        masks, iou = self._decode(input_boxes=boxes)  # (1, N, 1, h, w), (1, N, 1)
        # the union of the full-size masks: upscale each box's logits, threshold, then OR. (The max
        # of the low-resolution logits upscaled once is not that union: bilinear upscaling does not
        # commute with the max, and segment-anything thresholds each mask at full size.)
        union = np.zeros(original, bool)
        for logits in masks[0, :, 0]:  # (h, w) each
            union |= self._full_res(logits)
        return union, iou[0, :, 0].float().cpu().numpy()

    def segment_prompt(self, prompt: RegionPrompt) -> tuple[np.ndarray, float]:
        """(H, W) bool mask and SAM's IoU estimate for clicks (positive 1 / negative 0) and/or a box."""
        import torch

        original, reshaped = self.sizes
        inputs: dict = {}
        if prompt.points:
            xy = np.array([[p.x, p.y] for p in prompt.points], np.float32)
            inputs["input_points"] = torch.from_numpy(rescale_xy(xy, original, reshaped))[None, None]
            inputs["input_labels"] = torch.tensor([[[1 if p.positive else 0 for p in prompt.points]]])
        if prompt.box_xyxy is not None:
            box = np.array([prompt.box_xyxy], np.float32)
            inputs["input_boxes"] = torch.from_numpy(rescale_xy(box, original, reshaped))[None]
        # One click is ambiguous (part / object / group): ask for three masks and keep the best.
        multimask = prompt.box_xyxy is None and len(prompt.points) == 1
        masks, iou = self._decode(**inputs, multimask=multimask)  # (1, 1, M, h, w), (1, 1, M)
        best = int(iou[0, 0].argmax())
        return self._full_res(masks[0, 0, best]), float(iou[0, 0, best].clamp(0, 1))


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
