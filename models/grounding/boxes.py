"""Box coordinates and box selection: the one owner of box arithmetic in the grounders.

Conventions: boxes are ``(N, 4)`` float arrays. ``xyxy`` = (x0, y0, x1, y1) and ``cxcywh`` =
(centre x, centre y, width, height); pixel coordinates have x to the right, y down, origin at the
top-left corner of the image; "normalised" coordinates are the same divided by (width, height).
Image sizes are given as ``(height, width)``, like numpy shapes.

``parse_target`` splits a target phrase ("dogs on the left", "all the faces", "largest cat") into
the noun phrase a detector should search for, a spatial qualifier and whether the user wants every
match; ``select_boxes`` applies that to a detector's boxes. Pure numpy; no torch here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------------------------
# conversions


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) centre/size boxes → (N, 4) corner boxes, same units."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    half = b[:, 2:] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) corner boxes → (N, 4) centre/size boxes, same units."""
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return np.concatenate([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], axis=1)


def denormalize(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, 4) xyxy boxes in [0, 1] → pixels of an image of ``size`` = (height, width)."""
    h, w = size
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * np.array([w, h, w, h], np.float32)


def clip_boxes(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, 4) xyxy pixel boxes clipped to an image of ``size`` = (height, width)."""
    h, w = size
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    b[:, 0::2] = b[:, 0::2].clip(0, w)
    b[:, 1::2] = b[:, 1::2].clip(0, h)
    return b


def longest_side_shape(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """(height, width) after resizing ``size`` so its longest side is ``longest`` (SAM's resize)."""
    h, w = size
    scale = longest / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def rescale_xy(coords: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Points ``(..., 2)`` or xyxy boxes ``(..., 4)`` from an image of ``from_size`` to one of
    ``to_size`` (both (height, width)); x scales with width and y with height."""
    c = np.asarray(coords, dtype=np.float32)
    sx, sy = to_size[1] / from_size[1], to_size[0] / from_size[0]
    return c * np.array([sx, sy] * (c.shape[-1] // 2), np.float32)


def box_area(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of xyxy boxes ``a`` (N, 4) and ``b`` (M, 4)."""
    a, b = np.asarray(a, np.float32).reshape(-1, 4), np.asarray(b, np.float32).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clip(0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter / np.maximum(union, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.7) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    keep: list[int] = []
    ious = box_iou(boxes, boxes)
    for i in order:
        if all(ious[i, k] <= iou for k in keep):
            keep.append(int(i))
    return np.array(keep, dtype=np.int64)


def union_box(boxes: np.ndarray) -> tuple[float, float, float, float]:
    """The smallest xyxy box containing every box of ``boxes`` (N ≥ 1)."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))


# ---------------------------------------------------------------------------------------------
# target phrases and box selection

#: qualifier → phrases that ask for it (matched as whole words, longest first).
QUALIFIERS: dict[str, tuple[str, ...]] = {
    "left": ("on the left side", "on the left", "at the left", "to the left", "leftmost", "left"),
    "right": ("on the right side", "on the right", "at the right", "to the right", "rightmost", "right"),
    "middle": (
        "in the middle",
        "in the center",
        "in the centre",
        "at the center",
        "at the centre",
        "middle",
        "center",
        "centre",
        "central",
    ),
    "top": ("at the top", "on the top", "on top", "topmost", "top"),
    "bottom": ("at the bottom", "on the bottom", "bottommost", "bottom"),
    "largest": ("largest", "biggest", "big"),
    "smallest": ("smallest", "tiniest", "small"),
}
_QUALIFIER_RE = re.compile(
    r"\b("
    + "|".join(sorted((re.escape(p) for ps in QUALIFIERS.values() for p in ps), key=len, reverse=True))
    + r")\b"
)
_PHRASE_TO_QUALIFIER = {p: q for q, ps in QUALIFIERS.items() for p in ps}
ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3,
            "fifth": 4, "5th": 4}
_ORDINAL_RE = re.compile(r"\b(" + "|".join(ORDINALS) + r")\b")
_ALL_RE = re.compile(r"^(all|every|each|both)\b( of)?( the)?\s*")
_IRREGULAR_PLURALS = {
    "people",
    "men",
    "women",
    "children",
    "feet",
    "teeth",
    "mice",
    "geese",
    "leaves",
    "clothes",
    "glasses",
}
_SINGULAR_S = ("ss", "us", "is", "ous")


@dataclass(frozen=True)
class TargetQuery:
    """A target phrase split for a detector.

    noun: what to search for ("dog"), without qualifier or quantifier.
    qualifier: one of QUALIFIERS' keys, or None.
    plural: the user wants every match ("all the dogs", "faces").
    rank: 0-based position along the qualifier ("second from the right" → qualifier "right",
        rank 1; "second largest" → "largest", 1).
    """

    noun: str
    qualifier: str | None
    plural: bool
    rank: int = 0


def parse_target(target: str) -> TargetQuery:
    """Split a target phrase for a detector.

    "the dogs on the left" → TargetQuery("dogs", "left", True);
    "largest cat" → TargetQuery("cat", "largest", False);
    "second person from the right" → TargetQuery("person", "right", False, rank=1).
    """
    text = " ".join(target.lower().replace(",", " ").split())
    quantified = bool(_ALL_RE.match(text))
    text = _ALL_RE.sub("", text)
    qualifier, rank = None, 0
    match = _QUALIFIER_RE.search(text)
    if match:
        qualifier = _PHRASE_TO_QUALIFIER[match.group(1)]
        text = text[: match.start()] + " " + text[match.end() :]
        ordinal = _ORDINAL_RE.search(text)
        if ordinal:
            rank = ORDINALS[ordinal.group(1)]
            text = text[: ordinal.start()] + " " + text[ordinal.end() :]
    drop = ("the", "a", "an", "one", "of", "side", "part", "from", "one's")
    words = [w for w in text.split() if w not in drop]
    noun = " ".join(words) or target.strip().lower()
    head = noun.split()[-1] if noun else ""
    plural = (
        quantified
        or head in _IRREGULAR_PLURALS
        or (head.endswith("s") and not head.endswith(_SINGULAR_S) and len(head) > 3)
    )
    return TargetQuery(noun=noun, qualifier=qualifier, plural=plural and not rank, rank=rank)


def select_boxes(
    boxes_xyxy: np.ndarray,
    scores: np.ndarray,
    query: TargetQuery,
    size: tuple[int, int],
    *,
    relative_score: float = 0.5,
    iou: float = 0.7,
    size_weight: float = 0.0,
) -> np.ndarray:
    """Indices (into ``boxes_xyxy``) of the boxes the query asks for; empty when there are none.

    boxes_xyxy: (N, 4) pixel boxes of an image of ``size`` = (height, width); scores: (N,) in [0, 1].

    1. Near-duplicate boxes (IoU > ``iou``) keep only their best-scored member.
    2. Only boxes scoring at least ``relative_score`` × the best score compete, so a weak stray box
       at the far left does not win "on the left".
    3. Without a qualifier: singular → the best box by score² × area^``size_weight`` (0: the
       best score; the offline grounder uses 0.5: a detector's runner-up that is much larger is
       usually the object meant); plural → all of them.
       left/right/top/bottom: singular → the extreme box by centre (``query.rank`` counts from
       that side: "second from the right"); plural → the boxes whose centre lies in that half
       (the extreme box when none does). middle: the box whose centre is nearest the image
       centre (plural: centres in the middle third of the width). largest/smallest: the box with
       the largest/smallest area (always one; ``rank`` counts from it). A rank past the last box
       selects nothing.
    """
    boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    kept = nms(boxes, scores, iou)
    kept = kept[scores[kept] >= relative_score * scores[kept].max()]
    b, s = boxes[kept], scores[kept]
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    h, w = size
    q = query.qualifier
    rank = query.rank
    if rank >= len(b):
        return np.zeros(0, dtype=np.int64)
    if q is None:
        best = int(np.argmax(s**2 * box_area(b) ** size_weight))
        pick = np.arange(len(b)) if query.plural else np.array([best])
    elif q in ("largest", "smallest"):
        area = box_area(b)
        order = np.argsort(-area if q == "largest" else area, kind="stable")
        pick = order[rank : rank + 1]
    elif q == "middle":
        dist = np.hypot(cx - w / 2, cy - h / 2)
        inside = np.flatnonzero(np.abs(cx - w / 2) <= w / 6)
        pick = inside if query.plural and len(inside) else np.array([int(np.argmin(dist))])
    else:
        key = {"left": cx, "right": -cx, "top": cy, "bottom": -cy}[q]
        limit = {"left": w / 2, "right": -w / 2, "top": h / 2, "bottom": -h / 2}[q]
        inside = np.flatnonzero(key < limit)
        pick = inside if query.plural and len(inside) else np.argsort(key, kind="stable")[rank : rank + 1]
    return kept[pick]
