"""Real damage: the camera-noise network and its routing, explicit requests that act on little
measured damage, and the product path on real camera photos (cc15_realnoise)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.restorers.base import Degradation
from models.restorers.learned import NetworkRestorer
from models.restorers.levels import ASKED_FLOORS, asked_level
from models.restorers.maps import RegionMaps
from models.restorers.network import load_network
from models.restorers.routing import (
    CAMERA_CORRELATED_GAIN,
    CAMERA_ENV,
    DEFAULT_CAMERA,
    GENERAL_CORRELATED_GAIN,
    camera_share,
    correlated_gains,
    default_camera_network,
)
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
    assert camera_share(Degradation(noise_sigma=0.5, noise_suspected=8.0), suspected=True) == 1.0
    assert camera_share(Degradation(noise_sigma=0.5, noise_suspected=8.0)) == 0.0  # not acted on


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
    """Whiteness 1 gives exactly the general network's output; 0 the mean of the general network
    at × 1.6 the level and the camera network at × 1.3 on the transposed photo; 0.5 in between."""
    h, w = photo.shape[:2]
    maps = RegionMaps.uniform(h, w)
    kinds = {
        k: restorer.restore(photo, maps, Degradation(noise_sigma=10.0, noise_whiteness=k)).image
        for k in (0.0, 0.5, 1.0)
    }
    general_only = NetworkRestorer(camera=False)
    camera_only = NetworkRestorer(DEFAULT_CAMERA, camera=False, jpeg_expert=False)

    def general(level):
        return general_only.restore(photo, maps, Degradation(noise_sigma=level)).image

    def camera(level):  # on the transposed photo, transposed back
        t = np.ascontiguousarray(photo.transpose(1, 0, 2))
        out = camera_only.restore(t, RegionMaps.uniform(w, h), Degradation(noise_sigma=level)).image
        return out.transpose(1, 0, 2)

    assert correlated_gains(1.0)[:2] == (GENERAL_CORRELATED_GAIN, CAMERA_CORRELATED_GAIN) == (1.6, 1.3)
    np.testing.assert_allclose(kinds[1.0], general(10.0), atol=1e-6)
    g16, c13, g13 = general(16.0), camera(13.0), general(13.0)
    inside = (np.minimum(g16, c13) > 0.01) & (np.maximum(g16, c13) < 0.99)
    np.testing.assert_allclose(kinds[0.0][inside], ((g16 + c13) / 2)[inside], atol=1e-5)
    inside &= (np.minimum(g13, c13) > 0.01) & (np.maximum(g13, c13) < 0.99)
    np.testing.assert_allclose(kinds[0.5][inside], (g13 + 0.25 * (c13 - g13))[inside], atol=1e-5)
    assert _psnr(c13, g13) < 45  # two different networks


def test_an_unsure_noise_level_leans_on_the_camera_network(restorer, photo):
    """Confidence 0 (flat patches and the learned map disagree): the camera network alone at the
    measured level, since the general network at × 1.6 smooths an over-read texture away."""
    h, w = photo.shape[:2]
    assert correlated_gains(1.0, 0.0) == (1.0, 1.0, 1.0)
    assert correlated_gains(1.0, 1.0) == (1.6, 1.3, 0.5)
    assert correlated_gains(0.5, 0.5) == pytest.approx((1.15, 1.15, 0.375))
    unsure = Degradation(noise_sigma=10.0, noise_whiteness=0.0, noise_confidence=0.0)
    out = restorer.restore(photo, RegionMaps.uniform(h, w), unsure).image
    t = np.ascontiguousarray(photo.transpose(1, 0, 2))
    camera_only = NetworkRestorer(DEFAULT_CAMERA, camera=False, jpeg_expert=False)
    expected = camera_only.restore(t, RegionMaps.uniform(w, h), Degradation(noise_sigma=10.0)).image
    np.testing.assert_allclose(out, expected.transpose(1, 0, 2), atol=1e-6)


def test_transposed_pass_is_tiled_like_the_untiled_one(photo):
    """The camera pass runs on transposed tiles: tiled and untiled outputs still agree."""
    big = np.ascontiguousarray(np.concatenate([photo, photo[::-1]], axis=0)[:, :200])  # 384×200
    maps, measured = RegionMaps.uniform(*big.shape[:2]), Degradation(noise_sigma=12.0, noise_whiteness=0.0)
    untiled = NetworkRestorer(tile=512).restore(big, maps, measured).image
    tiled = NetworkRestorer(tile=128).restore(big, maps, measured).image
    assert _psnr(tiled, untiled) > 45


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


def test_a_named_denoise_acts_on_a_suspected_level_and_restore_does_not(restorer, photo):
    """Grain the estimate took for texture (``Degradation.noise_suspected``): "denoise" removes it
    (at most σ 10) and says why; "restore" leaves the photo exactly as it was."""
    h, w = photo.shape[:2]
    measured = Degradation(noise_sigma=0.5, noise_suspected=8.0)
    assert measured.asked_noise == 8.0
    assert Degradation(noise_sigma=0.5, noise_suspected=30.0).asked_noise == 10.0  # capped
    assert Degradation(noise_sigma=12.0, noise_suspected=8.0).asked_noise == 12.0
    denoised = restorer.restore(photo, RegionMaps.uniform(h, w, 1.0, "denoise"), measured)
    restored = restorer.restore(photo, RegionMaps.uniform(h, w, 1.0, "restore"), measured)
    assert _psnr(denoised.image, photo) < 45
    assert np.array_equal(restored.image, photo)
    said = "took the grain of the flattest areas (σ≈8) for texture"
    assert any(said in n for n in denoised.notes), denoised.notes
    assert any("no visible noise" in n for n in restored.notes), restored.notes
    offer = "the flattest areas vary as grain of σ≈8 would, which the estimate took for texture"
    assert any(offer in n for n in restored.notes), restored.notes  # "restore" says what it left
    plain = restorer.restore(photo, RegionMaps.uniform(h, w, 1.0, "restore"), Degradation(noise_sigma=0.5))
    assert not any("grain" in n for n in plain.notes), plain.notes


def test_a_level_in_doubt_is_reduced_for_restore_and_not_for_a_named_denoise(restorer, photo):
    """``Degradation.texture_doubt``: "restore" removes ``automatic_noise`` (level × (floor / half
    the level)²), a named "denoise" the level read, and each reply says why."""
    h, w = photo.shape[:2]
    doubtful = Degradation(noise_sigma=16.0, noise_whiteness=0.0, noise_floor=6.0)
    assert doubtful.texture_doubt and "perhaps partly texture" in doubtful.describe()
    assert doubtful.automatic_noise == pytest.approx(9.0)
    restored = restorer.restore(photo, RegionMaps.uniform(h, w, 1.0, "restore"), doubtful)
    denoised = restorer.restore(photo, RegionMaps.uniform(h, w, 1.0, "denoise"), doubtful)
    nine = Degradation(noise_sigma=9.0, noise_whiteness=0.0)
    assert np.array_equal(restored.image, restorer.restore(photo, RegionMaps.uniform(h, w, 1.0), nine).image)
    assert _psnr(denoised.image, photo) < _psnr(restored.image, photo) < 45
    said = "removed noise at σ≈9 of the σ≈16 read: the smoothest tones vary only as σ≈6 would"
    assert any(said in n for n in restored.notes), restored.notes
    said = "so part of it may be texture (if detail was lost, ask gently)"
    assert any(said in n for n in denoised.notes), denoised.notes
    sure = Degradation(noise_sigma=16.0, noise_whiteness=0.0, noise_floor=9.0)
    assert not sure.texture_doubt and sure.automatic_noise == 16.0 and "texture" not in sure.describe()
    out = restorer.restore(photo, RegionMaps.uniform(h, w, 1.0, "restore"), sure)
    assert not any("texture" in n for n in out.notes), out.notes
    assert not Degradation(noise_sigma=12.0).texture_doubt  # no floor read: no doubt


def test_a_named_operation_does_not_leak_into_a_neighbour_along_a_feathered_border(restorer, photo):
    """"restore the face strongly and denoise the rest": the border pixels hold some of the named
    "denoise" and some of "restore"'s JPEG weight, but no JPEG floor (neither region asked for
    one, and there is no JPEG); the named denoise still fades in across the border."""
    import cv2 as _cv2

    from models.restorers.maps import MaskedEdit, build_region_maps

    h, w = photo.shape[:2]
    face = np.zeros((h, w), np.float32)
    face[40:120, 60:160] = 1.0
    face = _cv2.GaussianBlur(face, (0, 0), 6.0)  # a feathered mask
    edits = [MaskedEdit("restore", 0.5, face), MaskedEdit("denoise", None, 1.0 - face)]
    maps = build_region_maps(h, w, edits)
    measured = Degradation(noise_sigma=0.4)
    border = (face > 0.3) & (face < 0.7)
    assert (maps.explicit[border] > 0).all() and (maps.dejpeg[border] > 0).all()  # some of both
    _, jpeg, _ = restorer.levels(maps, 2.0 - maps.fidelity, measured)
    assert float(jpeg.max()) == 0.0
    notes = restorer.restore(photo, maps, measured).notes
    assert not any("compression" in n for n in notes), notes
    named = RegionMaps.uniform(h, w, 0.5, "dejpeg")  # a named JPEG removal keeps its floor
    assert float(restorer.levels(named, 2.0 - named.fidelity, measured)[1].min()) > 0.0


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


def test_noisy_leaves_the_learned_map_took_for_texture_are_read_by_the_sensor_pattern(shared_data):
    """cc15's leaves: the learned reading takes their grain for texture (no visible noise), but the
    flattest areas carry the camera's colour-filter pattern, so the flat-patch level is read as
    noise, and "restore" removes it as a named "denoise" does. The same photo halved (the pattern
    gone, as in a resized photo) keeps the level as a suspicion that only a named "denoise" acts on."""
    from assistant.imageio import LoadedImage
    from assistant.pipeline import RunOptions
    from assistant.session import Session
    from models.degradation import estimate_degradation
    from models.restorers.estimator import run_estimator

    shot = shared_data / "cc15_realnoise" / "5dmark3_iso3200_2_real.png"
    if not shot.is_file():
        pytest.skip(f"{shot} is missing")
    noisy, truth = _rgb(shot), _rgb(shot.with_name("5dmark3_iso3200_2_mean.png"))
    assert float(np.median(run_estimator(noisy))) < 2.5  # the learned map alone sees no visible noise
    measured = estimate_degradation(noisy)
    assert measured.noise_sensor and measured.noise_sigma > 6.0 and measured.noise_suspected == 0.0, measured
    assert "sensor's colour pattern" in measured.describe()
    out = {}
    for instruction in ("restore the photo", "denoise the whole photo"):
        reply = Session(LoadedImage(noisy), RunOptions(backend="offline")).send(instruction)
        out[instruction] = _psnr(reply.image.rgb, truth)
    assert out["restore the photo"] > _psnr(noisy, truth) + 2.0
    assert out["restore the photo"] == pytest.approx(out["denoise the whole photo"], abs=0.05)
    assert not estimate_degradation(truth).noise_sensor  # the same scene without noise

    half = cv2.resize(noisy, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    resized = estimate_degradation(half)
    assert not resized.noise_sensor and resized.noise_suspected > 5.0, resized
