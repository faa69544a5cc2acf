"""End to end through the CLI on real photos: parse → ground → restore → explain → files."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from assistant import EXAMPLES_DIR
from assistant.cli import app
from parsers import EDITPLAN_SCHEMA

runner = CliRunner()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


@pytest.fixture
def degraded(cbsd68, tmp_path):
    """A real photo (cbsd68) with σ=25 Gaussian noise, saved as PNG; returns (path, clean uint8)."""
    clean = np.asarray(Image.open(sorted(cbsd68.glob("*.png"))[3]).convert("RGB"))
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).round().astype(np.uint8)
    path = tmp_path / "noisy.png"
    Image.fromarray(noisy).save(path)
    return path, clean


def test_run_restores_a_degraded_photo_and_writes_report(degraded, tmp_path):
    path, clean = degraded
    out, report_path = tmp_path / "out.png", tmp_path / "report.json"
    res = runner.invoke(app, ["run", str(path), "denoise the whole photo", "-o", str(out),
                              "--backend", "offline", "--json", str(report_path)])
    assert res.exit_code == 0, res.output
    assert "Saved" in res.output and "denoised the whole photo" in res.output.lower()
    restored = np.asarray(Image.open(out).convert("RGB"))
    noisy = np.asarray(Image.open(path).convert("RGB"))
    assert restored.shape == clean.shape
    assert psnr(restored, clean) > psnr(noisy, clean) + 3.0

    report = json.loads(report_path.read_text())
    assert report["plan"] == {"edits": [{"target": "image", "action": "denoise", "fidelity": None}],
                              "command": None}
    [region] = report["regions"]
    assert (region["target"], region["action"], region["fidelity"]) == ("image", "denoise", None)
    assert region["mask_area_fraction"] == pytest.approx(1.0)
    assert report["backends"]["grounding"].startswith("offline")
    assert report["degradation"]["noise_sigma"] > 10
    assert report["degradation"]["noise_floor"] > 0.5 * report["degradation"]["noise_sigma"]  # white noise
    assert report["degradation"]["noise_in_doubt"] is False
    assert report["degradation"]["noise_sensor_pattern"] is False  # synthetic white noise: no sensor
    assert report["degradation"]["noise_removed_automatically"] == report["degradation"]["noise_sigma"]
    assert report["quality"]["after"]["noise_sigma"] < report["quality"]["before"]["noise_sigma"]
    assert set(report["timings_s"]) >= {"parse", "ground", "estimate", "restore"}


def test_keep_region_pixels_are_unchanged_and_report_matches_plan(degraded, tmp_path):
    path, clean = degraded
    out, report_path = tmp_path / "out.png", tmp_path / "r.json"
    instruction = "denoise the left half with 0.5 and leave the rest alone"
    res = runner.invoke(app, ["run", str(path), instruction, "-o", str(out), "--backend", "offline",
                              "--json", str(report_path)])
    assert res.exit_code == 0, res.output
    noisy = np.asarray(Image.open(path).convert("RGB"))
    restored = np.asarray(Image.open(out).convert("RGB"))
    w = noisy.shape[1]
    right = slice(int(w * 0.6), None)  # well inside the kept half, past the feathered edge
    assert np.array_equal(restored[:, right], noisy[:, right])
    left = slice(0, int(w * 0.4))
    assert psnr(restored[:, left], clean[:, left]) > psnr(noisy[:, left], clean[:, left]) + 3.0

    report = json.loads(report_path.read_text())
    plan_edits = report["plan"]["edits"]
    assert [(e["target"], e["action"], e["fidelity"]) for e in plan_edits] == [
        ("left half", "denoise", 0.5), ("background", "keep", None)]
    assert [(r["target"], r["action"], r["fidelity"]) for r in report["regions"]] == [
        (e["target"], e["action"], e["fidelity"]) for e in plan_edits]
    left_region, rest = report["regions"]
    assert left_region["mask_area_fraction"] == pytest.approx(0.5, abs=0.05)
    assert rest["mask_area_fraction"] == pytest.approx(0.5, abs=0.05)


def test_bundled_example_runs(tmp_path):
    out = tmp_path / "cat.png"
    res = runner.invoke(app, ["run", str(EXAMPLES_DIR / "cat_noisy.jpg"),
                              "make the main subject clear with 0.5 and keep other parts bokeh blur with 1.2",
                              "-o", str(out), "--backend", "offline"])
    assert res.exit_code == 0, res.output
    assert "JPEG quality 60 (from the file)" in res.output
    assert Image.open(out).size == (451, 300)


def test_unknown_target_asks_for_a_click_and_writes_nothing(degraded, tmp_path):
    path, _ = degraded
    out = tmp_path / "out.png"
    res = runner.invoke(app, ["run", str(path), "make the giraffe clear", "-o", str(out),
                              "--backend", "offline"])
    assert res.exit_code == 1
    assert "giraffe" in res.output and "--click X,Y" in res.output and "--box" in res.output
    assert not out.exists()


def test_click_restores_the_clicked_region(degraded, tmp_path):
    path, _ = degraded
    out, rep = tmp_path / "out.png", tmp_path / "r.json"
    res = runner.invoke(app, ["run", str(path), "make the giraffe clear", "--click", "200,150",
                              "-o", str(out), "--backend", "offline", "--json", str(rep)])
    assert res.exit_code == 0, res.output
    region = json.loads(rep.read_text())["regions"][0]
    assert "click" in region["how"] and 0 < region["mask_area_fraction"] < 1


def test_run_never_overwrites(degraded, tmp_path):
    path, _ = degraded
    before = path.read_bytes()
    res = runner.invoke(app, ["run", str(path), "denoise", "-o", str(path), "--overwrite"])
    assert res.exit_code == 2 and "never overwrites" in res.output
    assert path.read_bytes() == before
    out = tmp_path / "exists.png"
    out.write_bytes(b"keep me")
    res = runner.invoke(app, ["run", str(path), "denoise", "-o", str(out)])
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert out.read_bytes() == b"keep me"


def test_run_rejects_bad_input_clearly(tmp_path, degraded):
    path, _ = degraded
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    res = runner.invoke(app, ["run", str(bad), "denoise", "-o", str(tmp_path / "o.png")])
    assert res.exit_code == 2 and "not an image" in res.output
    res = runner.invoke(app, ["run", str(path), "denoise with 3", "-o", str(tmp_path / "o.png")])
    assert res.exit_code == 2 and "0" in res.output and "2" in res.output
    res = runner.invoke(app, ["run", str(path), "denoise", "--click", "5", "-o", str(tmp_path / "o.png")])
    assert res.exit_code == 2 and "--click" in res.output
    res = runner.invoke(app, ["run", str(path), "denoise", "--backend", "cloud"])
    assert res.exit_code == 2 and "--backend" in res.output


@pytest.mark.parametrize("text", ["make the dog clear with 0.5 and keep other parts bokeh blur with 1.2",
                                  "", "hello there", "undo", "denoise the cat and the dog"])
def test_parse_json_follows_the_contract(text):
    res = runner.invoke(app, ["parse", text, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    jsonschema.validate(data, EDITPLAN_SCHEMA)


def test_parse_template_exactly():
    res = runner.invoke(app, ["parse", "make the dog clear with 0.5 and keep other parts bokeh blur with 1.2",
                              "--json"])
    assert json.loads(res.stdout) == {
        "edits": [{"target": "dog", "action": "restore", "fidelity": 0.5},
                  {"target": "background", "action": "bokeh", "fidelity": 1.2}],
        "command": None}


@pytest.mark.parametrize("text", ["denoise with 0.5.3", "restore the dog with -1", "fix it at 1e9"])
def test_parse_malformed_strength_exits_2(text):
    res = runner.invoke(app, ["parse", text, "--json"])
    assert res.exit_code == 2
    assert "2" in res.output and "0" in res.output


def test_ground_writes_a_full_size_mask(degraded, tmp_path):
    path, clean = degraded
    out = tmp_path / "mask.png"
    res = runner.invoke(app, ["ground", str(path), "left half", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    mask = np.asarray(Image.open(out))
    assert mask.dtype == np.uint8 and mask.shape == clean.shape[:2]
    assert mask[:, :10].min() == 255 and mask[:, -10:].max() == 0
    report = json.loads(res.stdout)
    assert report["how"] and report["mask_area_fraction"] == pytest.approx(0.5, abs=0.05)


def test_own_offline_network_via_environment(degraded, tmp_path, monkeypatch):
    """RESTORA_OFFLINE_WEIGHTS swaps in a network of your own (the report names it); a path that
    is not a file is a clear error, not a traceback, and writes nothing."""
    import torch

    from models.restorers.network import ConditionalFFDNet, NetworkConfig, save_network

    path, _ = degraded
    torch.manual_seed(0)
    mine = ConditionalFFDNet(NetworkConfig(channels=8, layers=4))
    with torch.no_grad():
        mine.tail.bias.fill_(0.1)  # brightens every pixel: unmistakably not the shipped network
    save_network(mine, tmp_path / "mine.safetensors")
    monkeypatch.setenv("RESTORA_OFFLINE_WEIGHTS", str(tmp_path / "mine.safetensors"))
    out, report_path = tmp_path / "out.png", tmp_path / "report.json"
    res = runner.invoke(app, ["run", str(path), "denoise the whole photo", "-o", str(out),
                              "--backend", "offline", "--json", str(report_path)])
    assert res.exit_code == 0, res.output
    noisy = np.asarray(Image.open(path).convert("RGB")).astype(float)
    restored = np.asarray(Image.open(out).convert("RGB")).astype(float)
    assert (restored - noisy).mean() > 15  # +0.1 × 255 from the bias, where the shipped one denoises
    assert "mine.safetensors" in json.loads(report_path.read_text())["backends"]["restorer"]

    monkeypatch.setenv("RESTORA_OFFLINE_WEIGHTS", str(tmp_path / "absent.safetensors"))
    res = runner.invoke(app, ["run", str(path), "denoise", "-o", str(tmp_path / "o2.png")])
    assert res.exit_code == 2 and "RESTORA_OFFLINE_WEIGHTS" in res.output and "--export" in res.output
    assert not (tmp_path / "o2.png").exists() and "Traceback" not in res.output


def _no_restore(monkeypatch):
    from assistant.session import Session

    def refuse(*args, **kwargs):
        raise AssertionError("the restore ran before the output was checked")

    monkeypatch.setattr(Session, "send", refuse)


@pytest.mark.parametrize("where,expected", [
    (lambda tmp: tmp / "folder.png", "is a folder"),
    (lambda tmp: tmp / "file.txt" / "out.png", "which is a file"),
    (lambda tmp: tmp / "file.txt" / "deeper" / "out.png", "which is a file"),
])
def test_unwritable_outputs_are_refused_before_the_restore(tmp_path, monkeypatch, where, expected):
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "file.txt").write_text("a file")
    _no_restore(monkeypatch)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    res = runner.invoke(app, ["run", str(EXAMPLES_DIR / "cat_noisy.jpg"), "denoise", "-o",
                              str(where(tmp_path)), "--backend", "offline"])
    assert res.exit_code == 2 and expected in res.output, res.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no .tmp left behind
    res = runner.invoke(app, ["run", str(EXAMPLES_DIR / "cat_noisy.jpg"), "denoise", "-o",
                              str(tmp_path / "ok.png"), "--json", str(where(tmp_path)),
                              "--backend", "offline"])
    assert res.exit_code == 2 and expected in res.output, res.output


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's read-only /sys")
def test_output_in_a_read_only_folder_is_refused_before_the_restore(monkeypatch):
    _no_restore(monkeypatch)
    res = runner.invoke(app, ["run", str(EXAMPLES_DIR / "cat_noisy.jpg"), "denoise", "-o",
                              "/sys/kernel/restora-test/out.png", "--backend", "offline"])
    assert res.exit_code == 2 and "not writable" in res.output, res.output


def test_ground_checks_its_output_first(tmp_path, monkeypatch):
    (tmp_path / "file.txt").write_text("a file")
    res = runner.invoke(app, ["ground", str(EXAMPLES_DIR / "cat_noisy.jpg"), "cat", "-o",
                              str(tmp_path / "file.txt" / "m.png"), "--backend", "offline"])
    assert res.exit_code == 2 and "which is a file" in res.output


@pytest.mark.parametrize("text,expected", [("", "Tell me what to restore"), ("   ", "Tell me what"),
                                           ("denoise " * 300, "too long"),
                                           ("denoise " + "\ufdfa" * 1000, "too long")])
def test_empty_or_over_long_instructions_exit_2_before_any_work(tmp_path, text, expected):
    out = tmp_path / "o.png"
    res = runner.invoke(app, ["run", str(EXAMPLES_DIR / "cat_noisy.jpg"), text, "-o", str(out),
                              "--backend", "offline"])
    assert res.exit_code == 2 and expected in res.output, res.output
    assert not out.exists()


def _small_photo(tmp_path) -> Path:
    path = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(path)
    return path


def test_ground_mask_and_run_report_are_written_atomically(tmp_path, monkeypatch):
    """The mask and the --json report go through a temporary file beside them and os.replace;
    when the rename fails the old file is untouched, the temporary removed, and the exit is 1."""
    import os

    photo = _small_photo(tmp_path)
    mask, report = tmp_path / "m.png", tmp_path / "r.json"
    res = runner.invoke(app, ["ground", str(photo), "left half", "-o", str(mask), "--backend", "offline"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["run", str(photo), "denoise the whole photo", "-o", str(tmp_path / "o.png"),
                              "--json", str(report), "--backend", "offline"])
    assert res.exit_code == 0, res.output
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    renames, real_replace = [], os.replace

    def fail(src, dst):
        if Path(dst).name == "o2.png":  # the restored image itself is written as usual
            return real_replace(src, dst)
        renames.append((Path(src).parent, Path(dst).name))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    res = runner.invoke(app, ["ground", str(photo), "right half", "-o", str(mask), "--overwrite",
                              "--backend", "offline"])
    assert res.exit_code == 1 and "could not write the mask" in res.output and "No space" in res.output
    res = runner.invoke(app, ["run", str(photo), "denoise the whole photo", "-o", str(tmp_path / "o2.png"),
                              "--json", str(report), "--overwrite", "--backend", "offline"])
    assert res.exit_code == 1 and "could not write the report" in res.output
    assert renames == [(tmp_path, "m.png"), (tmp_path, "r.json")]  # temporary beside the target
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "o2.png"}
    assert after == before  # old mask and report intact, no temporary left


def test_ground_refuses_an_existing_mask_and_the_input_as_output(tmp_path, monkeypatch):
    photo = _small_photo(tmp_path)
    (tmp_path / "m.png").write_bytes(b"mine")
    for out, expected in ((tmp_path / "m.png", "--overwrite"), (photo, "is the input image"),
                          (tmp_path / "m.jpg", "must end in .png")):
        res = runner.invoke(app, ["ground", str(photo), "cat", "-o", str(out), "--backend", "offline"])
        assert res.exit_code == 2 and expected in res.output, res.output
    assert (tmp_path / "m.png").read_bytes() == b"mine" and sorted(p.name for p in tmp_path.iterdir()) == [
        "in.png", "m.png"]
