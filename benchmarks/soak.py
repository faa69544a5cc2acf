"""Soak test of the web app: many small good and hostile requests, watching memory and errors.

Run from the repository root::

    python benchmarks/soak.py [--requests 200] [--hostile-share 0.3] [--every 25]
                              [--max-growth-mb 20] [--timeout-s 120] [--json OUT]

1. Starts ``restora app`` (``--backend offline``) as a subprocess on a free port, offline and
   without telemetry, with its own GRADIO_TEMP_DIR.
2. Bomb then small: submits a 50 KB PNG that decodes to 49 megapixels and, right behind it, a
   tiny photo (three times); the bomb must be refused within 10 s and the small request served
   within 10 s of that (issue #20's bar).
3. Sends ``--requests`` calls to ``/restore`` through gradio_client, interleaving good inputs
   (tiny PNG and JPEG photos, several instructions) with hostile ones, a ``--hostile-share`` of
   them (a file that is not an image, a GIF, an EPS, a truncated PNG, the 49 MP bomb, junk
   ``options``, empty and over-long messages, a NaN strength). Good inputs must succeed; hostile
   ones must fail with the app's clear message (never a traceback) within ``--timeout-s``.
4. Every ``--every`` requests prints the server's resident memory (RSS, from /proc).

Prints latency percentiles per kind, good and hostile counts, and exits 1 when RSS grew more than
``--max-growth-mb`` over the last quarter of the run (memory that keeps growing), when a good
request failed, when a hostile one succeeded or failed without its expected message, when a
request hung past ``--timeout-s``, when the bomb-then-small bar failed, or when the server log
shows a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from app_latency import free_port, stop, wait_for_page  # noqa: E402 (this folder: the same app launch)

ROOT = Path(__file__).resolve().parents[1]
ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
       "GRADIO_RUN_HISTORY": "False", "PYTHONUNBUFFERED": "1"}
OFFLINE = json.dumps({"backend": "offline"})


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def png_bomb(path: Path, side: int = 7000) -> Path:
    """A real grayscale PNG of side×side black pixels, about 50 KB on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    squeeze, row = zlib.compressobj(9), bytes(side + 1)
    idat = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def make_inputs(folder: Path) -> list[tuple[str, str, str, str, str | None]]:
    """(name, image path, instruction, options, expected error text or None for success)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    with Image.open(ROOT / "assistant" / "examples" / "cat_noisy.jpg") as im:
        cat = im.convert("RGB")
    cat.resize((96, 64)).save(folder / "small.png")
    cat.resize((160, 120)).save(folder / "small.jpg", quality=85)
    cat.resize((768, 512)).save(folder / "photo.jpg", quality=90)
    noisy = np.clip(rng.normal(128, 40, (48, 64, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(folder / "noise.png")
    Image.new("P", (32, 32)).save(folder / "anim.gif")
    Image.new("RGB", (16, 16)).save(folder / "upload.eps", format="EPS")
    (folder / "text.png").write_text("not an image at all\n")
    (folder / "cut.png").write_bytes((folder / "noise.png").read_bytes()[:200])
    png_bomb(folder / "bomb.png")
    f = str(folder)
    return [
        ("good png", f + "/small.png", "denoise the whole photo", OFFLINE, None),
        ("good jpeg", f + "/small.jpg", "sharpen the left half with 0.5", OFFLINE, None),
        ("good noise", f + "/noise.png", "remove the noise", OFFLINE, None),
        ("good 0.4 MP jpeg", f + "/photo.jpg", "denoise the whole photo", OFFLINE, None),
        ("good two regions", f + "/small.png", "restore the left half with 0.5 and the right half "
         "with 1.5", OFFLINE, None),
        ("help", f + "/small.png", "help", OFFLINE, ""),  # no image back, still no error
        ("text as png", f + "/text.png", "denoise", OFFLINE, "not an image Restora can read"),
        ("gif", f + "/anim.gif", "denoise", OFFLINE, "GIF file"),
        ("49 MP bomb", f + "/bomb.png", "denoise", OFFLINE, "this server's limit"),
        ("junk steps", f + "/small.png", "denoise", '{"steps": "Infinity"}', "Bad options"),
        ("junk seed", f + "/small.png", "denoise", '{"seed": "abc", "backend": "offline"}',
         "Bad options"),
        ("junk json", f + "/small.png", "denoise", "{not json", "Bad options"),
        ("empty message", f + "/small.png", "   ", OFFLINE, "Give an instruction"),
        ("eps", f + "/upload.eps", "denoise", OFFLINE, "PostScript/EPS file"),
        ("truncated png", f + "/cut.png", "denoise", OFFLINE, "truncated"),
        ("2,001 characters", f + "/small.png", "denoise " + "x" * 1993, OFFLINE, "too long"),
        ("nan strength", f + "/small.png", "denoise the whole photo with nan", OFFLINE,
         "could not read the strength"),
        ("junk 1e308 seed", f + "/small.png", "denoise", '{"seed": 1e308}', "Bad options"),
        ("junk bool string", f + "/small.png", "denoise", '{"lens_blur": "false"}', "Bad options"),
    ]


def schedule(n: int, share: float) -> list[bool]:
    """Which of ``n`` requests are hostile: evenly spread, a ``share`` of them."""
    return [int(i * share) > int((i - 1) * share) for i in range(1, n + 1)]


def bomb_then_small(client, bomb: str, small: str, handle_file, timeout: float) -> list[tuple[float, float]]:
    """Submit the 49 MP bomb and, right behind it, a small photo, three times; returns
    (seconds until the bomb was refused, seconds from then until the small one was served)."""
    pairs = []
    for _ in range(3):
        t0 = time.perf_counter()
        jobs = [client.submit(image=handle_file(path), instruction="denoise the whole photo",
                              options=OFFLINE, api_name="/restore") for path in (bomb, small)]
        times, outcomes = [], []
        for job in jobs:
            try:
                outcomes.append(job.result(timeout=timeout)[0])
            except Exception as err:  # the bomb's refusal is an AppError
                outcomes.append(err)
            times.append(time.perf_counter() - t0)
        if not isinstance(outcomes[0], Exception) or isinstance(outcomes[1], Exception):
            raise RuntimeError(f"bomb then small: expected a refusal then an image, got {outcomes!r}")
        pairs.append((times[0], times[1] - times[0]))
    return pairs


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    v = sorted(values)
    pick = lambda q: v[min(len(v) - 1, round(q * (len(v) - 1)))]  # noqa: E731
    return f"p50 {pick(0.5):.2f}  p95 {pick(0.95):.2f}  max {v[-1]:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--hostile-share", type=float, default=0.3,
                    help="share of the requests that are hostile (0 to 1)")
    ap.add_argument("--timeout-s", type=float, default=120.0,
                    help="a request not answered within this many seconds counts as hung")
    ap.add_argument("--every", type=int, default=25, help="print RSS every this many requests")
    ap.add_argument("--max-growth-mb", type=float, default=20.0,
                    help="fail when RSS grows more than this over the last quarter of the run")
    ap.add_argument("--max-growth-after-50-mb", type=float, default=100.0,
                    help="fail when RSS grows more than this after request 50 (runs of 100 or more)")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args()
    if not 0 <= args.hostile_share <= 1:
        ap.error(f"--hostile-share must be in [0, 1]; got {args.hostile_share}")

    tmp = Path(tempfile.mkdtemp(prefix="restora-soak-"))
    env = dict(os.environ, **ENV, GRADIO_TEMP_DIR=str(tmp / "gradio"))
    inputs = make_inputs(tmp)
    good = [x for x in inputs if x[4] is None or x[4] == ""]
    hostile = [x for x in inputs if x[4]]
    plan = schedule(args.requests, args.hostile_share)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = tmp / "server.log"
    restora = Path(sys.executable).with_name("restora")
    cmd = [str(restora)] if restora.exists() else [sys.executable, "-m", "assistant"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen([*cmd, "app", "--port", str(port), "--backend", "offline"], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    rss: list[tuple[int, float]] = []
    latency: dict[str, list[float]] = {}
    problems: list[str] = []
    expected_errors = 0
    counts = {"good": [0, 0], "hostile": [0, 0]}  # [sent, answered as expected]
    pairs: list[tuple[float, float]] = []
    try:
        if not wait_for_page(proc, url, log_path, 180):
            return 1
        os.environ.update(ENV)
        tempfile.tempdir = str(tmp)  # gradio_client leaves a folder per download in the temp dir
        from gradio_client import Client, handle_file

        client = Client(url, verbose=False, download_files=str(tmp / "downloads"))
        client.predict(image=handle_file(str(tmp / "small.png")), instruction="denoise the whole photo",
                       options=OFFLINE, api_name="/restore")  # warm up: models loaded
        try:
            pairs = bomb_then_small(client, str(tmp / "bomb.png"), str(tmp / "small.png"), handle_file,
                                    args.timeout_s)
        except Exception as err:  # noqa: BLE001 - reported as a problem, the soak goes on
            problems.append(f"bomb then small: {type(err).__name__}: {err}")
        shutil.rmtree(tmp / "downloads", ignore_errors=True)
        rss.append((0, rss_mb(proc.pid)))
        print(f"{'requests':>8} {'RSS MB':>8}")
        print(f"{0:>8} {rss[-1][1]:>8.1f}")
        sent = {"good": 0, "hostile": 0}
        for i in range(1, args.requests + 1):
            kind = "hostile" if plan[i - 1] else "good"
            pool = hostile if kind == "hostile" else good
            name, image, instruction, options, expected = pool[sent[kind] % len(pool)]
            sent[kind] += 1
            counts[kind][0] += 1
            t = time.perf_counter()
            try:
                job = client.submit(image=handle_file(image), instruction=instruction,
                                    options=options, api_name="/restore")
                out, _, _ = job.result(timeout=args.timeout_s)
                error = None
            except TimeoutError:
                out, error = None, f"hung: no answer in {args.timeout_s:g} s"
            except Exception as err:  # gradio_client's AppError carries the app's message
                out, error = None, f"{type(err).__name__}: {err}"
            latency.setdefault(name, []).append(time.perf_counter() - t)
            ok = False
            if error and error.startswith("hung"):
                problems.append(f"request {i} ({name}) {error}")
            elif expected is None and (error or not out or not Path(out).exists()):
                problems.append(f"request {i} ({name}) failed: {error or 'no image back'}")
            elif expected and (error is None or expected not in error or "Traceback" in error):
                problems.append(f"request {i} ({name}): expected an error with {expected!r}, "
                                f"got {error!r}")
            elif expected == "" and error:
                problems.append(f"request {i} ({name}) failed: {error}")
            else:
                ok = True
                expected_errors += bool(expected)
            counts[kind][1] += ok
            if i % args.every == 0 or i == args.requests:
                rss.append((i, rss_mb(proc.pid)))
                print(f"{i:>8} {rss[-1][1]:>8.1f}", flush=True)
            shutil.rmtree(tmp / "downloads", ignore_errors=True)
    finally:
        stop(proc)
        log_text = log_path.read_text(errors="replace")
        temp_mb = sum(f.stat().st_size for f in (tmp / "gradio").rglob("*") if f.is_file()) / 1e6
        shutil.rmtree(tmp, ignore_errors=True)
    tracebacks = log_text.count("Traceback (most recent call last)")
    if tracebacks:
        problems.append(f"the server log has {tracebacks} traceback(s)")

    quarter = next((r for n, r in rss if n >= 0.75 * args.requests), rss[-1][1])
    growth_last_quarter = rss[-1][1] - quarter
    after_50 = next((r for n, r in rss if n >= 50), rss[0][1])
    print(f"\n{'kind':<18} {'n':>4}  latency s")
    for name, values in latency.items():
        print(f"{name:<18} {len(values):>4}  {percentiles(values)}")
    for kind, (n, ok) in counts.items():
        print(f"{kind} requests: {n} sent, {ok} answered as expected")
    for refused, served in pairs:
        print(f"49 MP bomb refused after {refused:.2f} s; the small request behind it served "
              f"{served:.2f} s later (bar: 10 s each)")
        if refused > 10 or served > 10:
            problems.append(f"bomb then small: {refused:.2f} s / {served:.2f} s (bar 10 s)")
    print(f"\nRSS: start {rss[0][1]:.1f} MB, end {rss[-1][1]:.1f} MB, growth after request 50 "
          f"{rss[-1][1] - after_50:+.1f} MB (bar {args.max_growth_after_50_mb:g}), over the last "
          f"quarter {growth_last_quarter:+.1f} MB (bar {args.max_growth_mb:g})")
    print(f"files left in GRADIO_TEMP_DIR: {temp_mb:.1f} MB (Gradio removes them after an hour)")
    print(f"expected errors {expected_errors}, problems {len(problems)}, server tracebacks {tracebacks}")
    for p in problems[:20]:
        print("  " + p)
    if args.requests >= 100 and rss[-1][1] - after_50 > args.max_growth_after_50_mb:
        problems.append(f"RSS grew {rss[-1][1] - after_50:.1f} MB after request 50")
    if growth_last_quarter > args.max_growth_mb:
        problems.append(f"RSS grew {growth_last_quarter:.1f} MB over the last quarter")
    if args.json:
        args.json.write_text(json.dumps({"rss_mb": rss, "latency_s": latency, "problems": problems,
                                         "expected_errors": expected_errors, "counts": counts,
                                         "bomb_then_small_s": pairs}, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
