"""`restora run` picks the diffusion restorer when its weights are installed (tiny random checkpoints)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from assistant.cli import app

runner = CliRunner()


def _photo(tmp_path):
    rng = np.random.default_rng(0)
    rgb = (rng.random((70, 90, 3)) * 255).astype(np.uint8)  # not a multiple of 64: padded, cropped
    path = tmp_path / "in.png"
    Image.fromarray(rgb).save(path)
    return path


def _gpu(monkeypatch) -> None:
    """Tell ``auto`` there is a GPU (the tiny models still run on the CPU)."""
    monkeypatch.setattr("assistant.backends.accelerator", lambda: "cuda")


def test_auto_without_a_gpu_restores_offline_and_says_why(tiny_weights, tmp_path, monkeypatch):
    monkeypatch.setattr("assistant.backends.accelerator", lambda: None)
    out, rep = tmp_path / "out.png", tmp_path / "r.json"
    res = runner.invoke(app, ["run", str(_photo(tmp_path)), "denoise the photo", "-o", str(out),
                              "--json", str(rep)])
    assert res.exit_code == 0, res.output
    report = json.loads(rep.read_text())
    assert report["backends"]["restorer"].startswith("offline")
    notes = " ".join(report["notes"])
    assert "diffusion restorer is installed, but this machine has no GPU" in notes
    assert "min for this photo" in notes and "--backend full" in notes


def test_auto_uses_the_installed_diffusion_restorer(tiny_weights, tmp_path, monkeypatch):
    _gpu(monkeypatch)
    path = _photo(tmp_path)
    out, rep = tmp_path / "out.png", tmp_path / "r.json"
    res = runner.invoke(app, ["run", str(path), "make the left half clear with 0.5 and keep other parts "
                              "bokeh blur with 1.2", "-o", str(out), "--json", str(rep),
                              "--steps", "3", "--guidance", "2.5", "--seed", "7"])
    assert res.exit_code == 0, res.output
    report = json.loads(rep.read_text())
    assert report["backends"]["restorer"].startswith("full")
    assert report["backends"]["grounding"].startswith("offline")  # no GroundingDINO/SAM weights
    assert Image.open(out).size == (90, 70)
    notes = " ".join(report["notes"]).lower()
    assert "3 unipc steps" in notes and "guidance 2.5" in notes and "seed 7" in notes  # the flags reach it
    assert "left half" in notes  # the derived prompts name the region


def test_full_backend_without_weights_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("RESTORA_WEIGHTS_DIR", str(tmp_path / "empty"))
    res = runner.invoke(app, ["run", str(_photo(tmp_path)), "denoise", "-o", str(tmp_path / "o.png"),
                              "--backend", "full"])
    assert res.exit_code == 1
    assert "restora models download" in res.output or "weights" in res.output.lower()


def test_backend_full_runs_both_full_stages(tiny_weights, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("assistant.backends.accelerator", lambda: None)  # forced onto the CPU
    from test_grounding_full import build_grounding_dino, build_sam

    build_grounding_dino(tiny_weights / "grounding-dino-tiny")
    build_sam(tiny_weights / "sam-vit-base")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for var in ("RESTORA_DETECTOR", "RESTORA_SEGMENTER"):
        monkeypatch.delenv(var, raising=False)
    out, rep = tmp_path / "out.png", tmp_path / "r.json"
    res = runner.invoke(app, ["run", str(_photo(tmp_path)), "restore the whole photo with 0.5",
                              "-o", str(out), "--backend", "full", "--json", str(rep)])
    assert res.exit_code == 0, res.output
    report = json.loads(rep.read_text())
    assert report["backends"]["grounding"].startswith("full")
    assert report["backends"]["restorer"].startswith("full")
    assert report["regions"][0]["fidelity_used"] == 0.5
    assert Image.open(out).size == (90, 70)
    assert "diffusion restorer on the CPU: about" in caplog.text  # the estimate comes first


def test_decoder_takes_over_a_target_grounding_cannot_find(tiny_weights, tmp_path, monkeypatch):
    _gpu(monkeypatch)
    out, rep = tmp_path / "out.png", tmp_path / "r.json"
    res = runner.invoke(app, ["run", str(_photo(tmp_path)), "make the giraffe clear with 0.5",
                              "-o", str(out), "--json", str(rep)])
    assert res.exit_code == 0, res.output
    report = json.loads(rep.read_text())
    assert report["backends"]["restorer"].startswith("full")
    assert "mask decoder" in report["regions"][0]["how"]
    assert "decoder" in " ".join(report["notes"]).lower()
    # Asking for grounding masks only keeps the honest failure.
    res = runner.invoke(app, ["run", str(_photo(tmp_path)), "make the giraffe clear with 0.5",
                              "-o", str(tmp_path / "o2.png"), "--mask-source", "grounding"])
    assert res.exit_code == 1 and "click" in res.output.lower()
