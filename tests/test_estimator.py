"""The blind degradation estimator (models/restorers/estimator.py) on real and synthetic damage."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.degradation import estimate_degradation
from models.restorers.camera import cell_noise_sigma
from models.restorers.estimator import (
    DEFAULT_ESTIMATOR,
    flat_noise_level,
    flat_readings,
    load_estimator,
    run_estimator,
)
from models.restorers.synthetic import SyntheticDegradation, quantize


def _rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def cc15(shared_data) -> list[tuple[np.ndarray, np.ndarray]]:
    folder = shared_data / "cc15_realnoise"
    shots = sorted(folder.glob("*_real.png"))
    if not shots:
        pytest.skip(f"{folder} has no *_real.png photos")
    picks = [shots[0], shots[4], shots[12]]  # Canon ISO 3200, Nikon D600 ISO 3200, D800 ISO 6400
    return [(_rgb(p), _rgb(p.with_name(p.name.replace("_real", "_mean")))) for p in picks]


@pytest.fixture(scope="module")
def photo(cbsd68) -> np.ndarray:
    return _rgb(cbsd68 / "21077.png")


def test_shipped_weights_load_with_their_provenance():
    model, meta = load_estimator()
    assert meta["architecture"] == "DegradationEstimator"
    assert int(meta["iterations"]) > 0 and "train_config" in meta
    assert model.config.outputs == 1 and sum(p.numel() for p in model.parameters()) < 300_000


def test_a_file_that_is_not_an_estimator_is_refused(tmp_path):
    import torch
    from safetensors.torch import save_file

    bad = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(1)}, str(bad), metadata={"architecture": "ConditionalFFDNet"})
    with pytest.raises(ValueError, match="not a Restora DegradationEstimator"):
        load_estimator(bad)
    with pytest.raises(FileNotFoundError, match="train_estimator"):
        load_estimator(tmp_path / "missing.safetensors")


def test_reads_real_camera_noise_that_pca_misses(cc15):
    for noisy, truth in cc15:
        true_level = float(np.median(cell_noise_sigma(noisy - truth)))
        learned = estimate_degradation(noisy).noise_sigma
        classical = estimate_degradation(noisy, method="classical").noise_sigma
        assert 0.5 < learned / true_level < 1.5, (learned, true_level)
        assert classical < 0.25 * true_level  # why the classical estimator is not the default


def test_real_noise_is_not_read_as_blur_to_sharpen(cc15):
    for noisy, _ in cc15:
        assert estimate_degradation(noisy).sharpen_sigma < 0.35


@pytest.mark.parametrize("sigma", [10, 30])
def test_white_noise_is_read_exactly(photo, sigma):
    noisy = quantize(SyntheticDegradation(noise_sigma=sigma).apply(photo, np.random.default_rng(sigma)))
    found = estimate_degradation(noisy)
    assert abs(found.noise_sigma / sigma - 1) < 0.06
    assert found.noise_whiteness == 1.0  # the PCA σ alone


def test_clean_photo_reads_clean(photo):
    found = estimate_degradation(quantize(photo))
    assert found.noise_sigma < 3.0 and found.sharpen_sigma < 0.35


def test_blur_is_read_and_sharpened_on_a_blurred_photo(photo):
    blurred = SyntheticDegradation(blur_sigma=2.0, noise_sigma=2).apply(photo, np.random.default_rng(0))
    found = estimate_degradation(quantize(blurred))
    assert 1.4 < found.blur_sigma < 2.6 and found.sharpen_sigma > 1.4


def test_weak_white_noise_on_texture_is_read_as_white(cbsd68):
    """σ 5 on a textured photo: its flattest patches hold texture, but the PCA σ explains the learned
    reading, so the noise is white and read exactly (not the flat-patch level, which is 4× too high)."""
    textured = _rgb(cbsd68 / "101085.png")
    noisy = quantize(SyntheticDegradation(noise_sigma=5).apply(textured, np.random.default_rng(5)))
    assert flat_noise_level(noisy) > 12
    found = estimate_degradation(noisy)
    assert found.noise_whiteness == 1.0 and abs(found.noise_sigma - 5) < 0.5


def test_what_the_noise_explains_is_not_sharpened(photo):
    """Denoising before the blur reading leaves softness in proportion to the noise: not blur."""
    noisy = quantize(SyntheticDegradation(noise_sigma=25).apply(photo, np.random.default_rng(25)))
    assert estimate_degradation(noisy).sharpen_sigma < 0.2
    both = SyntheticDegradation(blur_sigma=2.0, noise_sigma=25).apply(photo, np.random.default_rng(26))
    assert estimate_degradation(quantize(both)).sharpen_sigma > 1.2  # the rest is still sharpened


def test_flat_patches_read_correlated_noise_in_full():
    """A smooth scene with Gaussian noise blurred by 1 px: PCA reads a fraction of it, the flat-patch
    reading the whole cell-scale level."""
    from models.quality import estimate_noise_sigma

    rng = np.random.default_rng(4)
    scene = cv2.GaussianBlur(rng.uniform(0.2, 0.8, (24, 24, 3)).astype(np.float32), (0, 0), 2)
    scene = cv2.resize(scene, (256, 256), interpolation=cv2.INTER_CUBIC)
    noise = cv2.GaussianBlur(rng.standard_normal((256, 256, 3)).astype(np.float32), (0, 0), 1.0)
    noise *= 10.0 / float(np.median(cell_noise_sigma(noise)))
    true_level = float(np.median(cell_noise_sigma(noise)))
    noisy = scene + noise
    assert abs(flat_noise_level(noisy) / true_level - 1) < 0.2
    assert estimate_noise_sigma(noisy) < 0.6 * true_level


def test_real_noise_shows_in_every_tone_and_texture_does_not(cc15):
    """``flat_readings``' floor: a dense texture (a lawn-like field) beside a smooth bright object
    reads a floor far below its level, and the level is in doubt (``Degradation.texture_doubt``);
    the same scene under white noise, and real camera photos, read floors close to their levels."""
    from models.restorers.base import Degradation

    rng = np.random.default_rng(7)
    h, w = 256, 320
    lawn = 0.35 + 0.12 * cv2.GaussianBlur(rng.standard_normal((h, w, 3)).astype(np.float32), (0, 0), 0.8)
    lawn[:, :, 2] *= 0.6
    scene = lawn.copy()
    scene[96:160, 240:304] = np.linspace(0.75, 0.9, 64, dtype=np.float32)[None, :, None]  # a smooth disc, 5 %
    level, floor = flat_readings(scene)
    assert level > 8 and floor < 0.2 * level
    assert Degradation(noise_sigma=level, noise_floor=floor).texture_doubt
    noisy = scene + rng.standard_normal(scene.shape).astype(np.float32) * 20 / 255
    level, floor = flat_readings(noisy)
    assert floor > 0.6 * level and not Degradation(noise_sigma=level, noise_floor=floor).texture_doubt
    for shot, _ in cc15:
        found = estimate_degradation(shot)
        assert found.noise_floor > 0.6 * found.noise_sigma and not found.texture_doubt, found


def test_tiles_agree_with_one_pass(photo):
    noisy = quantize(SyntheticDegradation(noise_sigma=12).apply(photo, np.random.default_rng(2)))
    np.testing.assert_allclose(
        run_estimator(noisy, tile=128), run_estimator(noisy, tile=1024), rtol=1e-3, atol=1e-3
    )


def test_default_weights_ship_in_the_package():
    assert DEFAULT_ESTIMATOR.is_file() and DEFAULT_ESTIMATOR.stat().st_size < 2_000_000
