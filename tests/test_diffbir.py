"""DiffBIR v2: checkpoint conversion against the shared manifests, the tiled pipeline, the family.

Full-size models are built on the meta device (no memory). Pipelines use the tiny random-weight
SD-2.1 stand-ins with a tiny DiffBIR ControlNet (``tiny.py``), whose zero-convs are randomised so
modulation and tiling tests cannot pass on all-zero residuals.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from models.restorers.diffusion.checkpoints import CheckpointMismatchError  # noqa: E402
from models.restorers.diffusion.diffbir.controlnet import (  # noqa: E402
    DIFFBIR_CONTROLNET_CONFIG,
    DiffBIRControlNetModel,
    convert_ldm_state_dict,
    expected_shapes,
    is_converted_folder,
    ldm_key_rules,
    load_diffbir_controlnet,
    map_key,
    to_ldm_state_dict,
)
from models.restorers.diffusion.tiling import (  # noqa: E402
    Tiling,
    choose_tiling,
    gaussian_weights,
    vae_tiling,
    window_starts,
)

CHECKPOINTS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "checkpoints"


def _manifest(name: str) -> dict:
    path = CHECKPOINTS / name
    if not path.is_file():
        pytest.skip(f"manifest {path} not found (expected ../shared/reference/checkpoints beside the repo)")
    return json.loads(path.read_text())


def _ldm_shapes() -> dict[str, tuple[int, ...]]:
    manifest = _manifest("diffbir_v2_controlnet.json")
    return {k: tuple(v) for k, v in manifest.items() if k != "config" and not k.startswith("_")}


def _meta_state(shapes: dict[str, tuple[int, ...]]) -> dict:
    return {k: torch.empty(v, device="meta") for k, v in shapes.items()}


# ---------------------------------------------------------------- conversion (full size, meta)


def test_generated_key_rules_are_the_verified_map():
    ref = _manifest("stock_diffusers_sd21_controlnet.json")
    rules = [tuple(r) for r in ref["_ldm_to_diffusers_map"]["rules"]]
    assert sorted(ldm_key_rules()) == sorted(rules)
    assert len(ldm_key_rules()) == 78


def test_full_size_checkpoint_converts_to_the_diffusers_model_exactly():
    ldm = _ldm_shapes()
    assert len(ldm) == 324
    converted = convert_ldm_state_dict(_meta_state(ldm))
    ref = _manifest("stock_diffusers_sd21_controlnet.json")["_ldm_to_diffusers_per_key"]
    assert {k: map_key(k, ldm_key_rules()) for k in ldm} == ref  # every key, as verified upstream
    shapes = expected_shapes()
    assert {k: tuple(v.shape) for k, v in converted.items()} == shapes
    assert shapes["conv_in.weight"] == (320, 8, 3, 3)
    assert not any(k.startswith("controlnet_cond_embedding.") for k in shapes)  # no pixel-hint path
    manifest = _manifest("diffbir_v2_controlnet.json")
    assert sum(int(np.prod(s)) for s in shapes.values()) == manifest["_meta"]["counts"]["parameters"]
    with torch.device("meta"):
        model = DiffBIRControlNetModel.from_architecture()
    model.load_state_dict(converted, strict=True, assign=True)  # strict: every key, nothing extra


def test_diffbir_loader_wrappers_are_accepted():
    ldm = _meta_state(_ldm_shapes())
    wrapped = {"state_dict": {"module." + k: v for k, v in ldm.items()}}
    assert set(convert_ldm_state_dict(wrapped)) == set(expected_shapes())


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        (lambda s: s.pop("zero_convs.11.0.bias"), r"1 missing key\(s\): controlnet_down_blocks.11.bias"),
        (
            lambda s: s.update({"input_hint_block.0.weight": torch.empty(16, 3, 3, 3, device="meta")}),
            "input_hint_block",
        ),
        (
            lambda s: s.update({"input_blocks.0.0.weight": torch.empty(320, 4, 3, 3, device="meta")}),
            "takes 4 channels",
        ),
        (
            lambda s: s.update({"middle_block_out.0.weight": torch.empty(1280, 1280, 3, 3, device="meta")}),
            "misshaped",
        ),
    ],
)
def test_wrong_checkpoints_are_refused_with_a_report(change, expect):
    state = _meta_state(_ldm_shapes())
    change(state)
    with pytest.raises(CheckpointMismatchError, match=expect):
        convert_ldm_state_dict(state, source="v2.pth")


def test_stable_diffusion_and_instructrestore_files_are_named_for_what_they_are():
    sd = {"model.diffusion_model." + k: v for k, v in _meta_state(_ldm_shapes()).items()}
    with pytest.raises(CheckpointMismatchError, match="Stable Diffusion checkpoint"):
        convert_ldm_state_dict(sd)
    ir = {k: torch.empty(s, device="meta") for k, s in expected_shapes().items()}
    ir["mask_decoder.conv.weight"] = torch.empty(1, device="meta")
    with pytest.raises(CheckpointMismatchError, match="InstructRestore"):
        convert_ldm_state_dict(ir)


# ---------------------------------------------------------------- tiny models, real files


@pytest.fixture(scope="module")
def tiny():
    from models.restorers.diffusion.tiny import tiny_components, tiny_diffbir_controlnet

    parts = tiny_components()
    parts["controlnet"] = tiny_diffbir_controlnet(parts["unet"])
    return parts


def _controls(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    lat, hint = torch.randn(2, 4, 16, 24, generator=g), torch.randn(2, 4, 16, 24, generator=g)
    emb = torch.randn(2, 77, 32, generator=g)
    with torch.no_grad():
        down, mid = model.control(lat, hint, torch.tensor(500), emb)
    return [*down, mid]


def test_tiny_checkpoint_round_trips_through_ldm_names_and_the_cache(tiny, tmp_path, monkeypatch):
    model = tiny["controlnet"]
    config = {k: v for k, v in model.config.items() if not k.startswith("_")}
    folder = tmp_path / "diffbir-v2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({k: list(v) if isinstance(v, tuple) else v
                                                    for k, v in config.items()}))  # fmt: skip
    ldm = to_ldm_state_dict(model.state_dict(), config)
    assert "input_blocks.0.0.weight" in ldm and "zero_convs.0.0.weight" in ldm
    torch.save({"state_dict": {"module." + k: v for k, v in ldm.items()}}, folder / "v2.pth")
    cache = tmp_path / "cache"
    loaded = load_diffbir_controlnet(folder / "v2.pth", cache_root=cache)
    for a, b in zip(_controls(model), _controls(loaded), strict=True):
        assert torch.equal(a, b)
    assert any(r.abs().max() > 0 for r in _controls(loaded))  # randomised zero-convs: non-trivial
    (converted,) = cache.iterdir()
    assert is_converted_folder(converted)

    # Second load reads the cached safetensors: conversion does not run again.
    import models.restorers.diffusion.diffbir.controlnet as mod

    monkeypatch.setattr(mod, "convert_ldm_state_dict", lambda *a, **k: pytest.fail("converted twice"))
    again = load_diffbir_controlnet(folder / "v2.pth", cache_root=cache)
    assert torch.equal(_controls(again)[0], _controls(model)[0])
    # A replaced file (new mtime) is converted again.
    os.utime(folder / "v2.pth", ns=(1, 1))
    with pytest.raises(pytest.fail.Exception, match="converted twice"):
        load_diffbir_controlnet(folder / "v2.pth", cache_root=cache)


def test_missing_controlnet_file_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="restora models download diffbir-v2"):
        load_diffbir_controlnet(tmp_path / "v2.pth")


def test_the_pixel_hint_path_is_disabled(tiny):
    model = tiny["controlnet"]
    lat, hint, emb = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8), torch.randn(1, 77, 32)
    with torch.no_grad():
        a = model(torch.cat([lat, hint], 1), 10, emb, controlnet_cond=hint, return_dict=False)[1]
        b = model(
            torch.cat([lat, hint], 1), 10, emb, controlnet_cond=torch.randn(1, 3, 64, 64), return_dict=False
        )[1]
        c = model.control(lat, torch.randn(1, 4, 8, 8), 10, emb)[1]
    assert torch.equal(a, b)  # the `controlnet_cond` argument adds nothing
    assert not torch.allclose(a, c)  # the hint reaches the model through the 8-channel input


# ---------------------------------------------------------------- tiling


def test_window_starts_cover_the_image_and_end_flush():
    assert window_starts(64, 64, 32) == [0]
    assert window_starts(256, 64, 48) == [0, 48, 96, 144, 192]
    assert window_starts(100, 64, 48) == [0, 36]
    for size in (65, 130, 257):
        starts = window_starts(size, 64, 48)
        assert starts[0] == 0 and starts[-1] == size - 64 and len(set(starts)) == len(starts)


def test_gaussian_weights_peak_in_the_middle_and_vanish_at_the_edges():
    w = gaussian_weights(64, 64)[0, 0]
    assert w.shape == (64, 64) and torch.all(w > 0)
    assert w[31:33, 31:33].min() > 0.99 and w[0, 0] < 1e-4
    assert torch.allclose(w, w.flip(0)) and torch.allclose(w, w.flip(1))


def test_automatic_tiling_follows_size_and_memory():
    gib = 1 << 30
    small = choose_tiling(512, 512, 8, 64, Tiling(), torch.bfloat16, budget=20 * gib)
    assert small.tile is None
    big = choose_tiling(2048, 2048, 8, 64, Tiling(), torch.bfloat16, budget=20 * gib)
    assert (big.tile, big.stride, big.vae_tile_px) == (64, 48, 512)
    assert len(big.windows(256, 256)) == 25
    starved = choose_tiling(1024, 1024, 8, 64, Tiling(), torch.bfloat16, budget=int(0.5 * gib))
    assert starved.tile is not None and starved.tile < 64 and "GB free" in starved.reason
    forced = choose_tiling(
        1024, 1024, 8, 64, Tiling(tile=256, stride=128, vae_tile=256), torch.float32, budget=0
    )
    assert (forced.tile, forced.stride, forced.vae_tile_px) == (32, 16, 256)
    with pytest.raises(ValueError, match="multiple of 64"):
        choose_tiling(1024, 1024, 8, 64, Tiling(tile=100), torch.float32, budget=0)
    with pytest.raises(ValueError, match="stride"):
        Tiling(tile=128, stride=256)


@pytest.fixture(scope="module")
def pipe(tiny):
    from models.restorers.diffusion.diffbir.pipeline import DiffBIRPipeline, make_scheduler

    p = DiffBIRPipeline(
        vae=tiny["vae"], text_encoder=tiny["text_encoder"], tokenizer=tiny["tokenizer"], unet=tiny["unet"],
        controlnet=tiny["controlnet"], scheduler=make_scheduler("spaced", dict(tiny["scheduler"].config)),
    )  # fmt: skip
    p.set_progress_bar_config(disable=True)
    return p


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _image(h, w, seed=0):
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    rng = np.random.default_rng(seed)
    img = np.stack([0.5 + 0.4 * np.sin(6 * xx + c) * np.cos(4 * yy) for c in range(3)], -1)
    return np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1).astype(np.float32)


def test_pipeline_output_shape_determinism_and_recipe(pipe):
    img = _image(40, 56)  # not multiples of 16: padded, cropped back
    a = pipe(img, num_inference_steps=2, generator=_gen())
    b = pipe(img, num_inference_steps=2, generator=_gen())
    assert a.image.shape == (40, 56, 3) and a.image.dtype == np.float32
    assert 0.0 <= a.image.min() and a.image.max() <= 1.0
    assert np.array_equal(a.image, b.image)
    ts = pipe.scheduler
    ts.set_timesteps(50)
    assert ts.timesteps[:3].tolist() == [999, 979, 958] and ts.timesteps[-3:].tolist() == [41, 20, 0]


def test_fidelity_map_steers_the_result_per_region(pipe):
    img = _image(48, 64)
    zero, two = np.zeros((48, 64), np.float32), np.full((48, 64), 2.0, np.float32)
    a = pipe(img, fidelity=zero, num_inference_steps=2, generator=_gen()).image
    b = pipe(img, fidelity=two, num_inference_steps=2, generator=_gen()).image
    assert np.abs(a - b).mean() > 1e-3


def test_tiled_equals_untiled_when_one_window_covers_the_image(pipe):
    img = _image(64, 96)
    a = pipe(img, num_inference_steps=2, generator=_gen(), tiling=Tiling(tile=0)).image
    b = pipe(img, num_inference_steps=2, generator=_gen(), tiling=Tiling(tile=128)).image
    assert np.array_equal(a, b)


def test_gaussian_blending_removes_the_seams_of_hard_stitching(pipe):
    """Noise predictions on a 4×3-window canvas: overlapping Gaussian-blended windows stay close to
    the untiled prediction everywhere; hard-stitched windows (stride = window) jump at the seams."""
    from models.restorers.diffusion.tiling import TilePlan

    g = _gen(3)
    lat = torch.randn(2, 4, 48, 64, generator=g)
    hint = torch.randn(2, 4, 48, 64, generator=g)
    emb = pipe.encode_prompts("", "low quality", torch.device("cpu"), True)
    t = torch.tensor(500)
    fid = torch.ones(1, 1, 96, 128)

    def eps(plan):
        with torch.no_grad():
            return pipe.predict_noise(lat, hint, t, emb, fid, plan, 1.0, {})

    whole = eps(TilePlan(None, None, None, "untiled"))
    blended = eps(TilePlan(16, 8, None, "overlap"))
    stitched = eps(TilePlan(16, 16, None, "hard"))
    err_blend, err_stitch = (
        (blended - whole).abs().mean(dim=(0, 1)),
        (stitched - whole).abs().mean(dim=(0, 1)),
    )
    seam_cols = [15, 16, 31, 32, 47, 48]
    assert err_blend.mean() < 0.7 * err_stitch.mean()
    assert err_blend[:, seam_cols].mean() < 0.6 * err_stitch[:, seam_cols].mean()
    # no seam: the blended error at the hard seams is no worse than its average elsewhere
    assert err_blend[:, seam_cols].mean() < 1.5 * err_blend.mean()
    # and the jump across a seam is of the order of the untiled image's own neighbour differences
    jump = lambda x: (x[..., 16] - x[..., 15]).abs().mean()  # noqa: E731
    assert jump(blended) < 1.5 * jump(whole) + 1e-6


def test_vae_tiling_is_switched_on_for_the_call_only(pipe):
    vae = pipe.vae
    before = (vae.use_tiling, vae.tile_sample_min_size, vae.tile_latent_min_size)
    x = torch.rand(1, 3, 96, 128) * 2 - 1
    with torch.no_grad():
        plain = vae.encode(x).latent_dist.mode()
        with vae_tiling(vae, 32):
            assert vae.use_tiling and vae.tile_sample_min_size == 32 and vae.tile_latent_min_size == 16
            tiled = vae.encode(x).latent_dist.mode()
    assert (vae.use_tiling, vae.tile_sample_min_size, vae.tile_latent_min_size) == before
    assert tiled.shape == plain.shape and not torch.equal(tiled, plain)  # the tiled path really ran
    img = _image(96, 128)
    out = pipe(img, num_inference_steps=1, generator=_gen(), tiling=Tiling(tile=0, vae_tile=64))
    assert out.image.shape == (96, 128, 3) and out.plan.vae_tile_px == 64


def test_instructrestore_pipeline_tiles_the_hint_the_map_and_the_decoder_mask(tiny):
    from diffusers import UniPCMultistepScheduler

    from models.restorers.diffusion.instructrestore.pipeline import InstructRestorePipeline
    from models.restorers.diffusion.tiny import SD21_SCHEDULER_CONFIG, tiny_components

    parts = tiny_components()
    parts["scheduler"] = UniPCMultistepScheduler.from_config(SD21_SCHEDULER_CONFIG)
    ir = InstructRestorePipeline(**parts)
    ir.set_progress_bar_config(disable=True)
    img, fid = _image(96, 128), np.ones((96, 128), np.float32)
    run = lambda tiling, **kw: ir(img, "dog", "make dog clear", num_inference_steps=2, generator=_gen(),  # noqa: E731
                                  tiling=tiling, **kw)  # fmt: skip
    untiled = run(Tiling(tile=0), fidelity=fid).image
    assert np.array_equal(untiled, run(Tiling(tile=128), fidelity=fid).image)  # one window = untiled
    tiled = run(Tiling(tile=64, stride=32), fidelity=fid).image
    assert tiled.shape == untiled.shape and 0 < np.abs(tiled - untiled).mean() < 0.05
    decoder = run(Tiling(tile=64, stride=32, vae_tile=64), mask_source="decoder")
    assert decoder.mask.shape == (96, 128) and set(np.unique(decoder.mask)) <= {0.0, 1.0}


def test_step_callback_reports_progress_and_can_cancel(pipe):
    from models.restorers.diffusion.steps import Cancelled

    seen = []

    def stop_after_two(_pipe, step, _t, info):
        seen.append((step, info["num_steps"]))
        return step < 1

    with pytest.raises(Cancelled, match="after step 2 of 4"):
        pipe(_image(32, 32), num_inference_steps=4, generator=_gen(), callback_on_step_end=stop_after_two)
    assert seen == [(0, 4), (1, 4)]


def test_bad_inputs_are_refused_clearly(pipe):
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        pipe(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match="fidelity has shape"):
        pipe(_image(32, 32), fidelity=np.ones((16, 16), np.float32))
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        pipe(_image(32, 32), fidelity=np.full((32, 32), 3.0, np.float32))


# ---------------------------------------------------------------- the family end to end


@pytest.fixture
def diffbir_weights(tmp_path, monkeypatch):
    from models.restorers.diffusion.loading import _cached_pipeline
    from models.restorers.diffusion.tiny import save_tiny_diffbir

    folder = tmp_path / "weights"
    save_tiny_diffbir(folder)
    monkeypatch.setenv("RESTORA_WEIGHTS_DIR", str(folder))
    for var in (
        "RESTORA_SD21_BASE",
        "RESTORA_INSTRUCTRESTORE",
        "RESTORA_DIFFBIR",
        "RESTORA_DIFFUSION_FAMILY",
    ):
        monkeypatch.delenv(var, raising=False)
    _cached_pipeline.cache_clear()
    yield folder
    _cached_pipeline.cache_clear()


def test_status_and_loader_choose_diffbir_when_it_is_the_installed_family(diffbir_weights):
    from models.restorers.base import Degradation
    from models.restorers.diffusion import diffusion_status, load_diffusion_restorer
    from models.restorers.diffusion.diffbir.restorer import DiffBIRRestorer
    from models.restorers.diffusion.settings import DiffusionSettings
    from models.restorers.maps import RegionMaps

    ready, why = diffusion_status()
    assert ready and "DiffBIR v2" in why and "offline restorer" in why  # no SwinIR file: offline stage 1
    restorer = load_diffusion_restorer(device="cpu", settings=DiffusionSettings(steps=2, seed=1))
    assert isinstance(restorer, DiffBIRRestorer)
    assert restorer.recipe() == (2, 4.0, "unipc")  # fewer than 50 steps: UniPC
    img = _image(48, 64)
    maps = RegionMaps.uniform(48, 64, 1.0, "restore")
    maps.keep[:, :20] = 1.0
    out = restorer.restore(img, maps, Degradation(noise_sigma=10.0))
    assert np.array_equal(out.image[:, :20], img[:, :20])  # keep is bit-exact
    assert not np.array_equal(out.image[:, 20:], img[:, 20:])
    notes = " ".join(out.notes)
    assert "DiffBIR v2" in notes and "offline restorer" in notes and "2 UniPC steps" in notes


def test_diffbir_refuses_the_mask_decoder_source_clearly(diffbir_weights):
    from models.restorers.base import Degradation
    from models.restorers.diffusion import load_diffusion_restorer
    from models.restorers.diffusion.settings import DiffusionSettings
    from models.restorers.maps import RegionMaps

    settings = DiffusionSettings(steps=1, mask_source="decoder")
    restorer = load_diffusion_restorer(device="cpu", settings=settings)
    with pytest.raises(ValueError, match="has none.*grounding"):
        restorer.restore(_image(32, 32), RegionMaps.uniform(32, 32), Degradation())


def test_forced_family_that_is_missing_is_reported(diffbir_weights, monkeypatch):
    from models.restorers.diffusion import diffusion_status

    monkeypatch.setenv("RESTORA_DIFFUSION_FAMILY", "instructrestore")
    ready, why = diffusion_status()
    assert not ready and "InstructRestore" in why
    monkeypatch.setenv("RESTORA_DIFFUSION_FAMILY", "sdxl")
    ready, why = diffusion_status()
    assert not ready and "sdxl" in why


def test_restora_run_uses_diffbir_and_says_so(diffbir_weights, tmp_path, monkeypatch):
    from PIL import Image
    from typer.testing import CliRunner

    from assistant.cli import app

    monkeypatch.setattr("assistant.backends.accelerator", lambda: "cuda")  # auto: diffusion needs a GPU

    path = tmp_path / "in.png"
    Image.fromarray((_image(70, 90) * 255).astype(np.uint8)).save(path)
    out, rep = tmp_path / "out.png", tmp_path / "r.json"
    args = ["run", str(path), "denoise the left half", "-o", str(out), "--json", str(rep), "--steps", "2"]
    bad = CliRunner().invoke(app, [*args, "--tile", "100"])
    assert bad.exit_code == 2 and "multiple of 64" in bad.output
    res = CliRunner().invoke(app, [*args, "--tile", "64", "--cleaner", "offline"])
    assert res.exit_code == 0, res.output
    report = json.loads(rep.read_text())
    assert report["backends"]["restorer"].startswith("full") and "DiffBIR" in report["backends"]["restorer"]
    notes = " ".join(report["notes"])
    assert "DiffBIR v2" in notes and "latent window(s) per step (64 px windows (as set))" in notes
    assert Image.open(out).size == (90, 70)


def test_models_download_diffbir_offline_says_what_to_do(tmp_path, monkeypatch):
    from models.restorers.diffusion.families import download_diffbir
    from models.weights import WeightsError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="HF_HUB_OFFLINE.*v2.pth"):
        download_diffbir(tmp_path)


def test_config_default_matches_the_manifest_geometry():
    cfg = _manifest("diffbir_v2_controlnet.json")["config"]
    assert DIFFBIR_CONTROLNET_CONFIG["in_channels"] == cfg["in_channels"] + cfg["hint_channels"]
    assert DIFFBIR_CONTROLNET_CONFIG["cross_attention_dim"] == cfg["context_dim"]
    assert list(DIFFBIR_CONTROLNET_CONFIG["block_out_channels"]) == [
        cfg["model_channels"] * m for m in cfg["channel_mult"]
    ]


def test_swinir_cleaner_is_used_once_downloaded(diffbir_weights):
    from models.restorers.base import Degradation
    from models.restorers.diffusion import diffusion_status, load_diffusion_restorer
    from models.restorers.diffusion.diffbir.swinir import SwinIR
    from models.restorers.diffusion.settings import DiffusionSettings
    from models.restorers.maps import RegionMaps

    torch.manual_seed(0)
    torch.save(SwinIR().state_dict(), diffbir_weights / "diffbir-v2" / "realesrgan_s4_swinir_100k.pth")
    ready, why = diffusion_status()
    assert ready and "stage 1: SwinIR" in why
    restorer = load_diffusion_restorer(device="cpu", settings=DiffusionSettings(steps=1))
    out = restorer.restore(_image(48, 64), RegionMaps.uniform(48, 64), Degradation())
    assert "SwinIR" in " ".join(out.notes)
    forced = load_diffusion_restorer(device="cpu", settings=DiffusionSettings(steps=1, cleaner="offline"))
    assert "offline restorer" in " ".join(forced.restore(_image(48, 64), RegionMaps.uniform(48, 64),
                                                         Degradation()).notes)  # fmt: skip


def test_models_cli_knows_the_diffbir_bundle(diffbir_weights):
    from typer.testing import CliRunner

    from assistant.models_cli import models_app

    runner = CliRunner()
    res = runner.invoke(models_app, ["verify", "diffbir-v2"])
    assert res.exit_code == 0 and "ok       diffbir-v2" in res.output, res.output
    rows = {r["name"]: r for r in json.loads(runner.invoke(models_app, ["list", "--json"]).output)["models"]}
    assert rows["diffbir-v2"]["present"] and rows["diffbir-v2"]["licence"].startswith("Apache-2.0")
    res = runner.invoke(models_app, ["download", "diffbir-v2"])  # offline, already present: no network
    assert res.exit_code == 0 and "diffbir-v2:" in res.output, res.output
    assert runner.invoke(models_app, ["where", "diffbir-v2"]).exit_code == 0


def test_speed_benchmark_runs_both_families_tiled_on_tiny_models():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "diffusion_speed.py"
    spec = importlib.util.spec_from_file_location("diffusion_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.main(["--tiny", "--family", "both", "--sizes", "64,128", "--tile", "64", "--device", "cpu",
                         "--cpu-steps", "1", "--steps", "2"])  # fmt: skip
    rows = {(r["family"], r["size"]): r for r in result["rows"]}
    assert set(rows) == {(f, s) for f in ("instructrestore", "diffbir") for s in (64, 128)}
    assert rows[("diffbir", 64)]["windows_per_step"] == 1 and rows[("diffbir", 128)]["windows_per_step"] == 9
    assert rows[("instructrestore", 128)]["windows_per_step"] == 9 and not result["missed"]
