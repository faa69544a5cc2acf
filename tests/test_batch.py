from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from assistant import EXAMPLES_DIR
from assistant.batch import BatchFileError, load_jobs
from assistant.cli import app
from assistant.jobs import JOB_KEYS

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
    shutil.copy(EXAMPLES_DIR / "cat_noisy.jpg", tmp_path / "cat.png")
    before = (tmp_path / "cat.png").read_bytes()
    (tmp_path / "jobs.yaml").write_text("- image: cat.png\n  instructions: [denoise]\n  output: cat.png\n")
    res = runner.invoke(app, ["batch", str(tmp_path / "jobs.yaml"), "--quiet", "--overwrite"])
    assert res.exit_code == 2 and "outputs never replace inputs" in res.output
    assert (tmp_path / "cat.png").read_bytes() == before


def _two_cats(tmp_path):
    for name in ("a.png", "b.png"):
        shutil.copy(EXAMPLES_DIR / "cat_noisy.jpg", tmp_path / name)
    return {name: (tmp_path / name).read_bytes() for name in ("a.png", "b.png")}


@pytest.mark.parametrize("content,message", [
    # one job's output is another job's input: refused before the first job runs
    ("- image: a.png\n  instructions: [denoise]\n  output: b.png\n"
     "- image: b.png\n  instructions: [denoise]\n  output: c.png\n", "outputs never replace inputs"),
    # two jobs with the same output (spelled differently)
    ("- image: a.png\n  instructions: [denoise]\n  output: out.png\n"
     "- image: b.png\n  instructions: [denoise]\n  output: ./sub/../out.png\n", "both write"),
    # the default output of a.png is a_restored.png, which a second job names explicitly
    ("- image: a.png\n  instructions: [denoise]\n"
     "- image: b.png\n  instructions: [denoise]\n  output: a_restored.png\n", "both write"),
    # an output under a file (a.png is a file): refused up front, not after the restore
    ("- image: b.png\n  instructions: [denoise]\n  output: a.png/out.png\n", "which is a file"),
])
def test_colliding_outputs_refuse_the_whole_file_before_any_work(tmp_path, content, message):
    before = _two_cats(tmp_path)
    (tmp_path / "jobs.yaml").write_text(content)
    res = runner.invoke(app, ["batch", str(tmp_path / "jobs.yaml"), "--quiet", "--overwrite"])
    assert res.exit_code == 2 and message in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "jobs.yaml"]
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


def test_outputs_outside_the_folder_need_a_flag(tmp_path):
    folder = tmp_path / "jobs"
    folder.mkdir()
    shutil.copy(EXAMPLES_DIR / "cat_noisy.jpg", folder / "cat.jpg")
    for output in ("../escaped.png", str(tmp_path / "absolute.png")):
        (folder / "jobs.yaml").write_text(
            f"- image: cat.jpg\n  instructions: [denoise the whole photo]\n  output: {output}\n"
            "  backend: offline\n")
        res = runner.invoke(app, ["batch", str(folder / "jobs.yaml"), "--quiet"])
        assert res.exit_code == 2 and "--allow-outside" in res.output
        assert not any(p.suffix == ".png" for p in tmp_path.rglob("*"))
    res = runner.invoke(app, ["batch", str(folder / "jobs.yaml"), "--quiet", "--allow-outside"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "absolute.png").exists()


def test_yaml_aliases_are_refused_quickly(tmp_path):
    # the classic "billion laughs": each level repeats the previous nine times
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"{c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(levels) + "\n")
    with pytest.raises(BatchFileError, match="aliases"):
        load_jobs(path)
    merge = tmp_path / "merge.yaml"
    merge.write_text("- &job {image: a.png, instructions: [denoise]}\n- <<: *job\n  output: b.png\n")
    res = runner.invoke(app, ["batch", str(merge)])
    assert res.exit_code == 2 and "aliases" in res.output


@pytest.mark.parametrize("content,message", [
    ("{}", "non-empty YAML list"),
    ("- instructions: [denoise]\n", "'image'"),
    ("- image: a.jpg\n", "'instructions'"),
    ("- image: a.jpg\n  instructions: [x]\n  colour: red\n", "unknown keys"),
    ("- image: a.jpg\n  instructions: [x]\n  box: [1, 2]\n", "'box'"),
    ("- [unclosed\n", "not valid YAML"),
    ("- image: a.jpg\n  instructions: [x]\n  output: 123\n", "'output' must be a file path"),
    ("- image: a.jpg\n  instructions: [x]\n  output: [a.png, b.png]\n", "'output' must be a file path"),
    ("- image: a.jpg\n  instructions: [x]\n  output: a.jpg\n", "must end in .png"),
    ("- image: 7\n  instructions: [x]\n", "'image' must be a file path"),
    ("- image: a.jpg\n  instructions: [x, 3]\n", "'instructions'"),
    ("- image: a.jpg\n  instructions: ['  ']\n", "non-empty strings"),
    ("- image: a.jpg\n  instructions: [x]\n  lens_blur: 'false'\n", "lens_blur must be true or false"),
    ("- image: a.jpg\n  instructions: [x]\n  lens_blur: 0\n", "lens_blur must be true or false"),
    ("- image: a.jpg\n  instructions: [x]\n  backend: gpu\n", "backend must be one of"),
    ("- image: a.jpg\n  instructions: [x]\n  steps: .inf\n", r"steps must be a whole number from 1"),
    ("- image: a.jpg\n  instructions: [x]\n  seed: abc\n", "seed must be a whole number"),
    ("- image: a.jpg\n  instructions: [x]\n  click: [[1, .nan]]\n", "'click'"),
    ("- image: a.jpg\n  instructions: [x]\n  name: [1]\n", "'name' must be a string"),
    ("- image: a.jpg\n  instructions: [" + "x" * 2001 + "]\n", "at most 2,000"),
])
def test_malformed_files_are_explained(tmp_path, content, message):
    path = tmp_path / "jobs.yaml"
    path.write_text(content)
    with pytest.raises(BatchFileError, match=message):
        load_jobs(path)
    res = runner.invoke(app, ["batch", str(path)])
    assert res.exit_code == 2


def test_messages_quote_only_a_prefix_of_a_bad_value(tmp_path):
    path = tmp_path / "jobs.yaml"
    path.write_text("- image: a.jpg\n  instructions: [x]\n  output: [" + ", ".join(["zzzz"] * 5000) + "]\n")
    with pytest.raises(BatchFileError) as info:
        load_jobs(path)
    assert len(str(info.value)) < 300 and "…" in str(info.value)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
_jobs = st.lists(st.dictionaries(st.sampled_from(sorted(JOB_KEYS) + ["junk"]), _values, max_size=6),
                 max_size=3)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(_jobs, _values))
def test_load_jobs_raises_only_its_own_error_on_any_yaml(tmp_path, data):
    import yaml

    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        jobs = load_jobs(path)
    except BatchFileError as err:
        assert len(str(err)) < 1000
    else:
        assert all(job.output.suffix == ".png" and job.instructions for job in jobs)
