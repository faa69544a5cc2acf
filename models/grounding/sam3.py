"""SAM 3 text-prompt grounding: one model turns a noun phrase into instance masks.

An alternative to GroundingDINO + SAM (``full.py``) with the same ``Grounder`` interface and the
same target semantics (plurals → union, singular → best instance, spatial qualifiers pick among
instances, ``image``, ``background``). Weights: ``restora models download sam3`` (gated; SAM
License).

Preprocessing is done here by hand because transformers' ``Sam3ImageProcessor`` needs torchvision,
which this project keeps out of its environment: the image is resized (squashed) to the model's
square input size with bilinear filtering and normalised with mean = std = 0.5, as the reference
processor does. The vision features are computed once per ``set_image`` and reused for every
phrase (``Sam3Model.get_vision_features`` → ``vision_embeds=``).

SAM 3's own geometry prompts need ``torchvision.ops.roi_align``, so clicks and boxes go to an
optional ``SamSegmenter`` (SAM 1); without one they raise GroundingError saying what to use.
"""

from __future__ import annotations

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
    clip_boxes,
    denormalize,
    parse_target,
    select_boxes,
    union_box,
)
from models.grounding.full import (
    SUBJECT_TARGETS,
    SamSegmenter,
    check_image,
    feather,
    select_device,
    to_pil,
)

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

SALIENT_PHRASE = "object"


class Sam3Grounder(Grounder):
    """Text → masks with ``Sam3Model``.

    score_threshold: keep instances whose score (query score × presence score) exceeds it.
    mask_threshold: probability above which a pixel belongs to an instance mask.
    clicks: a SamSegmenter for click/box prompts (optional).
    """

    name = "SAM 3"

    def __init__(
        self,
        model,
        tokenizer,
        device: torch.device,
        *,
        score_threshold: float = 0.5,
        mask_threshold: float = 0.5,
        clicks: SamSegmenter | None = None,
    ):
        for name, value in (("score_threshold", score_threshold), ("mask_threshold", mask_threshold)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = device
        self.score_threshold = score_threshold
        self.mask_threshold = mask_threshold
        self.clicks = clicks
        self.input_size = int(model.config.vision_config.backbone_config.image_size)
        self.embedding_calls = 0
        self._pixels = None
        self._vision = None
        self._size: tuple[int, int] | None = None

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: torch.device, **kwargs) -> Sam3Grounder:
        from transformers import AutoTokenizer, Sam3Model

        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = Sam3Model.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
        return cls(model, tokenizer, device, **kwargs)

    def set_image(self, image: np.ndarray) -> None:
        import torch
        from PIL import Image

        image = check_image(image)
        self._size = image.shape[:2]
        resized = to_pil(image).resize((self.input_size, self.input_size), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(resized, np.float32) / 255.0)  # (S, S, 3) in [0, 1]
        self._pixels = ((x - 0.5) / 0.5).permute(2, 0, 1)[None]  # (1, 3, S, S) in [-1, 1]
        self._vision = None
        if self.clicks is not None:
            self.clicks.set_image(image)

    def reset_image(self) -> None:
        self._pixels, self._vision, self._size = None, None, None
        if self.clicks is not None:
            self.clicks.reset_image()

    def vision_features(self):
        """Sam3VisionEncoderOutput for the current image, computed once."""
        import torch

        if self._vision is None:
            if self._pixels is None:
                raise RuntimeError("call set_image first")
            t0 = time.perf_counter()
            with torch.inference_mode():
                self._vision = self.model.get_vision_features(pixel_values=self._pixels.to(self.device))
            self.embedding_calls += 1
            logger.info("SAM 3 vision features in %.2f s", time.perf_counter() - t0)
        return self._vision

    def segment_text(self, phrase: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Instances of ``phrase`` above the score threshold.

        Returns (probabilities (N, h, w) float32 at the model's mask resolution, boxes (N, 4) XYXY
        pixels of the image, scores (N,) in [0, 1]).
        """
        import torch

        tokens = self.tokenizer(
            phrase, padding="max_length", max_length=32, truncation=True, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            out = self.model(
                vision_embeds=self.vision_features(),
                input_ids=tokens["input_ids"],
                attention_mask=tokens["attention_mask"],
            )
        scores = out.pred_logits[0].sigmoid()  # (Q,)
        if out.presence_logits is not None:
            scores = scores * out.presence_logits[0].sigmoid()
        keep = scores > self.score_threshold
        boxes = clip_boxes(denormalize(out.pred_boxes[0][keep].float().cpu().numpy(), self._size), self._size)
        probs = out.pred_masks[0][keep].sigmoid().float().cpu().numpy()
        return probs, boxes, scores[keep].float().cpu().numpy()

    def ground(
        self, target: str, prompt: RegionPrompt | None = None, others: np.ndarray | None = None
    ) -> Grounding:
        if self._size is None:
            raise RuntimeError("call set_image before ground")
        h, w = self._size
        if prompt:
            if self.clicks is None:
                raise GroundingError(
                    target,
                    "The SAM 3 backend takes text only (its box prompts "
                    "need torchvision); use the GroundingDINO + SAM backend for clicks "
                    "and boxes, or describe the region in words.",
                )
            prompt.check(h, w)
            mask, score = self.clicks.segment_prompt(prompt)
            if not mask.any():
                raise GroundingError(target, f'SAM found no region for "{target}" at the given prompt.')
            return Grounding(
                target,
                feather(mask),
                score,
                "box → SAM" if prompt.box_xyxy is not None else "click → SAM",
                prompt.box_xyxy,
            )
        if target == "image":
            return Grounding(target, np.ones((h, w), np.float32), 1.0, "whole image")
        if target == "background":
            if others is not None:
                return complement_of_others(target, others, (h, w))
            found = self._ground_phrase(target, SALIENT_PHRASE, plural=True, qualifier=None)
            return Grounding(
                target, 1.0 - found.mask, found.score, "SAM 3 (everything outside the detected objects)"
            )
        query = parse_target(target)
        phrase = SALIENT_PHRASE if query.noun in SUBJECT_TARGETS else query.noun
        return self._ground_phrase(target, phrase, query.plural, query.qualifier, query.rank)

    def _ground_phrase(
        self, target: str, phrase: str, plural: bool, qualifier: str | None, rank: int = 0
    ) -> Grounding:
        import torch
        from torch.nn.functional import interpolate

        probs, boxes, scores = self.segment_text(phrase)
        if len(scores) == 0:
            raise GroundingError(
                target,
                f'SAM 3 found no "{phrase}" in this image above the score '
                f"threshold {self.score_threshold:g}.",
                needs_prompt=True,
            )
        pick = select_boxes(boxes, scores, TargetQuery(phrase, qualifier, plural, rank), self._size)
        if not len(pick):
            raise GroundingError(
                target, f'SAM 3 found "{phrase}", but none matches "{target}".', needs_prompt=True
            )
        union = torch.from_numpy(probs[pick].max(axis=0))[None, None]  # (1, 1, h, w)
        full = interpolate(union, size=self._size, mode="bilinear", align_corners=False)[0, 0]
        mask = full.numpy() > self.mask_threshold
        if not mask.any():
            raise GroundingError(target, f'SAM 3 scored "{phrase}" but its mask is empty.', needs_prompt=True)
        return Grounding(target, feather(mask), float(scores[pick].mean()), self.name, union_box(boxes[pick]))


def load_sam3_grounder(
    weights: str | Path | None = None,
    device: str | None = None,
    *,
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    with_clicks: bool = True,
) -> Sam3Grounder:
    """Build the SAM 3 grounder from local weights (``restora models download sam3``).

    with_clicks: also load the configured SAM (``models.catalog.grounding_models()``) for
        clicks/boxes when its weights are present; otherwise that is logged and prompts raise
        GroundingError.
    Raises models.weights.WeightsError when the SAM 3 weights are missing.
    """
    from models.catalog import grounding_models
    from models.weights import find_local, resolve

    folder = resolve("sam3", weights)
    dev = select_device(device)
    clicks = None
    if with_clicks:
        segmenter = grounding_models()[1]
        loc = find_local(segmenter, weights)
        if loc is not None:
            clicks = SamSegmenter.from_pretrained(loc.path, dev)
        else:
            logger.info("SAM 3 backend without clicks/boxes: %s is not downloaded", segmenter)
    return Sam3Grounder.from_pretrained(
        folder, dev, score_threshold=score_threshold, mask_threshold=mask_threshold, clicks=clicks
    )
