"""Superpixel graph, boundary-connectivity saliency and a defocus cue.

All functions work on the grounder's *working* image: ``(h, w, 3)`` float32 RGB in [0, 1]
(longest side ≤ the grounder's working size). Saliency maps are ``(h, w)`` float32 in [0, 1].

Saliency is robust background detection (Zhu et al., CVPR 2014, "Saliency optimization from
robust background detection"): superpixels that are geodesically well connected to the image
border are background; a contrast term weighted by that background probability gives
foreground evidence; a quadratic smoothness optimisation fuses both. It is averaged over two
superpixel scales and multiplied by a mild centre prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from skimage.segmentation import slic


@dataclass
class SuperpixelGraph:
    """SLIC superpixels of one image.

    labels: (h, w) int32 in [0, n). lab: (n, 3) mean CIELAB colour (L in [0, 100]).
    pos: (n, 2) mean (y/h, x/w) in [0, 1]. adj: (n, n) bool, 4-neighbour adjacency.
    border: indices of superpixels touching the image edge. dist: (n, n) Lab distances.
    """

    labels: np.ndarray
    lab: np.ndarray
    pos: np.ndarray
    adj: np.ndarray
    border: np.ndarray
    dist: np.ndarray

    @property
    def n(self) -> int:
        return len(self.lab)

    def to_pixels(self, values: np.ndarray) -> np.ndarray:
        """Per-superpixel values (n,) → (h, w) float32 map."""
        return values[self.labels].astype(np.float32)

    def geodesic(self, sources: np.ndarray, spatial: float = 0.0) -> np.ndarray:
        """Shortest-path distance from the nearest of ``sources`` to every superpixel, (n,).

        A step between neighbours costs their Lab distance plus ``spatial`` × the distance between
        their centroids in pixels, so ``spatial > 0`` also makes far superpixels far.
        """
        cost = self.dist + 1e-3
        if spatial:
            px = self.pos * self.labels.shape  # centroids in pixels
            cost = cost + spatial * np.sqrt(((px[:, None] - px[None]) ** 2).sum(-1))
        graph = csr_matrix(np.where(self.adj, cost, 0.0))
        return dijkstra(graph, directed=False, indices=np.asarray(sources), min_only=True)


def build_superpixels(image: np.ndarray, n_segments: int) -> SuperpixelGraph:
    """SLIC on CIELAB with ``n_segments`` target superpixels; see ``SuperpixelGraph``."""
    lab_img = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32), cv2.COLOR_RGB2LAB)
    labels = slic(
        lab_img,
        n_segments=n_segments,
        compactness=10,
        convert2lab=False,
        start_label=0,
        enforce_connectivity=True,
    ).astype(np.int32)
    n = int(labels.max()) + 1
    flat = labels.ravel()
    cnt = np.maximum(np.bincount(flat, minlength=n).astype(np.float64), 1)
    lab = np.stack([np.bincount(flat, lab_img[..., c].ravel(), n) for c in range(3)], 1) / cnt[:, None]
    h, w = labels.shape
    yy, xx = np.mgrid[0:h, 0:w]
    pos = np.stack([np.bincount(flat, (yy / h).ravel(), n), np.bincount(flat, (xx / w).ravel(), n)], 1)
    pos /= cnt[:, None]
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    diff = a != b
    adj = np.zeros((n, n), bool)
    adj[a[diff], b[diff]] = True
    adj[b[diff], a[diff]] = True
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    dist = np.sqrt(((lab[:, None, :] - lab[None, :, :]) ** 2).sum(-1))
    return SuperpixelGraph(labels, lab, pos, adj, border, dist)


def rbd_saliency(g: SuperpixelGraph, sig_clr: float = 10.0, sig_spa: float = 0.25) -> np.ndarray:
    """Per-superpixel saliency (n,) in [0, 1] by robust background detection."""
    adj = g.adj.copy()
    adj[np.ix_(g.border, g.border)] = True  # the border is one region: connect it
    np.fill_diagonal(adj, False)
    geo = dijkstra(csr_matrix(np.where(adj, g.dist + 1e-6, 0.0)), directed=False)
    span = np.exp(-(geo**2) / (2 * sig_clr**2))
    boundary_conn = span[:, g.border].sum(1) / np.sqrt(span.sum(1))
    w_bg = 1 - np.exp(-(boundary_conn**2) / 2)
    d_spa2 = ((g.pos[:, None, :] - g.pos[None, :, :]) ** 2).sum(-1)
    ctr = (g.dist * np.exp(-d_spa2 / (2 * sig_spa**2)) * w_bg[None, :]).sum(1)
    w_fg = ctr / (ctr.max() + 1e-9)
    w_ij = np.where(g.adj, np.exp(-(g.dist**2) / (2 * sig_clr**2)) + 0.1, 0.0)
    system = np.diag(w_bg + w_fg + w_ij.sum(1)) - w_ij
    s = np.linalg.solve(system, w_fg)
    return (s - s.min()) / (s.max() - s.min() + 1e-9)


def centre_prior(h: int, w: int, sigma: float = 0.3) -> np.ndarray:
    """(h, w) float32 Gaussian centre weight in (0, 1], sigma relative to each side."""
    y = (np.arange(h, dtype=np.float32) / max(h - 1, 1) - 0.5) ** 2
    x = (np.arange(w, dtype=np.float32) / max(w - 1, 1) - 0.5) ** 2
    return np.exp(-(y[:, None] + x[None, :]) / (2 * sigma**2)).astype(np.float32)


def defocus_map(image: np.ndarray, g: SuperpixelGraph) -> tuple[np.ndarray, float]:
    """Per-superpixel focus in [0, 1] (n,) and how strongly focus varies in the image.

    Focus is the local Laplacian energy relative to local contrast; the contrast value (≥ 0)
    is the 90th/10th percentile ratio of superpixel focus in log2 units. Bokeh photos score
    high (≳ 2); evenly sharp photos near 0.
    """
    grey = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    lap = np.abs(cv2.Laplacian(cv2.GaussianBlur(grey, (0, 0), 0.8), cv2.CV_32F, ksize=3))
    energy = cv2.GaussianBlur(lap, (0, 0), 3.0)
    flat = g.labels.ravel()
    cnt = np.maximum(np.bincount(flat, minlength=g.n), 1)
    f = np.bincount(flat, energy.ravel(), g.n) / cnt
    lo, hi = np.percentile(f, [10, 90])
    contrast = float(np.log2((hi + 1e-4) / (lo + 1e-4)))
    norm = np.clip((f - lo) / (hi - lo + 1e-9), 0, 1)
    return norm, contrast


def subject_saliency(image: np.ndarray, scales: tuple[int, ...] = (150, 300)) -> tuple[np.ndarray, dict]:
    """Saliency map (h, w) float32 in [0, 1] for the main subject, plus diagnostics.

    Multi-scale RBD × centre prior; when the photo has strong defocus contrast (bokeh), the
    in-focus superpixels are boosted.
    """
    h, w = image.shape[:2]
    maps, info = [], {}
    for n_seg in scales:
        g = build_superpixels(image, n_seg)
        s = rbd_saliency(g)
        focus, contrast = defocus_map(image, g)
        if contrast > 2.0:
            s = s * (0.4 + 0.6 * focus)
            info["defocus"] = True
        maps.append(g.to_pixels(s))
    sal = np.mean(maps, 0) * centre_prior(h, w)
    sal /= sal.max() + 1e-9
    info["defocus"] = info.get("defocus", False)
    return sal.astype(np.float32), info
