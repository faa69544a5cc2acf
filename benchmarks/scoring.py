"""What the restoration benchmarks share: PSNR / SSIM, the result ``Row``, the CBSD68 loader and the
table printer (``restoration_quality.py``, ``real_photos.py``).

PSNR/SSIM on RGB in [0, 255] after clipping to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.clip(a, 0, 1) * 255.0 - np.clip(b, 0, 1) * 255.0) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(np.clip(a, 0, 1), np.clip(b, 0, 1), channel_axis=2, data_range=1.0))


@dataclass
class Row:
    task: str
    method: str
    psnr: float
    ssim: float | None = None
    n: int = 0
    bar: str = ""
    ok: bool | None = None
    notes: list[str] = field(default_factory=list)
    per_image: list[float] = field(default_factory=list, repr=False)
    restora_same: float | None = None  # restora's mean on the same (first n) images, for subsets


def load_cbsd68(limit: int | None) -> list[tuple[str, np.ndarray]]:
    folder = DATA / "cbsd68"
    files = sorted(folder.glob("*.png"))[:limit]
    return [
        (p.stem, cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)
        for p in files
    ]


def print_table(rows: list[Row]) -> None:
    header = f"{'task':<28} {'method':<22} {'value':>8} {'SSIM':>7} {'n':>4}  {'bar':<16} result"
    print(header)
    print("-" * len(header))
    for r in rows:
        ok = "" if r.ok is None else ("PASS" if r.ok else "FAIL")
        s = "" if r.ssim is None else f"{r.ssim:.4f}"
        notes = " ".join(r.notes)
        print(f"{r.task:<28} {r.method:<22} {r.psnr:>8.2f} {s:>7} {r.n:>4}  {r.bar:<16} {ok} {notes}")


def report(rows: list[Row]) -> int:
    """Print the table and the bars' verdict; the exit status: 1 when a bar is missed, else 0."""
    print_table(rows)
    missed = [f"{r.task} ({r.method})" for r in rows if r.ok is False]
    print(f"\nMISSED {len(missed)} bar(s): {', '.join(missed)}" if missed else "\nall bars met")
    return 1 if missed else 0


def run_offline(folders: tuple[str, ...], make_rows) -> int:
    """A benchmark's ``main``: offline, warnings only; skipped (status 0, said why) when one of
    ``folders`` is missing from ``../shared/data``; else ``report(make_rows())``."""
    import logging
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    for folder in folders:
        if not (DATA / folder).is_dir():
            print(f"skipped: {DATA / folder} is missing (../shared/data beside the repository)")
            return 0
    return report(make_rows())

