from __future__ import annotations

import shutil

import pytest
from PIL import Image
from typer.testing import CliRunner

from assistant import EXAMPLES_DIR
from assistant.batch import BatchFileError, load_jobs
from assistant.cli import app

runner = CliRunner()


def test_batch_runs_jobs_and_reports_failures_without_stopping(tmp_path):
    shutil.copy(EXAMPLES_DIR / "cat_noisy.jpg", tmp_path / "cat.jpg")
    (tmp_path / "jobs.yaml").write_text(
        "- image: cat.jpg\n"
        "  instructions: [denoise the whole photo, a bit stronger]\n"
        "  output: out/cat.png\n"
        "  backend: offline\n"
        "- image: missing.jpg\n"
        "  instructions: [denoise]\n"
        "- image: cat.jpg\n"
        "  instructions: [make the giraffe clear]\n"
        "  output: out/giraffe.png\n"
        "- image: cat.jpg\n"
        "  instructions: [restore the main subject]\n"
        "  output: out/subject.png\n"
    )
    res = runner.invoke(app, ["batch", str(tmp_path / "jobs.yaml"), "--quiet"])
    assert res.exit_code == 1, res.output
    assert "2 of 4 jobs succeeded" in res.output
    assert "missing.jpg" in res.output and "giraffe" in res.output
    assert Image.open(tmp_path / "out" / "cat.png").size == (451, 300)
    assert (tmp_path / "out" / "subject.png").exists()
    assert not (tmp_path / "out" / "giraffe.png").exists()
    # Running again refuses to replace outputs unless asked.
    res = runner.invoke(app, ["batch", str(tmp_path / "jobs.yaml"), "--quiet"])
    assert "already exists" in res.output


def test_batch_never_writes_over_the_input(tmp_path):
    shutil.copy(EXAMPLES_DIR / "cat_noisy.jpg", tmp_path / "cat.jpg")
    before = (tmp_path / "cat.jpg").read_bytes()
    (tmp_path / "jobs.yaml").write_text("- image: cat.jpg\n  instructions: [denoise]\n  output: cat.jpg\n")
    res = runner.invoke(app, ["batch", str(tmp_path / "jobs.yaml"), "--quiet", "--overwrite"])
    assert res.exit_code == 1 and "overwrite the original" in res.output
    assert (tmp_path / "cat.jpg").read_bytes() == before


@pytest.mark.parametrize("content,message", [
    ("{}", "non-empty YAML list"),
    ("- instructions: [denoise]\n", "'image'"),
    ("- image: a.jpg\n", "'instructions'"),
    ("- image: a.jpg\n  instructions: [x]\n  colour: red\n", "unknown keys"),
    ("- image: a.jpg\n  instructions: [x]\n  box: [1, 2]\n", "'box'"),
    ("- [unclosed\n", "not valid YAML"),
])
def test_malformed_files_are_explained(tmp_path, content, message):
    path = tmp_path / "jobs.yaml"
    path.write_text(content)
    with pytest.raises(BatchFileError, match=message):
        load_jobs(path)
    res = runner.invoke(app, ["batch", str(path)])
    assert res.exit_code == 2
