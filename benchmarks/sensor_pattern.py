"""The camera sensor's colour-filter pattern (``models/restorers/sensor.py``): on which photos it is
read, and what it changes.

    .venv/bin/python benchmarks/sensor_pattern.py

Rows (``../shared/data`` beside the repository):
1. ``cc15_realnoise`` noisy shots: how many carry the pattern (as PNG, and re-saved as JPEG q95);
   the photos whose learned reading saw no visible noise, with "restore" against "denoise" on
   them (the leaf photo). Bar: "restore" within 0.05 dB of "denoise" there.
2. Real clean captures: the same 15 scenes without noise (the mean of 500 shots). Bar: none
   read as sensor noise (``Degradation.noise_sensor``).
3. Scans and resized photos (CBSD68, CBSD432, COCO, SOD, GrabCut, Berkeley: film scans and web
   photos): how many carry the pattern. Bar: none.
4. The camera model without noise on every sixth CBSD432 photo (optics on, no JPEG or resizing):
   the share of clean captures read as sensor noise, and what "restore" did to them. Its scenes
   are grainy film scans, whose grain the sensor sees at its own pixel scale: 47 of the 72
   captures carry the pattern (real clean captures, row 2, do not), so this row tests the other
   condition (the learned map's agreement, ``estimator._suspicion``). Bar: ≤ 10 %.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_photos import load_cc15, load_rgb, product  # noqa: E402
from scoring import DATA, Row, psnr, run_offline  # noqa: E402

SAME_TOLERANCE = 0.05  # dB
CAMERA_BAR = 0.10  # share of the camera model's clean captures read as sensor noise
SCANS = {
    "CBSD68": ("cbsd68", "*.png"),
    "CBSD432": ("cbsd432", "*.jpg"),
    "COCO dev300": ("coco_mval_dev300/images", "*.jpg"),
    "SOD300": ("sod300", "**/*.jpg"),
    "GrabCut50": ("grabcut50", "**/*.jpg"),
    "Berkeley100": ("berkeley100", "**/*.jpg"),
}


def cc15_rows() -> list[Row]:
    from models.degradation import estimate_degradation
    from models.restorers.estimator import run_estimator
    from models.restorers.sensor import is_sensor_noise
    from models.restorers.synthetic import jpeg

    photos = load_cc15()
    carry = [name for name, noisy, _ in photos if is_sensor_noise(noisy)]
    carry95 = [name for name, noisy, _ in photos if is_sensor_noise(jpeg(noisy, 95))]
    unseen = [(n, x, t) for n, x, t in photos if float(np.median(run_estimator(x))) < 2.5]
    restore = [psnr(product(x, "restore the photo"), t) for _, x, t in unseen]
    denoise = [psnr(product(x, "denoise the whole photo"), t) for _, x, t in unseen]
    delta = float(np.mean(restore) - np.mean(denoise)) if unseen else 0.0
    clean = [name for name, _, truth in photos if estimate_degradation(truth).noise_sensor]
    return [
        Row("cc15 noisy", "carry the pattern", len(carry), None, len(photos), notes=[", ".join(carry)]),
        Row("cc15 noisy, JPEG q95", "carry the pattern", len(carry95), None, len(photos)),
        Row("cc15, learned map sees none", '"restore" − "denoise" dB', delta, None, len(unseen),
            f"≥ −{SAME_TOLERANCE}", delta >= -SAME_TOLERANCE,
            [", ".join(f"{n}: restore {r:.2f}, denoise {d:.2f}, input {psnr(x, t):.2f}"
                       for (n, x, t), r, d in zip(unseen, restore, denoise, strict=True))]),
        Row("cc15 clean (mean of 500)", "read as sensor noise", len(clean), None, len(photos), "0",
            not clean, [", ".join(clean)]),
    ]


def scan_rows() -> list[Row]:
    from models.restorers.sensor import SENSOR_PATTERN, sensor_pattern

    rows = []
    for name, (folder, pattern) in SCANS.items():
        files = sorted((DATA / folder).glob(pattern))
        if not files:
            continue
        readings = [sensor_pattern(load_rgb(p)) for p in files]
        hits = [p.name for p, (s, share) in zip(files, readings, strict=True)
                if s >= SENSOR_PATTERN[0] and share >= SENSOR_PATTERN[1]]
        top = max(s for s, _ in readings)
        rows.append(Row(name, "carry the pattern", len(hits), None, len(files), "0", not hits,
                        [f"largest pattern σ {top:.2f} (its share decides)"] + hits[:5]))
    return rows


def camera_rows() -> list[Row]:
    from models.degradation import estimate_degradation
    from models.restorers.camera import degrade_crop, sample_camera

    files = sorted((DATA / "cbsd432").glob("*.jpg"))[::6]
    rng = np.random.default_rng(7)
    read = []
    for path in files:
        photo = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        camera = sample_camera(rng, noise=False, optics=True)
        camera = replace(camera, kernel=None, jpeg_qualities=(), scale=1.0)
        clean, _, _ = degrade_crop(photo, camera, 256, rng)
        read.append((clean, estimate_degradation(clean)))
    flagged = [(clean, d) for clean, d in read if d.noise_sensor]
    share = len(flagged) / len(read)
    kept = [psnr(product(clean, "restore the photo"), clean) for clean, _ in flagged]
    notes = [f"'restore' removed σ {max(d.noise_sigma for _, d in flagged):.1f} at most, the result "
             f"{min(kept):.1f} dB from the capture at least"] if flagged else []
    return [Row("camera model, clean captures", "read as sensor noise", share, None, len(read),
                f"≤ {CAMERA_BAR}", share <= CAMERA_BAR, notes)]


def main() -> int:
    return run_offline(
        ("cc15_realnoise", "cbsd68", "cbsd432"),
        lambda: cc15_rows() + scan_rows() + camera_rows(),
    )


if __name__ == "__main__":
    sys.exit(main())
