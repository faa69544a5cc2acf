"""Real photos: camera noise through the product's automatic path, the estimators' errors, and
"restore" against the best single action. Part of ``restoration_quality.py``; also runs alone:

    .venv/bin/python benchmarks/real_photos.py [--limit N] [--sheet PNG]

Rows (``../shared/data`` beside the repository):
1. ``cc15_realnoise`` (15 real camera shots, ISO 1600–6400, ground truth the mean of 500 shots):
   "denoise the whole photo" and "restore the photo" through ``Session.send`` with the offline
   backend, exactly what ``restora run`` does, the output rounded to 8 bits as the saved PNG.
   Bars: denoise ≥ 37.3 dB; restore ≥ 37.0 dB and never below the input on any photo.
2. Estimation against known levels: on cc15 the true level is the median of
   ``camera.cell_noise_sigma(real − mean)``; on CBSD68 AWGN σ 5/15/25/50 (mean |error| %),
   camera-model noise (median of its map), blur σ 1/2/3 + noise 2 (blur read and confidence), and
   camera noise without blur (blur should not be sharpened: reading × confidence < 0.35 px).
3. "restore the photo" against the best single action ("denoise" / "sharpen" / "remove the JPEG
   artifacts") on each kind of damage, all through the automatic path (estimated levels):
   restore must not score below the best single action by more than 0.05 dB on any set's mean.
4. A qualitative sheet: before / after crops of cc15 photos (input, denoise, restore, ground
   truth), written to ``--sheet`` (default ``artifacts/real_photos.png``, not committed: CC15 is
   for evaluation only).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scoring import DATA, Row, load_cbsd68, psnr, report  # noqa: E402

logger = logging.getLogger("real_photos")

CC15_DENOISE_BAR = 37.3
CC15_RESTORE_BAR = 37.0
BEST_SINGLE_TOLERANCE = 0.05  # dB
DENOISE, RESTORE = "denoise the whole photo", "restore the photo"


def load_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def load_cc15(limit: int | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, noisy, ground truth) for each cc15_realnoise photo."""
    folder = DATA / "cc15_realnoise"
    shots = sorted(folder.glob("*_real.png"))[:limit]
    return [
        (p.stem[: -len("_real")], load_rgb(p), load_rgb(p.with_name(p.stem[: -len("_real")] + "_mean.png")))
        for p in shots
    ]


def product(image: np.ndarray, instruction: str, jpeg_quality: int | None = None) -> np.ndarray:
    """``restora run`` on an image already in memory: offline backend, output rounded to 8 bits."""
    from assistant.imageio import LoadedImage
    from assistant.pipeline import RunOptions
    from assistant.session import Session

    session = Session(LoadedImage(image, jpeg_quality=jpeg_quality), RunOptions(backend="offline"))
    reply = session.send(instruction)
    if reply.result is None:
        raise RuntimeError(f"{instruction!r} did not restore: {reply.text}")
    return np.round(np.clip(reply.image.rgb, 0, 1) * 255) / 255


def run_cc15(photos) -> tuple[list[Row], dict[str, list[np.ndarray]]]:
    inputs, outs = [], {DENOISE: [], RESTORE: []}
    images: dict[str, list[np.ndarray]] = {DENOISE: [], RESTORE: []}
    for name, noisy, truth in photos:
        inputs.append(psnr(noisy, truth))
        for instruction in outs:
            out = product(noisy, instruction)
            outs[instruction].append(psnr(out, truth))
            images[instruction].append(out)
        logger.info(
            "cc15 %s: input %.2f, denoise %.2f, restore %.2f",
            name,
            inputs[-1],
            outs[DENOISE][-1],
            outs[RESTORE][-1],
        )
    base = float(np.mean(inputs))
    rows = [
        Row(
            "cc15 real noise",
            "input",
            base,
            None,
            len(photos),
            notes=["CBM3D 35.19, MCWNNM 37.71 (published)"],
        )
    ]
    for instruction, bar in ((DENOISE, CC15_DENOISE_BAR), (RESTORE, CC15_RESTORE_BAR)):
        vals = outs[instruction]
        worst = min(v - i for v, i in zip(vals, inputs, strict=True))
        ok = float(np.mean(vals)) >= bar and (instruction == DENOISE or worst >= 0.0)
        rows.append(
            Row(
                "cc15 real noise",
                f'"{instruction}"',
                float(np.mean(vals)),
                None,
                len(vals),
                f"≥ {bar}" + (", none < input" if instruction == RESTORE else ""),
                ok,
                [f"gain {np.mean(vals) - base:+.2f}, worst photo {worst:+.2f}"],
            )
        )
    return rows, images


def run_estimation(photos, images) -> list[Row]:
    """The estimators against known levels (module docstring, item 2)."""
    from models.degradation import estimate_degradation
    from models.restorers.camera import cell_noise_sigma, degrade_crop, sample_camera
    from models.restorers.synthetic import SyntheticDegradation, quantize

    rows = []
    truth, read, classical, sharpened = [], [], [], []
    for _, noisy, clean in photos:
        truth.append(float(np.median(cell_noise_sigma(noisy - clean))))
        found = estimate_degradation(noisy)
        read.append(found.noise_sigma)
        sharpened.append(found.sharpen_sigma)
        classical.append(estimate_degradation(noisy, method="classical").noise_sigma)
    err = np.abs(np.array(read) / np.array(truth) - 1)
    rows.append(
        Row(
            "estimate: cc15 noise",
            "mean |error| %",
            100 * float(err.mean()),
            None,
            len(truth),
            notes=[
                f"true {np.mean(truth):.1f}, read {np.mean(read):.1f} "
                f"(classical PCA read {np.mean(classical):.1f})"
            ],
        )
    )
    rows.append(
        Row(
            "estimate: cc15 blur",
            "sharpened σ px (max)",
            max(sharpened),
            None,
            len(sharpened),
            "< 0.35",
            max(sharpened) < 0.35,
            ["blur read × confidence: camera photos' softness and noise are not blur"],
        )
    )
    for sigma in (5, 15, 25, 50):
        d = SyntheticDegradation(noise_sigma=sigma)
        vals = [
            estimate_degradation(quantize(d.apply(c, np.random.default_rng([68, i])))).noise_sigma
            for i, (_, c) in enumerate(images)
        ]
        rows.append(
            Row(
                f"estimate: AWGN σ{sigma}",
                "mean |error| %",
                100 * float(np.mean(np.abs(np.array(vals) / sigma - 1))),
                None,
                len(vals),
                notes=[f"mean read {np.mean(vals):.2f}"],
            )
        )
    camera_truth, camera_read, camera_blur = [], [], []
    for i, (_, clean) in enumerate(images):
        rng = np.random.default_rng([77, i])
        camera = sample_camera(rng)
        camera = type(camera)(**{**camera.__dict__, "kernel": None, "jpeg_qualities": (), "scale": 1.0})
        bad, _, level = degrade_crop((clean * 255).astype(np.uint8), camera, 256, rng)
        found = estimate_degradation(bad)
        camera_truth.append(float(np.median(level)))
        camera_read.append(found.noise_sigma)
        camera_blur.append(found.sharpen_sigma)
    t, r = np.array(camera_truth), np.array(camera_read)
    keep = t >= 2
    rows.append(
        Row(
            "estimate: camera-model noise",
            "mean |error| %",
            100 * float(np.mean(np.abs(r[keep] / t[keep] - 1))),
            None,
            int(keep.sum()),
            notes=[f"true {t[keep].mean():.1f}, read {r[keep].mean():.1f} (σ ≥ 2 cases)"],
        )
    )
    rows.append(
        Row(
            "estimate: camera noise blur",
            "sharpened σ px",
            float(np.mean(camera_blur)),
            None,
            len(camera_blur),
            "< 0.35",
            float(np.mean(camera_blur)) < 0.35,
            ["blur read × confidence, no blur added"],
        )
    )
    for sigma in (0, 1, 2, 3):
        d = SyntheticDegradation(blur_sigma=sigma, noise_sigma=2)
        found = [
            estimate_degradation(quantize(d.apply(c, np.random.default_rng([68, i]))))
            for i, (_, c) in enumerate(images)
        ]
        rows.append(
            Row(
                f"estimate: blur σ{sigma} + noise 2",
                "read σ px",
                float(np.mean([f.blur_sigma for f in found])),
                None,
                len(found),
                notes=[f"confidence {np.mean([f.blur_confidence for f in found]):.2f}"],
            )
        )
    return rows


def run_best_single(images, cc15_restore: list[float], cc15_denoise: list[float]) -> list[Row]:
    """'restore the photo' against the best single action on each kind of damage (item 3); the
    cc15 PSNRs come from ``run_cc15``."""
    from models.restorers.camera import degrade_crop, sample_camera
    from models.restorers.synthetic import SyntheticDegradation, quantize

    sets: dict[str, list[tuple[np.ndarray, np.ndarray, int | None]]] = {}
    for name, d, single in (
        ("AWGN σ15", SyntheticDegradation(noise_sigma=15), "denoise the whole photo"),
        ("AWGN σ25", SyntheticDegradation(noise_sigma=25), "denoise the whole photo"),
        ("blur σ2 + noise 2", SyntheticDegradation(blur_sigma=2, noise_sigma=2), "sharpen the photo"),
        ("JPEG q30", SyntheticDegradation(jpeg_quality=30), "remove the jpeg artifacts"),
    ):
        sets[f"{name}|{single}"] = [
            (quantize(d.apply(c, np.random.default_rng([68, i]))), c, d.jpeg_quality)
            for i, (_, c) in enumerate(images)
        ]
    camera_set = []
    for i, (_, clean) in enumerate(images):
        rng = np.random.default_rng([78, i])
        camera = sample_camera(rng)
        bad, target, _ = degrade_crop((clean * 255).astype(np.uint8), camera, _crop_size(clean, camera), rng)
        camera_set.append((bad, target, None))  # camera JPEG quality is not given: as a PNG of it
    sets["camera model|denoise the whole photo"] = camera_set
    rows = []
    for key, items in sets.items():
        name, single = key.split("|")
        restore = [psnr(product(b, RESTORE, q), c) for b, c, q in items]
        best = [psnr(product(b, single, q), c) for b, c, q in items]
        rows.append(_versus(name, single, restore, best, len(items)))
    rows.append(_versus("cc15 real noise", DENOISE, cc15_restore, cc15_denoise, len(cc15_restore)))
    return rows


def _crop_size(image: np.ndarray, camera, largest: int = 256) -> int:
    """The largest even crop ≤ ``largest`` that ``degrade_crop`` can cut from ``image`` for ``camera``
    (a downscaling camera needs a larger source crop)."""
    from models.restorers.synthetic import KERNEL_SIZE

    fits = int(min(image.shape[:2]) * camera.scale) - 2 * KERNEL_SIZE - 4
    return max(32, min(largest, fits // 2 * 2))


def _versus(name: str, single: str, restore: list[float], best: list[float], n: int) -> Row:
    delta = float(np.mean(restore) - np.mean(best))
    return Row(
        f"restore vs best: {name}",
        f'vs "{single}"',
        delta,
        None,
        n,
        f"≥ −{BEST_SINGLE_TOLERANCE}",
        delta >= -BEST_SINGLE_TOLERANCE,
        [f"restore {np.mean(restore):.2f}, single {np.mean(best):.2f}"],
    )


def write_sheet(photos, outputs: dict[str, list[np.ndarray]], path: Path, crop: int = 160) -> None:
    """Rows of crops: input | denoise | restore | ground truth, from the centre of each photo."""
    rows = []
    for i, (_, noisy, truth) in enumerate(photos[:6]):
        h, w = noisy.shape[:2]
        window = (slice((h - crop) // 2, (h + crop) // 2), slice((w - crop) // 2, (w + crop) // 2))
        tiles = [noisy, outputs[DENOISE][i], outputs[RESTORE][i], truth]
        rows.append(
            np.concatenate([np.pad(t[window], ((2, 2), (2, 2), (0, 0)), constant_values=1) for t in tiles], 1)
        )
    sheet = (np.concatenate(rows, 0) * 255).round().astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    logger.info("wrote %s (columns: input, denoise, restore, ground truth)", path)


def run_real(limit: int | None, sheet: Path | None) -> list[Row]:
    """All rows of this module (the CBSD68 sets use the first ``limit`` images, at most 24)."""
    photos = load_cc15()
    if not photos:
        raise FileNotFoundError(f"no cc15_realnoise photos in {DATA / 'cc15_realnoise'}")
    images = load_cbsd68(min(limit or 24, 24))
    rows, outputs = run_cc15(photos)
    denoise = [psnr(o, t) for o, (_, _, t) in zip(outputs[DENOISE], photos, strict=True)]
    restore = [psnr(o, t) for o, (_, _, t) in zip(outputs[RESTORE], photos, strict=True)]
    rows += run_estimation(photos, images)
    rows += run_best_single(images, restore, denoise)
    if sheet is not None:
        write_sheet(photos, outputs, sheet)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=None, help="CBSD68 images for the synthetic sets (≤ 24)")
    parser.add_argument("--sheet", type=Path, default=ROOT / "artifacts" / "real_photos.png")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (DATA / "cc15_realnoise").is_dir():
        print(f"cc15_realnoise not found at {DATA / 'cc15_realnoise'}; place ../shared/data beside the repo")
        return 2
    return report(run_real(args.limit, args.sheet))


if __name__ == "__main__":
    sys.exit(main())
