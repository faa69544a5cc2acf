"""The two transformers models behind the full grounding backend, each wrapped with its per-photo
state: ``GroundingDinoDetector`` (text phrase → boxes) and ``SamSegmenter`` (boxes and clicks →
masks), plus ``RecentImages``, which keeps their results across turns on the same photo (the
module docstring of ``models.grounding.full`` says why). ``full.FullGrounder`` combines them.

torch and transformers are imported inside the loaders, never at module import.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from models.grounding.base import RegionPrompt
from models.grounding.boxes import clip_boxes, rescale_xy

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from PIL import Image

logger = logging.getLogger(__name__)


class RecentImages:
    """A small thread-safe LRU of per-photo results (SAM embeddings, GroundingDINO detections),
    keyed by ``digest`` of the preprocessed photo plus whatever else the result depends on."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def digest(pixels: torch.Tensor) -> str:
    """A key for a preprocessed photo: BLAKE2b of its values and shape (a few ms for SAM's 1024²)."""
    array = pixels.detach().cpu().contiguous().numpy()
    return hashlib.blake2b(array.tobytes(), digest_size=16).hexdigest() + str(array.shape)


def to_pil(image: np.ndarray) -> Image.Image:
    from PIL import Image

    return Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")



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
        self,
        model,
        processor,
        device: torch.device,
        box_threshold: float = 0.3,
        text_threshold: float = 0.25,
        recent: RecentImages | None = None,
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
        self._key: str | None = None
        #: detections of recent photos, shared with every ``with_thresholds`` copy (module docstring)
        self.recent = recent if recent is not None else RecentImages(64)

    def with_thresholds(self, box_threshold: float, text_threshold: float) -> GroundingDinoDetector:
        """A detector sharing this one's model and recent detections with other thresholds (and
        its own image state)."""
        return type(self)(self.model, self.processor, self.device, box_threshold, text_threshold, self.recent)

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
        self._key = digest(inputs["pixel_values"]) + str(self._size)

    def reset_image(self) -> None:
        self._pixels, self._cache, self._key = None, {}, None

    def detect(self, phrase: str) -> Detections:
        """Boxes for ``phrase`` ("dog", or several as "person . animal") above the box threshold."""
        import torch

        if self._pixels is None:
            raise RuntimeError("call set_image before detect")
        if phrase in self._cache:
            return self._cache[phrase]
        key = (self._key, phrase, self.box_threshold, self.text_threshold)
        earlier = self.recent.get(key)
        if earlier is not None:
            logger.info("GroundingDINO %r: %d boxes, from an earlier turn", phrase, len(earlier.boxes))
            self._cache[phrase] = earlier
            return earlier
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
        self.recent.put(key, found)
        return found


class SamSegmenter:
    """Boxes and clicks → masks, with one image embedding per ``set_image``.

    ``embedding_calls`` counts vision-encoder runs (for tests and logs). The embeddings of the
    last four photos are kept (``recent``, 4 MB each), so a later turn on the same photo reuses its
    embedding (module docstring).
    """

    def __init__(self, model, processor, device: torch.device):
        self.model = model.to(device).eval()
        self.processor = processor
        self.device = device
        self.embedding_calls = 0
        self.recent = RecentImages(4)
        self._inputs: dict | None = None
        self._embedding = None
        self._key: str | None = None

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
        self._key = digest(self._inputs["pixel_values"])

    def reset_image(self) -> None:
        self._inputs, self._embedding, self._key = None, None, None

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
            self._embedding = self.recent.get(self._key)
            if self._embedding is not None:
                logger.info("SAM image embedding of this photo from an earlier turn")
                return self._embedding
            t0 = time.perf_counter()
            pixels = self._inputs["pixel_values"].to(self.device)
            self._embedding = self.model.get_image_embeddings(pixels)
            self.recent.put(self._key, self._embedding)
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
