from __future__ import annotations

import numpy as np
import pytest

from models.restorers.maps import ACTION_WEIGHTS, AUTO_FIDELITY, MaskedEdit, RegionMaps, build_region_maps


def _half(h=8, w=10) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    m[:, : w // 2] = 1
    return m


def test_default_layer_is_restore_at_auto_fidelity():
    maps = build_region_maps(4, 6, [])
    assert np.all(maps.fidelity == AUTO_FIDELITY)
    for name, value in ACTION_WEIGHTS["restore"].items():
        assert np.all(getattr(maps, name) == value)


def test_edits_paint_inside_their_masks_only():
    m = _half()
    maps = build_region_maps(8, 10, [MaskedEdit("denoise", 0.5, m), MaskedEdit("keep", None, 1 - m)])
    assert np.all(maps.fidelity[:, :5] == 0.5)
    assert np.all(maps.denoise[:, :5] == 1) and np.all(maps.deblur[:, :5] == 0)
    assert np.all(maps.keep[:, 5:] == 1) and np.all(maps.keep[:, :5] == 0)
    assert np.all(maps.denoise[:, 5:] == 0)


def test_later_edits_override_earlier_where_they_overlap():
    everything = np.ones((8, 10), np.float32)
    maps = build_region_maps(8, 10, [MaskedEdit("restore", 0.3, everything),
                                     MaskedEdit("restore", 1.7, _half())])
    assert np.all(maps.fidelity[:, :5] == pytest.approx(1.7))
    assert np.all(maps.fidelity[:, 5:] == pytest.approx(0.3))


def test_soft_edges_blend_linearly():
    m = np.full((2, 2), 0.25, np.float32)
    maps = build_region_maps(2, 2, [MaskedEdit("keep", None, m)])
    assert np.allclose(maps.keep, 0.25) and np.allclose(maps.denoise, 0.75)


def test_bokeh_never_sharpens():
    maps = RegionMaps.uniform(3, 3, action="bokeh")
    assert np.all(maps.deblur == 0) and np.all(maps.bokeh == 1)


def test_mask_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"expected the image's \(8, 10\)"):
        build_region_maps(8, 10, [MaskedEdit("restore", None, np.ones((4, 4), np.float32))])
