"""ClassicalRestorer: per-pixel fidelity semantics, action maps, keep, bokeh, seams, contracts."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

import models.dct as dct
from models.dct import sliding_dct_shrink
from models.degradation import estimate_degradation
from models.restorers.base import Degradation
from models.restorers.classical import ClassicalRestorer
from models.restorers.lens import disc_kernel, lens_blur
from models.restorers.maps import MaskedEdit, RegionMaps, build_region_maps


def _load(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def _noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, sigma / 255.0, image.shape), 0, 1).astype(np.float32)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def _hf_energy(image: np.ndarray) -> float:
    """Mean squared Laplacian of the luma: residual high-frequency energy."""
    y = image.mean(axis=2).astype(np.float32)
    return float(np.mean(cv2.Laplacian(y, cv2.CV_32F) ** 2))


def _half_masks(h: int, w: int, feather: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1.0
    if feather:
        left = cv2.GaussianBlur(left, (0, 0), feather)
    return left, 1.0 - left


@pytest.fixture(scope="module")
def restorer() -> ClassicalRestorer:
    return ClassicalRestorer()


@pytest.fixture(scope="module")
def clean(cbsd68) -> np.ndarray:
    """A 321×481 cbsd68 photo, (H, W, 3) float32 in [0, 1]."""
    return _load(cbsd68 / "21077.png")


@pytest.fixture(scope="module")
def crop(clean) -> np.ndarray:
    return np.ascontiguousarray(clean[60:220, 100:292])  # 160×192


def test_output_contract(restorer, crop):
    h, w = crop.shape[:2]
    image = _noisy(crop, 40)
    image[:8] = 0.0
    image[-8:] = 1.0
    for action in ("restore", "denoise", "deblur", "dejpeg", "bokeh", "keep"):
        out = restorer.restore(image, RegionMaps.uniform(h, w, 0.3, action), Degradation(40, 1.5, 20))
        assert out.image.shape == image.shape and out.image.dtype == np.float32
        assert 0.0 <= out.image.min() and out.image.max() <= 1.0
        assert all(isinstance(n, str) and n for n in out.notes)
    assert restorer.name == "classical (OpenCV)"


def test_denoising_gains_3db_with_estimated_degradation(restorer, clean):
    noisy = _noisy(clean, 25)
    degradation = estimate_degradation(noisy)
    out = restorer.restore(noisy, RegionMaps.uniform(*clean.shape[:2]), degradation)
    assert _psnr(clean, out.image) >= _psnr(clean, noisy) + 3.0
    assert any(n.startswith("removed noise at σ≈2") for n in out.notes), out.notes


def test_dejpeg_and_deblur_improve_psnr(restorer, clean):
    h, w = clean.shape[:2]
    buf = io.BytesIO()
    Image.fromarray((clean * 255 + 0.5).astype(np.uint8)).save(buf, "JPEG", quality=10)
    jpeg = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
    d = estimate_degradation(jpeg)
    out = restorer.restore(jpeg, RegionMaps.uniform(h, w, action="dejpeg"), d)
    assert _psnr(clean, out.image) > _psnr(clean, jpeg) + 0.2
    assert "smoothed JPEG blocks (quality ≈10)" in out.notes
    blurred = _noisy(cv2.GaussianBlur(clean, (0, 0), 1.5), 1.0)
    d = estimate_degradation(blurred)
    out = restorer.restore(blurred, RegionMaps.uniform(h, w, action="deblur"), d)
    assert _psnr(clean, out.image) > _psnr(clean, blurred) + 1.0


def test_dejpeg_is_skipped_without_compression(restorer, crop):
    h, w = crop.shape[:2]
    out = restorer.restore(crop, RegionMaps.uniform(h, w, action="dejpeg"), Degradation(0.0, 0.0, None))
    assert np.array_equal(out.image, crop) and out.notes == []


def test_keep_pixels_are_bit_exact(restorer, crop):
    h, w = crop.shape[:2]
    noisy = _noisy(crop, 25)
    keep = np.zeros((h, w), np.float32)
    keep[40:120, 50:150] = 1.0
    keep = np.maximum(keep, cv2.GaussianBlur(keep, (0, 0), 3))  # 1 inside, feathered outside
    maps = build_region_maps(h, w, [MaskedEdit("keep", None, keep)])
    out = restorer.restore(noisy, maps, Degradation(25, 1.0, 30)).image
    inside = maps.keep >= 1.0
    assert inside.sum() >= 80 * 100
    assert np.array_equal(out[inside], noisy[inside])
    assert np.abs(out[maps.keep == 0] - noisy[maps.keep == 0]).mean() > 0.02


def test_fidelity_two_is_identity(restorer, crop):
    h, w = crop.shape[:2]
    noisy = _noisy(crop, 25)
    for action in ("restore", "bokeh"):
        out = restorer.restore(noisy, RegionMaps.uniform(h, w, 2.0, action), Degradation(25, 1.5, 20))
        assert np.abs(out.image - noisy).max() < 1e-4, action


def test_lower_fidelity_is_smoother_in_that_region_only(restorer, crop):
    h, w = crop.shape[:2]
    noisy = _noisy(crop, 25)
    degradation = Degradation(noise_sigma=25)
    left, right = _half_masks(h, w)
    reference = restorer.restore(noisy, RegionMaps.uniform(h, w), degradation).image
    stronger = restorer.restore(
        noisy, build_region_maps(h, w, [MaskedEdit("restore", 0.3, left)]), degradation
    ).image
    half, margin = w // 2, 16
    assert _hf_energy(stronger[:, : half - margin]) < 0.7 * _hf_energy(reference[:, : half - margin])
    np.testing.assert_allclose(stronger[:, half + margin :], reference[:, half + margin :], atol=1e-5)
    gentler = restorer.restore(
        noisy, build_region_maps(h, w, [MaskedEdit("restore", 1.7, left)]), degradation
    ).image
    assert _hf_energy(gentler[:, : half - margin]) > 1.5 * _hf_energy(reference[:, : half - margin])


@pytest.mark.parametrize("feather", [0.0, 4.0])
def test_half_half_fidelity_is_seamless(restorer, crop, feather):
    h, w = crop.shape[:2]
    noisy = _noisy(crop, 30)
    degradation = Degradation(noise_sigma=30, blur_sigma=0.8)
    left, right = _half_masks(h, w, feather)
    maps = build_region_maps(h, w, [MaskedEdit("restore", 0.5, left), MaskedEdit("restore", 1.5, right)])
    out = restorer.restore(noisy, maps, degradation).image
    uniform = {f: restorer.restore(noisy, RegionMaps.uniform(h, w, f), degradation).image for f in (0.5, 1.5)}
    half = w // 2
    # far from the boundary each side is the uniform result for its fidelity
    assert np.abs(out[:, : half - 24] - uniform[0.5][:, : half - 24]).max() < 0.02
    assert np.abs(out[:, half + 24 :] - uniform[1.5][:, half + 24 :]).max() < 0.02
    # across it, the column means of the error change no faster than they do elsewhere
    bias = (out - crop).mean(axis=(0, 2))
    steps = np.abs(np.diff(bias))
    band = slice(half - 12, half + 12)
    assert steps[band].max() < 3 * np.median(steps) + 2e-3
    if not feather:
        return
    # with a feathered mask every pixel in the band lies between the two uniform results
    lo = np.minimum(uniform[0.5], uniform[1.5])[:, band]
    hi = np.maximum(uniform[0.5], uniform[1.5])[:, band]
    outside = np.maximum(lo - out[:, band], out[:, band] - hi).max(axis=2)
    assert np.mean(outside > 0.02) < 0.005


def test_bokeh_blurs_a_sharp_image(restorer, crop):
    h, w = crop.shape[:2]
    out = restorer.restore(crop, RegionMaps.uniform(h, w, action="bokeh"), Degradation(0.5, 0.3, None))
    assert _hf_energy(out.image) < 0.2 * _hf_energy(crop)
    assert any(n.startswith("added lens blur (radius") for n in out.notes), out.notes


def test_bokeh_never_sharpens(restorer, crop):
    h, w = crop.shape[:2]
    soft = cv2.GaussianBlur(crop, (0, 0), 3.0)
    out = restorer.restore(soft, RegionMaps.uniform(h, w, action="bokeh"), Degradation(0.5, 3.0, None))
    assert _hf_energy(out.image) <= _hf_energy(soft) * 1.001
    assert any("kept the existing background blur" in n for n in out.notes), out.notes
    # a hand-made map asking for both deblur and bokeh still does not sharpen
    maps = RegionMaps.uniform(h, w, action="bokeh")
    maps.deblur = np.ones((h, w), np.float32)
    out = restorer.restore(soft, maps, Degradation(0.5, 3.0, None))
    assert _hf_energy(out.image) <= _hf_energy(soft) * 1.001


def test_bokeh_keeps_the_subject_and_makes_round_highlights(restorer):
    image = np.full((96, 96, 3), 0.1, np.float32)
    image[47:50, 47:50] = 1.0  # a small highlight
    lensed = lens_blur(image, 9.0)
    disc = cv2.filter2D(image, -1, disc_kernel(9.0), borderType=cv2.BORDER_REFLECT)
    assert lensed[48, 48, 0] > disc[48, 48, 0] + 0.1  # highlights stay bright
    ring = [lensed[48 + int(round(6 * np.sin(a))), 48 + int(round(6 * np.cos(a))), 0]
            for a in np.linspace(0, 2 * np.pi, 16, endpoint=False)]
    assert np.ptp(ring) < 0.03 and min(ring) > 0.2  # a round disc, bright out to r = 6
    assert lensed[48, 48 + 14, 0] < 0.12  # nothing beyond the radius
    subject = np.zeros((256, 256), np.float32)
    subject[:, :128] = 1.0
    image = np.full((256, 256, 3), 0.1, np.float32)
    image[:, :128] = [0.9, 0.1, 0.1]  # a red subject must not bleed into the blurred background
    maps = build_region_maps(256, 256, [MaskedEdit("bokeh", None, 1.0 - subject)])
    out = restorer.restore(image, maps, Degradation())
    assert "added lens blur (radius 5 px)" in out.notes
    assert np.abs(out.image[:, 128:136, 0] - 0.1).max() < 0.02
    assert np.array_equal(out.image[:, :120], image[:, :120])


def test_progress_and_determinism(restorer, crop):
    h, w = crop.shape[:2]
    noisy = _noisy(crop, 20)
    calls: list[tuple[int, int]] = []
    maps = build_region_maps(h, w, [MaskedEdit("bokeh", 0.7, _half_masks(h, w, 3.0)[0])])
    degradation = Degradation(20, 0.8, 40)
    first = restorer.restore(noisy, maps, degradation, progress=lambda d, t: calls.append((d, t)))
    second = restorer.restore(noisy, maps, degradation)
    assert calls == [(i, 5) for i in range(1, 6)]
    assert np.array_equal(first.image, second.image) and first.notes == second.notes


def test_sliding_dct_is_exact_at_zero_and_tiling_invariant(monkeypatch):
    rng = np.random.default_rng(0)
    x = (rng.random((150, 170)) * 255).astype(np.float32)
    assert np.abs(sliding_dct_shrink(x, 0.0, wiener_sigma=0.0) - x).max() < 1e-3
    whole = sliding_dct_shrink(x, 200.0, wiener_sigma=70.0)
    assert np.abs(whole - x).mean() > 20.0
    monkeypatch.setattr(dct, "_TILE", 48)
    assert np.array_equal(sliding_dct_shrink(x, 200.0, wiener_sigma=70.0), whole)


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (16, 16), (20, 70)])
def test_tiny_images(restorer, shape):
    image = np.random.default_rng(0).random((*shape, 3), dtype=np.float32)
    for action in ("restore", "bokeh"):
        out = restorer.restore(image, RegionMaps.uniform(*shape, 0.5, action), Degradation(10, 1.0, 30))
        assert out.image.shape == image.shape and np.isfinite(out.image).all()


def test_rejects_inputs_that_break_the_contract(restorer):
    image = data.astronaut()[:32, :32].astype(np.float32) / 255.0
    maps = RegionMaps.uniform(32, 32)
    with pytest.raises(ValueError, match="float32"):
        restorer.restore(image.astype(np.float64), maps, Degradation())
    with pytest.raises(ValueError, match="shape"):
        restorer.restore(image, RegionMaps.uniform(32, 31), Degradation())
    bad = RegionMaps.uniform(32, 32)
    bad.fidelity[0, 0] = 2.5
    with pytest.raises(ValueError, match=r"fidelity must lie in \[0, 2\]"):
        restorer.restore(image, bad, Degradation())
    with pytest.raises(ValueError, match=">= 0"):
        restorer.restore(image, maps, Degradation(noise_sigma=-1))
