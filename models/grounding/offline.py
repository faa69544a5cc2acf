"""The offline grounder: no downloads; small shipped pretrained models plus classical vision.

What it understands (targets are the parser's lower-case noun phrases; qualifiers such as "on the
left", "largest", "second from the right" and plurals are split off by ``boxes.parse_target``,
the same handling the full backend uses):

- any target with a click/box prompt → miniSAM, GrabCut-refined for boxes (``prompting.py``);
- "image" and synonyms → the whole picture;
- "background" → ``1 − others``, or the complement of the main subject;
- "main subject", "foreground", … → confident YOLOX detections weighed by saliency → miniSAM,
  else saliency + GrabCut (``subject.py``);
- "face(s)", "eyes" → YuNet faces and its eye landmarks (``detectors.py``);
- every COCO class by its name, synonyms, plurals and group words ("puppy", "kids", "vehicles",
  "food"; ``nouns.py``) → YOLOX-Nano boxes (``yolox.py``) → miniSAM box prompts;
- spatial regions: "left half", "top left corner", "center", … (``spatial.py``).

Everything else raises ``GroundingError`` asking for a click or a box: it never guesses.

``OfflineConfig.segmenter = "grabcut"`` replaces miniSAM by GrabCut (the classical fallback,
``interactive.py``). Work happens at a working resolution (longest side ≤ ``work_size``); masks
are upsampled to the image's resolution and feathered. Per-image work (detections, saliency,
superpixels) is cached until ``set_image``/``reset_image``; miniSAM's image embedding is cached per
process by image content (``minisam.py``), so later turns on the same photo reuse it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from models.grounding import interactive, prompting, saliency, spatial
from models.grounding.base import Grounder, Grounding, GroundingError, RegionPrompt, complement_of_others
from models.grounding.boxes import TargetQuery, parse_target, select_boxes
from models.grounding.detectors import Detection
from models.grounding.masks import refine_mask
from models.grounding.nouns import NounMatch, lookup

logger = logging.getLogger(__name__)

WHOLE = {
    "image", "whole image", "entire image", "full image", "photo", "whole photo", "entire photo",
    "picture", "whole picture", "entire picture", "everything", "all", "whole thing", "frame",
}  # fmt: skip
BACKGROUND = {
    "background", "rest", "everything else", "other parts", "backdrop", "surroundings",
    "rest of the image", "rest of the photo",
}  # fmt: skip
SUBJECT = {
    "foreground", "main subject", "subject", "object", "main object", "salient object",
    "subject of the photo", "main thing", "center of attention", "focus",
}  # fmt: skip
FACE = re.compile(r"\bfaces?\b")
EYES = re.compile(r"\beyes?\b")
SEGMENTERS = ("minisam", "grabcut")
#: Detections of the target's class scoring below this are not taken as the target.
MIN_SCORE = 0.1


@dataclass(frozen=True)
class OfflineConfig:
    """Settings of the offline grounder."""

    work_size: int = 640  # longest side of the working image, pixels
    saliency_scales: tuple[int, ...] = (150, 300)  # SLIC superpixel counts averaged for saliency
    click_superpixels: int = 300  # SLIC superpixels for the classical click mask
    subject_iters: int = 5  # GrabCut iterations refining the saliency mask
    subject_side: int = 320  # longest side for that GrabCut (saliency is coarse; halves the time)
    segmenter: str = "minisam"  # "minisam", or "grabcut" (classical, no network)
    min_score: float = MIN_SCORE  # YOLOX score a named object needs

    def __post_init__(self) -> None:
        if self.segmenter not in SEGMENTERS:
            raise ValueError(f"segmenter must be one of {SEGMENTERS}, got {self.segmenter!r}")
        if not 0.0 < self.min_score < 1.0:
            raise ValueError(f"min_score must be in (0, 1), got {self.min_score!r}")


def normalise_target(target: str) -> str:
    """Lower-case, collapse spaces, drop a leading article/possessive and trailing punctuation."""
    t = re.sub(r"\s+", " ", target.strip().lower()).strip(" .,!?;:")
    return re.sub(r"^(?:the|a|an|my|our|his|her|their|its|this|that)\s+", "", t)


def _scores(found: list[Detection]) -> str:
    lo, hi = min(d.score for d in found), max(d.score for d in found)
    return f"confidence {hi:.2f}" if len(found) == 1 else f"confidence {lo:.2f}–{hi:.2f}"


class OfflineGrounder(Grounder):
    """Grounder with no downloaded weights. See the module docstring for the vocabulary."""

    name = "offline"

    def __init__(self, config: OfflineConfig | None = None):
        self.config = config or OfflineConfig()
        self._image: np.ndarray | None = None
        self._cache: dict[str, Any] = {}

    # -- lifecycle -----------------------------------------------------------------------------
    def set_image(self, image: np.ndarray) -> None:
        """image: (H, W, 3) float32 RGB in [0, 1]."""
        if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3):
            raise ValueError(f"Expected an (H, W, 3) RGB array, got {getattr(image, 'shape', type(image))}.")
        if image.dtype != np.float32 or image.size == 0 or image.min() < 0 or image.max() > 1:
            raise ValueError(f"Expected float32 RGB in [0, 1], got dtype {image.dtype}.")
        self.reset_image()
        h, w = image.shape[:2]
        scale = min(1.0, self.config.work_size / max(h, w))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        work = image if scale == 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        work = np.ascontiguousarray(np.clip(work, 0, 1))
        u8 = (work * 255 + 0.5).astype(np.uint8)
        self._image = image
        self._cache = {"scale": scale, "work": work, "bgr": np.ascontiguousarray(u8[:, :, ::-1])}

    def reset_image(self) -> None:
        self._image = None
        self._cache = {}

    def _cached(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            t0 = time.perf_counter()
            self._cache[key] = compute()
            logger.debug("computed %s in %.3f s", key, time.perf_counter() - t0)
        return self._cache[key]

    @property
    def _shape(self) -> tuple[int, int]:
        if self._image is None:
            raise RuntimeError("Call set_image(image) before ground().")
        return self._image.shape[:2]

    @property
    def _work_shape(self) -> tuple[int, int]:
        return self._cache["bgr"].shape[:2]

    # -- entry point ---------------------------------------------------------------------------
    def ground(
        self, target: str, prompt: RegionPrompt | None = None, others: np.ndarray | None = None
    ) -> Grounding:
        h, w = self._shape
        t0 = time.perf_counter()
        if prompt:
            prompt.check(h, w)
            result = self._ground_prompt(target, prompt)
        else:
            result = self._ground_text(target, normalise_target(target), others)
        logger.info("grounded %r by %s in %.2f s", target, result.how, time.perf_counter() - t0)
        return result

    def _ground_text(self, target: str, t: str, others: np.ndarray | None) -> Grounding:
        from models.grounding import subject

        h, w = self._shape
        if t in WHOLE:
            full = (0.0, 0.0, float(w), float(h))
            return Grounding(target, np.ones((h, w), np.float32), 1.0, "whole image", full)
        if t in BACKGROUND:
            return self._background(target, others)
        query = parse_target(t)
        if t in SUBJECT or query.noun in SUBJECT:
            return subject.ground_subject(self, target)
        if FACE.search(query.noun) or EYES.search(query.noun):
            return self._faces(target, query)
        match = lookup(t)
        if match is not None:
            return self._objects(target, query, match)
        sides = spatial.parse_region(t)
        if sides is not None:
            return self._finish(target, spatial.region_mask(sides, h, w), 1.0, "spatial region", soft=True)
        raise GroundingError(
            target,
            f'"{target}" is not something the offline detector knows (it knows the 80 COCO object '
            "classes — people, animals, vehicles, food, furniture, … — plus faces and eyes).",
            needs_prompt=True,
        )

    # -- helpers -------------------------------------------------------------------------------
    def _to_work(self, x: float, y: float) -> tuple[int, int]:
        s, (wh, ww) = self._cache["scale"], self._work_shape
        return int(np.clip(x * s, 0, ww - 1)), int(np.clip(y * s, 0, wh - 1))

    def _finish(self, target: str, mask: np.ndarray, score: float, how: str, soft: bool = False) -> Grounding:
        """Work-resolution mask → refined, full-resolution feathered Grounding."""
        h, w = self._shape
        if soft:
            full = np.clip(cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)
        else:
            full = refine_mask(mask, out_shape=(h, w), min_frac_of_largest=0.02)
        ys, xs = np.nonzero(full > 0.5)
        box = (
            (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)) if len(xs) else None
        )
        return Grounding(target, full.astype(np.float32), float(np.clip(score, 0, 1)), how, box)

    def detections(self, views: tuple[str, ...]) -> list[Detection]:
        """YOLOX detections (working pixels) with the given test-time views, cached per image."""
        from models.grounding import yolox

        return self._cached(
            f"yolox:{'+'.join(views)}", lambda: _detector(yolox).detect(self._cache["bgr"], views)
        )

    def sam(self, points=(), labels=(), box=None, mask_input=None):
        """miniSAM's candidates for a prompt in working pixels (the embedding is per photo)."""
        from models.grounding import minisam

        segmenter = minisam.shared()
        key = self._cached("key", lambda: minisam.image_key(self._image))
        embedding = self._cached("embedding", lambda: segmenter.embed(self._image, key))
        s = self._cache["scale"]
        pts = [(x / s, y / s) for x, y in points]
        full_box = None if box is None else [v / s for v in box]
        return segmenter.decode(embedding, pts, labels, full_box, mask_input)

    def box_mask(self, box: tuple[float, float, float, float]) -> tuple[np.ndarray, float]:
        """A detector box (working pixels) → (bool mask at working size, predicted IoU)."""
        if self.config.segmenter == "grabcut":
            return interactive.segment_box(self._cache["bgr"], box, tight_box=False)
        candidates = self.sam(box=box)
        return candidates.logits(0, self._work_shape) > 0, float(candidates.iou[0])

    @property
    def segmenter_name(self) -> str:
        return "GrabCut" if self.config.segmenter == "grabcut" else "miniSAM"

    # -- clicks and boxes ----------------------------------------------------------------------
    def _ground_prompt(self, target: str, prompt: RegionPrompt) -> Grounding:
        pos = [self._to_work(p.x, p.y) for p in prompt.points if p.positive]
        neg = [self._to_work(p.x, p.y) for p in prompt.points if not p.positive]
        self._cache["clicks"] = tuple((p.x, p.y, int(p.positive)) for p in prompt.points)
        if prompt.box_xyxy is None and not pos:
            raise ValueError("Only negative clicks were given; add a positive click or a box on the target.")
        s = self._cache["scale"]
        box = None if prompt.box_xyxy is None else tuple(v * s for v in prompt.box_xyxy)
        what = ("box + clicks" if prompt.points else "box") if box is not None else "click"
        if self.config.segmenter == "grabcut":
            mask, score = self._grabcut_prompt(box, pos, neg)
            how = f"{what} → GrabCut"
        else:
            mask, score, how = self._sam_prompt(box, pos, neg, what)
        if not mask.any():
            raise GroundingError(
                target,
                f'{self.segmenter_name} found nothing for "{target}" at your click/box; '
                "try a tighter box or another click on the target.",
            )
        return self._finish(target, mask, score, how)

    def _grabcut_prompt(self, box, pos, neg) -> tuple[np.ndarray, float]:
        bgr = self._cache["bgr"]
        if box is not None:
            return interactive.segment_box(bgr, box, pos, neg)
        return interactive.segment_clicks(bgr, self._click_graph(), pos, neg)

    def _click_graph(self) -> saliency.SuperpixelGraph:
        n = self.config.click_superpixels
        return self._cached("click_graph", lambda: saliency.build_superpixels(self._cache["work"], n))

    def _sam_prompt(self, box, pos, neg, what: str) -> tuple[np.ndarray, float, str]:
        points = [*pos, *neg]
        labels = [1] * len(pos) + [0] * len(neg)
        candidates = self.sam(points, labels, box)
        shape = self._work_shape
        if box is not None:
            # SAM's rule: a lone box takes the best of its three masks, a box with clicks mask 0
            index = prompting.best_box_mask(candidates) if not points else 0
            logits = candidates.logits(index, shape)
            mask = prompting.refine_with_grabcut(self._cache["bgr"], logits, box, pos, neg)
            how = f"{what} → miniSAM + GrabCut edge refinement"
        elif len(points) == 1:
            classical, _ = interactive.segment_clicks(self._cache["bgr"], self._click_graph(), pos)
            index, logits = prompting.choose_click_mask(candidates, shape, classical)
            mask = logits > 0
            how = "click → miniSAM (mask chosen by predicted IoU, stability and the colour-based click mask)"
        else:  # further clicks: the mask that obeys them all and changes the earlier one least
            from models.grounding import minisam

            previous = minisam.shared().previous_clicks_mask(self._cache["key"], self._cache["clicks"])
            if previous is None:  # no earlier mask (clicks given all at once): SAM's rule
                index, logits = 0, candidates.logits(0, shape)
                how = f"{len(points)} clicks → miniSAM"
            else:
                earlier = minisam.MaskCandidates(previous[None], np.ones(1, np.float32), candidates.size)
                fed = self.sam(points, labels, mask_input=previous)
                candidates, index, logits = prompting.choose_correction(
                    (fed, candidates), shape, earlier.logits(0, shape) > 0, pos, neg
                )
                how = f"{len(points)} clicks → miniSAM (the mask obeying every click closest to the last one)"
            mask = logits > 0
        if box is None:
            from models.grounding import minisam

            minisam.shared().remember_clicks(
                self._cache["key"], self._cache["clicks"], candidates.low_res[index]
            )
        score = float(np.clip(candidates.iou[index], 0, 1))
        return mask, score, f"{how}, predicted IoU {score:.2f}"

    # -- subject / background ------------------------------------------------------------------
    def _background(self, target: str, others: np.ndarray | None) -> Grounding:
        from models.grounding import subject

        h, w = self._shape
        if others is not None:
            return complement_of_others(target, others, (h, w))
        found = subject.ground_subject(self, target)
        how = f"background = everything except the main subject ({found.how})"
        return Grounding(
            target, (1.0 - found.mask).astype(np.float32), found.score, how, (0.0, 0.0, float(w), float(h))
        )

    # -- faces, eyes, objects ------------------------------------------------------------------
    def _pick(
        self,
        target: str,
        query: TargetQuery,
        found: list[Detection],
        plural: bool,
        what: str,
        size_weight: float = 0.5,
    ) -> list[Detection]:
        """The detections ``query`` means, or GroundingError naming what was seen."""
        if not found:
            raise GroundingError(target, f"I looked for {what} and found none.", needs_prompt=True)
        boxes = np.array([d.box for d in found], np.float32)
        scores = np.array([d.score for d in found], np.float32)
        q = TargetQuery(query.noun, query.qualifier, plural, query.rank)
        picked = select_boxes(boxes, scores, q, self._work_shape, size_weight=size_weight)
        if not len(picked):
            raise GroundingError(
                target, f'I found {len(found)} {what}, but none matches "{target}".', needs_prompt=True
            )
        return [found[i] for i in picked]

    def _faces(self, target: str, query: TargetQuery) -> Grounding:
        from models.grounding.detectors import detect_faces, eye_boxes

        faces = self._cached("faces", lambda: detect_faces(self._cache["bgr"]))
        plural = query.plural or bool(re.search(r"\b(faces|eyes|people|persons)\b", query.noun))
        chosen = self._pick(target, query, faces, plural, "faces with the YuNet face detector", 0.0)
        mask = np.zeros(self._work_shape, np.float32)
        if EYES.search(query.noun):
            eyes = [e for f in chosen for e in eye_boxes(f)]
            for e in eyes:
                _ellipse(mask, e.box, 1.0)
            how = f"YuNet eye landmarks of {len(chosen)} face(s) ({_scores(chosen)})"
        else:
            for f in chosen:
                _ellipse(mask, f.box, 1.0)
            how = f"YuNet face detector ({_scores(chosen)})"
        return self._finish(target, mask, float(np.mean([f.score for f in chosen])), how)

    def _objects(self, target: str, query: TargetQuery, match: NounMatch) -> Grounding:
        from models.grounding.yolox import VIEWS_ALL

        allowed = set(match.classes)
        found = [
            d for d in self.detections(VIEWS_ALL) if d.label in allowed and d.score >= self.config.min_score
        ]
        names = "/".join(match.classes[:4]) + ("/…" if len(match.classes) > 4 else "")
        what = f'"{names}" with the YOLOX-Nano detector (at confidence ≥ {self.config.min_score:g})'
        chosen = self._pick(target, query, found, query.plural or match.mass, what)
        mask = np.zeros(self._work_shape, bool)
        for det in chosen:
            mask |= self.box_mask(det.box)[0]
        if not mask.any():
            raise GroundingError(
                target,
                f"{self.segmenter_name} returned an empty mask for the detected box.",
                needs_prompt=True,
            )
        labels = sorted({d.label for d in chosen})
        count = f"{len(chosen)} " if len(chosen) > 1 else ""
        how = (
            f'YOLOX-Nano {count}"{"/".join(labels)}" detection{"s" if count else ""} ({_scores(chosen)}) → '
            f"{self.segmenter_name} box prompt{'s' if count else ''}"
        )
        return self._finish(target, mask, float(np.mean([d.score for d in chosen])), how)


_yolox_detector = None


def _detector(yolox_module):
    global _yolox_detector
    if _yolox_detector is None:
        _yolox_detector = yolox_module.YoloxDetector()
    return _yolox_detector


def _ellipse(mask: np.ndarray, box: tuple[float, float, float, float], grow: float) -> None:
    """Draw a filled ellipse inscribed in ``box`` (XYXY), enlarged by ``grow``, into ``mask``."""
    x0, y0, x1, y1 = box
    centre = (round((x0 + x1) / 2), round((y0 + y1) / 2))
    axes = (max(1, round(grow * (x1 - x0) / 2)), max(1, round(grow * 1.15 * (y1 - y0) / 2)))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)


def prefetch(image: np.ndarray) -> None:
    """Start miniSAM's image embedding of ``image`` ((H, W, 3) float32 RGB [0, 1]) in the
    background, so the first grounding on this photo does not wait for it (the UI's upload)."""
    from models.grounding import minisam

    minisam.shared().prefetch(image)


__all__ = ["OfflineConfig", "OfflineGrounder", "normalise_target", "prefetch"]
