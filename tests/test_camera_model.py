"""The camera degradation model (models/restorers/camera.py): realistic noise, blur kernels, JPEG chains."""

from __future__ import annotations

from dataclasses import fields, replace

import cv2
import numpy as np
import pytest

from models.restorers.camera import (
    DEMOSAIC,
    XYZ_TO_CAMERA,
    CameraPipeline,
    cell_noise_sigma,
    degrade_crop,
    demosaic,
    disk_kernel,
    equivalent_sigma,
    inverse_gamma,
    inverse_tone,
    mosaic,
    motion_kernel,
    sample_camera,
)
from models.restorers.synthetic import gaussian_kernel


def smooth_photo(size: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth colourful image in [0.05, 0.95] (low frequencies only: demosaicking is exact-ish)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0.05, 0.95, (6, 6, 3)).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC).clip(0.05, 0.95)


def plain_camera(**kw) -> CameraPipeline:
    return replace(CameraPipeline(xyz_to_camera=XYZ_TO_CAMERA[0]), **kw)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


@pytest.mark.parametrize("method", sorted(DEMOSAIC))
def test_demosaic_codes_match_the_rggb_mosaic(method):
    flat = np.empty((32, 32, 3), np.float32)
    flat[...] = (0.8, 0.4, 0.1)
    out = demosaic(mosaic(flat), method)
    np.testing.assert_allclose(out[8:-8, 8:-8], flat[8:-8, 8:-8], atol=2.5 / 255)


def test_tone_and_gamma_invert_exactly():
    y = np.linspace(0, 1, 101, dtype=np.float32)
    from models.restorers.camera import gamma, tone

    np.testing.assert_allclose(tone(inverse_tone(y)), y, atol=1e-5)
    np.testing.assert_allclose(gamma(inverse_gamma(y)), y, atol=3e-4)


def test_noise_free_pipeline_reproduces_a_smooth_photo():
    photo = smooth_photo()
    degraded, target, condition = plain_camera().apply(photo, np.random.default_rng(0))
    np.testing.assert_array_equal(condition, 0.0)
    assert psnr(target[8:-8, 8:-8], photo[8:-8, 8:-8]) > 35
    # without noise, blur or JPEG the written file is the target, rounded to 8 bits
    assert np.abs(degraded - target).max() <= 0.5 / 255 + 1e-6


def test_cell_noise_sigma_reads_white_noise_as_its_sigma():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 10 / 255, (256, 256, 3)).astype(np.float32)
    level = cell_noise_sigma(noise)
    assert level.shape == (256, 256)
    assert abs(float(np.median(level)) - 10.0) < 0.5


def test_camera_noise_is_correlated_and_signal_dependent():
    photo = np.full((128, 128, 3), 0.5, np.float32)
    photo[:, :64] = 0.0  # black on the left: shot noise vanishes there
    camera = plain_camera(shot=2e-3, read=0.0)
    degraded, target, condition = camera.apply(photo, np.random.default_rng(2))
    noise = (degraded - target) * 255
    grey, black = noise[8:-8, 72:-8], noise[8:-8, 8:56]
    assert black.std() < 0.2 * grey.std()
    assert condition[:, 72:-8].mean() > 5 * condition[:, 8:56].mean()
    # demosaicking spreads each sample: a 2×2 mean keeps well over half the per-pixel σ
    # (white noise keeps exactly half), so the cell condition exceeds the per-pixel σ
    cells = grey[: grey.shape[0] // 2 * 2, : grey.shape[1] // 2 * 2]
    cells = cells.reshape(cells.shape[0] // 2, 2, cells.shape[1] // 2, 2, 3).mean(axis=(1, 3))
    assert 2 * cells.std() / grey.std() > 1.3
    assert float(np.median(condition[:, 72:-8])) > 1.3 * grey.std()


def test_the_same_seed_gives_the_same_sample():
    photo = (smooth_photo(300) * 255).astype(np.uint8)

    def draw(seed):
        rng = np.random.default_rng(seed)
        return degrade_crop(photo, sample_camera(rng), 64, rng)

    a, b, c = draw(5), draw(5), draw(6)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (64, 64, 3) and a[2].shape == (64, 64)


@pytest.mark.parametrize("sigma", [0.8, 1.5, 2.5])
def test_equivalent_sigma_of_kernels(sigma):
    assert equivalent_sigma(gaussian_kernel(sigma)) == pytest.approx(sigma, rel=0.03)
    if sigma >= 1.5:  # small discs and streaks are widened by the pixel grid
        # a uniform disc of radius r has σ = r / 2
        assert equivalent_sigma(disk_kernel(2 * sigma)) == pytest.approx(sigma, rel=0.12)
        # a streak of length L has variance L²/12 along it and none across: σ = L / √24
        assert equivalent_sigma(motion_kernel(sigma * 24**0.5, 0.7)) == pytest.approx(sigma, rel=0.1)


def test_resampling_scales_the_blur_and_thins_the_noise():
    kernel = gaussian_kernel(2.0)
    assert plain_camera(kernel=kernel, scale=0.5).blur_sigma == pytest.approx(1.0, rel=0.03)
    photo = np.full((256, 256, 3), 0.5, np.float32)
    full = plain_camera(shot=2e-3).apply(photo, np.random.default_rng(3))
    half = plain_camera(shot=2e-3, scale=0.5).apply(photo, np.random.default_rng(3))
    assert half[0].shape == (128, 128, 3)
    assert (half[0] - half[1]).std() < 0.85 * (full[0] - full[1]).std()


def test_jpeg_chain_compresses_last_at_the_reported_quality():
    from models.quality import estimate_jpeg_quality

    photo = (smooth_photo(200, seed=3) * 255).astype(np.uint8)
    camera = plain_camera(jpeg_qualities=(90, 30))
    assert camera.jpeg_quality == 30
    degraded, target, _ = camera.apply(photo.astype(np.float32) / 255, np.random.default_rng(4))
    assert abs(estimate_jpeg_quality(degraded) - 30) <= 3
    assert psnr(degraded, target) < 45


def test_rejects_odd_sizes_and_small_photos():
    with pytest.raises(ValueError, match="even"):
        plain_camera().apply(np.zeros((31, 32, 3), np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="smaller than"):
        degrade_crop(np.zeros((40, 40, 3), np.uint8), plain_camera(), 32, np.random.default_rng(0))


def test_optics_blur_the_scene_in_the_target_too_and_leave_other_draws_alone():
    """``optics``: a lens blur before the sensor, part of the scene (the target has it too, so it is
    not a degradation to remove); it makes demosaicking of a pixel-sharp photo realistic, and it is
    drawn last, so the benchmarks' camera sets (drawn without it) stay the same."""
    for seed in range(6):
        plain = sample_camera(np.random.default_rng(seed))
        behind = sample_camera(np.random.default_rng(seed), optics=True)
        assert 0.5 <= behind.optics <= 1.0 and plain.optics == 0.0
        for field in fields(CameraPipeline):
            if field.name != "optics":
                a, b = getattr(plain, field.name), getattr(behind, field.name)
                assert (a is None and b is None) or np.array_equal(a, b), field.name

    rng = np.random.default_rng(3)
    sharp = np.clip(smooth_photo(128) + rng.uniform(-0.05, 0.05, (128, 128, 3)), 0, 1).astype(np.float32)
    degraded, target, _ = plain_camera(optics=0.8).apply(sharp, np.random.default_rng(0))
    assert np.abs(degraded - target).max() <= 0.5 / 255 + 1e-6  # the blur is in both
    _, sharp_target, _ = plain_camera().apply(sharp, np.random.default_rng(0))
    detail = lambda x: float(np.abs(x - cv2.GaussianBlur(x, (0, 0), 1.0))[8:-8, 8:-8].mean())  # noqa: E731
    assert detail(target) < 0.6 * detail(sharp_target)
