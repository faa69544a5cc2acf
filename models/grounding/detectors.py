"""Detections, and faces with eye landmarks from YuNet (OpenCV's ``cv2.FaceDetectorYN``).

Inputs: the grounder's working image as BGR uint8 ``(h, w, 3)``. Outputs: boxes in its pixels,
XYXY float, with a score in [0, 1]. YuNet (shipped ONNX, ``shipped.py``) also gives five landmarks
per face: right eye, left eye, nose tip, right and left mouth corner, as (x, y) in the same pixels
("right"/"left" as seen from the person, i.e. the right eye is the one on the image's left).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.grounding.shipped import model_path

logger = logging.getLogger(__name__)

FACE_SCORE = 0.6  # YuNet's default score threshold
_lock = threading.Lock()


@dataclass(frozen=True)
class Detection:
    """One detection: box XYXY in working-image pixels, a score in [0, 1], what it is, and for
    faces the five YuNet landmarks ((x, y) each)."""

    box: tuple[float, float, float, float]
    score: float
    label: str = ""
    landmarks: tuple[tuple[float, float], ...] = field(default=(), compare=False)

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


_yunet: cv2.FaceDetectorYN | None = None


def detect_faces(bgr: np.ndarray) -> list[Detection]:
    """Faces found by YuNet in a BGR uint8 image, largest first, each with its five landmarks."""
    global _yunet
    h, w = bgr.shape[:2]
    with _lock:  # one detector per process; its input size is set per call
        if _yunet is None:
            _yunet = cv2.FaceDetectorYN.create(
                str(model_path("yunet")), "", (320, 320), FACE_SCORE, 0.3, 5000
            )
        _yunet.setInputSize((w, h))
        _, faces = _yunet.detect(np.ascontiguousarray(bgr))
    found = []
    for row in faces if faces is not None else ():
        x, y, bw, bh = (float(v) for v in row[:4])
        marks = tuple((float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5))
        box = (max(0.0, x), max(0.0, y), min(float(w), x + bw), min(float(h), y + bh))
        if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
            found.append(Detection(box, float(np.clip(row[14], 0, 1)), "face", marks))
    logger.debug("YuNet: %d faces", len(found))
    return sorted(found, key=lambda d: -d.area)


def eye_boxes(face: Detection) -> list[Detection]:
    """The two eyes of a YuNet face as boxes around its eye landmarks, left to right in the image.

    Each box is 0.5 × the distance between the eyes wide and 0.32 × tall, which covers the eye
    and lids of frontal and three-quarter faces.
    """
    if len(face.landmarks) < 2:
        return []
    (rx, ry), (lx, ly) = face.landmarks[:2]
    d = max(float(np.hypot(lx - rx, ly - ry)), 2.0)
    half_w, half_h = 0.25 * d, 0.16 * d
    eyes = [
        Detection((x - half_w, y - half_h, x + half_w, y + half_h), face.score, "eye")
        for x, y in ((rx, ry), (lx, ly))
    ]
    return sorted(eyes, key=lambda e: e.box[0])
