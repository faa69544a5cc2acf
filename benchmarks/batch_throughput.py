"""Batch throughput: sequential vs ``--workers 2`` vs ``--ray`` with 2 actors, on the same photos.

Run from the repository root (needs ``pip install -e '.[cluster]'`` for the Ray row)::

    python benchmarks/batch_throughput.py [--photos 100] [--kill-resume] [--json OUT] [--working-tree]

Runs the code of the last commit (``git archive HEAD`` into a temporary folder, first on
PYTHONPATH, so Ray's and the pool's workers import it too): edits made to the working tree while
the benchmark runs cannot change outputs half-way. ``--working-tree`` runs the files as they are.

1. Takes ``--photos`` photos from ../shared/data at their native size: all of CBSD68 (68 photos,
   481×321 or 321×481) and then the first of CBSD432 (same sizes) in name order, and writes one
   CSV manifest per mode: "denoise the whole photo", offline backend, outputs in a temporary
   folder.
2. Runs ``restora batch`` as a fresh subprocess per mode, so each pays its own start-up (imports,
   model loading; the Ray row also starts a local Ray and its actors), and times it.
3. Prints a table: jobs per minute end to end and in the steady state (first to last finished
   job, from the journal), the mean time a job spends in its worker, the per-job overhead
   (wall × slots / jobs − mean job time) and the ratios to the best local path.
4. With ``--kill-resume``: for each mode, the same batch killed with SIGKILL twice (once a fifth
   and once half of the jobs are recorded), then run to the end; checks that every output exists
   exactly once, byte-identical to the uninterrupted run, with no temporary file left, one "done"
   journal record per job, and no Ray process outliving its driver.

Exits 1 when a bar from issue #21 is missed: the Ray row below 0.9× the best local path's
end-to-end jobs per minute, an output that differs between modes, or a kill-and-resume check
that fails.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "RAY_USAGE_STATS_ENABLED": "0"}
ENV.pop("RAY_ADDRESS", None)
MODES = {"sequential": [], "workers 2": ["--workers", "2"], "ray 2 actors": ["--ray", "--workers", "2"]}
SLOTS = {"sequential": 1, "workers 2": 2, "ray 2 actors": 2}
RAY_BAR = 0.9
CWD = [ROOT]  # where the subprocesses run: the snapshot of HEAD, or the working tree


def photos(count: int) -> list[Path]:
    found = sorted((DATA / "cbsd68").glob("*.png")) + sorted((DATA / "cbsd432").glob("*.jpg"))
    if len(found) < count:
        sys.exit(f"need {count} photos under {DATA}/cbsd68 and cbsd432; found {len(found)}")
    return found[:count]


def manifest(work: Path, name: str, images: list[Path]) -> Path:
    path = work / f"{name.replace(' ', '_')}.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "instructions", "output", "backend"])
        for image in images:
            writer.writerow([str(image), "denoise the whole photo",
                             f"out_{name.replace(' ', '_')}/{image.stem}.png", "offline"])
    return path


def command(path: Path, mode: str) -> list[str]:
    return [sys.executable, "-m", "assistant", "batch", str(path), "--quiet", *MODES[mode]]


def snapshot(work: Path) -> str:
    """Extract HEAD's packages into ``work``/src and put it first on the subprocesses' path."""
    src = work / "src"
    src.mkdir()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    archive = subprocess.run(["git", "archive", "HEAD", "assistant", "models", "parsers"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    ENV["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [ENV.get("PYTHONPATH")])])
    return commit


def journal(folder: Path) -> list[dict]:
    path = folder / "restora-journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def ray_processes() -> int:
    """Ray's own daemons (raylet, gcs_server) running on this machine, from /proc."""
    count = 0
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"raylet" in cmdline.split(b"\0")[0] or b"gcs_server" in cmdline.split(b"\0")[0]:
            count += 1
    return count


def timed(work: Path, mode: str, images: list[Path]) -> dict:
    path = manifest(work, mode, images)
    t0 = time.perf_counter()
    res = subprocess.run(command(path, mode), cwd=CWD[0], env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"{mode} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    folder = work / f"out_{mode.replace(' ', '_')}"
    records = journal(folder)
    finished = sorted(datetime.datetime.fromisoformat(r["finished"]).timestamp() for r in records)
    steady = (len(finished) - 1) / (finished[-1] - finished[0]) * 60 if len(finished) > 1 else 0.0
    job_s = sum(r["seconds"] for r in records) / len(records)
    return {"mode": mode, "wall_s": wall, "jobs_per_min": len(images) / wall * 60,
            "steady_jobs_per_min": steady, "job_s": job_s,
            "overhead_s": wall * SLOTS[mode] / len(images) - job_s, "folder": folder}


def kill_and_resume(work: Path, mode: str, images: list[Path], expected: dict[str, bytes]) -> list[str]:
    """Kill the batch twice, then let it finish; return the problems found (none: passed)."""
    name = f"kill {mode}"
    path = manifest(work, name, images)
    folder = work / f"out_{name.replace(' ', '_')}"
    baseline = ray_processes()
    problems = []
    for fraction in (0.2, 0.5):
        proc = subprocess.Popen(command(path, mode), cwd=CWD[0], env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while proc.poll() is None and len(journal(folder)) < fraction * len(images):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(3)  # let the driver's children notice it is gone
        if ray_processes() > baseline:
            problems.append(f"{mode}: {ray_processes() - baseline} Ray daemons outlived the killed driver")
        print(f"  {mode}: killed with {len(journal(folder))} of {len(images)} jobs recorded", flush=True)
    res = subprocess.run(command(path, mode), cwd=CWD[0], env=ENV, capture_output=True, text=True)
    if res.returncode != 0:
        problems.append(f"{mode}: the resumed run failed ({res.returncode}): {res.stderr[-500:]}")
    got = outputs(folder)
    if got != expected:
        differ = [k for k in expected if got.get(k) != expected[k]]
        problems.append(f"{mode}: {len(differ)} outputs missing or different after resume: {differ[:5]}")
    leftovers = [p.name for p in folder.iterdir() if p.suffix != ".png" and p.name != "restora-journal.jsonl"]
    if leftovers:
        problems.append(f"{mode}: files left behind: {leftovers[:5]}")
    done = [r["job"] for r in journal(folder) if r["status"] == "done"]
    if len(done) != len(set(done)) or len(done) != len(images):
        problems.append(f"{mode}: {len(done)} done records for {len(set(done))} jobs, expected {len(images)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--kill-resume", action="store_true", help="also run the kill-and-resume check")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--working-tree", action="store_true", help="run the working tree, not HEAD")
    args = parser.parse_args()
    images = photos(args.photos)
    with tempfile.TemporaryDirectory(prefix="batch_throughput_") as tmp:
        work = Path(tmp)
        if not args.working_tree:
            CWD[0] = work / "src"
            print(f"code: commit {snapshot(work)} (git archive HEAD)", flush=True)
        rows = []
        for mode in MODES:
            print(f"running {mode} on {len(images)} photos …", flush=True)
            rows.append(timed(work, mode, images))
        best_local = max(r["jobs_per_min"] for r in rows if not r["mode"].startswith("ray"))
        local_overhead = min(r["overhead_s"] for r in rows if r["mode"] == "workers 2")
        print(f"\n{len(images)} photos (CBSD68 + CBSD432, native size), offline backend, "
              f"{os.cpu_count()} CPU cores")
        print(f"{'mode':14s} {'wall s':>7s} {'jobs/min':>9s} {'steady/min':>11s} {'job s':>6s} "
              f"{'overhead s/job':>15s} {'× best local':>13s}")
        for r in rows:
            r["ratio"] = r["jobs_per_min"] / best_local
            print(f"{r['mode']:14s} {r['wall_s']:7.1f} {r['jobs_per_min']:9.1f} "
                  f"{r['steady_jobs_per_min']:11.1f} {r['job_s']:6.2f} {r['overhead_s']:15.3f} "
                  f"{r['ratio']:13.2f}")
        ray_row = next(r for r in rows if r["mode"].startswith("ray"))
        print(f"Ray per-job overhead vs --workers 2: {ray_row['overhead_s']:.3f} s vs "
              f"{local_overhead:.3f} s ({ray_row['overhead_s'] / max(local_overhead, 1e-6):.2f}×)")
        reference = outputs(rows[0]["folder"])
        problems = []
        for r in rows[1:]:
            if outputs(r["folder"]) != reference:
                problems.append(f"{r['mode']}: outputs differ from the sequential run")
        identical = not problems
        if len(reference) != len(images):
            problems.append(f"sequential: {len(reference)} outputs for {len(images)} photos")
        if ray_row["ratio"] < RAY_BAR:
            problems.append(f"ray: {ray_row['ratio']:.2f}× the best local path, below {RAY_BAR}×")
        if args.kill_resume:
            print("\nkill-and-resume (SIGKILL twice, then to the end):", flush=True)
            for mode in MODES:
                found = kill_and_resume(work, mode, images, reference)
                print(f"  {mode}: {'ok' if not found else 'FAILED'}", flush=True)
                problems += found
        print("outputs identical across modes:", identical)
        if args.json:
            args.json.write_text(json.dumps({"photos": len(images), "rows": [
                {k: v for k, v in r.items() if k != "folder"} for r in rows], "problems": problems},
                indent=2))
    for problem in problems:
        print("BAR MISSED:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
