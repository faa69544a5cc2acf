"""Interactive segmentation from a box and/or clicks, on OpenCV's GrabCut.

Inputs are the grounder's working image as BGR uint8 ``(h, w, 3)`` (what ``cv2.grabCut``
takes) and prompts already scaled to working-image pixels: boxes XYXY, clicks ``(x, y)``.
Outputs are bool ``(h, w)`` masks; the grounder refines, upsamples and feathers them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

from models.grounding.masks import keep_components_at, remove_small_components
from models.grounding.saliency import SuperpixelGraph

logger = logging.getLogger(__name__)

BGD, FGD, PR_BGD, PR_FGD = cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD
Click = tuple[int, int]


def grabcut(bgr: np.ndarray, init: np.ndarray, max_iter: int = 8, tol: float = 0.0) -> np.ndarray:
    """Run GrabCut from a label mask; returns bool (h, w) foreground.

    init: (h, w) uint8 with cv2.GC_{BGD,FGD,PR_BGD,PR_FGD} labels; it must contain both
    (probable) foreground and (probable) background, else ValueError.
    Runs ``max_iter`` iterations, stopping early when fewer than ``tol`` of the undecided pixels
    flip in one iteration (``tol=0`` runs them all: late iterations still fix hard images).
    """
    mask = init.copy()
    fg_like = np.isin(mask, (FGD, PR_FGD))
    if not fg_like.any() or fg_like.all():
        raise ValueError("GrabCut needs both foreground and background seeds.")
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means initialisation draws from OpenCV's global RNG
    if tol <= 0:
        try:
            cv2.grabCut(bgr, mask, None, bgd, fgd, max_iter, cv2.GC_INIT_WITH_MASK)
        except cv2.error as exc:  # a colour model lost all its samples
            logger.debug("GrabCut failed: %s", exc)
            return fg_like
        return np.isin(mask, (FGD, PR_FGD))
    undecided = max(int(np.isin(mask, (PR_BGD, PR_FGD)).sum()), 1)
    prev = fg_like
    for i in range(max_iter):
        mode = cv2.GC_INIT_WITH_MASK if i == 0 else cv2.GC_EVAL
        try:
            cv2.grabCut(bgr, mask, None, bgd, fgd, 1, mode)
        except cv2.error as exc:  # a colour model lost all its samples: keep the last cut
            logger.debug("GrabCut stopped at iteration %d: %s", i, exc)
            break
        cur = np.isin(mask, (FGD, PR_FGD))
        if i > 0 and (cur != prev).sum() < tol * undecided:
            break
        prev = cur
    return np.isin(mask, (FGD, PR_FGD))


def draw_discs(mask: np.ndarray, clicks: Sequence[Click], label: int, radius: int) -> None:
    for x, y in clicks:
        cv2.circle(mask, (int(x), int(y)), radius, int(label), -1)


def click_radius(h: int, w: int) -> int:
    """Radius in pixels of the definite-label disc drawn around each click."""
    return max(2, round(0.015 * min(h, w)))


def _box_init(h: int, w: int, box: Sequence[float], band: float) -> np.ndarray:
    """Outside the box: BGD. Inside: PR_FGD, with a PR_BGD band ``band`` × box size inside the edge."""
    x0, y0, x1, y1 = (
        int(np.floor(box[0])),
        int(np.floor(box[1])),
        int(np.ceil(box[2])),
        int(np.ceil(box[3])),
    )
    mask = np.full((h, w), BGD, np.uint8)
    mask[y0:y1, x0:x1] = PR_BGD if band > 0 else PR_FGD
    if band > 0:
        bx, by = int(band * (x1 - x0)), int(band * (y1 - y0))
        mask[y0 + by : y1 - by, x0 + bx : x1 - bx] = PR_FGD
    if (mask == BGD).sum() < 0.01 * h * w:  # box ≈ whole image: let a thin frame be background
        m = max(2, round(0.03 * min(h, w)))
        frame = np.zeros((h, w), bool)
        frame[:m], frame[-m:], frame[:, :m], frame[:, -m:] = True, True, True, True
        mask[frame & (mask == PR_FGD)] = PR_BGD
    return mask


def _bbox_iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / max(union, 1e-9)


def _tightness(fg: np.ndarray, box: Sequence[float], slack: float) -> float:
    """How well the mask's bounding box fills the user box shrunk by ``slack`` per side."""
    ys, xs = np.nonzero(fg)
    if len(xs) == 0:
        return 0.0
    x0, y0, x1, y1 = box
    sx, sy = slack * (x1 - x0), slack * (y1 - y0)
    inner = (x0 + sx, y0 + sy, x1 - sx, y1 - sy)
    return _bbox_iou((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), inner)


def segment_box(
    bgr: np.ndarray,
    box: Sequence[float],
    positives: Sequence[Click] = (),
    negatives: Sequence[Click] = (),
    tight_box: bool = True,
    max_iter: int = 8,
) -> tuple[np.ndarray, float]:
    """Box (XYXY, working pixels) [+ clicks] → (bool (h, w) mask, score in [0, 1]).

    GrabCut is run on a crop around the box. Its colour models start from the box interior
    (the outer 10 % inside the box starts as probable background, since users draw boxes a
    little loose). Under the tight-box prior — a good object mask nearly touches all four
    sides of the box — a poor fit triggers a second GrabCut initialised from the whole box and
    the better-fitting result wins (``tight_box=False`` skips this for boxes that are guesses).
    Clicks become definite foreground/background discs, and only the components under positive
    clicks are kept.
    """
    h, w = bgr.shape[:2]
    x0, y0, x1, y1 = box
    margin = max(16.0, 0.2 * max(x1 - x0, y1 - y0))
    cx0, cy0 = int(max(0, x0 - margin)), int(max(0, y0 - margin))
    cx1, cy1 = int(min(w, x1 + margin)), int(min(h, y1 + margin))
    crop = np.ascontiguousarray(bgr[cy0:cy1, cx0:cx1])
    local_box = (x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0)
    pos = [(x - cx0, y - cy0) for x, y in positives]
    neg = [(x - cx0, y - cy0) for x, y in negatives]
    radius = click_radius(h, w)

    def run(band: float) -> np.ndarray:
        init = _box_init(crop.shape[0], crop.shape[1], local_box, band)
        draw_discs(init, neg, BGD, radius)
        draw_discs(init, pos, FGD, radius)
        fg = remove_small_components(grabcut(crop, init, max_iter=max_iter), min_frac_of_largest=0.02)
        return keep_components_at(fg, pos) if pos else fg

    fg = run(0.1)
    fit = _tightness(fg, local_box, slack=0.045)
    if tight_box and fit < 0.9:
        alt = run(0.0)
        alt_fit = _tightness(alt, local_box, slack=0.045)
        logger.debug("box fit %.3f, whole-box init fit %.3f", fit, alt_fit)
        if alt_fit > fit:
            fg, fit = alt, alt_fit
    out = np.zeros((h, w), bool)
    out[cy0:cy1, cx0:cx1] = fg
    return out, float(np.clip(fit, 0.0, 1.0))


#: Lab units per pixel travelled in the geodesic distance that decides what a negative click removes.
NEGATIVE_SPATIAL = 0.3
#: GrabCut results smaller than this share of the geodesic seed count as collapsed.
_COLLAPSED = 0.25


def segment_clicks(
    bgr: np.ndarray,
    graph: SuperpixelGraph,
    positives: Sequence[Click],
    negatives: Sequence[Click] = (),
) -> tuple[np.ndarray, float]:
    """Clicks (working pixels) → (bool (h, w) mask, score in [0, 1]).

    Positive clicks grow the mask (``_grow_from_clicks``). Negative clicks correct it locally:
    the superpixels nearer a negative click than any positive click are removed, and the other
    parts of the object stay. "Nearer" is a geodesic distance of Lab colour plus
    ``NEGATIVE_SPATIAL`` × pixels travelled. Feeding negatives into GrabCut's colour models
    instead let one correction shrink the whole object. On berkeley100 with RITM's click
    protocol (``benchmarks/grounding_iou.py``), mIoU over 1–5 clicks:
    - negatives in GrabCut: 0.654 → 0.695 → 0.712 → 0.726 → 0.737;
    - local, colour only: 0.654 → 0.711 → 0.706 → 0.733 → 0.753;
    - local, colour + 0.3 × pixels (this): 0.654 → 0.707 → 0.710 → 0.749 → 0.765
      (0.15 and 1.0 give 0.764 and 0.763 after five clicks: a flat optimum).
    """
    if not positives:
        raise ValueError("Click segmentation needs at least one positive click.")
    fg, score = _grow_from_clicks(bgr, graph, positives)
    if negatives:
        pos_sp, neg_sp = _superpixels_at(graph, positives), _superpixels_at(graph, negatives)
        nearer_negative = graph.geodesic(neg_sp, NEGATIVE_SPATIAL) < graph.geodesic(pos_sp, NEGATIVE_SPATIAL)
        fg = keep_components_at(fg & ~nearer_negative[graph.labels], positives)
    return fg, score


def _superpixels_at(graph: SuperpixelGraph, clicks: Sequence[Click]) -> np.ndarray:
    """Indices of the superpixels under ``clicks`` (x, y), each once."""
    return np.unique([graph.labels[y, x] for x, y in clicks])


def _grow_from_clicks(
    bgr: np.ndarray, graph: SuperpixelGraph, positives: Sequence[Click]
) -> tuple[np.ndarray, float]:
    """Positive clicks → (bool (h, w) mask, score in [0, 1]).

    Seed: geodesic colour distance on the superpixel graph from the clicks versus from the image
    border; superpixels nearer the clicks start as probable foreground (Bai & Sapiro-style
    geodesic segmentation). GrabCut then refines with discs of definite foreground at the clicks,
    and the components under the clicks are kept. When GrabCut collapses onto the click discs
    (under a quarter of the seed's area: its colour models latched onto the disc alone), the
    geodesic seed is the answer instead; on berkeley100 that turns two empty masks into real ones
    (one-click mIoU 0.642 → 0.654).
    """
    fg_sp = _superpixels_at(graph, positives)
    bg_sp = np.setdiff1d(graph.border, fg_sp)
    d_fg = graph.geodesic(fg_sp)
    d_bg = graph.geodesic(bg_sp) if len(bg_sp) else np.full(graph.n, np.inf)
    p_fg = graph.to_pixels(d_bg / (d_bg + d_fg + 1e-9))
    seed = keep_components_at(p_fg > 0.5, positives)
    init = np.where(seed, PR_FGD, PR_BGD).astype(np.uint8)
    draw_discs(init, positives, FGD, click_radius(*bgr.shape[:2]))
    try:
        fg = grabcut(bgr, init, max_iter=5)
    except ValueError:
        fg = seed
    fg = keep_components_at(fg, positives)
    if fg.sum() < _COLLAPSED * seed.sum():  # GrabCut shrank onto the click discs: keep the seed
        fg = seed
    agreement = (fg & seed).sum() / max((fg | seed).sum(), 1)
    return fg, float(0.5 + 0.5 * agreement)
