"""Real damage: the camera-noise network and its routing, explicit requests that act on little
measured damage, and the product path on real camera photos (cc15_realnoise)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.restorers.base import Degradation, RegionMaps
from models.restorers.learned import NetworkRestorer
from models.restorers.levels import ASKED_FLOORS, asked_level
from models.restorers.network import load_network
from models.restorers.routing import CAMERA_ENV, DEFAULT_CAMERA, camera_share, default_camera_network
from models.restorers.synthetic import quantize


def _rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((a.astype(np.float64) - b) ** 2), 1e-12)))


@pytest.fixture(scope="module")
def restorer() -> NetworkRestorer:
    return NetworkRestorer()


@pytest.fixture(scope="module")
def photo(cbsd68) -> np.ndarray:
    return quantize(_rgb(cbsd68 / "21077.png")[:192, :256])


@pytest.fixture(scope="module")
def cc15(shared_data) -> tuple[np.ndarray, np.ndarray]:
    """A real ISO 3200 shot (Nikon D800) and its 500-shot mean, cropped to 256²."""
    shot = shared_data / "cc15_realnoise" / "d800_iso3200_1_real.png"
    if not shot.is_file():
        pytest.skip(f"{shot} is missing")
    return _rgb(shot)[128:384, 128:384], _rgb(shot.with_name("d800_iso3200_1_mean.png"))[128:384, 128:384]


# --- routing --------------------------------------------------------------------------------


def test_camera_share_follows_the_noise_kind():
    assert camera_share(Degradation(noise_sigma=8.0, noise_whiteness=0.0)) == 1.0
    assert camera_share(Degradation(noise_sigma=8.0, noise_whiteness=1.0)) == 0.0
    assert camera_share(Degradation(noise_sigma=8.0, noise_whiteness=0.25)) == pytest.approx(0.75)
    assert camera_share(Degradation(noise_sigma=0.5, noise_whiteness=0.0)) == 0.0  # nothing to tell


def test_camera_network_ships_and_is_a_fine_tuned_restorer():
    assert DEFAULT_CAMERA.is_file()
    model, meta = load_network(DEFAULT_CAMERA)
    assert meta["architecture"] == "ConditionalFFDNet" and '"camera"' in meta["train_config"]


def test_camera_network_env_selection(monkeypatch, tmp_path):
    from models.restorers.network import DEFAULT_WEIGHTS

    monkeypatch.delenv(CAMERA_ENV, raising=False)
    assert default_camera_network(DEFAULT_WEIGHTS) == DEFAULT_CAMERA
    assert default_camera_network(tmp_path / "mine.safetensors") is None  # not over your own network
    monkeypatch.setenv(CAMERA_ENV, "off")
    assert default_camera_network(DEFAULT_WEIGHTS) is None
    monkeypatch.setenv(CAMERA_ENV, str(tmp_path / "missing.safetensors"))
    with pytest.raises(ValueError, match=CAMERA_ENV):
        default_camera_network(DEFAULT_WEIGHTS)


def test_routing_runs_the_camera_network_for_correlated_noise(restorer, photo):
    """Whiteness 0 gives exactly the camera network's output, 1 the general one's, 0.5 their mean."""
    h, w = photo.shape[:2]
    maps = RegionMaps.uniform(h, w)
    kinds = {
        k: restorer.restore(photo, maps, Degradation(noise_sigma=10.0, noise_whiteness=k)).image
        for k in (0.0, 0.5, 1.0)
    }
    general = NetworkRestorer(camera=False).restore(photo, maps, Degradation(noise_sigma=10.0)).image
    camera = NetworkRestorer(DEFAULT_CAMERA, camera=False, jpeg_expert=False)
    only_camera = camera.restore(photo, maps, Degradation(noise_sigma=10.0)).image
    np.testing.assert_allclose(kinds[1.0], general, atol=1e-6)
    np.testing.assert_allclose(kinds[0.0], only_camera, atol=1e-6)
    inside = (np.minimum(general, only_camera) > 0.01) & (np.maximum(general, only_camera) < 0.99)
    np.testing.assert_allclose(kinds[0.5][inside], ((general + only_camera) / 2)[inside], atol=1e-5)
    assert _psnr(kinds[0.0], general) < 45  # two different networks


# --- explicit requests ----------------------------------------------------------------------


def test_asked_level_acts_only_beyond_fidelity_one():
    s = np.array([0.5, 1.0, 1.5, 2.0], np.float32)  # fidelity 1.5, 1, 0.5, 0
    explicit = np.ones(4, np.float32)
    np.testing.assert_allclose(asked_level(0.4, s, explicit, 6.0), [0.2, 0.4, 3.0, 6.0], rtol=1e-6)  # floor 6
    np.testing.assert_allclose(asked_level(0.4, s, 0 * explicit, 6.0), [0.2, 0.4, 0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(asked_level(10.0, s, explicit, 6.0), [5.0, 10.0, 15.0, 20.0], rtol=1e-6)


def test_denoise_strongly_acts_on_a_clean_photo_and_says_what_it_measured(restorer, photo):
    h, w = photo.shape[:2]
    measured = Degradation(noise_sigma=0.4)
    plain = restorer.restore(photo, RegionMaps.uniform(h, w, 1.0, "denoise"), measured)
    strong = restorer.restore(photo, RegionMaps.uniform(h, w, 0.5, "denoise"), measured)
    auto_restore = restorer.restore(photo, RegionMaps.uniform(h, w, 0.5, "restore"), measured)
    assert _psnr(plain.image, photo) > 50  # fidelity 1: the measurement, nothing to remove
    assert _psnr(strong.image, photo) < 43  # "strongly": visible smoothing all the same
    assert _psnr(auto_restore.image, photo) > 50  # "restore" never goes beyond the measurement
    assert any("more than the σ≈0.4 measured, as you asked" in n for n in strong.notes), strong.notes  # σ≈5
    assert ASKED_FLOORS["noise"] * 0.5 == pytest.approx(5.0)


def test_nothing_to_remove_returns_the_input_exactly(restorer, photo):
    """What the reply calls "left as it was" is bit-exact: no near-identity network output."""
    h, w = photo.shape[:2]
    measured = Degradation(noise_sigma=0.4, blur_sigma=0.3)
    for action in ("restore", "deblur", "denoise"):
        out = restorer.restore(photo, RegionMaps.uniform(h, w, 1.0, action), measured).image
        assert np.array_equal(out, photo), action
    noisy = restorer.restore(photo, RegionMaps.uniform(h, w, 1.0, "denoise"), Degradation(noise_sigma=5.0))
    assert not np.array_equal(noisy.image, photo)  # a visible level still runs the network


# --- the product on a real camera photo -------------------------------------------------------


def test_denoise_and_restore_a_real_camera_photo(cc15):
    from assistant.imageio import LoadedImage
    from assistant.pipeline import RunOptions
    from assistant.session import Session

    noisy, truth = cc15
    before = _psnr(noisy, truth)
    out = {}
    for instruction in ("denoise the whole photo", "restore the photo"):
        reply = Session(LoadedImage(noisy), RunOptions(backend="offline")).send(instruction)
        out[instruction] = reply
        assert reply.result is not None, reply.text
    denoised = out["denoise the whole photo"]
    assert _psnr(denoised.image.rgb, truth) > before + 2.0
    assert _psnr(out["restore the photo"].image.rgb, truth) > before + 2.0
    assert denoised.result.degradation.noise_sigma > 4.0  # PCA alone reads < 1 here
    assert "camera-noise network" in denoised.text and "no visible noise" not in denoised.text
