"""Latency of the web app: launch → first served page, and the first reply over the API.

Run from the repository root::

    python benchmarks/app_latency.py [--megapixels 1.0] [--instruction TEXT] [--backend offline]
                                     [--page-bar 5] [--reply-bar 5] [--warm-runs 1] [--json OUT]

1. Starts ``app.main(...)`` as a subprocess (offline, no telemetry) and times from ``Popen`` to the
   first HTTP 200 for ``/`` (the page). For reference it also times ``import gradio`` alone in a
   fresh interpreter, which is most of the launch time.
2. Makes a ~1-megapixel JPEG from a bundled example photo and times one ``/restore`` call with
   gradio_client (upload + parse + grounding + restoration + PNG download): the first reply,
   which includes loading the models on first use. ``--warm-runs`` more calls show the steady
   state. The server's own stage timings (report["timings_s"]) are printed beside it.

Prints a table and exits 1 when the page or the first reply misses its bar (seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
       "GRADIO_RUN_HISTORY": "False", "PYTHONUNBUFFERED": "1"}
TWO_REGIONS = "make the main subject clear with 0.5 and keep other parts bokeh blur with 1.2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_page(proc: subprocess.Popen, url: str, log_path: Path, timeout: float) -> bool:
    """Poll ``url`` until the app serves its HTML page; False (after printing why and the server
    log) when the process exits or ``timeout`` seconds pass first."""
    t0 = time.perf_counter()
    while True:
        if proc.poll() is not None:
            print(log_path.read_text(), file=sys.stderr)
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200 and b"<html" in r.read(2048).lower():
                    return True
        except OSError:
            pass
        if time.perf_counter() - t0 > timeout:
            print(f"the app did not serve its page in {timeout:.0f} s", file=sys.stderr)
            return False
        time.sleep(0.05)


def stop(proc: subprocess.Popen) -> None:
    """Stop the app: terminate, and kill it if it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def make_photo(folder: Path, megapixels: float) -> Path:
    """A JPEG of about ``megapixels`` MP (3:2) made from the bundled cat photo."""
    from PIL import Image

    width = round((megapixels * 1e6 * 1.5) ** 0.5)
    height = round(width / 1.5)
    path = folder / f"photo_{width}x{height}.jpg"
    with Image.open(ROOT / "assistant" / "examples" / "cat_noisy.jpg") as im:
        im.convert("RGB").resize((width, height), Image.Resampling.BICUBIC).save(path, quality=90)
    return path


def time_gradio_import(env: dict[str, str]) -> float:
    code = "import time; t = time.perf_counter(); import gradio; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=1.0)
    ap.add_argument("--instruction", default=TWO_REGIONS)
    ap.add_argument("--backend", default="offline", choices=("auto", "offline", "full"))
    ap.add_argument("--page-bar", type=float, default=5.0, help="seconds from launch to the page")
    ap.add_argument("--reply-bar", type=float, default=5.0, help="seconds for the first reply")
    ap.add_argument("--warm-runs", type=int, default=1, help="extra calls after the first")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="restora-bench-"))
    env = dict(os.environ, **ENV, GRADIO_TEMP_DIR=str(tmp / "gradio"))
    photo = make_photo(tmp, args.megapixels)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = tmp / "server.log"

    # 1. launch → first served page
    with open(log_path, "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", f"import app; app.main(port={port}, backend={args.backend!r})"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_for_page(proc, url, log_path, 120):
            return 1
        page_s = time.perf_counter() - t0

        # 2. first reply over the API (gradio_client), then warm replies
        os.environ.update(ENV)  # the client's telemetry switches
        tempfile.tempdir = str(tmp)  # gradio_client leaves a folder per download in the temp dir
        from gradio_client import Client, handle_file

        t1 = time.perf_counter()
        client = Client(url, verbose=False, download_files=str(tmp / "downloads"))
        connect_s = time.perf_counter() - t1
        replies: list[tuple[float, dict]] = []
        for _ in range(1 + max(0, args.warm_runs)):
            t2 = time.perf_counter()
            out, _, report = client.predict(image=handle_file(str(photo)), instruction=args.instruction,
                                            options=json.dumps({"backend": args.backend}),
                                            api_name="/restore")
            replies.append((time.perf_counter() - t2, report))
            assert Path(out).exists()
    finally:
        stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    gradio_import_s = time_gradio_import(env)

    first_s, first_report = replies[0]
    size = first_report["size"]
    rows = [
        ("launch → page served", page_s, args.page_bar),
        ("  of which `import gradio` (fresh process)", gradio_import_s, None),
        ("client connect (gradio_client.Client)", connect_s, None),
        (f"first reply, {size['width']}×{size['height']} ({size['width'] * size['height'] / 1e6:.2f} MP)",
         first_s, args.reply_bar),
        *((f"warm reply {i}", s, None) for i, (s, _) in enumerate(replies[1:], 1)),
        *((f"  server stage {k} (first reply)", v, None) for k, v in first_report["timings_s"].items()),
        ("  rest: upload, decode, PNG, transfer, queue", first_s - sum(first_report["timings_s"].values()),
         None),
    ]
    print(f"instruction: {args.instruction!r}  backend: {args.backend}  cpus: {os.cpu_count()}  "
          f"load: {os.getloadavg()[0]:.1f}")
    print(f"regions: {[(r['target'], r['how'], r['fidelity_used']) for r in first_report['regions']]}")
    print(f"{'measurement':<48} {'seconds':>8} {'bar':>6}  ok")
    failed = False
    for name, value, bar in rows:
        ok = "" if bar is None else ("yes" if value <= bar else "NO")
        failed |= ok == "NO"
        print(f"{name:<48} {value:>8.2f} {'' if bar is None else f'{bar:g}':>6}  {ok}")
    if args.json:
        args.json.write_text(json.dumps({"page_s": page_s, "gradio_import_s": gradio_import_s,
                                         "connect_s": connect_s, "reply_s": [s for s, _ in replies],
                                         "timings_s": first_report["timings_s"]}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
