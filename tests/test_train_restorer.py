"""scripts/train_restorer.py: reproducible batches, resume, export to the shipped format."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
import torch

from tests.conftest import REPO


@pytest.fixture(scope="module")
def trainer(shared_data):
    if not (shared_data / "cbsd432").is_dir():
        pytest.skip(f"{shared_data / 'cbsd432'} is missing")
    spec = importlib.util.spec_from_file_location("train_restorer", REPO / "scripts" / "train_restorer.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_restorer"] = module
    spec.loader.exec_module(module)
    return module


def _tiny(trainer, iterations):
    return trainer.TrainConfig(iterations=iterations, batch=2, patch=32, channels=8, layers=4, warmup=1)


def test_batches_are_reproducible_and_degraded(trainer, shared_data):
    images = trainer.load_images(shared_data / "cbsd432")[:5]
    cfg = _tiny(trainer, 1)
    a, b = trainer.make_batch(images, cfg, 7), trainer.make_batch(images, cfg, 7)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    other = trainer.make_batch(images, cfg, 8)
    assert not torch.equal(a[0], other[0])
    degraded, conditions, clean, origins = trainer.make_batch(
        images, _tiny(trainer, 1).__class__(batch=64, patch=32), 3
    )
    assert degraded.shape == clean.shape == (64, 3, 32, 32) and conditions.shape == (64, 3, 32, 32)
    noisy = conditions[:, 0, 0, 0] > 0.2
    assert noisy.any() and (degraded - clean)[noisy].abs().mean() > 0.02  # conditions describe the damage
    assert conditions.min() >= 0 and conditions.max() <= 1
    assert (origins == 8).all()  # the patch starts one margin into the degraded crop


def test_grid_batches_cut_patches_at_every_block_phase(trainer, shared_data):
    images = trainer.load_images(shared_data / "cbsd432")[:5]
    cfg = trainer.TrainConfig(batch=64, patch=32, grid=True, focus_jpeg=1.0)  # all pure JPEG
    degraded, _, clean, origins = trainer.make_batch(images, cfg, 3)
    assert origins.min() >= 8 and origins.max() <= 23 and len(set((origins % 16).flatten().tolist())) > 8
    # the reported origin is where the blocks really are: the luma jumps most across block edges
    luma = degraded.mean(dim=1)
    jumps = (luma[:, :, 1:] - luma[:, :, :-1]).abs().mean(dim=1)  # (N, 31): between columns k, k + 1
    profile = torch.zeros(8)  # mean jump by grid position of the boundary
    for i, o in enumerate(origins[:, 1].tolist()):
        profile.index_add_(0, (o + torch.arange(1, 32)) % 8, jumps[i])
    assert profile.argmax() == 0 and profile[0] > 1.2 * profile[1:].mean()


def test_grid_run_starts_from_grid_less_weights(trainer, tmp_path):
    from models.restorers.network import ConditionalFFDNet, NetworkConfig, load_network, save_network

    torch.manual_seed(0)
    source = tmp_path / "plain.safetensors"
    save_network(ConditionalFFDNet(NetworkConfig(channels=8, layers=4)), source)
    cfg = trainer.TrainConfig(
        iterations=1, batch=2, patch=32, channels=8, layers=4, warmup=1, grid=True, init_from=str(source)
    )
    trainer.train(tmp_path / "run", cfg, torch.device("cpu"), save_every=1, val_every=100)
    trainer.export(tmp_path / "run", tmp_path / "grid.safetensors")
    model, _ = load_network(tmp_path / "grid.safetensors")
    assert model.config.grid and model.head.weight.shape[1] == 12 + 3 + 8


def test_resume_continues_the_same_run_and_export_loads(trainer, tmp_path):
    from models.restorers.network import load_network

    resumed, straight = tmp_path / "resumed", tmp_path / "straight"
    trainer.train(resumed, _tiny(trainer, 2), torch.device("cpu"), save_every=1, val_every=100)
    trainer.train(
        resumed, _tiny(trainer, 3), torch.device("cpu"), save_every=1, val_every=100
    )  # saved config wins
    assert torch.load(resumed / "last.pt", weights_only=True)["iteration"] == 2
    (resumed / "config.json").write_text(
        json.dumps({**json.loads((resumed / "config.json").read_text()), "iterations": 3})
    )
    trainer.train(resumed, _tiny(trainer, 3), torch.device("cpu"), save_every=1, val_every=100)
    trainer.train(straight, _tiny(trainer, 3), torch.device("cpu"), save_every=1, val_every=100)
    a = torch.load(resumed / "last.pt", weights_only=True)["model"]
    b = torch.load(straight / "last.pt", weights_only=True)["model"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    records = [json.loads(line) for line in (straight / "log.jsonl").read_text().splitlines()]
    assert records[-1]["iteration"] == 3 and "val_psnr" in records[-1] and "hardware" in records[-1]

    out = tmp_path / "exported.safetensors"
    trainer.export(straight, out)
    model, meta = load_network(out)
    assert meta["iterations"] == "3" and json.loads(meta["train_config"])["channels"] == 8
    x = torch.rand(1, 3, 32, 32)
    assert np.isfinite(model(x, torch.zeros_like(x)).detach().numpy()).all()


@pytest.fixture(scope="module")
def estimator_trainer(trainer):
    spec = importlib.util.spec_from_file_location("train_estimator", REPO / "scripts" / "train_estimator.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_estimator"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_estimator_trainer_starts_from_exported_weights(estimator_trainer):
    """``--init-from`` an exported estimator (noise output only) into the training model (noise and
    blur outputs): its noise output is the export's, where loading the state dict as is failed."""
    module = estimator_trainer
    from models.restorers.estimator import DEFAULT_ESTIMATOR, load_estimator
    from models.restorers.network import DegradationEstimator, EstimatorConfig

    shipped = load_estimator(DEFAULT_ESTIMATOR)[0].eval()
    model = DegradationEstimator(EstimatorConfig(channels=shipped.config.channels)).eval()
    x, jpeg = torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64)
    assert not torch.allclose(model(x, jpeg)[:, :1], shipped(x, jpeg))
    module.start_from(model, DEFAULT_ESTIMATOR)
    with torch.inference_mode():
        assert model(x, jpeg).shape[1] == 3
        assert torch.allclose(model(x, jpeg)[:, :1], shipped(x, jpeg), atol=1e-6)


def test_estimator_batches_from_half_size_and_extra_photos(estimator_trainer, trainer, shared_data, tmp_path):
    """``--downscale`` / ``--extra``: every third extra photo is held out, noisy or small ones are
    left out, and batches drawing on them stay reproducible and differ from plain ones."""
    import cv2

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:400, 0:420]
    smooth = np.stack([yy / 2, xx / 2, (yy + xx) / 4], axis=-1).clip(0, 255).astype(np.uint8)
    noisy = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)
    photos = [smooth, noisy, smooth[:200, :200], smooth, smooth, smooth]  # a0 … a5
    for i, photo in enumerate(photos):
        cv2.imwrite(str(tmp_path / f"a{i}.png"), photo)
    kept, held_out = estimator_trainer.extra_photos(tmp_path)
    assert [p.name for p in held_out] == ["a0.png", "a3.png"]
    assert len(kept) == 2 and kept[0].shape == (200, 210, 3)  # a4, a5 at half size; a1 noisy, a2 small
    images = trainer.load_images(shared_data / "cbsd432")[:4]
    cfg = estimator_trainer.EstimatorTrainConfig(batch=4, patch=64, downscale=0.5, extra_share=0.5)
    halves = estimator_trainer.half_size(images)
    a = estimator_trainer.estimator_batch(images, cfg, 3, halves, kept)
    b = estimator_trainer.estimator_batch(images, cfg, 3, halves, kept)
    plain_cfg = estimator_trainer.EstimatorTrainConfig(batch=4, patch=64)
    plain = estimator_trainer.estimator_batch(images, plain_cfg, 3)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], plain[0])
