"""Quality-adaptive automatic fidelity: the documented table, both score sources, the pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from models.restorers.adaptive import (
    BREAKPOINTS,
    FIDELITY_BY_CLASS,
    choose_fidelity,
    classify,
    estimator_score,
    musiq_scorer,
)
from models.restorers.base import Degradation


def test_table_and_breakpoints():
    assert BREAKPOINTS == (40.0, 70.0)
    assert [classify(s) for s in (0, 39.9, 40, 69.9, 70, 100)] == [
        "severe",
        "severe",
        "medium",
        "medium",
        "mild",
        "mild",
    ]
    assert FIDELITY_BY_CLASS == {"severe": 0.7, "medium": 1.0, "mild": 1.3}
    with pytest.raises(ValueError, match="0, 100"):
        classify(120)


@pytest.mark.parametrize(
    ("degradation", "severity"),
    [
        (Degradation(noise_sigma=2), "mild"),
        (Degradation(noise_sigma=30), "medium"),
        (Degradation(noise_sigma=35), "severe"),
        (Degradation(blur_sigma=2.5), "severe"),
        (Degradation(jpeg_quality=20, jpeg_exact=True), "severe"),
        (Degradation(jpeg_quality=60, jpeg_exact=True), "medium"),
        (Degradation(noise_sigma=5, jpeg_quality=90, jpeg_exact=True), "mild"),
    ],
)
def test_estimator_scores_classify_as_documented(degradation, severity):
    assert classify(estimator_score(degradation)) == severity


def test_each_region_is_scored_inside_its_mask():
    image = np.full((64, 96, 3), 0.5, np.float32)
    left = np.zeros((64, 96), np.float32)
    left[:, :48] = 1
    calls = []

    def estimate(img, mask):
        calls.append(mask.copy())
        inside = mask > 0.5
        return Degradation(noise_sigma=45.0 if inside[:, :48].all() and not inside[:, 48:].any() else 2.0)

    noisy = choose_fidelity(image, left, estimate)
    clean = choose_fidelity(image, 1 - left, estimate)
    assert (noisy.severity, noisy.fidelity, clean.severity, clean.fidelity) == ("severe", 0.7, "mild", 1.3)
    assert noisy.source == "noise/blur/JPEG estimates" and len(calls) == 2
    seen = []
    musiq = choose_fidelity(image, left, estimate, scorer=lambda crop: seen.append(crop.shape) or 55.0)
    assert (musiq.source, musiq.severity, musiq.fidelity) == ("MUSIQ", "medium", 1.0)
    assert seen == [(64, 48, 3)]  # MUSIQ sees the region's bounding box


def test_musiq_is_absent_without_pyiqa_or_its_weights():
    musiq_scorer.cache_clear()
    assert musiq_scorer() is None  # pyiqa is an optional extra; nothing is downloaded


def test_diffusion_pipeline_uses_the_table_for_automatic_edits(tiny_weights, tmp_path, monkeypatch):
    import json

    from PIL import Image
    from typer.testing import CliRunner

    from assistant.cli import app

    monkeypatch.setattr("assistant.backends.accelerator", lambda: "cuda")  # auto: diffusion needs a GPU
    rng = np.random.default_rng(0)
    base = np.full((64, 96, 3), 128.0)
    base[:, :48] += rng.normal(0, 45, (64, 48, 3))  # left half very noisy, right half clean
    Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(tmp_path / "in.png")
    rep = tmp_path / "r.json"
    res = CliRunner().invoke(
        app,
        [
            "run",
            str(tmp_path / "in.png"),
            "restore the left half and the right half",
            "-o",
            str(tmp_path / "o.png"),
            "--json",
            str(rep),
            "--steps",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    regions = {r["target"]: r for r in json.loads(rep.read_text())["regions"]}
    left, right = regions["left half"], regions["right half"]
    assert left["adaptive"]["class"] == "severe" and left["fidelity_used"] == 0.7
    assert right["adaptive"]["class"] == "mild" and right["fidelity_used"] == 1.3
    assert "severe: quality" in res.output
