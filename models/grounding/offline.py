"""The offline grounder: no downloads, classical vision plus detectors that ship with OpenCV.

What it understands (targets are the parser's lower-case noun phrases):

- any target with a click/box prompt → interactive GrabCut (``interactive.py``);
- "image" and synonyms → the whole picture;
- "background" → ``1 − others``, or the complement of the main subject;
- "main subject", "foreground", "subject", "object", … → saliency + GrabCut (``saliency.py``);
- "face(s)", "eyes", and people ("person", "man", "woman", "child", …) via the face detector
  (``detectors.py``), with qualifiers such as "on the left" or "largest" (``spatial.py``);
- cats ("cat", "kitten", "the cat's face", …) via OpenCV's cat-face detector, which finds
  frontal cat faces only; the body is grown from the face by GrabCut;
- spatial regions: "left half", "top left corner", "center", … (``spatial.py``).

Everything else raises ``GroundingError``: the offline grounder never guesses.

Work happens at a working resolution (longest side ≤ ``OfflineConfig.work_size``); masks are
upsampled to the image's resolution and feathered. Per-image work (superpixels, saliency,
detections) is cached after its first use and dropped by ``set_image``/``reset_image``.
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
from skimage.filters import threshold_otsu

from models.grounding import detectors, interactive, saliency, spatial
from models.grounding.base import (
    Grounder,
    Grounding,
    GroundingError,
    RegionPrompt,
    complement_of_others,
)
from models.grounding.masks import fill_holes, refine_mask, remove_small_components

logger = logging.getLogger(__name__)

WHOLE = {
    "image",
    "whole image",
    "entire image",
    "full image",
    "photo",
    "whole photo",
    "entire photo",
    "picture",
    "whole picture",
    "entire picture",
    "everything",
    "all",
    "whole thing",
    "frame",
}
BACKGROUND = {
    "background",
    "rest",
    "everything else",
    "other parts",
    "backdrop",
    "surroundings",
    "rest of the image",
    "rest of the photo",
}
SUBJECT = {
    "foreground",
    "main subject",
    "subject",
    "object",
    "main object",
    "salient object",
    "subject of the photo",
    "main thing",
    "center of attention",
    "focus",
}
FACE = re.compile(r"\bfaces?\b")
EYES = re.compile(r"\beyes?\b")
PEOPLE = re.compile(
    r"\b(person|people|persons|man|men|woman|women|child|children|kid|kids|boy|boys|"
    r"girl|girls|guy|guys|lady|ladies|baby|portrait)\b"
)
CAT = re.compile(r"\b(cats?|kittens?|kitty|kitties|felines?)\b")
PLURAL = re.compile(
    r"\b(faces|eyes|people|persons|men|women|children|kids|boys|girls|guys|ladies|cats|kittens|kitties|"
    r"felines|all)\b"
)


@dataclass(frozen=True)
class OfflineConfig:
    """Settings of the offline grounder."""

    work_size: int = 640  # longest side of the working image, pixels
    saliency_scales: tuple[int, ...] = (150, 300)  # SLIC superpixel counts averaged for saliency
    click_superpixels: int = 300  # SLIC superpixels for the click seed
    subject_iters: int = 5  # GrabCut iterations refining the saliency mask
    subject_side: int = 320  # longest side for that GrabCut (saliency is coarse; halves the time)


def normalise_target(target: str) -> str:
    """Lower-case, collapse spaces, drop a leading article/possessive and trailing punctuation."""
    t = re.sub(r"\s+", " ", target.strip().lower()).strip(" .,!?;:")
    return re.sub(r"^(?:the|a|an|my|our|his|her|their|its|this|that)\s+", "", t)


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
        work = (
            image
            if scale == 1.0
            else cv2.resize(
                image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
            )
        )
        work = np.ascontiguousarray(np.clip(work, 0, 1))
        u8 = (work * 255 + 0.5).astype(np.uint8)
        self._image = image
        self._cache = {
            "scale": scale,
            "work": work,
            "bgr": np.ascontiguousarray(u8[:, :, ::-1]),
            "grey": cv2.cvtColor(u8, cv2.COLOR_RGB2GRAY),
        }

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
        h, w = self._shape
        if t in WHOLE:
            return Grounding(
                target, np.ones((h, w), np.float32), 1.0, "whole image", (0.0, 0.0, float(w), float(h))
            )
        if t in BACKGROUND:
            return self._background(target, others)
        if t in SUBJECT:
            return self._subject(target)
        if CAT.search(t):  # before faces: "the cat's face" is a cat's
            return self._cats(target, t)
        if FACE.search(t) or EYES.search(t) or PEOPLE.search(t):
            return self._people(target, t)
        sides = spatial.parse_region(t)
        if sides is not None:
            return self._finish(target, spatial.region_mask(sides, h, w), 1.0, "spatial region", soft=True)
        raise GroundingError(target)

    # -- helpers -------------------------------------------------------------------------------
    def _to_work(self, x: float, y: float) -> tuple[int, int]:
        s, (wh, ww) = self._cache["scale"], self._cache["bgr"].shape[:2]
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

    def _ground_prompt(self, target: str, prompt: RegionPrompt) -> Grounding:
        pos = [self._to_work(p.x, p.y) for p in prompt.points if p.positive]
        neg = [self._to_work(p.x, p.y) for p in prompt.points if not p.positive]
        bgr = self._cache["bgr"]
        if prompt.box_xyxy is not None:
            s = self._cache["scale"]
            box = tuple(v * s for v in prompt.box_xyxy)
            mask, score = interactive.segment_box(bgr, box, pos, neg)
            how = "box + clicks → GrabCut" if prompt.points else "box → GrabCut"
        elif pos:
            graph = self._cached(
                "click_graph",
                lambda: saliency.build_superpixels(self._cache["work"], self.config.click_superpixels),
            )
            mask, score = interactive.segment_clicks(bgr, graph, pos, neg)
            how = "click → GrabCut"
        else:
            raise ValueError("Only negative clicks were given; add a positive click or a box on the target.")
        if not mask.any():
            raise GroundingError(
                target,
                f'GrabCut found nothing for "{target}" at your click/box; '
                "try a tighter box or another click on the target.",
            )
        return self._finish(target, mask, score, how)

    # -- subject / background ------------------------------------------------------------------
    def _subject_mask(self) -> tuple[np.ndarray, float, str]:
        """Main subject: (bool mask at ≤ ``subject_side`` px, score, how); ``_finish`` upsamples."""

        def compute() -> tuple[np.ndarray, float, str]:
            sal, info = saliency.subject_saliency(self._cache["work"], self.config.saliency_scales)
            bgr = self._cache["bgr"]
            h, w = sal.shape
            s = min(1.0, self.config.subject_side / max(h, w))
            if s < 1.0:
                size = (max(1, round(w * s)), max(1, round(h * s)))
                sal = cv2.resize(sal, size, interpolation=cv2.INTER_AREA)
                bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
            thr = min(float(threshold_otsu(sal)), 0.95 * float(sal.max()))
            seed = sal > thr
            init = np.where(seed, interactive.PR_FGD, interactive.PR_BGD).astype(np.uint8)
            try:
                fg = interactive.grabcut(bgr, init, max_iter=self.config.subject_iters)
            except ValueError:
                fg = seed
            fg = fill_holes(remove_small_components(fg, min_frac_of_largest=0.05))
            if not 0.002 < fg.mean() < 0.98:
                fg = fill_holes(remove_small_components(seed))
            score = float(sal[fg].mean() - sal[~fg].mean()) if 0 < fg.mean() < 1 else 0.0
            cue = "saliency + defocus" if info["defocus"] else "saliency"
            return fg, score, f"{cue} + GrabCut"

        return self._cached("subject", compute)

    def _subject(self, target: str) -> Grounding:
        fg, score, how = self._subject_mask()
        if not fg.any():
            raise GroundingError(
                target,
                f'I could not separate a main subject for "{target}"; click on it or drag a box around it.',
            )
        return self._finish(target, fg, score, how)

    def _background(self, target: str, others: np.ndarray | None) -> Grounding:
        h, w = self._shape
        if others is not None:
            return complement_of_others(target, others, (h, w))
        subject = self._subject(target)
        mask = 1.0 - subject.mask
        how = f"background = everything except the main subject ({subject.how})"
        return Grounding(target, mask.astype(np.float32), subject.score, how, (0.0, 0.0, float(w), float(h)))

    # -- faces, eyes, people -------------------------------------------------------------------
    def _faces(self) -> list[detectors.Detection]:
        return self._cached("faces", lambda: detectors.detect_faces(self._cache["grey"]))

    def _choose(
        self, target: str, t: str, found: list[detectors.Detection], what: str, limits: str = ""
    ) -> list[detectors.Detection]:
        """The detections ``target`` means: by its qualifier, all of them for plurals.

        ``what``: the detector's object ("face"); ``limits``: what it cannot see, for the error.
        """
        wh, ww = self._cache["bgr"].shape[:2]
        if not found:
            raise GroundingError(
                target,
                f'I looked for {what}s with the OpenCV {what} detector to find "{target}" '
                f'and found none{limits}. Click on it or drag a box around it, say "the main '
                'subject" if it is what the photo is about, or install the full grounding models.',
            )
        qualifier = spatial.parse_qualifier(t)
        chosen = (
            spatial.select(found, qualifier, wh, ww)
            if PLURAL.search(t)
            else [spatial.pick(found, qualifier, wh, ww)]
        )
        if not chosen:
            raise GroundingError(
                target,
                f"I found {len(found)} {what}(s) with the OpenCV {what} detector, but none "
                f'matches "{target}". Click on the one you mean or drag a box around it.',
            )
        return chosen

    def _people(self, target: str, t: str) -> Grounding:
        wh, ww = self._cache["bgr"].shape[:2]
        chosen = self._choose(target, t, self._faces(), "face")
        score = float(np.mean([f.score for f in chosen]))
        mask = np.zeros((wh, ww), np.float32)
        if FACE.search(t):
            for f in chosen:
                _ellipse(mask, f.box, 1.0)
            return self._finish(target, mask, score, "face detector (OpenCV Haar cascade)")
        if EYES.search(t):
            eyes = [e for f in chosen for e in detectors.detect_eyes(self._cache["grey"], f)]
            if not eyes:
                raise GroundingError(
                    target,
                    "I found faces with the OpenCV face detector but no eyes inside "
                    "them. Click on the eyes or drag a box around them.",
                )
            for e in eyes:
                _ellipse(mask, e.box, 1.3)
            return self._finish(
                target, mask, score, "eye detector inside detected faces (OpenCV Haar cascades)"
            )
        fg = np.zeros((wh, ww), bool)
        for f in chosen:
            cx, cy = f.centre
            chest = (int(cx), int(min(wh - 1, f.box[3] + 1.2 * (f.box[3] - f.box[1]))))
            fg |= self._grow_body(f, [(int(cx), int(cy)), chest])
        how = (
            "face detector → head-and-torso box (3.2 face widths wide, 5.5 face heights tall) → GrabCut "
            "seeded at the face and the chest below it; legs and people without a visible face are not found"
        )
        return self._finish(target, fg, score * 0.7, how)

    def _grow_body(self, face: detectors.Detection, seeds: list[tuple[int, int]]) -> np.ndarray:
        """GrabCut in the body box below ``face``, seeded at ``seeds``; bool mask at work size."""
        wh, ww = self._cache["bgr"].shape[:2]
        box = detectors.body_box(face, wh, ww)
        return interactive.segment_box(self._cache["bgr"], box, seeds, tight_box=False, max_iter=5)[0]

    def _cats(self, target: str, t: str) -> Grounding:
        wh, ww = self._cache["bgr"].shape[:2]
        found = self._cached("cats", lambda: detectors.detect_cat_faces(self._cache["grey"], self._faces()))
        chosen = self._choose(target, t, found, "cat face", " (it sees frontal cat faces only)")
        score = float(np.mean([f.score for f in chosen]))
        mask = np.zeros((wh, ww), np.float32)
        for f in chosen:
            _ellipse(mask, f.box, 1.0)
        if FACE.search(t):
            how = "cat-face detector (OpenCV Haar cascades, frontal faces)"
            return self._finish(target, mask, score, how)
        fg = mask > 0  # the face always belongs to the cat, whatever GrabCut makes of the body
        for f in chosen:
            fg |= self._grow_body(f, [tuple(int(v) for v in f.centre)])
        how = (
            "cat-face detector (frontal faces) → body box (3.2 face widths wide, 5.5 face heights tall) "
            "→ GrabCut seeded at the face; a cat lying sideways or facing away is only partly found"
        )
        return self._finish(target, fg, score * 0.7, how)


def _ellipse(mask: np.ndarray, box: tuple[float, float, float, float], grow: float) -> None:
    """Draw a filled ellipse inscribed in ``box`` (XYXY), enlarged by ``grow``, into ``mask``."""
    x0, y0, x1, y1 = box
    centre = (round((x0 + x1) / 2), round((y0 + y1) / 2))
    axes = (max(1, round(grow * (x1 - x0) / 2)), max(1, round(grow * 1.15 * (y1 - y0) / 2)))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)


__all__ = ["OfflineConfig", "OfflineGrounder", "normalise_target"]
