"""Degradation estimators: JPEG quality (file and pixels), noise σ, blur σ, reports."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from models.dct import ijg_quant_table
from models.degradation import estimate_degradation, quality_scores
from models.quality import (
    blockiness,
    estimate_blur_sigma,
    estimate_jpeg_quality,
    estimate_noise_sigma,
    jpeg_quality_from_file,
)

CBSD68_NAMES = ["108005", "21077", "253055"]


def _load(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def _to_u8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(_to_u8(image)).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0


def _noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0, sigma / 255.0, image.shape), 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def clean_images(cbsd68) -> list[np.ndarray]:
    return [_load(cbsd68 / f"{name}.png") for name in CBSD68_NAMES]


# --- JPEG ------------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [10, 35, 75, 95])
def test_jpeg_quality_from_file_is_exact(tmp_path, quality):
    path = tmp_path / f"q{quality}.jpg"
    Image.fromarray(data.astronaut()).save(path, quality=quality)
    assert jpeg_quality_from_file(path) == quality


@pytest.mark.parametrize("quality", [3, 50, 100])
def test_jpeg_quality_from_grayscale_file(tmp_path, quality):
    path = tmp_path / "gray.jpg"
    Image.fromarray(data.camera()).save(path, quality=quality)
    assert jpeg_quality_from_file(path) == quality


def test_jpeg_quality_from_file_is_none_for_other_formats(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(data.astronaut()).save(path)
    assert jpeg_quality_from_file(path) is None


def test_ijg_table_matches_what_pillow_writes(tmp_path):
    path = tmp_path / "q35.jpg"
    Image.fromarray(data.astronaut()).save(path, quality=35)
    tables = Image.open(path).quantization
    assert np.array_equal(ijg_quant_table(35).ravel(), np.asarray(tables[0], np.float32))
    assert np.array_equal(ijg_quant_table(35, chroma=True).ravel(), np.asarray(tables[1], np.float32))
    with pytest.raises(ValueError, match="1..100"):
        ijg_quant_table(0)


@pytest.mark.parametrize("quality", [10, 30, 50, 75])
def test_jpeg_quality_from_pixels(clean_images, quality):
    for image in clean_images:
        estimate = estimate_jpeg_quality(_jpeg(image, quality))
        assert estimate is not None and abs(estimate - quality) <= 2, (quality, estimate)


def test_jpeg_quality_from_pixels_after_a_crop():
    image = _jpeg(data.coffee().astype(np.float32) / 255.0, 20)
    crop = np.ascontiguousarray(image[3:, 5:])
    assert blockiness(crop)[1] == (5, 3)
    assert estimate_jpeg_quality(crop) == 20


def test_no_jpeg_detected_on_uncompressed_noisy_or_blurred(clean_images):
    for image in clean_images:
        assert estimate_jpeg_quality(image) is None
        assert estimate_jpeg_quality(_noisy(image, 5)) is None
        assert estimate_jpeg_quality(cv2.GaussianBlur(image, (0, 0), 1.0)) is None
    assert blockiness(clean_images[0])[0] < 1.2 < blockiness(_jpeg(clean_images[0], 10))[0]


# --- noise -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [5, 10, 25, 50])
def test_noise_sigma_within_15_percent(clean_images, sigma):
    for seed, image in enumerate(clean_images):
        estimate = estimate_noise_sigma(_noisy(image, sigma, seed))
        assert abs(estimate - sigma) <= 0.15 * sigma, (sigma, estimate)


def test_noise_sigma_low_on_clean_and_jpeg_images(clean_images):
    for image in clean_images:
        assert estimate_noise_sigma(image) < 3.0
        assert estimate_noise_sigma(_jpeg(image, 30)) < 3.0


def test_noise_sigma_on_grayscale_as_rgb(clean_images):
    gray = clean_images[0].mean(axis=2, keepdims=True)
    assert estimate_noise_sigma(np.repeat(gray, 3, axis=2)) < 3.0
    noisy = np.clip(gray + np.random.default_rng(0).normal(0, 20 / 255, gray.shape), 0, 1)
    assert abs(estimate_noise_sigma(np.repeat(noisy, 3, axis=2).astype(np.float32)) - 20) < 3.0


def test_noise_sigma_inside_a_mask(clean_images):
    image = clean_images[1].copy()
    half = image.shape[1] // 2
    image[:, :half] = _noisy(image[:, :half], 30)
    left = np.zeros(image.shape[:2], np.float32)
    left[:, :half] = 1.0
    assert abs(estimate_noise_sigma(image, mask=left) - 30) < 4.5
    assert estimate_noise_sigma(image, mask=1.0 - left) < 3.0
    with pytest.raises(ValueError, match="mask"):
        estimate_noise_sigma(image, mask=left[1:])


# --- blur ------------------------------------------------------------------------------------


def test_blur_sigma_is_monotone_and_calibrated(clean_images):
    sigmas = [0.5, 1.0, 1.5, 2.0, 3.0]
    for image in clean_images:
        estimates = [estimate_blur_sigma(cv2.GaussianBlur(image, (0, 0), s), noise_sigma=0.0) for s in sigmas]
        assert np.all(np.diff(estimates) > 0), estimates
        assert abs(estimates[1] - 1.0) < 0.4 and abs(estimates[3] - 2.0) < 0.5, estimates
        assert estimate_blur_sigma(image, noise_sigma=0.0) < 0.7


def test_blur_sigma_survives_noise(clean_images):
    for image in clean_images:
        sharp = estimate_blur_sigma(_noisy(image, 10))
        blurred = estimate_blur_sigma(_noisy(cv2.GaussianBlur(image, (0, 0), 2.0), 10))
        assert sharp < 0.8 and 1.4 < blurred < 2.6, (sharp, blurred)


def test_blur_sigma_inside_a_mask(clean_images):
    image = clean_images[2].copy()
    half = image.shape[1] // 2
    image[:, half:] = cv2.GaussianBlur(image, (0, 0), 2.5)[:, half:]
    right = np.zeros(image.shape[:2], np.float32)
    right[:, half + 8 :] = 1.0
    left = np.zeros_like(right)
    left[:, : half - 8] = 1.0
    assert estimate_blur_sigma(image, 0.0, mask=left) + 1.0 < estimate_blur_sigma(image, 0.0, mask=right)


# --- reports and edge cases ------------------------------------------------------------------


def test_estimate_degradation_combines_the_estimators(clean_images):
    image = _noisy(cv2.GaussianBlur(clean_images[0], (0, 0), 1.5), 15)
    d = estimate_degradation(image)
    assert abs(d.noise_sigma - 15) < 2.5 and 0.9 < d.blur_sigma < 2.2
    assert d.jpeg_quality is None and not d.jpeg_exact
    hinted = estimate_degradation(image, jpeg_quality_hint=40)
    assert hinted.jpeg_quality == 40 and hinted.jpeg_exact
    with pytest.raises(ValueError, match="jpeg_quality_hint"):
        estimate_degradation(image, jpeg_quality_hint=0)


def test_quality_scores_are_finite_and_respond():
    image = data.astronaut().astype(np.float32) / 255.0
    scores = quality_scores(image)
    assert set(scores) == {"noise_sigma", "blur_sigma", "sharpness", "blockiness", "brightness", "contrast"}
    assert all(isinstance(v, float) and np.isfinite(v) for v in scores.values())
    blurred = quality_scores(cv2.GaussianBlur(image, (0, 0), 2.0))
    assert blurred["sharpness"] < 0.2 * scores["sharpness"]
    assert blurred["blur_sigma"] > scores["blur_sigma"] + 1.0
    assert quality_scores(_jpeg(image, 10))["blockiness"] > scores["blockiness"] + 0.2


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (16, 16), (16, 40), (70, 9)])
def test_tiny_images_do_not_crash(shape):
    rng = np.random.default_rng(0)
    for image in (rng.random((*shape, 3), dtype=np.float32), np.full((*shape, 3), 0.5, np.float32)):
        d = estimate_degradation(image)
        assert d.noise_sigma >= 0 and d.blur_sigma >= 0 and d.jpeg_quality is None
        assert all(np.isfinite(v) for v in quality_scores(image).values())


def test_rejects_images_that_break_the_contract():
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        estimate_noise_sigma(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match="float"):
        estimate_degradation(np.zeros((8, 8, 3), np.uint8))


@pytest.mark.parametrize("quality", [60, 80, 95])
def test_noise_survives_jpeg_compression_in_the_estimate(quality, tmp_path):
    """σ 20 noise saved as JPEG (chroma subsampled) must not read as clean; clean JPEGs stay clean."""
    import skimage.data
    from PIL import Image

    from models.degradation import estimate_degradation
    from models.quality import jpeg_quality_from_file

    rgb = skimage.data.coffee().astype(np.float32)
    rng = np.random.default_rng(1)
    for sigma, low, high in ((20.0, 15.0, 25.0), (0.0, 0.0, 3.0)):
        noisy = np.clip(rgb + rng.normal(0, sigma, rgb.shape), 0, 255).round().astype(np.uint8)
        path = tmp_path / f"n{sigma:g}.jpg"
        Image.fromarray(noisy).save(path, quality=quality)
        image = np.asarray(Image.open(path)).astype(np.float32) / 255.0
        found = estimate_degradation(image, jpeg_quality_hint=jpeg_quality_from_file(path))
        assert low <= found.noise_sigma <= high, (sigma, quality, found)
