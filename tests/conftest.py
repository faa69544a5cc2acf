"""Shared test setup: offline environment, ../shared data, the --runslow switch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow test: run with --runslow or RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data next to the repo; tests that need it skip with a clear message if absent."""
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA} (expected ../shared/data beside the repo)")
    return DATA


@pytest.fixture(scope="session")
def cbsd68(shared_data) -> Path:
    path = shared_data / "cbsd68"
    if not path.is_dir():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture
def tiny_weights(tmp_path, monkeypatch):
    """Tiny random-weight SD-2.1 + InstructRestore checkpoints, found through RESTORA_WEIGHTS_DIR."""
    from models.restorers.diffusion.tiny import save_tiny_checkpoints

    folder = tmp_path / "weights"
    save_tiny_checkpoints(folder)
    monkeypatch.setenv("RESTORA_WEIGHTS_DIR", str(folder))
    for var in ("RESTORA_SD21_BASE", "RESTORA_INSTRUCTRESTORE"):
        monkeypatch.delenv(var, raising=False)
    return folder
