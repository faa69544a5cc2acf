"""The camera sensor's colour-filter pattern as evidence of noise (models/restorers/sensor.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.restorers.camera import demosaic, mosaic
from models.restorers.sensor import SENSOR_PATTERN, is_sensor_noise, sensor_pattern


def _rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def scene(cbsd68) -> np.ndarray:
    """A photo enlarged 2× and softened as a lens would (σ 1.5 px): flat areas for the pattern to
    show in, and no film grain at the pixel scale (a grainy scene carries the pattern when
    captured: ``sensor.py``)."""
    photo = _rgb(cbsd68 / "21077.png")
    big = cv2.resize(photo, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC).clip(0, 1)[:576, :896]
    return cv2.GaussianBlur(big, (0, 0), 1.5)


def _capture(scene: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """The scene as a sensor sees it: one colour per pixel, noise on each sensor value, then
    demosaicking (bilinear), 8 bits."""
    rng = np.random.default_rng(seed)
    raw = mosaic(scene) + rng.normal(0.0, sigma / 255.0, scene.shape[:2]).astype(np.float32)
    return np.round(demosaic(raw, "bilinear").clip(0, 1) * 255) / 255


def test_a_sensors_noise_carries_the_pattern_and_other_noise_does_not(scene):
    captured = _capture(scene, 8.0)
    sigma, share = sensor_pattern(captured)
    assert sigma >= SENSOR_PATTERN[0] and share >= SENSOR_PATTERN[1], (sigma, share)
    assert is_sensor_noise(captured)
    # the same variance as white noise on every pixel (film grain, synthetic noise): no pattern
    rng = np.random.default_rng(1)
    white = np.round((scene + rng.normal(0, 8.0 / 255, scene.shape)).clip(0, 1) * 255) / 255
    assert not is_sensor_noise(white.astype(np.float32)), sensor_pattern(white.astype(np.float32))
    # resized after capture, the pattern is gone
    half = cv2.resize(captured.astype(np.float32), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    assert not is_sensor_noise(half), sensor_pattern(half)
    # a clean capture of the scene: its demosaicking leaves a pattern too small to be noise
    assert not is_sensor_noise(_capture(scene, 0.0)), sensor_pattern(_capture(scene, 0.0))


def test_the_pattern_is_read_inside_a_region(scene):
    captured = _capture(scene, 8.0).astype(np.float32)
    half = scene.shape[1] // 2
    mixed = np.concatenate([captured[:, :half], scene[:, half:]], axis=1)
    left = np.zeros(mixed.shape[:2], bool)
    left[:, :half] = True
    assert is_sensor_noise(mixed, left)
    assert not is_sensor_noise(mixed, ~left)


def test_too_small_to_tell():
    assert sensor_pattern(np.full((40, 40, 3), 0.5, np.float32)) == (0.0, 0.0)


def test_real_camera_files_against_clean_scans(shared_data, cbsd68):
    """cc15's leaves (Canon 5D III, ISO 3200) carry the pattern; the same scene without noise
    (the mean of 500 shots) and clean scans of film do not."""
    shot = shared_data / "cc15_realnoise" / "5dmark3_iso3200_2_real.png"
    if not shot.is_file():
        pytest.skip(f"{shot} is missing")
    assert is_sensor_noise(_rgb(shot)), sensor_pattern(_rgb(shot))
    truth = _rgb(shot.with_name("5dmark3_iso3200_2_mean.png"))
    assert not is_sensor_noise(truth), sensor_pattern(truth)
    for name in ("101085", "12084", "21077", "291000"):  # grainy film scans the flat patches misread
        photo = _rgb(cbsd68 / f"{name}.png")
        assert not is_sensor_noise(photo), (name, sensor_pattern(photo))


def test_strips_agree_with_one_pass(scene):
    """The block statistics are read a strip at a time (memory on 12 MP photos); each strip's
    filter sees its neighbours' edge rows, so the strips add up to one pass."""
    from models.restorers.sensor import _block_statistics

    captured = _capture(scene, 8.0).astype(np.float32)[:400, :320]
    one = _block_statistics(captured, strip=1000)
    for strip in (1, 3):
        for a, b in zip(_block_statistics(captured, strip=strip), one, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
