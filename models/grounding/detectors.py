"""Face, eye and cat-face detection with the Haar cascades that ship inside OpenCV (``cv2.data``).

Inputs: the working image as greyscale uint8 ``(h, w)``. Outputs: boxes in working-image
pixels, XYXY float, with a detection score in [0, 1].
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

logger = logging.getLogger(__name__)

FACE_CASCADES = ("haarcascade_frontalface_alt2.xml",)
PROFILE_CASCADE = "haarcascade_profileface.xml"
EYE_CASCADE = "haarcascade_eye.xml"
CAT_CASCADES = ("haarcascade_frontalcatface_extended.xml", "haarcascade_frontalcatface.xml")
#: Mean |Laplacian| (grey levels) a cat-face box needs: fur is textured; the cascades' false
#: alarms on BSDS (a patch of sky, a doll's face) score ≈ 4–5, the three felines 24–49.
CAT_MIN_TEXTURE = 10.0


@dataclass(frozen=True)
class Detection:
    """One detection: box XYXY in working-image pixels and a score in [0, 1]."""

    box: tuple[float, float, float, float]
    score: float

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


@cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    path = f"{cv2.data.haarcascades}{name}"
    clf = cv2.CascadeClassifier(path)
    if clf.empty():
        raise RuntimeError(
            f"OpenCV could not load its bundled cascade {path}; reinstall opencv-python-headless."
        )
    return clf


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _run(grey: np.ndarray, name: str, min_size: int, neighbours: int) -> list[tuple[np.ndarray, float]]:
    rects, _, weights = _cascade(name).detectMultiScale3(
        grey, scaleFactor=1.1, minNeighbors=neighbours, minSize=(min_size, min_size), outputRejectLevels=True
    )
    return [
        (r, float(wt))
        for r, wt in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).ravel(), strict=True)
    ]


def _xyxy(x: float, y: float, bw: float, bh: float) -> tuple[float, float, float, float]:
    """An OpenCV (x, y, width, height) rectangle as a float XYXY box."""
    return float(x), float(y), float(x + bw), float(y + bh)


def _cascade_score(weight: float) -> float:
    """A cascade's final-stage margin → a detection score in (0, 1)."""
    return float(1 / (1 + np.exp(-(weight - 1.0))))


def detect_faces(grey: np.ndarray) -> list[Detection]:
    """Frontal faces (alt2 cascade) plus profile faces, merged by non-maximum suppression.

    Returns detections sorted by area, largest first.
    """
    h, w = grey.shape
    eq = cv2.equalizeHist(grey)
    min_size = max(20, round(0.04 * min(h, w)))
    found: list[Detection] = []
    for name in (*FACE_CASCADES, PROFILE_CASCADE):
        for (x, y, bw, bh), weight in _run(eq, name, min_size, neighbours=5):
            found.append(Detection(_xyxy(x, y, bw, bh), _cascade_score(weight)))
    kept = _nms(found)
    logger.debug("face detector: %d raw, %d kept", len(found), len(kept))
    return kept


def _nms(found: list[Detection], overlap: float = 0.3) -> list[Detection]:
    """Keep the best-scoring detection of each group overlapping by IoU ≥ ``overlap``; largest first."""
    kept: list[Detection] = []
    for det in sorted(found, key=lambda d: -d.score):
        if all(_iou(det.box, k.box) < overlap for k in kept):
            kept.append(det)
    return sorted(kept, key=lambda d: -d.area)


def detect_cat_faces(grey: np.ndarray, human_faces: list[Detection]) -> list[Detection]:
    """Frontal cat faces (OpenCV's two cat-face cascades), largest first.

    The cat cascades also fire on human faces and on smooth patches, so a detection is dropped
    when it overlaps one of ``human_faces`` (``detect_faces`` on the same image), when its
    score is below 0.5, or when the box lacks fur-like texture (``CAT_MIN_TEXTURE``). On the
    550 BSDS/GrabCut images here that leaves the three feline faces (a lynx kitten, a cougar,
    a bobcat) and one false alarm (a doll's face is textured enough to pass).
    """
    h, w = grey.shape
    eq = cv2.equalizeHist(grey)
    lap = np.abs(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F))
    min_size = max(24, round(0.06 * min(h, w)))
    found: list[Detection] = []
    for name in CAT_CASCADES:
        for (x, y, bw, bh), weight in _run(eq, name, min_size, neighbours=4):
            det = Detection(_xyxy(x, y, bw, bh), _cascade_score(weight))
            texture = float(lap[y : y + bh, x : x + bw].mean())
            if (
                det.score >= 0.5
                and texture >= CAT_MIN_TEXTURE
                and all(_iou(det.box, f.box) < 0.2 for f in human_faces)
            ):
                found.append(det)
    kept = _nms(found)
    logger.debug("cat-face detector: %d kept", len(kept))
    return kept


def detect_eyes(grey: np.ndarray, face: Detection) -> list[Detection]:
    """Eyes inside the upper 60 % of one face box; at most two, left to right."""
    x0, y0, x1, y1 = (int(v) for v in face.box)
    roi = grey[y0 : y0 + int(0.6 * (y1 - y0)), x0:x1]
    if roi.size == 0:
        return []
    min_size = max(6, round(0.12 * (x1 - x0)))
    eyes = [
        Detection(_xyxy(x0 + x, y0 + y, bw, bh), 0.8)
        for (x, y, bw, bh), _ in _run(roi, EYE_CASCADE, min_size, neighbours=4)
    ]
    eyes.sort(key=lambda d: -d.area)
    return sorted(eyes[:2], key=lambda d: d.box[0])


def body_box(face: Detection, h: int, w: int) -> tuple[float, float, float, float]:
    """Head-and-body box implied by a face box (XYXY, clipped to the image).

    Heuristic: a person's torso, or a sitting cat facing the camera, is about 3 face-widths
    wide and reaches about 4 face-heights below the chin; the box also covers hair or ears
    above the face.
    """
    x0, y0, x1, y1 = face.box
    fw, fh = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    return (
        max(0.0, cx - 1.6 * fw),
        max(0.0, y0 - 0.5 * fh),
        min(float(w), cx + 1.6 * fw),
        min(float(h), y1 + 4.0 * fh),
    )
