"""The InstructRestore ControlNet at full SD-2.1-base size against the shared key/shape manifests.

Full-size models are built on the meta device (no memory). Full-size checkpoint files are written
as sparse safetensors files (a real header, zero-filled data that takes no disk space), so the
loader reads real 386 M-parameter checkpoints in a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from models.restorers.diffusion.checkpoints import SD21_BASE_CONTROLNET_CONFIG, CheckpointMismatchError  # noqa: E402
from models.restorers.diffusion.instructrestore.controlnet import (  # noqa: E402
    InstructRestoreControlNetModel,
    check_checkpoint,
    expected_shapes,
    instructrestore_config,
    load_instructrestore_controlnet,
)

REPO = Path(__file__).resolve().parents[1]
CHECKPOINTS = REPO.parent / "shared" / "reference" / "checkpoints"


def _manifest(name: str) -> dict:
    path = CHECKPOINTS / name
    if not path.is_file():
        pytest.skip(f"manifest {path} not found (expected ../shared/reference/checkpoints beside the repo)")
    return json.loads(path.read_text())


def _shapes(manifest: dict) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v) for k, v in manifest.items() if k != "config" and not k.startswith("_")}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return _manifest("instructrestore_controlnet.json")


def write_sparse_checkpoint(
    folder: Path, shapes: dict[str, tuple[int, ...]], config: dict | None = None
) -> Path:
    """A ControlNet folder whose safetensors file has ``shapes`` (F16, all zeros, sparse on disk)."""
    folder.mkdir(parents=True, exist_ok=True)
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for key, shape in shapes.items():
        size = 2 * int(torch.Size(shape).numel())
        header[key] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path = folder / "diffusion_pytorch_model.safetensors"
    with path.open("wb") as fh:
        fh.write(len(raw).to_bytes(8, "little") + raw)
        fh.truncate(8 + len(raw) + offset)
    cfg = (
        config
        if config is not None
        else {
            "_class_name": "ControlNetModel",
            **SD21_BASE_CONTROLNET_CONFIG,
            "mask_decoder_type": "MaskDecoder",
        }
    )
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def test_full_size_model_matches_manifest_keys_and_shapes(manifest):
    assert expected_shapes(SD21_BASE_CONTROLNET_CONFIG) == _shapes(manifest)
    assert len(_shapes(manifest)) == 360


def test_full_size_config_matches_manifest(manifest):
    with torch.device("meta"):
        model = InstructRestoreControlNetModel.from_architecture(SD21_BASE_CONTROLNET_CONFIG)
    ours = instructrestore_config(model.config)
    theirs = dict(manifest["config"])
    ours.pop("_diffusers_version")
    theirs.pop("_diffusers_version")
    assert ours == theirs


def test_stock_part_equals_stock_controlnet_and_decoder_has_20_keys(manifest):
    stock = _shapes(_manifest("stock_diffusers_sd21_controlnet.json"))
    ours = _shapes(manifest)
    decoder = {k for k in ours if k.startswith("mask_decoder.")}
    assert len(decoder) == 20
    assert {k: v for k, v in ours.items() if k not in decoder} == stock


def test_full_size_checkpoint_loads(tmp_path, manifest):
    folder = write_sparse_checkpoint(tmp_path / "instructrestore", _shapes(manifest))
    model = load_instructrestore_controlnet(folder, dtype=torch.float16)
    assert isinstance(model, InstructRestoreControlNetModel)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == _shapes(manifest)
    assert not any(p.is_meta for p in model.parameters()) and not any(b.is_meta for b in model.buffers())
    assert model.mask_decoder.projects[2].conv1.weight.shape == (512, 832, 3, 3)
    assert float(model.mask_decoder.final_conv.bias.abs().sum()) == 0.0  # the file's zeros, not an init
    assert not model.training


def test_bare_weights_file_uses_sd21_config(tmp_path, manifest):
    folder = write_sparse_checkpoint(tmp_path / "drive", _shapes(manifest))
    bare = tmp_path / "InstructRestore_sd21.safetensors"
    (folder / "diffusion_pytorch_model.safetensors").rename(bare)
    weights, config = check_checkpoint(bare)
    assert weights == bare and config["block_out_channels"] == [320, 640, 1280, 1280]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("missing", "mask_decoder.final_conv.bias"),
        ("misshaped", "mask_decoder.projects.1.conv1.weight"),
        ("unexpected", "mask_decoder.projects.3.conv1.weight"),
        ("missing", "controlnet_mid_block.weight"),
    ],
)
def test_mismatching_checkpoint_is_refused_naming_the_key(tmp_path, manifest, change, named):
    shapes = _shapes(manifest)
    if change == "missing":
        del shapes[named]
    elif change == "misshaped":
        shapes[named] = (512, 1024, 3, 3)
    else:
        shapes[named] = (512, 512, 3, 3)
    folder = write_sparse_checkpoint(tmp_path / "bad", shapes)
    with pytest.raises(CheckpointMismatchError, match=change) as err:
        load_instructrestore_controlnet(folder)
    assert named in str(err.value)
    assert getattr(err.value, change)
    if change == "misshaped":
        assert "[512, 1024, 3, 3]" in str(err.value) and "[512, 1152, 3, 3]" in str(err.value)


def test_stock_controlnet_is_refused_with_a_hint(tmp_path):
    stock = _shapes(_manifest("stock_diffusers_sd21_controlnet.json"))
    folder = write_sparse_checkpoint(tmp_path / "stock", stock)
    with pytest.raises(CheckpointMismatchError, match="stock ControlNet") as err:
        check_checkpoint(folder)
    assert len(err.value.missing) == 20


def test_wrong_model_class_is_refused(tmp_path, manifest):
    folder = write_sparse_checkpoint(
        tmp_path / "unet", _shapes(manifest), config={"_class_name": "UNet2DConditionModel"}
    )
    with pytest.raises(ValueError, match="UNet2DConditionModel"):
        check_checkpoint(folder)


def test_status_reads_files_only_and_imports_no_torch(tmp_path, manifest):
    weights = tmp_path / "weights"
    write_sparse_checkpoint(weights / "instructrestore-controlnet", _shapes(manifest))
    code = (
        "import sys, json; from models.restorers.diffusion import diffusion_status; "
        "print(json.dumps(diffusion_status())); "
        "assert not {'torch', 'diffusers', 'transformers'} & set(sys.modules), sys.modules.keys()"
    )
    env = {
        **os.environ,
        "RESTORA_WEIGHTS_DIR": str(weights),
        "HF_HUB_CACHE": str(tmp_path / "hub"),
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("RESTORA_SD21_BASE", None)
    env.pop("RESTORA_INSTRUCTRESTORE", None)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env)
    assert res.returncode == 0, res.stderr
    ready, reason = json.loads(res.stdout)
    assert not ready and "SD-2.1-base is not on this machine" in reason
    assert "instructrestore-controlnet" not in reason  # the ControlNet folder itself is fine


def test_benchmark_flop_count_matches_the_performance_anchors():
    """benchmarks/diffusion_speed.py's FLOP floor: UNet 804, ControlNet 284, VAE 1117 + 2515 GFLOPs."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "diffusion_speed", REPO / "benchmarks" / "diffusion_speed.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    flops = bench.count_flops(512, 20, decoder=False)
    gflops = {k: v / 1e9 for k, v in flops.items()}
    for name, anchor in (
        ("unet (CFG batch)", 2 * 804),
        ("controlnet (CFG batch)", 2 * 284),
        ("vae encode", 1117),
        ("vae decode", 2515),
    ):
        assert gflops[name] == pytest.approx(anchor, rel=5e-3), name
    assert gflops["per image"] == pytest.approx(20 * 2 * (804 + 284) + 1117 + 2515, rel=5e-3)
