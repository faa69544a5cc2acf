"""Colour fixes against their formulas (InstructRestore fact sheet §6.8), on small arrays."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models.restorers.diffusion.colorfix import (  # noqa: E402
    adain_color_fix,
    apply_color_fix,
    wavelet_color_fix,
    wavelet_low_frequency,
)

KERNEL = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float64) / 16


def _arrays(seed: int, shape=(1, 3, 9, 13)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random(shape), 0.2 + 0.5 * rng.random(shape)


def _adain_reference(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        for c in range(3):
            sx = np.sqrt(x[b, c].var(ddof=1) + 1e-5)
            sr = np.sqrt(ref[b, c].var(ddof=1) + 1e-5)
            out[b, c] = (x[b, c] - x[b, c].mean()) / sx * sr + ref[b, c].mean()
    return np.clip(out, 0, 1)


def _blur_reference(x: np.ndarray) -> np.ndarray:
    """Five à-trous blurs, written out pixel by pixel: dilation and edge padding 2^k."""
    low = x.copy()
    for k in range(5):
        r = 2**k
        padded = np.pad(low, [(0, 0), (0, 0), (r, r), (r, r)], mode="edge")
        new = np.zeros_like(low)
        h, w = low.shape[-2:]
        for a in range(3):
            for b in range(3):
                new += KERNEL[a, b] * padded[:, :, a * r : a * r + h, b * r : b * r + w]
        low = new
    return low


def test_adain_matches_formula():
    x, ref = _arrays(0)
    got = adain_color_fix(torch.from_numpy(x), torch.from_numpy(ref)).numpy()
    np.testing.assert_allclose(got, _adain_reference(x, ref), atol=1e-10)


def test_adain_output_takes_reference_statistics():
    x, ref = _arrays(1)
    x = 0.4 + 0.2 * x  # keep the result inside [0, 1] so clamping does not move the moments
    got = adain_color_fix(torch.from_numpy(x), torch.from_numpy(ref)).numpy()
    np.testing.assert_allclose(got.mean(axis=(2, 3)), ref.mean(axis=(2, 3)), atol=1e-10)
    vx, vr = x.var(axis=(2, 3), ddof=1), ref.var(axis=(2, 3), ddof=1)
    want_std = np.sqrt(vx) / np.sqrt(vx + 1e-5) * np.sqrt(vr + 1e-5)  # the 1e-5 is inside both σ
    np.testing.assert_allclose(got.std(axis=(2, 3), ddof=1), want_std, rtol=1e-10)


def test_wavelet_matches_formula():
    x, ref = _arrays(2)
    got = wavelet_color_fix(torch.from_numpy(x), torch.from_numpy(ref)).numpy()
    want = np.clip(x - _blur_reference(x) + _blur_reference(ref), 0, 1)
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_wavelet_low_frequency_on_tiny_image_and_constant():
    x = torch.rand(1, 3, 4, 5, dtype=torch.float64)  # padding up to 16 px on a 4×5 image
    np.testing.assert_allclose(wavelet_low_frequency(x).numpy(), _blur_reference(x.numpy()), atol=1e-12)
    flat = torch.full((1, 3, 6, 6), 0.3, dtype=torch.float64)
    np.testing.assert_allclose(wavelet_low_frequency(flat).numpy(), 0.3, atol=1e-12)


def test_fix_against_itself_is_identity_and_none_is_identity():
    x, _ = _arrays(3)
    t = torch.from_numpy(x)
    np.testing.assert_allclose(wavelet_color_fix(t, t).numpy(), x, atol=1e-12)
    np.testing.assert_allclose(adain_color_fix(t, t).numpy(), x, atol=1e-12)
    assert apply_color_fix(t, t * 0, "none") is t


def test_bad_inputs_raise():
    t = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="same"):
        adain_color_fix(t, torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match="expected one of"):
        apply_color_fix(t, t, "histogram")
