"""The whole tree passes the project's ruff configuration (pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install '.[dev]')")
    res = subprocess.run([ruff, "check", "--output-format", "concise", str(REPO)],
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr


def test_parsers_import_without_numpy_or_torch():
    code = ("import sys, parsers; parsers.parse('denoise the dog'); "
            "bad = {'numpy', 'torch', 'cv2'} & set(sys.modules); assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr


def test_app_import_loads_no_models():
    code = ("import sys, app; bad = {'torch', 'transformers', 'diffusers', 'cv2'} & set(sys.modules); "
            "assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
