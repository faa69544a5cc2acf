"""Batches at scale: manifests, the journal (resume, exactly-once), --workers, and --ray on a real
local Ray runtime (one per module; tiny 64×64 photos and the offline backend keep jobs fast)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from assistant import EXAMPLES_DIR
from assistant.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
DENOISE = "denoise the whole photo"


def _photos(folder: Path, count: int) -> list[Path]:
    """``count`` distinct 64×64 crops of the shipped noisy cat photo."""
    folder.mkdir(parents=True, exist_ok=True)
    cat = Image.open(EXAMPLES_DIR / "cat_noisy.jpg").convert("RGB")
    paths = []
    for i in range(count):
        x, y = (i * 37) % (cat.width - 64), (i * 23) % (cat.height - 64)
        path = folder / f"p{i:02d}.png"
        cat.crop((x, y, x + 64, y + 64)).save(path)
        paths.append(path)
    return paths


def _yaml(path: Path, photos: list[Path], out: str, extra: str = "") -> Path:
    lines = [f"- image: {os.path.relpath(p, path.parent)}\n  instructions: [{DENOISE}]\n"
             f"  output: {out}/{p.stem}.png\n  backend: offline\n" for p in photos]
    path.write_text("".join(lines) + extra)
    return path


def _journal(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "restora-journal.jsonl").read_text().splitlines()]


def _batch(*args: str):
    return runner.invoke(app, ["batch", *args, "--quiet"])


# --- manifests ----------------------------------------------------------------------------------


def _write_manifest(path: Path, rows: list[dict]) -> None:
    if path.suffix == ".csv":
        import csv

        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: json.dumps(v) if isinstance(v, list | bool) else v
                              for k, v in row.items()} for row in rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_manifests_run_with_paths_relative_to_the_manifest(tmp_path, suffix):
    _photos(tmp_path / "in", 2)
    rows = [{"image": "in/p00.png", "instructions": [DENOISE, "a bit stronger"], "output": "out/a.png",
             "backend": "offline", "lens_blur": False},
            {"image": "in/p01.png", "instructions": [DENOISE], "output": "out/b.png",
             "backend": "offline", "lens_blur": True}]
    manifest = tmp_path / f"jobs{suffix}"
    _write_manifest(manifest, rows)
    res = _batch(str(manifest))
    assert res.exit_code == 0, res.output
    assert "2 of 2 jobs succeeded" in res.output
    assert Image.open(tmp_path / "out" / "a.png").size == (64, 64)
    assert [r["status"] for r in _journal(tmp_path / "out")] == ["done", "done"]


@pytest.mark.parametrize("name,content,expected", [
    ("jobs.csv", "image,instructions,lens_blur,backend\np00.png,denoise,true,offline\n"
     "p01.png,denoise,maybe,offline\n", ["row 2", "lens_blur must be true or false", "'maybe'"]),
    ("jobs.csv", "image,instructions,steps\np00.png,denoise,\np01.png,denoise,20\np02.png,denoise,-3\n",
     ["row 3 (line 4)", "steps must be a whole number"]),
    ("jobs.csv", "image,instructions\np00.png,denoise\np01.png,denoise,extra\n",
     ["row 2", "3 cells for 2 columns"]),
    ("jobs.csv", "image,instructions,colour\np00.png,denoise,red\n", ["unknown columns", "colour"]),
    ("jobs.csv", "image,output\np00.png,a.png\n", ["must include 'image' and 'instructions'"]),
    ("jobs.jsonl", '{"image": "p00.png", "instructions": ["denoise"]}\n\n{"image": "p01.png", \n',
     ["row 2 (line 3)", "not valid JSON"]),
    ("jobs.jsonl", '{"image": "p00.png", "instruction": "denoise"}\n{"image": "p01.png"}\n',
     ["row 2", "'instructions'"]),
    ("jobs.jsonl", '{"image": "p00.png", "instructions": ["denoise"], "output": "x.jpg"}\n',
     ["row 1", "'output' must end in .png"]),
])
def test_a_malformed_manifest_row_is_named_before_any_work(tmp_path, name, content, expected):
    _photos(tmp_path, 3)
    (tmp_path / name).write_text(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    res = _batch(str(tmp_path / name))
    assert res.exit_code == 2, res.output
    for text in expected:
        assert text in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no journal


def test_a_parquet_row_of_the_wrong_type_is_named(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    _photos(tmp_path, 2)
    pq.write_table(pa.table({"image": ["p00.png", "p01.png"], "instructions": [DENOISE, DENOISE],
                             "seed": ["1", "two"]}), tmp_path / "jobs.parquet")
    res = _batch(str(tmp_path / "jobs.parquet"))
    assert res.exit_code == 2 and "row 1" in res.output and "seed must be a whole number" in res.output


def test_parquet_without_pyarrow_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    (tmp_path / "jobs.parquet").write_bytes(b"PAR1")
    res = _batch(str(tmp_path / "jobs.parquet"))
    assert res.exit_code == 2 and "pip install pyarrow" in res.output


def test_a_folder_and_one_instruction(tmp_path):
    _photos(tmp_path / "photos", 2)
    _photos(tmp_path / "photos" / "2019", 1)
    res = _batch("--images", str(tmp_path / "photos"), "--instruction", DENOISE,
                 "--out", str(tmp_path / "photos" / "restored"), "--backend", "offline")
    assert res.exit_code == 0, res.output
    out = tmp_path / "photos" / "restored"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) == [
        "2019/p00.png", "p00.png", "p01.png"]
    # --out inside --images: the outputs are not taken as new photos when the command runs again
    res = _batch("--images", str(tmp_path / "photos"), "--instruction", DENOISE,
                 "--out", str(tmp_path / "photos" / "restored"), "--backend", "offline")
    assert res.exit_code == 0 and "3 of 3 jobs succeeded" in res.output
    res = _batch("--images", str(tmp_path / "photos"), "--out", str(out))
    assert res.exit_code == 2 and "--instruction" in res.output


@pytest.mark.parametrize("args,message", [
    ([], "give an instruction file or manifest"),
    (["jobs.yaml", "--images", "."], "not both"),
    (["jobs.yaml", "--instruction", "denoise"], "go with --images"),
    (["jobs.yaml", "--workers", "0"], "--workers must be 1 or more"),
    (["jobs.yaml", "--gpus-per-worker", "0.5"], "goes with --ray"),
    (["jobs.yaml", "--backend", "gpu"], "--backend must be one of"),
    (["jobs.txt"], "expected a YAML instruction file (.yaml) or a manifest"),
])
def test_batch_options_are_checked_before_any_work(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    _yaml(tmp_path / "jobs.yaml", _photos(tmp_path, 1), "out")
    (tmp_path / "jobs.txt").write_text("p00.png")
    res = _batch(*args)
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "out").exists()


# --- the journal: resume, exactly-once ----------------------------------------------------------


def test_a_rerun_skips_finished_jobs_and_retries_failed_ones_on_request(tmp_path):
    photos = _photos(tmp_path, 2)
    jobs = _yaml(tmp_path / "jobs.yaml", photos, "out",
                 "- image: p00.png\n  instructions: [make the giraffe clear]\n  output: out/giraffe.png\n"
                 "  backend: offline\n")
    res = _batch(str(jobs))
    assert res.exit_code == 1 and "2 of 3 jobs succeeded" in res.output and "giraffe" in res.output
    assert [r["status"] for r in _journal(tmp_path / "out")].count("failed") == 1
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*.png")}
    res = _batch(str(jobs))
    assert res.exit_code == 1 and "already exists from an earlier run" in res.output
    assert "--retry-failed" in res.output
    assert len(_journal(tmp_path / "out")) == 3  # nothing ran again
    res = _batch(str(jobs), "--retry-failed")
    assert res.exit_code == 1 and len(_journal(tmp_path / "out")) == 4
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*.png")} == stamps


def test_an_output_written_just_before_a_kill_is_recognised_not_redone(tmp_path):
    from assistant.batch import load_jobs
    from assistant.journal import tmp_path as temporary

    jobs_file = _yaml(tmp_path / "jobs.yaml", _photos(tmp_path, 2), "out")
    assert _batch(str(jobs_file)).exit_code == 0
    journal = tmp_path / "out" / "restora-journal.jsonl"
    first, second = journal.read_text().splitlines()
    # killed after the second output was renamed into place, while writing its journal line,
    # and while a third job's temporary file was half written
    journal.write_text(first + "\n" + second[:30])
    stale = temporary(load_jobs(jobs_file)[0])
    stale.write_bytes(b"half a png")
    stamp = (tmp_path / "out" / "p01.png").stat().st_mtime_ns
    res = _batch(str(jobs_file))
    assert res.exit_code == 0, res.output
    assert "written by this job in an interrupted run" in res.output
    assert (tmp_path / "out" / "p01.png").stat().st_mtime_ns == stamp
    assert not stale.exists()
    records = [json.loads(line) for line in journal.read_text().splitlines()[2:]]
    assert [r["name"] for r in records] == ["job 2 ('p01.png')"]


def test_someone_elses_file_at_an_output_is_kept_unless_overwrite(tmp_path):
    jobs = _yaml(tmp_path / "jobs.yaml", _photos(tmp_path, 1), "out")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "p00.png").write_bytes(b"mine")
    res = _batch(str(jobs))
    assert res.exit_code == 1 and "already exists (use --overwrite)" in res.output
    assert (tmp_path / "out" / "p00.png").read_bytes() == b"mine"
    assert _batch(str(jobs), "--overwrite").exit_code == 0
    assert (tmp_path / "out" / "p00.png").read_bytes().startswith(b"\x89PNG")


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """12 photos and their outputs from one uninterrupted sequential run."""
    root = tmp_path_factory.mktemp("reference")
    photos = _photos(root / "in", 12)
    jobs = _yaml(root / "jobs.yaml", photos, "out")
    res = _batch(str(jobs))
    assert res.exit_code == 0, res.output
    return root, photos, _outputs(root / "out")


def test_a_run_killed_mid_way_resumes_exactly_once(reference, tmp_path):
    _, photos, expected = reference
    jobs = _yaml(tmp_path / "jobs.yaml", photos, "out")
    command = [sys.executable, "-m", "assistant", "batch", str(jobs), "--quiet"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal = tmp_path / "out" / "restora-journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    done_before = len(journal.read_text().splitlines())
    assert 3 <= done_before < 12
    res = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert _outputs(tmp_path / "out") == expected
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [*expected, "restora-journal.jsonl"])  # no temporary files left
    done = [r["job"] for r in _journal(tmp_path / "out") if r["status"] == "done"]
    assert len(done) == len(set(done)) == 12


# --- local workers ------------------------------------------------------------------------------


def test_workers_give_the_same_outputs_and_load_models_once_each(reference, tmp_path):
    _, photos, expected = reference
    jobs = _yaml(tmp_path / "jobs.yaml", photos, "out")
    res = _batch(str(jobs), "--workers", "2")
    assert res.exit_code == 0, res.output
    assert "2 workers" in res.output
    assert _outputs(tmp_path / "out") == expected
    workers = {r["worker"] for r in _journal(tmp_path / "out")}
    # Worker processes, not this one; 2 at most (how jobs spread depends on start-up under load).
    assert 1 <= len(workers) <= 2 and f"{socket.gethostname()}:{os.getpid()}" not in workers


def test_a_batch_without_ray_never_imports_ray(tmp_path):
    _yaml(tmp_path / "jobs.yaml", _photos(tmp_path, 1), "out")
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom assistant.cli import app\n"
            f"res = CliRunner().invoke(app, ['batch', {str(tmp_path / 'jobs.yaml')!r}, '-q'])\n"
            "assert res.exit_code == 0, res.output\n"
            "assert not {'ray', 'pyarrow'} & set(sys.modules), 'imported ray or pyarrow'\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]


def test_ray_missing_says_which_extra_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    jobs = _yaml(tmp_path / "jobs.yaml", _photos(tmp_path, 1), "out")
    res = _batch(str(jobs), "--ray")
    assert res.exit_code == 1 and "pip install 'restora[cluster]'" in res.output


# --- Ray ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_runtime():
    """One small local Ray for the module: 2 CPUs, a 100 MB object store, no dashboard."""
    ray = pytest.importorskip("ray")
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths are limited
    ray.init(address="local", num_cpus=2, object_store_memory=100 * 2**20, include_dashboard=False,
             log_to_driver=False, _temp_dir=temp)
    yield ray
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


def test_ray_gives_the_sequential_outputs_and_reports_a_failing_job(reference, ray_runtime, tmp_path):
    _, photos, expected = reference
    jobs = _yaml(tmp_path / "jobs.yaml", photos, "out",
                 "- image: missing.png\n  instructions: [denoise]\n  output: out/missing.png\n")
    res = _batch(str(jobs), "--ray", "--workers", "2")
    assert res.exit_code == 1, res.output
    assert "12 of 13 jobs succeeded" in res.output and "missing.png" in res.output
    assert _outputs(tmp_path / "out") == expected
    records = _journal(tmp_path / "out")
    workers = {r["worker"] for r in records if r["status"] == "done"}
    # In Ray's actors, not this process; how the 12 jobs spread over the 2 actors depends on when
    # each came up (on a loaded machine the first may take them all), so only the count is bounded.
    assert len(records) == 13 and 1 <= len(workers) <= 2
    assert all(not w.endswith(f":{os.getpid()}") for w in workers), workers
    assert ray_runtime.is_initialized()  # a runtime the CLI did not start is left running
    res = _batch(str(jobs), "--ray", "--workers", "2")  # resume: nothing left to run
    assert res.exit_code == 1 and len(_journal(tmp_path / "out")) == 13


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_joining_a_cluster_started_with_ray_start_head(reference, tmp_path):
    _, photos, expected = reference
    ray_cli = Path(sys.executable).parent / "ray"
    if not ray_cli.exists():
        pytest.skip("ray is not installed (pip install '.[cluster]')")
    temp = tempfile.mkdtemp(prefix="rh", dir="/tmp")
    port = _free_port()
    # --block ties the head's processes to this one process: terminating it stops exactly this
    # cluster (``ray stop`` would stop every Ray on the machine, this module's own included).
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
         "--num-cpus=2", f"--object-store-memory={100 * 2**20}", "--include-dashboard=false",
         f"--temp-dir={temp}", "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        jobs = _yaml(tmp_path / "jobs.yaml", photos[:4],
                     "out")
        command = [sys.executable, "-m", "assistant", "batch", str(jobs), "--quiet",
                   "--ray-address", f"127.0.0.1:{port}"]
        res = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            res = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180)
            if res.returncode == 0 or "could not join" not in res.stderr:
                break
            time.sleep(2)  # the head is still starting
        assert res is not None and res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        assert "ray (127.0.0.1:" in res.stdout
        assert _outputs(tmp_path / "out") == {k: v for k, v in expected.items() if k < "p04"}
    finally:
        head.terminate()
        head.wait(timeout=60)
        shutil.rmtree(temp, ignore_errors=True)
