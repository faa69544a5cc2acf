"""YOLOX-Nano, the offline COCO 80-class detector (shipped ONNX, run by onnxruntime).

Input: a BGR uint8 image ``(h, w, 3)`` (the grounder's working image). Output: ``Detection``s with
a COCO label, an XYXY box in that image's pixels and a score in [0, 1] (objectness × class
probability, as YOLOX defines it).

The network sees a 416² letterbox (pad 114, top-left), so small objects are easily missed. Test-time
views recover them: the horizontally flipped image, and four overlapping tiles of 60 % × 60 % of
the image (boxes that touch a tile's inner edge are dropped: they are cut objects). On
``coco_mval_dev300`` the share of targets with a detection of their class at score ≥ 0.1 goes
83.7 % (one view) → 86.0 % (+ flip) → 90.3 % (+ tiles); see ``benchmarks/grounding_iou.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import cv2
import numpy as np

from models.grounding.boxes import nms
from models.grounding.detectors import Detection
from models.grounding.nouns import COCO_CLASSES
from models.grounding.shipped import onnx_session

logger = logging.getLogger(__name__)

SIZE = 416  # the network's input side
STRIDES = (8, 16, 32)
PAD_VALUE = 114
TILE = 0.6  # tile side as a fraction of the image side
VIEWS_ALL = ("full", "flip", "tiles")
VIEWS_FAST = ("full", "flip")


def _grid() -> tuple[np.ndarray, np.ndarray]:
    """(3549, 2) cell offsets (x, y) and (3549, 1) strides of YOLOX's three output levels."""
    cells, strides = [], []
    for s in STRIDES:
        n = SIZE // s
        yy, xx = np.mgrid[0:n, 0:n]
        cells.append(np.stack([xx.ravel(), yy.ravel()], 1))
        strides.append(np.full(n * n, s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)[:, None]


class YoloxDetector:
    """COCO objects in a BGR image; ``detect`` runs the requested test-time views."""

    def __init__(self, session=None):
        self.session = session or onnx_session("yolox-nano")
        self._cells, self._strides = _grid()
        self.runs = 0  # network calls, for tests and logs

    def _raw(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One network pass: (N, 4) XYXY boxes in ``bgr``'s pixels and (N, 80) class scores."""
        h, w = bgr.shape[:2]
        r = min(SIZE / h, SIZE / w)
        resized = cv2.resize(bgr, (max(1, int(w * r)), max(1, int(h * r))), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((SIZE, SIZE, 3), PAD_VALUE, np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)  # (1, 3, 416, 416) BGR 0–255
        out = self.session.run(None, {"images": blob})[0][0]  # (3549, 85)
        self.runs += 1
        xy = (out[:, :2] + self._cells) * self._strides
        wh = np.exp(np.minimum(out[:, 2:4], 10.0)) * self._strides
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1) / r
        return boxes, out[:, 4:5] * out[:, 5:]

    def _views(self, bgr: np.ndarray, views: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        h, w = bgr.shape[:2]
        boxes, scores = [], []
        if "full" in views:
            b, s = self._raw(bgr)
            boxes.append(b), scores.append(s)
        if "flip" in views:
            b, s = self._raw(np.ascontiguousarray(bgr[:, ::-1]))
            b = b.copy()
            b[:, [0, 2]] = w - b[:, [2, 0]]
            boxes.append(b), scores.append(s)
        if "tiles" in views and min(h, w) >= 64:
            th, tw = int(h * TILE), int(w * TILE)
            for y0, x0 in ((0, 0), (0, w - tw), (h - th, 0), (h - th, w - tw)):
                b, s = self._raw(np.ascontiguousarray(bgr[y0 : y0 + th, x0 : x0 + tw]))
                b = b + np.array([x0, y0, x0, y0], np.float32)
                m = 4.0  # px: a box this close to an inner tile edge is a cut object
                cut = (
                    ((b[:, 0] <= x0 + m) & (x0 > 0))
                    | ((b[:, 1] <= y0 + m) & (y0 > 0))
                    | ((b[:, 2] >= x0 + tw - m) & (x0 + tw < w))
                    | ((b[:, 3] >= y0 + th - m) & (y0 + th < h))
                )
                boxes.append(b), scores.append(np.where(cut[:, None], 0.0, s))
        return np.concatenate(boxes), np.concatenate(scores)

    def detect(
        self, bgr: np.ndarray, views: Sequence[str] = VIEWS_ALL, min_score: float = 0.05, iou: float = 0.5
    ) -> list[Detection]:
        """Detections of every class scoring at least ``min_score``, best first.

        Each class is de-duplicated by NMS (IoU > ``iou``) across all views; the best view's score
        and box are kept.
        """
        unknown = set(views) - set(VIEWS_ALL)
        if unknown:
            raise ValueError(f"Unknown YOLOX views {sorted(unknown)}; choose from {VIEWS_ALL}.")
        t0 = time.perf_counter()
        h, w = bgr.shape[:2]
        boxes, scores = self._views(bgr, views)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        valid = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
        found: list[Detection] = []
        for c in np.flatnonzero((scores[valid] >= min_score).any(0)):
            keep = valid & (scores[:, c] >= min_score)
            b, s = boxes[keep], scores[keep, c]
            for i in nms(b, s, iou):
                found.append(Detection(tuple(float(v) for v in b[i]), float(s[i]), COCO_CLASSES[c]))
        found.sort(key=lambda d: -d.score)
        logger.debug(
            "YOLOX %s: %d detections in %.2f s", "+".join(views), len(found), time.perf_counter() - t0
        )
        return found


__all__ = ["VIEWS_ALL", "VIEWS_FAST", "YoloxDetector"]
