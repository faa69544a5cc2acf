"""The trained offline restorer: shipped weights, condition maps steer it, regions, keep, tiling."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from models.restorers import load_restorer
from models.restorers.base import Degradation
from models.restorers.learned import NetworkRestorer
from models.restorers.levels import jpeg_condition
from models.restorers.maps import MaskedEdit, RegionMaps, build_region_maps
from models.restorers.network import (
    DEFAULT_WEIGHTS,
    ConditionalFFDNet,
    NetworkConfig,
    load_network,
    save_network,
)
from models.restorers.routing import (
    DEFAULT_JPEG_EXPERT,
    JPEG_EXPERT_ENV,
    JPEG_SOFTNESS_PX,
    WEIGHTS_ENV,
    default_jpeg_expert,
    expert_weight,
    network_blur_sigma,
)
from models.restorers.synthetic import SyntheticDegradation, gaussian_kernel, quantize


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((a.astype(np.float64) - b) ** 2), 1e-12)))


def _hf_energy(image: np.ndarray) -> float:
    y = image.mean(axis=2).astype(np.float32)
    return float(np.mean(cv2.Laplacian(y, cv2.CV_32F) ** 2))


@pytest.fixture(scope="module")
def restorer() -> NetworkRestorer:
    return NetworkRestorer()


@pytest.fixture(scope="module")
def clean(cbsd68) -> np.ndarray:
    return np.asarray(Image.open(cbsd68 / "21077.png").convert("RGB"), dtype=np.float32) / 255.0


@pytest.fixture(scope="module")
def noisy(clean) -> np.ndarray:
    rng = np.random.default_rng(0)
    return quantize(clean + rng.standard_normal(clean.shape).astype(np.float32) * 25 / 255)


# --- the shipped weights --------------------------------------------------------------------


def test_shipped_weights_load_from_package_data_without_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert DEFAULT_WEIGHTS.is_file() and DEFAULT_WEIGHTS.suffix == ".safetensors"
    assert DEFAULT_WEIGHTS.stat().st_size < 20e6
    model, meta = load_network()
    params = sum(p.numel() for p in model.parameters())
    assert 0.3e6 <= params <= 3e6
    assert int(meta["iterations"]) > 0 and json.loads(meta["train_config"])["data"] == "cbsd432"
    assert (DEFAULT_WEIGHTS.parent / "MODEL_CARD.md").is_file()


def test_offline_backend_uses_the_network():
    assert isinstance(load_restorer("offline"), NetworkRestorer)


def test_trained_weights_denoise_a_test_photo(restorer, clean, noisy):
    out = restorer.restore(noisy, RegionMaps.uniform(*clean.shape[:2]), Degradation(noise_sigma=25)).image
    assert _psnr(noisy, clean) < 21.0
    assert _psnr(out, clean) > 29.0  # a random or untrained network stays near the input


def test_trained_weights_remove_jpeg_and_blur(restorer, clean):
    h, w = clean.shape[:2]
    rng = np.random.default_rng(0)
    compressed = SyntheticDegradation(jpeg_quality=20).apply(clean, rng)
    out = restorer.restore(
        compressed, RegionMaps.uniform(h, w), Degradation(jpeg_quality=20, jpeg_exact=True)
    ).image
    assert _psnr(out, clean) > _psnr(compressed, clean) + 0.8
    blurred = quantize(SyntheticDegradation(blur_sigma=2.0, noise_sigma=2).apply(clean, rng))
    out = restorer.restore(
        blurred, RegionMaps.uniform(h, w), Degradation(noise_sigma=2, blur_sigma=2.0)
    ).image
    assert _psnr(out, clean) > _psnr(blurred, clean) + 1.0


# --- contracts ------------------------------------------------------------------------------


def test_shapes_ranges_dtypes_for_odd_sizes(restorer):
    rng = np.random.default_rng(1)
    image = rng.random((37, 51, 3), dtype=np.float32)
    out = restorer.restore(image, RegionMaps.uniform(37, 51), Degradation(noise_sigma=30)).image
    assert out.shape == image.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert not np.array_equal(out, image)


def test_deterministic(restorer, noisy):
    crop = noisy[:128, :160]
    maps = RegionMaps.uniform(128, 160)
    a = restorer.restore(crop, maps, Degradation(noise_sigma=25)).image
    b = restorer.restore(crop, maps, Degradation(noise_sigma=25)).image
    assert np.array_equal(a, b)


def test_higher_sigma_condition_gives_smoother_output(restorer, noisy):
    crop = noisy[:160, :160]
    maps = RegionMaps.uniform(160, 160)
    energies = [
        _hf_energy(restorer.restore(crop, maps, Degradation(noise_sigma=s)).image) for s in (5, 15, 30, 50)
    ]
    assert all(a > b for a, b in zip(energies, energies[1:], strict=False)), energies


def test_fidelity_modulates_each_region_in_one_pass(restorer, noisy):
    h, w = noisy.shape[:2]
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1.0
    maps = build_region_maps(h, w, [MaskedEdit("restore", 0.5, left), MaskedEdit("restore", 1.5, 1 - left)])
    out = restorer.restore(noisy, maps, Degradation(noise_sigma=25)).image
    uniform = {
        f: restorer.restore(noisy, RegionMaps.uniform(h, w, f), Degradation(noise_sigma=25)).image
        for f in (0.5, 1.5)
    }
    inner_left, inner_right = np.s_[:, 40 : w // 2 - 40], np.s_[:, w // 2 + 40 : -40]
    # away from the border each half equals the uniform run at its own fidelity
    assert np.abs(out[inner_left] - uniform[0.5][inner_left]).max() < 1e-5
    assert np.abs(out[inner_right] - uniform[1.5][inner_right]).max() < 1e-5
    assert _hf_energy(out[inner_left]) < _hf_energy(out[inner_right])


def test_keep_and_fidelity_two_are_bit_exact(restorer, noisy):
    h, w = noisy.shape[:2]
    top = np.zeros((h, w), np.float32)
    top[: h // 2] = 1.0
    maps = build_region_maps(h, w, [MaskedEdit("keep", None, top)])
    out = restorer.restore(noisy, maps, Degradation(noise_sigma=25)).image
    assert np.array_equal(out[: h // 2], noisy[: h // 2])
    assert not np.array_equal(out[h // 2 :], noisy[h // 2 :])
    gentle = restorer.restore(noisy, RegionMaps.uniform(h, w, 2.0), Degradation(noise_sigma=25)).image
    assert np.array_equal(gentle, noisy)


def test_bokeh_is_never_sharpened(restorer, clean):
    blurred = quantize(SyntheticDegradation(blur_sigma=2.0).apply(clean, np.random.default_rng(0)))
    h, w = clean.shape[:2]
    deblur = restorer.restore(
        blurred, RegionMaps.uniform(h, w, action="restore"), Degradation(blur_sigma=2.0)
    )
    bokeh = restorer.restore(blurred, RegionMaps.uniform(h, w, action="bokeh"), Degradation(blur_sigma=2.0))
    assert _hf_energy(deblur.image) > 1.5 * _hf_energy(blurred)
    assert _hf_energy(bokeh.image) <= 1.05 * _hf_energy(blurred)


def test_tiled_matches_untiled_on_1024(restorer, clean):
    big = cv2.resize(clean, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    big = quantize(big + np.random.default_rng(3).standard_normal(big.shape).astype(np.float32) * 0.06)
    maps = RegionMaps.uniform(1024, 1024)
    maps.fidelity[:, 300:700] = 0.6  # a region border crossing tiles
    tiled = NetworkRestorer(tile=256).restore(big, maps, Degradation(noise_sigma=15)).image
    whole = NetworkRestorer(tile=1024).restore(big, maps, Degradation(noise_sigma=15)).image
    assert _psnr(tiled, whole) >= 45.0


def test_notes_state_what_was_removed(restorer, noisy):
    h, w = noisy.shape[:2]
    notes = restorer.restore(
        noisy, RegionMaps.uniform(h, w), Degradation(noise_sigma=25, jpeg_quality=40, jpeg_exact=True)
    ).notes
    assert any("σ≈25" in n for n in notes) and any("quality 40" in n for n in notes)


def test_jpeg_softness_is_not_sharpened(restorer, clean):
    """On a JPEG a blur reading within ``JPEG_SOFTNESS_PX`` asks the network for no blur (the same
    output as blur 0); a larger one for the reading less the softness in quadrature; a file that
    is not a JPEG keeps its reading."""
    h, w = clean.shape[:2]
    photo = SyntheticDegradation(jpeg_quality=40).apply(clean, np.random.default_rng(0))
    maps = RegionMaps.uniform(h, w)
    soft = restorer.restore(photo, maps, Degradation(blur_sigma=0.4, jpeg_quality=40, jpeg_exact=True))
    sharp = restorer.restore(photo, maps, Degradation(jpeg_quality=40, jpeg_exact=True)).image
    np.testing.assert_array_equal(soft.image, sharp)
    assert any("no blur to sharpen (σ≈0.4 px (a JPEG's own softness))" in n for n in soft.notes)
    assert network_blur_sigma(Degradation(blur_sigma=1.0, jpeg_quality=40)) == pytest.approx(
        (1.0 - JPEG_SOFTNESS_PX**2) ** 0.5
    )
    blurred = restorer.restore(photo, maps, Degradation(blur_sigma=1.0, jpeg_quality=40, jpeg_exact=True))
    assert any("sharpened blur σ≈0.9 px (read 1.0" in n for n in blurred.notes)
    assert network_blur_sigma(Degradation(blur_sigma=0.4)) == 0.4  # not a JPEG: the reading
    png = restorer.restore(clean, maps, Degradation(blur_sigma=0.8)).image
    assert np.abs(png - restorer.restore(clean, maps, Degradation()).image).max() > 1e-3


# --- the heavy-JPEG network ---------------------------------------------------------------


def _conditions(noise_sigma=0.0, quality=None, blur_sigma=0.0, strength=1.0) -> np.ndarray:
    values = [noise_sigma / 50.0, jpeg_condition(quality), blur_sigma / 3.0]
    return np.array(values, np.float32)[:, None, None] * np.float32(strength)


def test_expert_weight_routes_only_heavy_pure_jpeg():
    w = lambda **kw: float(expert_weight(_conditions(**kw))[0, 0])  # noqa: E731
    assert w(quality=10) == 1.0 and w(quality=15) == 1.0 and w(quality=12, strength=2.0) == 1.0
    assert 0.0 < w(quality=22) < w(quality=20) < w(quality=18) < 1.0  # a linear ramp, q 25 → 15
    assert w(quality=25) == 0.0 and w(quality=60) == 0.0 and w() == 0.0
    assert w(quality=10, strength=0.5) == 0.0  # gentler fidelity: the general network's range
    # Small noise and blur readings (what compression itself leaves) keep the expert; more hands over.
    assert w(quality=10, noise_sigma=3.0, blur_sigma=1.0) == 1.0
    assert w(quality=10, noise_sigma=4.5) == pytest.approx(0.5)
    assert w(quality=10, blur_sigma=1.25) == pytest.approx(0.5)
    assert w(quality=10, noise_sigma=6.0) == 0.0 and w(quality=10, noise_sigma=15) == 0.0
    assert w(quality=10, blur_sigma=1.5) == 0.0 and w(quality=10, blur_sigma=3) == 0.0


def test_shipped_jpeg_expert_is_a_fine_tuned_specialist():
    assert DEFAULT_JPEG_EXPERT.is_file() and DEFAULT_JPEG_EXPERT.stat().st_size < 20e6
    general, _ = load_network()
    expert, meta = load_network(DEFAULT_JPEG_EXPERT)
    assert expert.config == general.config  # same architecture, same speed
    recipe = json.loads(meta["train_config"])
    assert recipe["focus_jpeg"] == 1.0 and recipe["focus_quality_max"] <= 20 and recipe["init_from"]
    tensors = zip(general.state_dict().values(), expert.state_dict().values(), strict=True)
    assert all(not torch.equal(a, b) for a, b in tensors)
    assert "restora-ffdnet-jpeg" in (DEFAULT_WEIGHTS.parent / "MODEL_CARD.md").read_text(encoding="utf-8")


def test_heavy_jpeg_pixels_go_to_the_expert_in_the_same_pass(restorer, clean):
    """Fidelity 1 at quality 10 (weight 1) is the expert's output, given the JPEG condition only
    (the small noise and blur readings are dropped); fidelity 1.6 (JPEG condition 0.4, weight 0)
    is the general network's with every condition; the two networks really differ there."""
    h, w = clean.shape[:2]
    compressed = SyntheticDegradation(jpeg_quality=10).apply(clean, np.random.default_rng(0))
    maps = RegionMaps.uniform(h, w)
    maps.fidelity[:, w // 2 :] = 1.6
    d = Degradation(noise_sigma=1.5, blur_sigma=0.4, jpeg_quality=10, jpeg_exact=True)
    jpeg_only = Degradation(jpeg_quality=10, jpeg_exact=True)
    routed = restorer.restore(compressed, maps, d)
    general = NetworkRestorer(jpeg_expert=False).restore(compressed, maps, d).image
    expert = NetworkRestorer(DEFAULT_JPEG_EXPERT, jpeg_expert=False)
    expert_only = expert.restore(compressed, maps, jpeg_only).image
    left, right = (slice(None), slice(0, w // 2)), (slice(None), slice(w // 2, None))
    np.testing.assert_allclose(routed.image[left], expert_only[left], atol=1e-5)
    np.testing.assert_allclose(routed.image[right], general[right], atol=1e-5)
    assert np.abs(expert_only[left] - general[left]).max() > 0.02
    given_all = expert.restore(compressed, maps, d).image  # the expert does respond to those levels
    assert np.abs(given_all[left] - expert_only[left]).max() > 1e-3
    assert any("heavy-JPEG network on 50 %" in n and "part of the compression" in n for n in routed.notes)
    plain = restorer.restore(compressed, RegionMaps.uniform(h, w), Degradation(jpeg_quality=40)).notes
    assert not any("heavy-JPEG" in n for n in plain)


def test_notes_do_not_claim_what_the_expert_was_not_asked(restorer, clean):
    """Where the heavy-JPEG network restores every pixel it is given the JPEG level alone, so the
    explanation must not say blur was sharpened (the general network would have sharpened 0.66 px)."""
    h, w = clean.shape[:2]
    compressed = SyntheticDegradation(jpeg_quality=10).apply(clean, np.random.default_rng(0))
    d = Degradation(blur_sigma=0.8, jpeg_quality=10, jpeg_exact=True)
    notes = restorer.restore(compressed, RegionMaps.uniform(h, w), d).notes
    assert not any("sharpen" in n for n in notes)
    assert any("heavy-JPEG network, which takes small noise and blur" in n for n in notes)
    general = NetworkRestorer(jpeg_expert=False).restore(compressed, RegionMaps.uniform(h, w), d).notes
    assert any("sharpened blur σ≈0.7 px (read 0.8" in n for n in general)


def test_routed_tiles_match_untiled(clean):
    big = cv2.resize(clean, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    big = SyntheticDegradation(jpeg_quality=12).apply(big, np.random.default_rng(1))
    maps = RegionMaps.uniform(1024, 1024)
    maps.fidelity[:, 300:700] = 1.1  # the expert's ramp: weights strictly between 0 and 1
    d = Degradation(jpeg_quality=12, jpeg_exact=True)
    assert 0.0 < float(expert_weight(_conditions(quality=12, strength=0.9))[0, 0]) < 1.0
    tiled = NetworkRestorer(tile=256).restore(big, maps, d).image
    whole = NetworkRestorer(tile=1024).restore(big, maps, d).image
    assert _psnr(tiled, whole) >= 45.0


def test_jpeg_expert_selection_by_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(JPEG_EXPERT_ENV, raising=False)
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    assert NetworkRestorer().jpeg_expert == DEFAULT_JPEG_EXPERT
    mine = tmp_path / "mine.safetensors"
    save_network(ConditionalFFDNet(NetworkConfig(channels=8, layers=4)), mine)
    assert default_jpeg_expert(mine) is None  # your own general network is not overridden silently
    monkeypatch.setenv(WEIGHTS_ENV, str(mine))
    assert NetworkRestorer().jpeg_expert is None
    monkeypatch.setenv(JPEG_EXPERT_ENV, str(mine))
    assert NetworkRestorer().jpeg_expert == mine
    monkeypatch.setenv(JPEG_EXPERT_ENV, "off")
    assert NetworkRestorer(DEFAULT_WEIGHTS).jpeg_expert is None
    monkeypatch.setenv(JPEG_EXPERT_ENV, str(tmp_path / "absent.safetensors"))
    with pytest.raises(ValueError, match="absent.safetensors.*'off'"):
        NetworkRestorer()


# --- loading errors and the network module --------------------------------------------------


def test_missing_and_foreign_weights_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_restorer"):
        load_network(tmp_path / "absent.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="not a Restora ConditionalFFDNet"):
        load_network(tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="tile"):
        NetworkRestorer(tile=63)


def test_save_load_round_trip_and_odd_input_error(tmp_path):
    torch.manual_seed(0)
    model = ConditionalFFDNet(NetworkConfig(channels=8, layers=4))
    save_network(model, tmp_path / "tiny.safetensors", {"iterations": "1"})
    loaded, meta = load_network(tmp_path / "tiny.safetensors")
    x, c = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    assert torch.equal(model(x, c), loaded(x, c)) and meta["iterations"] == "1"
    with pytest.raises(ValueError, match="even"):
        model(torch.rand(1, 3, 15, 16), torch.rand(1, 3, 15, 16))


def test_jpeg_condition_scale():
    assert jpeg_condition(None) == 0.0
    assert jpeg_condition(10) == pytest.approx(1.0) and jpeg_condition(100) == 0.0
    assert jpeg_condition(30) > jpeg_condition(60)
    assert gaussian_kernel(2.0).shape == (15, 15) and gaussian_kernel(2.0).sum() == pytest.approx(1.0)


# --- JPEG grid channels -----------------------------------------------------------------------


def _grid_network(layers: int = 4) -> ConditionalFFDNet:
    """A small grid network with random (non-zero) grid weights, so position actually matters."""
    torch.manual_seed(0)
    model = ConditionalFFDNet(NetworkConfig(channels=16, layers=layers, grid=True)).eval()
    with torch.no_grad():
        model.tail.weight.normal_(std=0.05)
    return model


def test_grown_network_starts_as_its_source():
    from models.restorers.network import grow_from

    torch.manual_seed(1)
    source = ConditionalFFDNet(NetworkConfig(channels=16, layers=4)).eval()
    with torch.no_grad():
        source.tail.weight.normal_(std=0.05)  # a non-trivial function to preserve
    grown = ConditionalFFDNet(NetworkConfig(channels=16, layers=8, grid=True)).eval()
    grow_from(grown, source)
    x, c = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(grown(x, c, (5, 3)), source(x, c), atol=1e-6)
        assert (source(x, c) - x).abs().mean() > 1e-2
    assert len(grown.blocks) == 3 and grown.head.weight.shape[1] == 23
    with pytest.raises(ValueError, match="cannot grow"):
        grow_from(source, grown)


def test_grid_position_matters_only_where_there_is_jpeg_to_remove():
    model = _grid_network()
    x, c = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        assert (model(x, c, (0, 0)) - model(x, c, (4, 0))).abs().max() > 1e-3
        assert torch.allclose(model(x, c, (0, 0)), model(x, c, (16, 32)), atol=1e-5)  # the periods
        per_sample = model(x.repeat(2, 1, 1, 1), c.repeat(2, 1, 1, 1), torch.tensor([[0, 0], [4, 6]]))
        assert torch.allclose(per_sample[1:], model(x, c, (4, 6)), atol=1e-6)
        c[:, 1] = 0  # no JPEG condition: translation-equivariant again
        assert torch.equal(model(x, c, (0, 0)), model(x, c, (4, 6)))


def test_grid_network_follows_the_blocks_when_the_image_moves():
    """Shift the image by 8 px and say so: the interior output shifts with it."""
    model = _grid_network()
    x, c = torch.rand(1, 3, 64, 64), torch.full((1, 3, 64, 64), 0.8)
    with torch.no_grad():
        whole = model(x, c, (0, 0))
        moved = model(x[..., 8:, 6:], c[..., 8:, 6:], (8, 6))
        wrong = model(x[..., 8:, 6:], c[..., 8:, 6:], (0, 0))
    inner = (slice(None), slice(None), slice(24, 40), slice(24, 40))
    shifted = (slice(None), slice(None), slice(16, 32), slice(18, 34))
    assert torch.allclose(moved[shifted], whole[inner], atol=1e-5)
    assert not torch.allclose(wrong[shifted], whole[inner], atol=1e-3)


@pytest.mark.parametrize("layers", [4, 12, 18])
def test_tile_apron_covers_the_receptive_field(layers):
    """The farthest input pixel that moves an output pixel lies within the tiles' apron."""
    from models.restorers.learned import apron

    torch.manual_seed(0)
    model = ConditionalFFDNet(NetworkConfig(channels=8, layers=layers)).double()
    with torch.no_grad():
        model.tail.weight.normal_(std=0.1)
    x = torch.rand(1, 3, 160, 160, dtype=torch.float64, requires_grad=True)
    model(x, torch.full_like(x, 0.5))[0, :, 80, 80].sum().backward()
    ys, xs = torch.nonzero(x.grad.abs().sum(dim=1)[0], as_tuple=True)
    reach = int(max((ys - 80).abs().max(), (xs - 80).abs().max()))
    assert 2 * layers - 2 <= reach <= apron(model.config)


def test_tiles_tell_the_network_where_the_blocks_are(tmp_path, clean):
    """Tiles start off the 16-px grid (tile 200): tiled equals untiled only if each tile's
    grid position is passed on, and (18 layers: a 36-px receptive field) only if the apron
    grows with the network; a cropped JPEG's grid phase is located and used."""
    from models.quality import estimate_jpeg

    path = tmp_path / "grid.safetensors"
    save_network(_grid_network(layers=18), path)
    ok, buf = cv2.imencode(".jpg", (clean * 255).round().astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 15])
    decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0
    h, w = decoded.shape[:2]
    d = Degradation(jpeg_quality=15, jpeg_exact=True)
    tiled = NetworkRestorer(path, tile=200).restore(decoded, RegionMaps.uniform(h, w), d).image
    whole = NetworkRestorer(path, tile=1024).restore(decoded, RegionMaps.uniform(h, w), d).image
    assert _psnr(tiled, whole) >= 45.0

    # a crop by an even offset (the network works on 2×2 cells) off the 8- and 16-px grids
    crop = decoded[6:, 10:]
    quality, grid = estimate_jpeg(crop)
    assert quality is not None and abs(quality - 15) <= 2 and grid == (10, 6)
    d_crop = Degradation(jpeg_quality=15, jpeg_grid=grid)
    cropped = NetworkRestorer(path).restore(crop, RegionMaps.uniform(h - 6, w - 10), d_crop).image
    region = (slice(40, -40), slice(40, -40))
    assert _psnr(cropped[region], whole[6:, 10:][region]) >= 45.0
    assert estimate_jpeg(decoded[3:, 5:])[1] == (13, 11)  # odd crops are located too


def test_precision_setting(monkeypatch):
    from models.restorers.network import PRECISION_ENV, fast_bf16

    try:
        for value, expected in (("fp32", False), ("bf16", True), ("BF16 ", True)):
            monkeypatch.setenv(PRECISION_ENV, value)
            fast_bf16.cache_clear()
            assert fast_bf16() is expected
        monkeypatch.setenv(PRECISION_ENV, "half")
        fast_bf16.cache_clear()
        with pytest.raises(ValueError, match="expected auto, fp32 or bf16"):
            fast_bf16()
    finally:
        fast_bf16.cache_clear()


def test_bf16_and_fp32_outputs_agree_within_one_level(monkeypatch, cbsd68):
    """bf16 inference (the default on CPUs that do it natively) stays within an 8-bit level of fp32."""
    from models.restorers.network import PRECISION_ENV, fast_bf16

    clean = cv2.cvtColor(cv2.imread(str(cbsd68 / "21077.png")), cv2.COLOR_BGR2RGB)[:128, :160] / 255
    rng = np.random.default_rng(3)
    noisy = quantize(SyntheticDegradation(noise_sigma=15).apply(clean.astype(np.float32), rng))
    maps, degradation = RegionMaps.uniform(128, 160), Degradation(noise_sigma=15)
    outs = {}
    try:
        for precision in ("fp32", "bf16"):
            monkeypatch.setenv(PRECISION_ENV, precision)
            fast_bf16.cache_clear()
            outs[precision] = NetworkRestorer(camera=False).restore(noisy, maps, degradation).image
    finally:
        fast_bf16.cache_clear()
    assert np.abs(outs["fp32"] - outs["bf16"]).max() < 1.5 / 255
    assert np.abs(outs["fp32"] - noisy).mean() > 5 / 255  # both denoised
