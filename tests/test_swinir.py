"""DiffBIR's SwinIR cleaner: manifest keys/shapes, Swin window semantics, loading rules, tiling.

The window/shift/mask/relative-position semantics are checked against independent brute-force
formulations (SwinIR arXiv 2108.10257 on Swin arXiv 2103.14030): a token attends to the tokens of
its (cyclically shifted) window, with the bias-table row of their in-window offset, and −100 on
pairs that the cyclic roll made neighbours although they are not neighbours in the image.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402, N812

from models.restorers.diffusion.diffbir.swinir import (  # noqa: E402
    DIFFBIR_SWINIR_CONFIG,
    MASK_VALUE,
    SwinBlock,
    SwinIR,
    SwinIRConfig,
    relative_position_index,
    shifted_window_mask,
)
from models.restorers.diffusion.diffbir.swinir_cleaner import SwinIRCleaner, load_swinir  # noqa: E402

MANIFEST = (
    Path(__file__).resolve().parents[2] / "shared" / "reference/checkpoints/diffbir_swinir_cleaner.json"
)
#: Pads to multiples of 16 px; a 64 px input is the 16×16 token grid its attn_mask buffers are for.
TINY = SwinIRConfig(
    img_size=16, embed_dim=12, depths=(2, 2), num_heads=(2, 2), window_size=4, unshuffle_scale=4,
    upsample_channels=8,
)  # fmt: skip


def lively(model: torch.nn.Module, seed: int, out_gain: float = 0.5) -> torch.nn.Module:
    """Random weights large enough that attention and far context matter (the default init's 0.02
    std leaves a near-constant output) and the output varies with the image (std ≈ 0.08)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.dtype)
            if name.endswith("relative_position_bias_table"):
                p.copy_(noise)
            elif p.ndim == 2:
                p.copy_(noise * 2 / math.sqrt(p.shape[1]))
            elif p.ndim == 4:
                p.copy_(noise / math.sqrt(p[0].numel()))
            elif "norm" not in name:
                p.copy_(noise * 0.1)
        if isinstance(model, SwinIR):
            model.conv_last.weight.mul_(out_gain)
    return model.eval()


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A photo-like (smooth, in-range) float32 RGB test image."""
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.random((1, 3, max(h // 8, 2), max(w // 8, 2))).astype(np.float32))
    img = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    return img[0].permute(1, 2, 0).numpy().copy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models are tiny: one thread avoids OpenMP barrier stalls on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def manifest() -> dict:
    if not MANIFEST.is_file():
        pytest.skip(f"DiffBIR SwinIR manifest not found at {MANIFEST} (expected ../shared beside the repo)")
    return json.loads(MANIFEST.read_text())


@pytest.fixture(scope="module")
def full_model() -> SwinIR:
    torch.manual_seed(0)
    return SwinIR().eval()


@pytest.fixture(scope="module")
def tiny_model() -> SwinIR:
    return lively(SwinIR(TINY), seed=0)


# ---------------------------------------------------------------- architecture vs. the manifest


def test_full_config_matches_manifest(manifest):
    with torch.device("meta"):
        model = SwinIR()
    state = model.state_dict()
    expected = {k: tuple(v) for k, v in manifest.items() if k != "config" and not k.startswith("_")}
    counts = manifest["_meta"]["counts"]
    assert len(state) == counts["state_dict_keys"] == 732
    assert list(state) == list(expected)  # same names, same order
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    assert sum(p.numel() for p in model.parameters()) == counts["parameters"] == 15_792_587
    buffers = dict(model.named_buffers())
    assert len(buffers) == counts["buffer_keys"] == 72
    assert (
        sum(k.endswith(".attn.relative_position_index") for k in buffers)
        == counts["relative_position_index_keys"]
    )
    masks = [k for k in buffers if k.endswith(".attn_mask")]
    assert len(masks) == counts["attn_mask_keys"] == 24
    assert all(k.split(".")[4] in {"1", "3", "5"} and ".attn." not in k for k in masks)
    cfg = manifest["config"]
    ours = DIFFBIR_SWINIR_CONFIG
    assert (ours.img_size, ours.embed_dim, ours.window_size, ours.unshuffle_scale, ours.img_range) == (
        cfg["img_size"], cfg["embed_dim"], cfg["window_size"], cfg["unshuffle_scale"], cfg["img_range"],
    )  # fmt: skip
    assert (list(ours.depths), list(ours.num_heads), ours.mlp_ratio) == (
        cfg["depths"], cfg["num_heads"], cfg["mlp_ratio"],
    )  # fmt: skip
    assert cfg["sf"] == ours.unshuffle_scale == 2**ours.num_upsamples and ours.pad_multiple == 64


def reference_index(window: int) -> np.ndarray:
    """Bias-table row for token i → token j: (Δrow + w − 1)·(2w − 1) + (Δcol + w − 1), by loops."""
    n = window * window
    out = np.empty((n, n), np.int64)
    for i in range(n):
        for j in range(n):
            dh, dw = i // window - j // window, i % window - j % window
            out[i, j] = (dh + window - 1) * (2 * window - 1) + (dw + window - 1)
    return out


def reference_mask(height: int, width: int, window: int, shift: int) -> np.ndarray:
    """Per rolled window: 0 where two tokens are as far apart in the image as in the rolled grid
    (true neighbours), −100 where the cyclic roll wrapped one of them around."""
    rh, rw = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")  # rolled coordinates
    oh, ow = (rh + shift) % height, (rw + shift) % width  # where each token sits in the image
    masks = []
    for a in range(0, height, window):
        for b in range(0, width, window):
            sl = (slice(a, a + window), slice(b, b + window))
            r_h, r_w, o_h, o_w = (v[sl].ravel() for v in (rh, rw, oh, ow))
            same = (o_h[:, None] - o_h[None] == r_h[:, None] - r_h[None]) & (
                o_w[:, None] - o_w[None] == r_w[:, None] - r_w[None]
            )
            masks.append(np.where(same, 0.0, -100.0))
    return np.stack(masks).astype(np.float32)


def test_full_config_buffers_follow_swin_semantics(full_model):
    index = reference_index(8)
    mask = reference_mask(64, 64, 8, 4)
    assert index.min() == 0 and index.max() == 224 and len(np.unique(index)) == 225
    assert (np.diag(index) == 112).all() and (index + index.T == 224).all()
    assert set(np.unique(mask)) == {0.0, -100.0} and MASK_VALUE == -100.0
    # 49 interior windows see no wrap; the 7+7 edge windows split in two, the corner in four.
    regions = [len({tuple(row) for row in (m == 0)}) for m in mask]
    assert regions.count(1) == 49 and regions.count(2) == 14 and regions.count(4) == 1
    assert np.array_equal(relative_position_index(8).numpy(), index)
    assert np.array_equal(shifted_window_mask(64, 64, 8, 4).numpy(), mask)
    buffers = dict(full_model.named_buffers())
    for name, buf in buffers.items():
        if name.endswith("relative_position_index"):
            assert buf.dtype == torch.int64 and np.array_equal(buf.numpy(), index), name
        else:
            assert name.endswith(".attn_mask") and buf.dtype == torch.float32, name
            assert np.array_equal(buf.numpy(), mask), name
    # Non-square, non-64 grids (computed at run time) follow the same rule.
    assert np.array_equal(shifted_window_mask(16, 24, 8, 4).numpy(), reference_mask(16, 24, 8, 4))


def reference_block(block: SwinBlock, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The block computed densely over the whole grid, without rolls or window partitions."""
    ws, shift, attn = block.window, block.shift, block.attn
    heads, c = attn.heads, x.shape[-1]
    oh, ow = (t.flatten() for t in torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"))
    rh, rw = (oh - shift) % h, (ow - shift) % w  # position of each token after the roll by −shift
    same_window = ((rh // ws)[:, None] == (rh // ws)[None]) & ((rw // ws)[:, None] == (rw // ws)[None])
    adjacent = ((oh[:, None] - oh[None]) == (rh[:, None] - rh[None])) & (
        (ow[:, None] - ow[None]) == (rw[:, None] - rw[None])
    )
    dh, dw = (rh % ws)[:, None] - (rh % ws)[None], (rw % ws)[:, None] - (rw % ws)[None]
    bias = attn.relative_position_bias_table[(dh + ws - 1) * (2 * ws - 1) + dw + ws - 1]  # L, L, heads
    q, k, v = attn.qkv(block.norm1(x[0])).view(-1, 3, heads, c // heads).unbind(1)
    out = []
    for head in range(heads):
        logits = q[:, head] @ k[:, head].T * (c // heads) ** -0.5 + bias[..., head]
        logits = logits + torch.where(adjacent, 0.0, MASK_VALUE).to(x.dtype)
        logits = logits.masked_fill(~same_window, float("-inf"))
        out.append(logits.softmax(-1) @ v[:, head])
    y = x[0] + attn.proj(torch.cat(out, dim=-1))
    return (y + block.mlp(block.norm2(y)))[None]


@pytest.mark.parametrize(
    ("shift", "h", "w"),
    [(2, 8, 8), (2, 8, 12), (2, 12, 4), (0, 8, 12)],
    ids=["stored-mask", "computed-mask", "computed-single-column", "unshifted"],
)
def test_block_matches_dense_reference(shift, h, w):
    block = SwinBlock(8, heads=2, window=4, shift=shift, mlp_ratio=2.0, qkv_bias=True, grid=8)
    block = lively(block, seed=3).double()
    x = torch.randn(1, h * w, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        got, want = block(x, (h, w)), reference_block(block, x, h, w)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- running


def test_full_size_model_keeps_the_size(full_model):
    x = torch.rand(1, 3, 128, 192, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert full_model(x).shape == (1, 3, 128, 192)
        with pytest.raises(ValueError, match="multiples of 64"):
            full_model(x[..., :120, :])


def test_tiny_cleaner_shape_range_determinism(tiny_model):
    cleaner = SwinIRCleaner(tiny_model)
    img = smooth_image(70, 130)
    out = cleaner(img)
    assert cleaner.name == "DiffBIR SwinIR"
    assert (cleaner.device, cleaner.dtype) == (torch.device("cpu"), torch.float32)
    assert out.shape == img.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1 and out.std() > 0.05
    assert np.array_equal(out, cleaner(img.copy()))
    assert not np.array_equal(out, cleaner(smooth_image(70, 130, seed=1)))
    # The cleaner zero-pads bottom/right to multiples of 16 (this config's 64) and crops back.
    padded = np.zeros((80, 144, 3), np.float32)
    padded[:70, :130] = img
    with torch.inference_mode():
        direct = tiny_model(torch.from_numpy(padded.transpose(2, 0, 1))[None])
    want = direct[0, :, :70, :130].clamp(0, 1).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(out, want)


def _save(state: dict, path: Path, wrapper: str | None, prefix: str) -> Path:
    state = {prefix + k: v.clone() for k, v in state.items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({wrapper: state, "epoch": 3} if wrapper else state, path)
    return path


@pytest.mark.parametrize(
    ("name", "wrapper", "prefix"),
    [("m.pth", "state_dict", "module."), ("m.ckpt", "params_ema", ""), ("m.pt", None, ""),
     ("m.safetensors", None, "")],
)  # fmt: skip
def test_load_reproduces_outputs(tiny_model, tmp_path, name, wrapper, prefix):
    path = _save(tiny_model.state_dict(), tmp_path / name, wrapper, prefix)
    loaded = load_swinir(path, config=TINY)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    img = smooth_image(70, 130)
    np.testing.assert_array_equal(SwinIRCleaner(loaded)(img), SwinIRCleaner(tiny_model)(img))


def _mutations():
    def drop(sd):
        del sd["conv_last.bias"]
        return "conv_last.bias", "missing"

    def extra(sd):
        sd["conv_up9.weight"] = torch.zeros(8, 8, 3, 3)
        return "conv_up9.weight", "unexpected"

    def misshape(sd):
        sd["layers.1.conv.weight"] = torch.zeros(12, 12, 1, 1)
        return "layers.1.conv.weight", "misshaped"

    return [drop, extra, misshape]


@pytest.mark.parametrize("mutate", _mutations(), ids=["missing", "unexpected", "misshaped"])
def test_load_refuses_mismatches(tiny_model, tmp_path, mutate):
    from models.restorers.diffusion.checkpoints import CheckpointMismatchError

    state = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    key, kind = mutate(state)
    path = _save(state, tmp_path / "bad.pth", "state_dict", "")
    with pytest.raises(CheckpointMismatchError, match=key.replace(".", r"\.")) as err:
        load_swinir(path, config=TINY)
    assert "a DiffBIR SwinIR cleaner" in str(err.value)
    assert any(item.startswith(key) for item in getattr(err.value, kind))


def test_load_hints_at_what_the_file_is(tiny_model, tmp_path):
    from models.restorers.diffusion.checkpoints import CheckpointMismatchError

    controlnet = {"input_blocks.0.0.weight": torch.zeros(4, 8, 3, 3), "zero_convs.0.0.weight": torch.zeros(4)}
    with pytest.raises(CheckpointMismatchError, match="ControlNet, the stage-2 model"):
        load_swinir(_save(controlnet, tmp_path / "v2.pth", None, ""), config=TINY)
    state = dict(tiny_model.state_dict())
    original = {("conv_first.weight" if k == "conv_first.1.weight" else k): v for k, v in state.items()}
    with pytest.raises(CheckpointMismatchError, match="original SwinIR"):
        load_swinir(_save(original, tmp_path / "orig.pth", "params", ""), config=TINY)
    # Built for another token grid: only the attn_mask buffers differ; the hint says how to load it.
    other_grid = dataclasses.replace(TINY, img_size=32)
    with pytest.raises(CheckpointMismatchError, match=r"SwinIRConfig\(img_size=16\)"):
        load_swinir(_save(state, tmp_path / "grid.pth", None, ""), config=other_grid)


def test_load_missing_or_unreadable_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="restora models download diffbir-v2") as err:
        load_swinir(tmp_path / "realesrgan_s4_swinir_100k.pth")
    assert str(tmp_path / "realesrgan_s4_swinir_100k.pth") in str(err.value)
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="weights_only"):
        load_swinir(tmp_path / "broken.pth")
    torch.save(
        {"state_dict": {"conv_last.bias": torch.zeros(3)}, "hparams": Path("x")}, tmp_path / "obj.ckpt"
    )
    with pytest.raises(ValueError, match="weights_only"):
        load_swinir(tmp_path / "obj.ckpt")


# ---------------------------------------------------------------- tiling


def test_tiled_matches_untiled(tiny_model):
    """The receptive field (convs at every stage, shifted windows in 4 blocks) is wider than the
    tile overlap, so tiles see less context near their borders and results differ slightly. The
    Gaussian weights take each pixel mostly from the tile it is central in: measured 46.6 dB here
    (41.8–57.4 dB over six weight seeds), against 25–35 dB for abutting tiles without overlap
    (seams), so 40 dB holds for this fixed model while a seam or a misplaced tile fails it."""
    img = smooth_image(256, 320)
    cleaner = SwinIRCleaner(tiny_model, tile_size=None)
    whole = cleaner(img)
    tiled = cleaner(img, tile_size=128, tile_stride=64)
    seams = cleaner(img, tile_size=128, tile_stride=128)
    blended, abutting = psnr(whole, tiled), psnr(whole, seams)
    print(f"tiled vs untiled: {blended:.1f} dB blended, {abutting:.1f} dB abutting")
    assert blended >= 40, f"tiled vs untiled PSNR {blended:.1f} dB"
    assert blended > abutting + 10
    # A tile as large as the (padded) image is the untiled run; sides shorter than the tile span it.
    for tile in (512, 384):
        np.testing.assert_array_equal(
            cleaner(img[:200, :300], tile_size=tile, tile_stride=64), cleaner(img[:200, :300])
        )
    narrow = cleaner(img[:100], tile_size=128, tile_stride=64)  # tiles only along the width
    assert narrow.shape == (100, 320, 3) and psnr(narrow, cleaner(img[:100])) >= 40


# ---------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ((np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8), r"dtype uint8.*/ 255"),
        (np.zeros((40, 40), np.float32), r"\(H, W, 3\).*\(40, 40\)"),
        (np.zeros((40, 40, 4), np.float32), r"\(H, W, 3\).*\(40, 40, 4\)"),
        (np.full((40, 40, 3), 1.5, np.float32), r"values in \[0, 1\].*1\.5"),
        (np.full((40, 40, 3), 200.0, np.float32), r"divide by 255"),
        (np.full((40, 40, 3), np.nan, np.float32), "NaN"),
        (np.zeros((0, 40, 3), np.float32), "empty"),
    ],
    ids=["uint8", "2-D", "4-channel", "above-1", "0-255-float", "nan", "empty"],
)
def test_cleaner_rejects_bad_input(tiny_model, image, message):
    with pytest.raises(ValueError, match=message):
        SwinIRCleaner(tiny_model)(image)


def test_cleaner_rejects_bad_tiles(tiny_model):
    with pytest.raises(ValueError, match="tile_size must be a positive multiple of 16"):
        SwinIRCleaner(tiny_model, tile_size=100)
    with pytest.raises(ValueError, match="at most tile_size"):
        SwinIRCleaner(tiny_model, tile_size=64, tile_stride=128)
    with pytest.raises(ValueError, match="multiple of 64"):
        SwinIRCleaner(SwinIR(SwinIRConfig(depths=(1,), num_heads=(6,), img_size=16)), tile_stride=100)
    with pytest.raises(TypeError, match="numpy array"):
        SwinIRCleaner(tiny_model)([[0.5]])
    out = SwinIRCleaner(tiny_model)(np.full((20, 20, 3), 1.0005, np.float32))  # resampling overshoot: clipped
    assert out.shape == (20, 20, 3)
