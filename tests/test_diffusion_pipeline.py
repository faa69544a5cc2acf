"""The region-modulated diffusion pipeline and restorer on tiny real components (random weights).

The tiny models (``models.restorers.diffusion.tiny``) have the real structure: 12 down + 1 mid
control residuals, three cross-attention blocks feeding the mask decoder, randomised zero-convs.
Images are multiples of 16 px there (2× VAE, 8× UNet), so a region edge on a 16-px grid is sharp
at every residual resolution.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import torch.nn.functional as F  # noqa: E402, N812

from models.restorers.diffusion.checkpoints import CheckpointMismatchError  # noqa: E402
from models.restorers.diffusion.instructrestore.pipeline import InstructRestorePipeline  # noqa: E402
from models.restorers.diffusion.instructrestore.restorer import DiffusionRestorer  # noqa: E402
from models.restorers.diffusion.settings import DiffusionSettings  # noqa: E402
from models.restorers.diffusion.steps import Cancelled, pad_to_multiple, resize_map  # noqa: E402
from models.restorers.diffusion.tiny import save_tiny_checkpoints, tiny_components  # noqa: E402
from models.restorers.maps import MaskedEdit, RegionMaps, build_region_maps  # noqa: E402
from parsers.plan import Edit, EditPlan  # noqa: E402

H, W = 48, 64


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Two shared cores: one intra-op thread is several times faster than two contending ones."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def parts():
    return tiny_components(seed=0)


@pytest.fixture(scope="module")
def pipe(parts):
    p = InstructRestorePipeline(**parts)
    p.set_progress_bar_config(disable=True)
    return p


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).random((H, W, 3)).astype(np.float32)


def two_region_fidelity() -> tuple[np.ndarray, dict[str, tuple[slice, slice, float]]]:
    """Background 0.8, region A 0.3, region B 1.7, edges on the 16-px grid."""
    regions = {"a": (slice(0, 16), slice(0, 32), 0.3), "b": (slice(16, 48), slice(48, 64), 1.7)}
    fid = np.full((H, W), 0.8, np.float32)
    for rows, cols, value in regions.values():
        fid[rows, cols] = value
    return fid, regions


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Recorder:
    """Records the ControlNet's raw outputs and the residuals the UNet receives, per call."""

    def __init__(self, pipeline: InstructRestorePipeline):
        self.raw: list[tuple] = []
        self.fed: list[tuple] = []
        self.handles = [
            pipeline.controlnet.register_forward_hook(lambda m, a, out: self.raw.append(out)),
            pipeline.unet.register_forward_pre_hook(self._unet, with_kwargs=True),
        ]

    def _unet(self, module, args, kwargs):
        self.fed.append((kwargs["down_block_additional_residuals"], kwargs["mid_block_additional_residual"]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def _residuals(pair) -> list[torch.Tensor]:
    down, mid = pair[0], pair[1]
    return [*down, mid]


# ---------------------------------------------------------------- modulation


def test_zero_fidelity_step_equals_uncontrolled_unet(pipe, parts):
    latent = torch.randn(2, 4, H // 2, W // 2, generator=gen(1))
    t = torch.tensor(999)
    main = pipe.encode_prompt("dog", torch.device("cpu"), True)
    control = pipe.encode_prompt("make dog clear", torch.device("cpu"), True)
    hint = torch.rand(2, 3, H, W, generator=gen(2))
    zeros = torch.zeros(1, 1, H, W)
    ours, _ = pipe.predict_noise(latent, t, main, control, hint, zeros, modulate=True)
    plain = parts["unet"](latent, t, encoder_hidden_states=main, return_dict=False)[0]
    torch.testing.assert_close(ours, plain, rtol=0, atol=1e-6)
    controlled, _ = pipe.predict_noise(latent, t, main, control, hint, torch.ones(1, 1, H, W), modulate=True)
    assert (controlled - plain).abs().max() > 1e-3  # the randomised ControlNet does steer


def test_zero_fidelity_run_equals_a_run_without_control(pipe, parts, image):
    zero = np.zeros((H, W), np.float32)
    ours = pipe(
        image,
        "dog",
        "make dog clear",
        fidelity=zero,
        num_inference_steps=2,
        mask_init_step=-1,
        generator=gen(),
        color_fix="none",
    ).image
    fresh = copy.deepcopy(parts["controlnet"])  # zero-convs back to zero: residuals are exactly 0
    for conv in [*fresh.controlnet_down_blocks, fresh.controlnet_mid_block]:
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    uncontrolled = InstructRestorePipeline(**{**parts, "controlnet": fresh})
    uncontrolled.set_progress_bar_config(disable=True)
    want = uncontrolled(
        image,
        "dog",
        "make dog clear",
        fidelity=np.ones((H, W), np.float32),
        num_inference_steps=2,
        generator=gen(),
        color_fix="none",
    ).image
    np.testing.assert_allclose(ours, want, rtol=0, atol=1e-6)


def test_each_residual_is_scaled_by_the_resized_fidelity_map(pipe, image):
    fid, regions = two_region_fidelity()
    fmap = torch.from_numpy(fid)[None, None]
    with Recorder(pipe) as rec:
        pipe(image, "dog", "make dog clear", fidelity=fid, num_inference_steps=3, generator=gen())
    assert len(rec.raw) == len(rec.fed) == 3
    # Step 0 is not modulated (mask_init_step = 0): the UNet gets the raw residuals.
    for raw, fed in zip(_residuals(rec.raw[0]), _residuals(rec.fed[0]), strict=True):
        assert torch.equal(raw, fed)
    for step in (1, 2):
        raw, fed = _residuals(rec.raw[step]), _residuals(rec.fed[step])
        assert len(raw) == 13
        sizes = set()
        for r, f in zip(raw, fed, strict=True):
            h, w = r.shape[-2:]
            sizes.add(h)
            torch.testing.assert_close(f, r * F.interpolate(fmap, size=(h, w), mode="area"))
            sy, sx = H // h, W // w  # image pixels per residual pixel
            for rows, cols, value in regions.values():
                inside = (
                    slice(None),
                    slice(None),
                    slice(rows.start // sy, rows.stop // sy),
                    slice(cols.start // sx, cols.stop // sx),
                )
                torch.testing.assert_close(f[inside], r[inside] * value)
            torch.testing.assert_close(f[..., -1, 0], r[..., -1, 0] * 0.8)  # outside both regions
        assert sizes == {H // 2, H // 4, H // 8, H // 16}


def test_area_resize_is_the_block_mean():
    fmap = torch.rand(1, 1, 64, 48, generator=gen(3))
    blocks = fmap.reshape(1, 1, 8, 8, 6, 8).mean(dim=(3, 5))
    torch.testing.assert_close(resize_map(fmap, (8, 6), "area"), blocks)


def test_mask_plus_scales_equals_the_fidelity_map(pipe, image):
    mask = np.zeros((H, W), np.float32)
    mask[:, :32] = 1.0
    a = pipe(
        image,
        "dog",
        "make dog clear",
        mask=mask,
        inner_scale=0.4,
        outer_scale=1.3,
        num_inference_steps=2,
        generator=gen(),
    ).image
    b = pipe(
        image,
        "dog",
        "make dog clear",
        fidelity=0.4 * mask + 1.3 * (1 - mask),
        num_inference_steps=2,
        generator=gen(),
    ).image
    np.testing.assert_array_equal(a, b)


def test_decoder_mask_reaches_the_modulation(pipe, image):
    # Centre the decoder's logits so its random mask has both an inside and an outside.
    centre = pipe.controlnet.mask_decoder.final_conv.register_forward_hook(
        lambda m, a, out: out - out.median()
    )
    try:
        with Recorder(pipe) as rec:
            out = pipe(
                image,
                "dog",
                "make dog clear",
                mask_source="decoder",
                inner_scale=0.4,
                outer_scale=1.6,
                num_inference_steps=3,
                generator=gen(),
            )
    finally:
        centre.remove()
    assert len(rec.raw[0]) == 2  # step 0 is not modulated: the decoder does not run
    for step in (1, 2):
        down, mid, mask = rec.raw[step]
        assert mask.shape == (2, 1, H // 2, W // 2)
        inside = (mask[1:] > 0.5).float()  # the conditional CFG half
        assert 0 < inside.mean() < 1
        fmap = 0.4 * inside + 1.6 * (1 - inside)
        for r, f in zip([*down, mid], _residuals(rec.fed[step]), strict=True):
            torch.testing.assert_close(f, r * F.interpolate(fmap, size=r.shape[-2:], mode="nearest"))
    last = (rec.raw[2][2][1, 0] > 0.5).float().numpy()
    np.testing.assert_array_equal(out.mask, last.repeat(2, 0).repeat(2, 1))
    assert all(not m._forward_hooks for m in pipe.controlnet.modules())  # feature hooks removed


def test_decoder_needs_guidance(pipe, image):
    with pytest.raises(ValueError, match="guidance"):
        pipe(image, mask_source="decoder", guidance_scale=1.0, num_inference_steps=1)


# ---------------------------------------------------------------- inputs, sizes, seeds, control


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fidelity": np.full((H, W), 2.5, np.float32)}, r"fidelity values must lie in \[0, 2\]"),
        ({"fidelity": np.ones((H, W + 1), np.float32)}, "expected the image's"),
        ({"fidelity": np.ones((H, W), np.float32), "mask": np.ones((H, W), np.float32)}, "exactly one"),
        ({}, "exactly one"),
        ({"mask": np.ones((H, W), np.float32), "inner_scale": 3.0}, "inner_scale"),
        ({"fidelity": np.ones((H, W), np.float32), "start_point": "lq"}, "start_point"),
        ({"fidelity": np.ones((H, W), np.float32), "color_fix": "hist"}, "color_fix"),
        ({"fidelity": np.ones((H, W), np.float32), "num_inference_steps": 0}, "num_inference_steps"),
        ({"fidelity": np.ones((H, W), np.float32), "mask_init_step": -2}, "mask_init_step"),
    ],
)
def test_check_inputs_errors(pipe, image, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pipe(image, **kwargs)


def test_bad_image_is_refused(pipe):
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        pipe(np.zeros((H, W), np.float32), fidelity=np.ones((H, W), np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pipe(np.full((H, W, 3), 255.0, np.float32), fidelity=np.ones((H, W), np.float32))


def test_seed_makes_runs_reproducible(pipe, image):
    fid, _ = two_region_fidelity()
    run = lambda seed: (
        pipe(
            image,
            "dog",
            "make dog clear",
            fidelity=fid,
            num_inference_steps=2,  # noqa: E731
            generator=gen(seed),
        ).image
    )
    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4
    assert a.shape == (H, W, 3) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1


def test_odd_sizes_are_padded_and_cropped_not_resized(pipe):
    odd = np.random.default_rng(5).random((37, 45, 3)).astype(np.float32)
    fid = np.random.default_rng(6).random((37, 45)).astype(np.float32) * 2
    kw = {"num_inference_steps": 2, "color_fix": "none", "prompt": "dog", "control_prompt": "make dog clear"}
    out = pipe(odd, fidelity=fid, generator=gen(), **kw).image
    padded = pipe(pad_to_multiple(odd, 16), fidelity=pad_to_multiple(fid, 16), generator=gen(), **kw).image
    assert out.shape == (37, 45, 3) and padded.shape == (48, 48, 3)
    np.testing.assert_allclose(out, padded[:37, :45], atol=1e-6)


def test_lr_start_point_is_the_noised_input_latent(pipe, image):
    pipe.scheduler.set_timesteps(20)
    assert int(pipe.scheduler.timesteps[0]) == 999
    lq = pipe.prepare_image(image, torch.device("cpu"))
    latents = pipe.prepare_latents(lq, "lr", gen(4), torch.float32)
    g = gen(4)
    z = pipe.vae.encode(2 * lq - 1).latent_dist.sample(g) * pipe.vae.config.scaling_factor
    eps = torch.randn(z.shape, generator=g)
    ab = pipe.scheduler.alphas_cumprod[999]
    torch.testing.assert_close(latents, ab.sqrt() * z + (1 - ab).sqrt() * eps, rtol=1e-4, atol=1e-5)
    noise = pipe.prepare_latents(lq, "noise", gen(4), torch.float32)
    torch.testing.assert_close(noise, torch.randn(z.shape, generator=gen(4)))


def test_callback_cancels_and_estimate_is_logged(pipe, image, caplog):
    seen = []

    def stop(p, i, t, info):
        seen.append((i, info["estimated_total_s"], info["num_steps"]))
        return False

    with (
        caplog.at_level(logging.INFO, logger="models.restorers.diffusion.steps"),
        pytest.raises(Cancelled),
    ):
        pipe(image, fidelity=np.ones((H, W), np.float32), num_inference_steps=5, callback_on_step_end=stop)
    assert seen[0][0] == 0 and seen[0][1] > 0 and seen[0][2] == 5 and len(seen) == 1
    assert "first step took" in caplog.text


def test_components_are_not_mutated(pipe, image):
    before = {k: v.clone() for k, v in pipe.controlnet.state_dict().items()}
    unet_sum = sum(float(p.double().sum()) for p in pipe.unet.parameters())
    pipe(image, "dog", "make dog clear", mask_source="decoder", num_inference_steps=2, generator=gen())
    after = pipe.controlnet.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert unet_sum == sum(float(p.double().sum()) for p in pipe.unet.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in pipe.controlnet.modules())


# ---------------------------------------------------------------- restorer, loading, grounder


def _plan() -> EditPlan:
    return EditPlan(edits=(Edit("dog", "restore", 0.5), Edit("background", "bokeh", None)))


def test_restorer_derives_prompts_and_reports(pipe, image):
    dog = np.zeros((H, W), np.float32)
    dog[8:40, 8:40] = 1.0
    maps = build_region_maps(H, W, [MaskedEdit("restore", 0.5, dog), MaskedEdit("keep", None, 1 - dog)])
    progress = []
    restorer = DiffusionRestorer(pipe, DiffusionSettings(steps=2))
    out = restorer.restore(image, maps, None, progress=lambda i, n: progress.append((i, n)), plan=_plan())
    notes = " ".join(out.notes)
    assert 'main "dog in front of bokeh background"' in notes
    assert 'control "make dog clear and keep other part bokeh blur"' in notes
    for needle in (
        "2 UniPC steps",
        "guidance 3.6",
        "seed 0",
        "grounding masks",
        "dog 0.5",
        "Ran on cpu (float32)",
    ):
        assert needle in notes, needle
    assert progress == [(1, 2), (2, 2)]
    keep = maps.keep >= 1
    np.testing.assert_array_equal(out.image[keep], image[keep])  # keep pixels bit-exact
    assert np.abs(out.image[~keep] - image[~keep]).max() > 0


def test_restorer_auto_uses_decoder_when_grounding_failed(pipe, image):
    restorer = DiffusionRestorer(
        pipe, DiffusionSettings(steps=2), main_prompt="cat", control_prompt="make cat clear"
    )
    out = restorer.restore(image, RegionMaps.uniform(H, W), None, plan=_plan(), grounded=False)
    notes = " ".join(out.notes)
    assert "mask decoder (grounding did not find the target)" in notes and "inside fidelity 0.5" in notes
    assert 'main "cat", control "make cat clear"' in notes
    assert restorer.last_output.mask is not None


def test_tiny_checkpoints_load_and_restore(tmp_path, image, monkeypatch):
    from models.restorers.diffusion import diffusion_status, load_diffusion_restorer

    monkeypatch.setenv("RESTORA_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.delenv("RESTORA_SD21_BASE", raising=False)
    monkeypatch.delenv("RESTORA_INSTRUCTRESTORE", raising=False)
    assert not diffusion_status()[0]
    save_tiny_checkpoints(tmp_path / "weights")  # the default folder names under RESTORA_WEIGHTS_DIR
    ready, reason = diffusion_status()
    assert ready, reason
    restorer = load_diffusion_restorer(device="cpu", settings=DiffusionSettings(steps=1))
    reference = tiny_components(seed=0)["controlnet"].state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in restorer.pipeline.controlnet.state_dict().items())
    out = restorer.restore(image[:37, :45], RegionMaps.uniform(37, 45, 0.7), None)
    assert out.image.shape == (37, 45, 3)


def test_tiny_checkpoint_with_a_missing_key_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    from models.restorers.diffusion.loading import load_pipeline

    ckpt = save_tiny_checkpoints(tmp_path)
    weights = ckpt.controlnet / "diffusion_pytorch_model.safetensors"
    state = load_file(str(weights))
    del state["mask_decoder.projects.0.norm1.weight"]
    save_file(state, str(weights))
    with pytest.raises(CheckpointMismatchError, match=r"mask_decoder\.projects\.0\.norm1\.weight"):
        load_pipeline(ckpt.base, ckpt.controlnet, device="cpu")


def test_decoder_grounder(pipe, image):
    from models.grounding.base import GroundingError, RegionPrompt
    from models.restorers.diffusion.instructrestore.grounder import DecoderGrounder

    grounder = DecoderGrounder(pipe)
    grounder.set_image(image)
    found = grounder.ground("dog")
    assert found.mask.shape == (H, W) and found.how == "InstructRestore mask decoder"
    assert 0 <= found.mask.min() and found.mask.max() <= 1
    assert grounder.ground("image").mask.min() == 1
    with pytest.raises(GroundingError, match="text only"):
        grounder.ground("dog", RegionPrompt(box_xyxy=(0, 0, 8, 8)))


def test_tiny_checkpoint_as_a_pth_file_loads(tmp_path):
    from safetensors.torch import load_file

    from models.restorers.diffusion.instructrestore.controlnet import load_instructrestore_controlnet

    ckpt = save_tiny_checkpoints(tmp_path)
    weights = ckpt.controlnet / "diffusion_pytorch_model.safetensors"
    state = load_file(str(weights))
    weights.unlink()
    torch.save(state, ckpt.controlnet / "InstructRestore_sd21.pth")  # the authors' README file name
    model = load_instructrestore_controlnet(ckpt.controlnet)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
