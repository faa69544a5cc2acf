"""Train the blind degradation estimator (``models/restorers/estimator.py``) and export its weights.

    python scripts/train_estimator.py --run-dir runs/estimator            # train (resumes if possible)
    python scripts/train_estimator.py --run-dir runs/estimator --export   # write the package weights

Data (``estimator_batch``) on CBSD432: 35 % camera-model samples as the restorer gets them
(``train_restorer.camera_sample``: noise maps from ``camera.cell_noise_sigma``, JPEG chains,
defocus / motion / Gaussian blur, resampling; 15 % without noise), 20 % white Gaussian noise and
20 % Gaussian noise of random spatial and colour correlation (so the network learns the condition
— σ on 2×2 cells — for any correlation, not only the camera model's), 25 % RAP's synthetic
mixtures (AWGN, JPEG, Gaussian blur; ~11 % clean) through ``train_restorer.make_batch``. The
last 8 images are held out for validation; CBSD68 and ``cc15_realnoise`` are never read here.

Targets at quarter resolution: log(1 + noise condition σ) (0–255 scale; L1 loss; not where a JPEG
below quality 60 removed the noise it would be read from) and, as an auxiliary task, the blur σ in
px (L1) with a learned uncertainty s (|e|·exp(−s) + s on the detached error). ``--export`` keeps
the noise output only (``estimator.py`` does not use the blur outputs). Same run-directory layout,
determinism (``default_rng([seed, i])``) and resume as ``train_restorer.py``; ``--init-from``
starts from exported weights.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_restorer import (  # noqa: E402
    SHARED,
    VALIDATION_IMAGES,
    TrainConfig,
    camera_sample,
    gaussian_noise_sample,
    hardware,
    learning_rate,
    load_images,
    make_batch,
    run_metadata,
)

from models.restorers.estimator import DEFAULT_ESTIMATOR, save_estimator  # noqa: E402
from models.restorers.levels import BLUR_SCALE, NOISE_SCALE, jpeg_condition  # noqa: E402
from models.restorers.network import DegradationEstimator, EstimatorConfig  # noqa: E402
from models.restorers.synthetic import SyntheticDegradation  # noqa: E402

logger = logging.getLogger("train_estimator")


@dataclass
class EstimatorTrainConfig:
    seed: int = 0
    iterations: int = 4000
    batch: int = 16
    patch: int = 128
    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup: int = 100
    channels: int = 64
    camera: float = 0.35  # shares of camera-model samples, ...
    white: float = 0.2  # ... white Gaussian noise (σ log-uniform 0.5–50), ...
    correlated: float = 0.2  # ... Gaussian noise of random correlation; the rest RAP's mixtures
    data: str = "cbsd432"
    downscale: float = 0.0  # share of samples cut from a half-size copy of the photo (less film grain)
    extra: str = ""  # a folder of further photos under ../shared/data, used at half size (``extra_photos``)
    extra_share: float = 0.0  # share of samples cut from them
    init_from: str = ""  # start from these DegradationEstimator weights


def half_size(images: list[np.ndarray]) -> list[np.ndarray]:
    """Each photo at half size (area-averaged): CBSD432's scans carry film grain that the targets
    call clean (the estimator reads σ≈2 on them, against 0.1–0.4 on a 500-shot mean of a real
    scene); averaging 2×2 pixels halves it while the texture stays texture."""
    return [cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) for img in images]


#: Photos of ``--extra`` with more visible white noise than this (PCA σ, 0–255, at half size) are
#: left out: their own noise would be taught as clean.
EXTRA_NOISE_MAX = 1.5


def extra_photos(folder: Path) -> tuple[list[np.ndarray], list[Path]]:
    """(training photos at half size, held-out paths) of a folder of further photos: every third
    photo is held out, to look at the product on photos the estimator never saw, and a photo
    with visible noise of its own (``EXTRA_NOISE_MAX``) or under 160 px at half size is left out.

    Why: CBSD432 has few of the dense textures of everyday photos (lawns, rock faces, animal
    skin), which the estimator read as camera noise of σ 16–27 on such photos from COCO.
    """
    from models.quality import estimate_noise_sigma

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".png"})
    if not files:
        raise SystemExit(f"no photos in {folder}")
    used, held_out = files[1::3] + files[2::3], files[::3]
    photos = half_size([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in used])

    def usable(photo: np.ndarray) -> bool:
        sigma = estimate_noise_sigma(photo.astype(np.float32) / 255.0, jpeg=True)
        return sigma < EXTRA_NOISE_MAX and min(photo.shape[:2]) >= 160

    kept = [p for p in photos if usable(p)]
    logger.info("%d of %d extra photos kept for training, %d held out", len(kept), len(used), len(held_out))
    return kept, held_out


def estimator_batch(
    images: list[np.ndarray],
    cfg: EstimatorTrainConfig,
    it: int,
    halves: list[np.ndarray] | None = None,
    extra: list[np.ndarray] | None = None,
) -> tuple[torch.Tensor, ...]:
    """(degraded, conditions) tensors for iteration ``it``; deterministic in (seed, it).

    ``halves`` (``half_size(images)``): a ``cfg.downscale`` share of samples is cut from them;
    ``extra`` (``extra_photos``): a ``cfg.extra_share`` share. A camera draw that needs a larger
    crop than a half-size photo has (downscaling) uses a full-size training photo.
    """
    rng = np.random.default_rng([cfg.seed, it])
    rap = TrainConfig(seed=cfg.seed, batch=1, patch=cfg.patch)
    xs, cs = [], []
    for _ in range(cfg.batch):
        i = rng.integers(len(images))
        half = halves is not None and cfg.downscale > 0 and rng.random() < cfg.downscale
        img = halves[i] if half else images[i]
        if extra and cfg.extra_share > 0 and rng.random() < cfg.extra_share:
            img = extra[rng.integers(len(extra))]
        u = rng.random()
        if u < cfg.camera:
            try:
                x, _, c = camera_sample(img, rap, rng)
            except ValueError:  # a half-size photo is smaller than this draw's crop
                x, _, c = camera_sample(images[i], rap, rng)
        elif u < cfg.camera + cfg.white + cfg.correlated:
            x, _, c = gaussian_noise_sample(img, cfg.patch, rng, white=u < cfg.camera + cfg.white)
        else:  # RAP's synthetic mixtures, through the restorer's batch maker (one sample)
            x, c, _, _ = (t[0].numpy() for t in make_batch([img], rap, int(rng.integers(1 << 30))))
        xs.append(x)
        cs.append(c)
    as_tensor = lambda xs: torch.from_numpy(np.stack(xs).astype(np.float32))  # noqa: E731
    return as_tensor(xs), as_tensor(cs)


def targets(conditions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log(1 + noise σ) at quarter resolution (N, 1, h, w), blur σ px (N,)) from (N, 3, H, W)."""
    noise = F.avg_pool2d(conditions[:, :1] * NOISE_SCALE, 4)
    return torch.log1p(noise), conditions[:, 2].mean(dim=(1, 2)) * BLUR_SCALE


#: Below this JPEG quality compression has removed too much of the noise for its level to be read
#: (the target is the noise before compression), so such samples teach only blur.
NOISE_READABLE_QUALITY = 60


def loss_of(out: torch.Tensor, conditions: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    noise, blur = targets(conditions)
    readable = (conditions[:, 1, 0, 0] <= jpeg_condition(NOISE_READABLE_QUALITY)).float()[:, None, None, None]
    noise_loss = ((out[:, :1] - noise).abs() * readable).sum() / (readable.sum() * noise[0].numel()).clamp(
        min=1
    )
    # the blur itself by plain L1 (a heteroscedastic loss alone lets the network give up on hard
    # samples by calling them uncertain); its uncertainty by the Laplace likelihood of that error
    error = (out[:, 1] - blur[:, None, None]).abs()
    scale = out[:, 2].clamp(-6, 6)
    blur_loss = error.mean()
    scale_loss = (error.detach() * torch.exp(-scale) + scale).mean()
    parts = {"noise": round(noise_loss.item(), 4), "blur": round(blur_loss.item(), 4)}
    return noise_loss + blur_loss + 0.1 * scale_loss, parts


def read_blur(out: np.ndarray) -> float:
    """The image's blur σ: the median of the blur map weighted by its certainty."""
    b, w = out[1].ravel(), np.exp(-np.clip(out[2], -6, 6)).ravel()
    order = np.argsort(b)
    cdf = np.cumsum(w[order])
    return float(b[order][np.searchsorted(cdf, cdf[-1] / 2)])


@torch.inference_mode()
def validate(model: DegradationEstimator, images: list[np.ndarray]) -> dict[str, float]:
    """Readings on 256² centre crops of the held-out images: median noise σ for AWGN σ 0/5/15/50
    (clean photos read 0 ideally), weighted blur for blur σ 0/1/2 (+ noise 2), and the L1 error on
    held-out camera-model samples."""
    model.eval()
    scores: dict[str, float] = {}
    cases = {f"noise{s}": SyntheticDegradation(noise_sigma=s) for s in (0, 5, 15, 50)}
    cases |= {f"blur{b}": SyntheticDegradation(blur_sigma=b, noise_sigma=2) for b in (1, 2)}
    cases["blur0_noise15"] = SyntheticDegradation(noise_sigma=15)
    for name, d in cases.items():
        readings = []
        for i, img in enumerate(images):
            h, w = img.shape[:2]
            clean = (
                img[(h - 256) // 2 : (h + 256) // 2, (w - 256) // 2 : (w + 256) // 2].astype(np.float32) / 255
            )
            bad = np.clip(d.apply(clean, np.random.default_rng([1234, i])), 0, 1)
            x = torch.from_numpy(bad.transpose(2, 0, 1).copy())[None]
            out = model(x, torch.zeros(1, 1, 256, 256))[0].numpy()
            readings.append(read_blur(out) if name.startswith("blur") else float(np.expm1(np.median(out[0]))))
        scores[name] = round(float(np.mean(readings)), 3)
    x, c = estimator_batch(images, EstimatorTrainConfig(seed=4321, batch=16, camera=1.0), 0)
    loss, parts = loss_of(model(x, c[:, 1:2]), c)
    scores["camera_noise_l1"] = parts["noise"]
    model.train()
    return scores


def start_from(model: DegradationEstimator, path: str | Path) -> None:
    """Load exported estimator weights into a training model: an export keeps the noise output only
    (``export``), so the blur outputs start where the fresh model put them."""
    from models.restorers.estimator import load_estimator

    weights = dict(model.state_dict())
    for name, value in load_estimator(path)[0].state_dict().items():
        weights[name][: value.shape[0]] = value
    model.load_state_dict(weights)


def train(run_dir: Path, cfg: EstimatorTrainConfig, save_every: int, val_every: int) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.json"
    if config_path.exists():
        cfg = EstimatorTrainConfig(**json.loads(config_path.read_text()))
    else:
        config_path.write_text(json.dumps(asdict(cfg), indent=2))
    images = load_images(SHARED / cfg.data)
    train_images, val_images = images[:-VALIDATION_IMAGES], images[-VALIDATION_IMAGES:]
    halves = half_size(train_images) if cfg.downscale > 0 else None
    extra = extra_photos(SHARED / cfg.extra)[0] if cfg.extra and cfg.extra_share > 0 else None
    torch.manual_seed(cfg.seed)
    model = DegradationEstimator(EstimatorConfig(channels=cfg.channels))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ckpt, start, elapsed = run_dir / "last.pt", 0, 0.0
    if cfg.init_from and not ckpt.exists():
        start_from(model, cfg.init_from)
        logger.info("initialised from %s", cfg.init_from)
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, elapsed = int(state["iteration"]), float(state["elapsed"])
        logger.info("resumed at iteration %d", start)

    def save(it: int) -> None:
        tmp = ckpt.with_suffix(".tmp")
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "iteration": it,
            "elapsed": elapsed,
        }
        torch.save(state, tmp)
        os.replace(tmp, ckpt)

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    it = start
    model.train()
    with (run_dir / "log.jsonl").open("a") as log:
        try:
            while it < cfg.iterations:
                t0 = time.perf_counter()
                lr = learning_rate(cfg, it)  # the same warm-up + cosine schedule
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x, c = estimator_batch(train_images, cfg, it, halves, extra)
                loss, parts = loss_of(model(x, c[:, 1:2]), c)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                it += 1
                elapsed += time.perf_counter() - t0
                record = {
                    "iteration": it,
                    "loss": round(loss.item(), 4),
                    **parts,
                    "lr": lr,
                    "elapsed_s": round(elapsed, 1),
                }
                if it % val_every == 0 or it == cfg.iterations:
                    record["val"] = validate(model, val_images)
                    record["hardware"] = hardware(torch.device("cpu"))
                    logger.info("%s", record)
                if it % 50 == 0 or "val" in record:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                if it % save_every == 0 or it == cfg.iterations:
                    save(it)
        except KeyboardInterrupt:
            logger.info("interrupted at iteration %d; saving", it)
            save(it)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def export(run_dir: Path, out: Path) -> None:
    cfg = EstimatorTrainConfig(**json.loads((run_dir / "config.json").read_text()))
    state = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)
    model = DegradationEstimator(EstimatorConfig(channels=cfg.channels))
    model.load_state_dict(state["model"])
    # ship the noise output only: the auxiliary blur outputs are not used (estimator.py)
    shipped = DegradationEstimator(replace(model.config, outputs=1))
    weights = dict(model.state_dict())
    weights["out.weight"], weights["out.bias"] = weights["out.weight"][:1], weights["out.bias"][:1]
    shipped.load_state_dict(weights)
    save_estimator(shipped, out, run_metadata(run_dir, cfg, state, "val"))
    logger.info("wrote %s (%.2f MB) from iteration %s", out, out.stat().st_size / 1e6, state["iteration"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run-dir", type=Path, default=Path("runs/estimator"))
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--val-every", type=int, default=500)
    parser.add_argument(
        "--export",
        nargs="?",
        const=DEFAULT_ESTIMATOR,
        type=Path,
        metavar="PATH",
        help=f"export last.pt as safetensors (default {DEFAULT_ESTIMATOR}) and exit",
    )
    for name, value in asdict(EstimatorTrainConfig()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.export:
        export(args.run_dir, args.export)
        return
    cfg = EstimatorTrainConfig(**{k: getattr(args, k) for k in asdict(EstimatorTrainConfig())})
    train(args.run_dir, cfg, args.save_every, args.val_every)


if __name__ == "__main__":
    main()
