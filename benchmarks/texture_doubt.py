"""Noise levels in doubt (``Degradation.texture_doubt``): where real noise and everyday texture land.

    .venv/bin/python benchmarks/texture_doubt.py

Rows (``../shared/data`` beside the repository):
1. ``cc15_realnoise``: floor / level of the 15 real camera shots, and how many are in doubt.
   Bar: none (real noise shows in every tone).
2. The camera model on every second CBSD432 training photo (256² crops, level ≥ 4, drawn as
   ``camera.sample_camera`` with optics half the time): the share in doubt. Bar: ≤ 10 %.
3. COCO (every third photo of ``coco_mval_dev300``, as loaded by ``restora run``): how many read
   σ ≥ 5 and σ ≥ 10, how many read σ ≥ 4 are in doubt, and the level "restore" removes on the
   lawn and the desert of the README (``Degradation.automatic_noise``). No bar: whether a reading
   is texture is judged by eye; the names are printed to look at.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_photos import load_cc15  # noqa: E402
from scoring import DATA, Row, run_offline  # noqa: E402

CAMERA_DOUBT_BAR = 0.10
SHOWN = ("frisbee09_000000357459.jpg", "airplane09_000000208208.jpg")  # the lawn, the desert


def cc15_rows() -> list[Row]:
    from models.degradation import estimate_degradation

    found = [estimate_degradation(noisy) for _, noisy, _ in load_cc15()]
    ratios = [d.noise_floor / d.noise_sigma for d in found if d.noise_sigma >= 1.0]
    doubt = sum(d.texture_doubt for d in found)
    return [
        Row("cc15 real noise", "floor / level (min)", min(ratios), None, len(ratios),
            notes=[f"median {np.median(ratios):.2f}, max {max(ratios):.2f}"]),
        Row("cc15 real noise", "in doubt", doubt, None, len(found), "0", doubt == 0),
    ]


def camera_rows() -> list[Row]:
    from models.restorers.camera import degrade_crop, sample_camera
    from models.restorers.estimator import flat_readings
    from models.restorers.levels import TEXTURE_DOUBT

    files = sorted((DATA / "cbsd432").glob("*.jpg"))[:-8][::2]
    ratios = []
    for i, path in enumerate(files):
        photo = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        rng = np.random.default_rng([99, i])
        for _ in range(10):  # a draw with visible noise
            camera = sample_camera(rng, optics=rng.random() < 0.5)
            try:
                bad, _, level = degrade_crop(photo, camera, 256, rng)
            except ValueError:  # this draw needs a larger crop than the photo has
                continue
            if float(np.median(level)) >= 4:
                flat, floor = flat_readings(np.clip(bad, 0, 1).astype(np.float32))
                ratios.append(floor / flat)
                break
    share = float(np.mean(np.array(ratios) < TEXTURE_DOUBT))
    return [Row("camera model, level ≥ 4", "share in doubt", share, None, len(ratios),
                f"≤ {CAMERA_DOUBT_BAR}", share <= CAMERA_DOUBT_BAR,
                [f"floor / level 5th percentile {np.quantile(ratios, 0.05):.2f}"])]


def coco_rows() -> list[Row]:
    from assistant.imageio import load_image
    from models.degradation import estimate_degradation

    files = sorted((DATA / "coco_mval_dev300" / "images").glob("*.jpg"))[::3]
    read = {}
    for path in files:
        image = load_image(path)
        read[path.name] = estimate_degradation(image.rgb, jpeg_quality_hint=image.jpeg_quality)
    levels = np.array([d.noise_sigma for d in read.values()])
    seen = {n: d for n, d in read.items() if d.noise_sigma >= 4}
    doubt = sorted(n for n, d in seen.items() if d.texture_doubt)
    rows = [
        Row("COCO, every third", "level σ ≥ 5", int((levels >= 5).sum()), None, len(levels),
            notes=[f"σ ≥ 10: {int((levels >= 10).sum())}"]),
        Row("COCO, level σ ≥ 4", "in doubt", len(doubt), None, len(seen),
            notes=["look at: " + ", ".join(n.split("_")[0] for n in doubt)]),
    ]
    for name in SHOWN:
        if name not in read:  # the lawn is not among every third photo
            image = load_image(DATA / "coco_mval_dev300" / "images" / name)
            read[name] = estimate_degradation(image.rgb, jpeg_quality_hint=image.jpeg_quality)
        d = read[name]
        rows.append(Row(f"COCO {name.split('_')[0]}", '"restore" removes σ', d.automatic_noise, None, 1,
                        notes=[f"read {d.noise_sigma:.1f}, floor {d.noise_floor:.1f}"]))
    return rows


def main() -> int:
    return run_offline(
        ("cc15_realnoise", "cbsd432", "coco_mval_dev300"),
        lambda: cc15_rows() + camera_rows() + coco_rows(),
    )


if __name__ == "__main__":
    sys.exit(main())
