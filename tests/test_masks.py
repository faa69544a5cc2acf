"""Mask post-processing and overlay preview (models/grounding/masks.py)."""

from __future__ import annotations

import numpy as np
import pytest

from models.grounding.base import Grounding
from models.grounding.masks import (
    feather,
    fill_holes,
    keep_components_at,
    overlay,
    refine_mask,
    remove_small_components,
    resize_soft,
)


def _ring(h: int = 60, w: int = 80) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[10:50, 10:50] = True
    m[25:35, 25:35] = False  # a hole
    return m


def test_fill_holes_fills_enclosed_hole():
    filled = fill_holes(_ring())
    assert filled.dtype == bool
    assert filled[30, 30]
    assert not filled[5, 5]


def test_fill_holes_respects_max_hole_size():
    m = _ring()
    assert not fill_holes(m, max_hole_frac=0.001)[30, 30]  # 100-px hole > 0.1 % of 4800 px
    assert fill_holes(m, max_hole_frac=0.05)[30, 30]


def test_remove_small_components_drops_specks():
    m = np.zeros((100, 100), bool)
    m[10:60, 10:60] = True
    m[80:82, 80:82] = True  # 4-px speck
    out = remove_small_components(m)
    assert out[30, 30] and not out[81, 81]
    assert out.sum() == 2500


def test_keep_components_at_clicked_component():
    m = np.zeros((40, 40), bool)
    m[2:10, 2:10] = True
    m[20:30, 20:30] = True
    out = keep_components_at(m, [(25, 25)])
    assert out[25, 25] and not out[5, 5]
    assert keep_components_at(m, [(15, 15)]).sum() == m.sum()  # click on background: unchanged


def test_feather_keeps_range_and_softens_edge():
    m = np.zeros((50, 50), np.float32)
    m[:, 25:] = 1
    soft = feather(m, sigma=2.0)
    assert soft.dtype == np.float32 and soft.shape == m.shape
    assert soft.min() >= 0 and soft.max() <= 1
    assert 0.05 < soft[25, 24] < 0.95
    assert soft[25, 0] == pytest.approx(0, abs=1e-4) and soft[25, 49] == pytest.approx(1, abs=1e-4)
    assert feather(np.full((8, 8), 3.0, np.float32)).max() <= 1  # out-of-range input clipped


def test_refine_mask_upsamples_to_requested_shape():
    out = refine_mask(_ring(), out_shape=(121, 163))
    assert out.shape == (121, 163) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    assert out[60, 60] > 0.99  # hole filled, now centred at (60, 60)


def test_resize_soft_range():
    m = np.random.default_rng(0).random((10, 20)).astype(np.float32)
    r = resize_soft(m, 33, 47)
    assert r.shape == (33, 47) and r.dtype == np.float32 and r.min() >= 0 and r.max() <= 1


def test_overlay_returns_uint8_rgb_of_image_size():
    rng = np.random.default_rng(1)
    image = rng.random((37, 53, 3)).astype(np.float32)
    a = np.zeros((37, 53), np.float32)
    a[5:20, 5:30] = 1
    b = 1 - a
    out = overlay(image, [Grounding("dog", a, 0.9, "box → GrabCut"), Grounding("background", b, 1.0, "x")])
    assert out.dtype == np.uint8 and out.shape == (37, 53, 3)
    untinted = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert not np.array_equal(out, untinted)


def test_overlay_rejects_mismatched_mask():
    image = np.zeros((10, 10, 3), np.float32)
    with pytest.raises(ValueError, match="Mask"):
        overlay(image, [Grounding("x", np.zeros((5, 5), np.float32), 1.0, "x")])
