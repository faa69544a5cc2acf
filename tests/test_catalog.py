"""The model catalogue, weight resolution and ``restora models`` — no network, no real weights.

Model folders here are stand-ins (a config.json and a small safetensors file) laid out the way
downloads are: ``--weights DIR/<name>``, ``$RESTORA_WEIGHTS_DIR/<name>`` and the Hub cache's
``models--org--name/snapshots/<rev>/``. Loading real (tiny) models through these paths is covered
by tests/test_grounding_full.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from typer.testing import CliRunner

from assistant.models_cli import models_app
from models.catalog import MODELS, get_spec
from models.readiness import FULL_STAGE_CHECKS, full_stage_status, grounding_ready
from models.weights import (
    WeightsError,
    download,
    find_local,
    folder_problems,
    load_state_dict,
    resolve,
    verify,
)

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    """Empty RESTORA_WEIGHTS_DIR and Hub cache under tmp_path; offline."""
    monkeypatch.setenv("RESTORA_WEIGHTS_DIR", str(tmp_path / "restora"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in ("RESTORA_DETECTOR", "RESTORA_SEGMENTER"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def fake_model(folder: Path, name: str) -> Path:
    """A stand-in model folder for catalogue entry ``name``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": MODELS[name].model_types[0]}))
    save_file({"w": np.arange(6, dtype=np.float32)}, str(folder / "model.safetensors"))
    return folder


def fake_hub_snapshot(hub: Path, name: str) -> Path:
    repo = hub / ("models--" + MODELS[name].hf_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    return fake_model(repo / "snapshots" / "0123abcd", name)


def test_catalogue_entries_describe_each_model():
    assert {"grounding-dino-tiny", "grounding-dino-base", "sam-vit-base", "sam-vit-large",
            "sam-vit-huge", "sam3"} <= set(MODELS)
    for name, spec in MODELS.items():
        assert "/" in spec.hf_id and spec.size_mb > 0 and spec.licence and spec.purpose, name
        assert spec.kind in ("detector", "segmenter", "text-segmenter")
        assert not any(p.endswith((".bin", ".pth", ".h5", ".msgpack")) for p in spec.allow_patterns)
    assert MODELS["grounding-dino-tiny"].hf_id == "IDEA-Research/grounding-dino-tiny"
    assert MODELS["sam-vit-huge"].licence == "Apache-2.0"
    assert MODELS["sam3"].gated and "SAM License" in MODELS["sam3"].licence


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="known models: grounding-dino-tiny, .*sam3"):
        get_spec("sam-vit-gigantic")


def test_catalogue_and_cli_import_nothing_heavy():
    code = ("import sys, models.catalog, models.readiness, models.weights, assistant.models_cli; "
            "models.readiness.full_stage_status('grounding'); "
            "bad = {'torch', 'transformers', 'diffusers', 'huggingface_hub'} & set(sys.modules); "
            "assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={"RESTORA_WEIGHTS_DIR": "/nonexistent", "HF_HUB_CACHE": "/nonexistent",
                              "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr


def test_resolution_order_weights_flag_then_restora_dir_then_hub_cache(env):
    name = "sam-vit-base"
    assert find_local(name) is None
    hub = fake_hub_snapshot(env / "hub", name)
    assert find_local(name).path == hub and find_local(name).source == "hub cache"
    mine = fake_model(env / "restora" / name, name)
    assert find_local(name).path == mine and find_local(name).source == "RESTORA_WEIGHTS_DIR"
    flag = fake_model(env / "flag" / name, name)
    assert find_local(name, env / "flag").path == flag
    assert resolve(name, env / "flag") == flag
    # DIR may also be the model folder itself
    assert resolve(name, flag) == flag


def test_explicit_weights_folder_without_the_model_is_an_error(env):
    fake_model(env / "restora" / "sam-vit-base", "sam-vit-base")
    (env / "empty").mkdir()
    with pytest.raises(WeightsError, match=r"--weights .*empty does not hold sam-vit-base"):
        resolve("sam-vit-base", env / "empty")  # no silent fallback to RESTORA_WEIGHTS_DIR


def test_missing_weights_message_names_the_download_command():
    with pytest.raises(WeightsError) as err:
        resolve("sam-vit-base")
    assert "run `restora models download sam-vit-base` or pass --weights DIR" in str(err.value)


def test_folder_problems_catch_wrong_type_missing_and_truncated_files(env):
    spec = get_spec("sam-vit-base")
    folder = fake_model(env / "m", "sam-vit-base")
    assert folder_problems(folder, spec, deep=True) == []
    assert "expected one of ['grounding-dino']" in folder_problems(folder, get_spec("grounding-dino-tiny"))[0]
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])  # an interrupted download
    assert folder_problems(folder, spec) == []  # the quick check only looks for files
    assert "re-download" in folder_problems(folder, spec, deep=True)[0]
    weights.unlink()
    assert "no *.safetensors" in folder_problems(folder, spec)[0]
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"w": "model-00001-of-00002.safetensors"}}))
    assert "model-00001-of-00002.safetensors is missing" in folder_problems(folder, spec)[0]


def test_download_when_offline_is_a_clear_error_not_a_hang(env):
    with pytest.raises(WeightsError, match="HF_HUB_OFFLINE is set"):
        download("sam-vit-base")
    present = fake_model(env / "restora" / "sam-vit-base", "sam-vit-base")
    assert download("sam-vit-base") == present  # already here: nothing to fetch


def test_load_state_dict_reads_safetensors_and_weights_only_pickles(tmp_path):
    torch = pytest.importorskip("torch")
    save_file({"a": np.ones(3, np.float32)}, str(tmp_path / "w.safetensors"))
    assert load_state_dict(tmp_path / "w.safetensors")["a"].tolist() == [1, 1, 1]
    torch.save({"model": {"b": torch.zeros(2)}}, tmp_path / "ckpt.pth")
    assert list(load_state_dict(tmp_path / "ckpt.pth")) == ["b"]
    torch.save({"b": torch.zeros(2), "code": Path("x")}, tmp_path / "evil.pth")  # needs a class
    with pytest.raises(ValueError, match="weights_only=True"):
        load_state_dict(tmp_path / "evil.pth")
    (tmp_path / "w.ckpt").write_bytes(b"")
    with pytest.raises(ValueError, match="expected a .safetensors"):
        load_state_dict(tmp_path / "w.ckpt")


def test_grounding_readiness_check_is_registered(env):
    assert "grounding" in FULL_STAGE_CHECKS
    ready, why = full_stage_status("grounding")
    assert not ready
    assert "run `restora models download grounding-dino-tiny sam-vit-base` or pass --weights DIR" in why
    fake_model(env / "restora" / "grounding-dino-tiny", "grounding-dino-tiny")
    ready, why = full_stage_status("grounding")
    assert not ready and "download sam-vit-base`" in why
    fake_model(env / "flag" / "sam-vit-base", "sam-vit-base")
    assert grounding_ready(env / "flag")[0]  # an explicit --weights DIR counts too
    fake_hub_snapshot(env / "hub", "sam-vit-base")
    ready, why = full_stage_status("grounding")
    assert ready and why == "GroundingDINO + SAM (grounding-dino-tiny + sam-vit-base)"


def test_readiness_follows_the_configured_models(env, monkeypatch):
    monkeypatch.setenv("RESTORA_SEGMENTER", "sam-vit-huge")
    assert "sam-vit-huge" in full_stage_status("grounding")[1]
    monkeypatch.setenv("RESTORA_SEGMENTER", "grounding-dino-base")
    ready, why = full_stage_status("grounding")
    assert not ready and "is a detector, not a segmenter" in why


# --- restora models ------------------------------------------------------------------------


def test_cli_list_shows_the_catalogue_and_what_is_here(env):
    fake_model(env / "restora" / "sam-vit-base", "sam-vit-base")
    res = runner.invoke(models_app, ["list", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)["models"]}
    assert rows["sam-vit-base"]["present"] and rows["sam-vit-base"]["source"] == "RESTORA_WEIGHTS_DIR"
    assert not rows["sam3"]["present"] and rows["sam3"]["gated"]
    table = runner.invoke(models_app, ["list"])
    assert table.exit_code == 0 and "grounding-dino-tiny" in table.output
    assert "Full grounding backend: not ready" in table.output


def test_cli_where_prints_the_search_order(env):
    fake_model(env / "flag" / "sam-vit-base", "sam-vit-base")
    res = runner.invoke(models_app, ["where", "sam-vit-base", "sam3", "--weights", str(env / "flag")])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[1].startswith("  1. --weights DIR") and str(env / "restora") in lines[2]
    assert str(env / "hub") in lines[3] and "HF_HUB_OFFLINE is set" in res.output
    assert f"sam-vit-base: {env / 'flag' / 'sam-vit-base'} (--weights)" in res.output
    assert "sam3: not found" in res.output


def test_cli_verify_reports_ok_missing_and_broken(env):
    good = fake_model(env / "restora" / "sam-vit-base", "sam-vit-base")
    res = runner.invoke(models_app, ["verify"])
    assert res.exit_code == 0, res.output  # missing models are listed, not failures
    assert "ok       sam-vit-base" in res.output and "missing  sam3" in res.output
    assert runner.invoke(models_app, ["verify", "sam3"]).exit_code == 1  # named → must be present
    weights = good / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4])
    res = runner.invoke(models_app, ["verify", "sam-vit-base"])
    assert res.exit_code == 1 and "BROKEN   sam-vit-base" in res.output
    loc, problems = verify("sam-vit-base")
    assert loc.path == good and problems


def test_cli_download_offline_and_unknown_names_fail_cleanly():
    res = runner.invoke(models_app, ["download", "sam-vit-base"])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit)  # no traceback
    assert "HF_HUB_OFFLINE is set" in res.output and "restora models download sam-vit-base" in res.output
    res = runner.invoke(models_app, ["download", "sam-vit-gigantic"])
    assert res.exit_code == 2 and "known models: grounding-dino-tiny" in res.output
