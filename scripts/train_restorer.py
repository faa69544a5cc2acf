"""Train the offline restorer (``ConditionalFFDNet``) on CBSD432 and export the shipped weights.

    python scripts/train_restorer.py --run-dir runs/restorer            # train (resumes if possible)
    python scripts/train_restorer.py --run-dir runs/restorer --export   # write the package weights
    python scripts/train_restorer.py --run-dir runs/restorer --extend-to 20000  # train on
    python scripts/train_restorer.py --run-dir runs/more --init-from WEIGHTS  # in a fresh checkout

Run directories are not committed (``runs/`` is ignored); to continue in a fresh checkout, start a
new run from the shipped weights (``models/restorers/weights/restora-ffdnet.safetensors``) with
``--init-from`` (Adam's moments restart; they rebuild in a few hundred iterations).

Reproducible: every random choice of iteration ``i`` comes from ``numpy.random.default_rng([seed,
i])``, so a resumed run draws the same patches and degradations as an uninterrupted one. The run
directory holds ``config.json``, ``last.pt`` (model + optimizer + iteration + elapsed time, saved
every ``--save-every`` iterations and on Ctrl-C) and ``log.jsonl`` (loss, learning rate, validation
PSNR, seconds, hardware). Validation uses the last 8 CBSD432 images (held out of training); CBSD68
is the test set and is never read here.

Recipe (see ``models/restorers/weights/MODEL_CARD.md`` for the measured result): 96×96 patches,
flips and 90° rotations, RAP's degradation ranges with mixtures (``synthetic.sample_degradation``),
half of the non-JPEG inputs quantized to 8 bits, MSE loss (L1 stalled at the identity), Adam,
linear warm-up then cosine decay, bf16 autocast (2× faster on AVX-512 CPUs; the shipped weights are fp32).
The heavy-JPEG expert (``restora-ffdnet-jpeg.safetensors``) is the same script with
``--focus-jpeg 1.0 --focus-quality-max 15`` from the shipped general weights, in two stages (model card).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.restorers.camera import cell_noise_sigma, degrade_crop, sample_camera  # noqa: E402
from models.restorers.levels import BLUR_SCALE, NOISE_SCALE, jpeg_condition  # noqa: E402
from models.restorers.network import (  # noqa: E402
    DEFAULT_WEIGHTS,
    ConditionalFFDNet,
    NetworkConfig,
    grow_from,
    save_network,
)
from models.restorers.synthetic import SyntheticDegradation, quantize, sample_degradation  # noqa: E402

logger = logging.getLogger("train_restorer")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
VALIDATION_IMAGES = 8
VALIDATION_CASES = {  # name → degradation, evaluated on 256² centre crops of the held-out images
    "sigma15": SyntheticDegradation(noise_sigma=15),
    "sigma25": SyntheticDegradation(noise_sigma=25),
    "jpeg10": SyntheticDegradation(jpeg_quality=10),
    "jpeg20": SyntheticDegradation(jpeg_quality=20),
    "blur2": SyntheticDegradation(blur_sigma=2, noise_sigma=2),
}


@dataclass
class TrainConfig:
    seed: int = 0
    iterations: int = 6800
    batch: int = 32
    patch: int = 96
    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup: int = 200
    channels: int = 96
    layers: int = 12
    data: str = "cbsd432"
    init_from: str = ""  # start from these ConditionalFFDNet weights (e.g. the shipped ones)
    focus_jpeg: float = 0.0  # share of samples that are pure heavy JPEG (quality 10–focus_quality_max)
    focus_quality_max: int = 40
    grid: bool = False  # JPEG grid position channels (network.py); patches get a random grid phase
    camera: float = 0.0  # share of samples from the camera model (camera.py): real-photo noise, JPEG, blur
    camera_clean: float = 0.15  # share of those with no noise (the camera's rendering alone)
    correlated: float = 0.0  # share of samples with Gaussian noise of random correlation
    correlation_max: float = 1.5  # the widest filter (σ px) that correlates that noise
    optics: bool = False  # camera samples behind a lens blur (camera.sample_camera): realistic demosaicking


def network_config(cfg: TrainConfig) -> NetworkConfig:
    return NetworkConfig(channels=cfg.channels, layers=cfg.layers, grid=cfg.grid)


def load_images(folder: Path) -> list[np.ndarray]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".png"})
    if not files:
        raise SystemExit(f"no training images in {folder}; expected ../shared/data/cbsd432 beside the repo")
    return [cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for p in files]


def conditions_of(d: SyntheticDegradation) -> np.ndarray:
    return np.array(
        [d.noise_sigma / NOISE_SCALE, jpeg_condition(d.jpeg_quality), d.blur_sigma / BLUR_SCALE], np.float32
    )


def make_batch(images: list[np.ndarray], cfg: TrainConfig, it: int) -> tuple[torch.Tensor, ...]:
    """(degraded, conditions, clean, origins) tensors for iteration ``it``; deterministic in (seed, it).

    ``origins`` (N, 2): each patch's top-left pixel relative to its JPEG block grid. Degradations
    are applied to a larger crop; grid runs cut the patch from it at a random offset of 0–15 px,
    so every block phase (8 px luma, 16 px 4:2:0 chroma) is seen.
    """
    rng = np.random.default_rng([cfg.seed, it])
    margin = 8  # blur needs real pixels around the patch, not reflected ones
    slack = 16 if cfg.grid else 0
    size = cfg.patch + 2 * margin + slack
    degraded, conds, clean, origins = [], [], [], []
    for _ in range(cfg.batch):
        img = images[rng.integers(len(images))]
        u = rng.random() if cfg.camera > 0 or cfg.correlated > 0 else 1.0  # no draw at 0: old runs replay
        if u < cfg.camera + cfg.correlated:
            if u < cfg.camera:
                bad, good, cond = camera_sample(img, cfg, rng)
            else:
                bad, good, cond = gaussian_noise_sample(img, cfg.patch, rng, False, cfg.correlation_max)
            degraded.append(bad)
            clean.append(good)
            conds.append(cond)
            origins.append(np.array([margin, margin], np.int64))
            continue
        y, x = rng.integers(img.shape[0] - size + 1), rng.integers(img.shape[1] - size + 1)
        crop = img[y : y + size, x : x + size].astype(np.float32) / 255.0
        crop = np.rot90(crop, rng.integers(4))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = np.ascontiguousarray(crop)
        if cfg.focus_jpeg > 0 and rng.random() < cfg.focus_jpeg:  # no draw at 0: old runs replay
            d = SyntheticDegradation(jpeg_quality=int(rng.integers(10, cfg.focus_quality_max + 1)))
        else:
            d = sample_degradation(rng)
        oy, ox = (margin + rng.integers(slack, size=2)) if slack else (margin, margin)
        window = (slice(oy, oy + cfg.patch), slice(ox, ox + cfg.patch))
        bad = d.apply(crop, rng)[window]
        if d.jpeg_quality is None and rng.random() < 0.5:
            bad = quantize(bad)
        degraded.append(bad.transpose(2, 0, 1))
        clean.append(crop[window].transpose(2, 0, 1))
        conds.append(np.broadcast_to(conditions_of(d)[:, None, None], (3, cfg.patch, cfg.patch)))
        origins.append(np.array([oy, ox], np.int64))
    as_tensor = lambda xs: torch.from_numpy(np.ascontiguousarray(np.stack(xs)))  # noqa: E731
    return as_tensor(degraded), as_tensor(conds), as_tensor(clean), as_tensor(origins)


def camera_sample(img: np.ndarray, cfg: TrainConfig, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(degraded, target, conditions) as (3, P, P) float32 from one draw of the camera model.

    The noise condition is the per-pixel map ``camera.cell_noise_sigma``; JPEG is the last
    compression's quality; blur the kernel's Gaussian-equivalent σ. The grid origin is unknown
    after resampling, so camera samples are for networks without grid channels.
    """
    camera = sample_camera(rng, noise=rng.random() >= cfg.camera_clean, optics=cfg.optics)
    bad, good, noise = degrade_crop(img, camera, cfg.patch, rng)
    k, flip = int(rng.integers(4)), rng.random() < 0.5
    out = []
    for a in (bad, good, noise):
        a = np.rot90(a, k)
        out.append(np.ascontiguousarray(a[:, ::-1] if flip else a))
    bad, good, noise = out
    cond = np.empty((3, cfg.patch, cfg.patch), np.float32)
    cond[0] = noise / NOISE_SCALE
    cond[1] = jpeg_condition(camera.jpeg_quality)
    cond[2] = camera.blur_sigma / BLUR_SCALE
    return bad.transpose(2, 0, 1), good.transpose(2, 0, 1), cond


def gaussian_noise_sample(
    img: np.ndarray, patch: int, rng: np.random.Generator, white: bool, correlation_max: float = 1.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(noisy, clean, conditions) as (3, P, P): Gaussian noise on a clean crop, white or spatially and
    colour correlated (filtered by a Gaussian of σ 0.3–``correlation_max`` px, a random share common to all
    channels), scaled to a cell-scale level log-uniform in [0.5, 50] (white: its σ). Teaches the
    estimator and the restorer the condition — the noise's σ on 2×2 cells — whatever its
    correlation, beyond the camera model's range (real cameras' in-camera noise reduction
    leaves coarser grain than it draws).
    """
    size = patch + 16
    y, x = rng.integers(img.shape[0] - size + 1), rng.integers(img.shape[1] - size + 1)
    crop = img[y : y + size, x : x + size].astype(np.float32) / 255.0
    noise = rng.standard_normal((size, size, 3), dtype=np.float32)
    if not white:
        shared = float(rng.uniform(0.0, 0.9))
        common = rng.standard_normal((size, size, 1), dtype=np.float32)
        noise = noise * np.sqrt(1 - shared) + common * np.sqrt(shared)
        noise = cv2.GaussianBlur(noise, (0, 0), float(rng.uniform(0.3, correlation_max)))
    level = float(np.exp(rng.uniform(np.log(0.5), np.log(50.0))))
    noise *= level / 255.0 / max(float(np.median(cell_noise_sigma(noise))) / 255.0, 1e-8)
    window = (slice(8, 8 + patch), slice(8, 8 + patch))
    noisy = crop[window] + noise[window]
    if rng.random() < 0.5:
        noisy = quantize(noisy)
    cond = np.zeros((3, patch, patch), np.float32)
    cond[0] = cell_noise_sigma(noise[window]) / NOISE_SCALE
    return noisy.transpose(2, 0, 1).astype(np.float32), crop[window].transpose(2, 0, 1), cond


def learning_rate(cfg: TrainConfig, it: int) -> float:
    if it < cfg.warmup:
        return cfg.lr * (it + 1) / cfg.warmup
    t = (it - cfg.warmup) / max(1, cfg.iterations - cfg.warmup)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(t, 1.0)))


@torch.inference_mode()
def validate(model: ConditionalFFDNet, images: list[np.ndarray], device: torch.device) -> dict[str, float]:
    """PSNR (dB) per validation case on 256² centre crops of the held-out images."""
    model.eval()
    scores = {}
    for name, d in VALIDATION_CASES.items():
        psnrs = []
        for i, img in enumerate(images):
            h, w = img.shape[:2]
            clean = (
                img[(h - 256) // 2 : (h + 256) // 2, (w - 256) // 2 : (w + 256) // 2].astype(np.float32) / 255
            )
            bad = d.apply(clean, np.random.default_rng([1234, i]))
            cond = np.broadcast_to(conditions_of(d)[:, None, None], (3, 256, 256))
            x = torch.from_numpy(bad.transpose(2, 0, 1).copy())[None].to(device)
            c = torch.from_numpy(np.ascontiguousarray(cond))[None].to(device)
            out = model(x, c)[0].clamp(0, 1).cpu().numpy().transpose(1, 2, 0)
            psnrs.append(10 * np.log10(1.0 / np.mean((out - clean) ** 2)))
        scores[name] = round(float(np.mean(psnrs)), 3)
    scores["camera"] = _validate_camera(model, images, device)
    scores["camera_optics"] = _validate_camera(model, images, device, optics=True)
    model.train()
    return scores


def _validate_camera(
    model: ConditionalFFDNet, images: list[np.ndarray], device: torch.device, optics: bool = False
) -> float:
    """PSNR (dB) on 128² crops of the held-out images through fixed noisy draws of the camera model
    (``optics``: behind a lens blur), with the true condition maps."""
    psnrs = []
    cfg = TrainConfig(patch=128, camera_clean=0.0, optics=optics)
    for i, img in enumerate(images):
        for j in range(2):
            bad, good, cond = camera_sample(img, cfg, np.random.default_rng([4321, i, j]))
            x = torch.from_numpy(np.ascontiguousarray(bad))[None].to(device)
            c = torch.from_numpy(cond)[None].to(device)
            out = model(x, c)[0].clamp(0, 1).cpu().numpy()
            psnrs.append(10 * np.log10(1.0 / np.mean((out - good) ** 2)))
    return round(float(np.mean(psnrs)), 3)


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        name = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            name,
        )
    return f"{name} CPU, {torch.get_num_threads()} threads"


def train(
    run_dir: Path,
    cfg: TrainConfig,
    device: torch.device,
    save_every: int,
    val_every: int,
    extend_to: int | None = None,
) -> None:
    """Train (or resume) the run in ``run_dir``; ``extend_to`` raises a finished or running run's
    total iterations (the cosine schedule is recomputed over the new total: a warm restart)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.json"
    if config_path.exists():
        saved = TrainConfig(**json.loads(config_path.read_text()))
        if saved != cfg:
            logger.warning("run dir has config %s; using it (the command line's differs)", asdict(saved))
        cfg = saved
        if extend_to is not None:
            if extend_to <= cfg.iterations:
                raise SystemExit(f"--extend-to {extend_to} must exceed the run's {cfg.iterations} iterations")
            cfg = TrainConfig(**{**asdict(cfg), "iterations": extend_to})
            config_path.write_text(json.dumps(asdict(cfg), indent=2))
    else:
        config_path.write_text(json.dumps(asdict(cfg), indent=2))
    images = load_images(SHARED / cfg.data)
    train_images, val_images = images[:-VALIDATION_IMAGES], images[-VALIDATION_IMAGES:]

    torch.manual_seed(cfg.seed)
    model = ConditionalFFDNet(network_config(cfg)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start, elapsed = 0, 0.0
    ckpt = run_dir / "last.pt"
    if cfg.init_from and not ckpt.exists():
        from models.restorers.network import load_network

        source, meta = load_network(cfg.init_from)
        grow_from(model, source)  # the same architecture, or grid channels / blocks added
        logger.info("initialised from %s (%s iterations)", cfg.init_from, meta.get("iterations", "?"))
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, elapsed = int(state["iteration"]), float(state["elapsed"])
        logger.info("resumed at iteration %d (%.0f s trained so far)", start, elapsed)

    def save(it: int) -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "iteration": it,
                "elapsed": elapsed,
            },
            tmp,
        )
        os.replace(tmp, ckpt)

    def stop(signum, frame):  # save and stop on Ctrl-C and on kill (background jobs ignore SIGINT)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    log = (run_dir / "log.jsonl").open("a")
    model.train()
    it = start
    try:
        while it < cfg.iterations:
            t0 = time.perf_counter()
            lr = learning_rate(cfg, it)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, c, y, origin = (t.to(device) for t in make_batch(train_images, cfg, it))
            with torch.autocast(device.type, dtype=torch.bfloat16):
                out = model(x, c, origin)
            loss = torch.nn.functional.mse_loss(out.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            it += 1
            elapsed += time.perf_counter() - t0
            record = {
                "iteration": it,
                "loss": round(loss.item(), 5),
                "lr": lr,
                "elapsed_s": round(elapsed, 1),
            }
            if it % val_every == 0 or it == cfg.iterations:
                record["val_psnr"] = validate(model, val_images, device)
                record["hardware"] = hardware(device)
                logger.info("%s", record)
            if it % 50 == 0 or "val_psnr" in record:
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
    log.close()


def export(run_dir: Path, out: Path) -> None:
    cfg = TrainConfig(**json.loads((run_dir / "config.json").read_text()))
    state = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)
    model = ConditionalFFDNet(network_config(cfg))
    model.load_state_dict(state["model"])
    save_network(model, out, run_metadata(run_dir, cfg, state, "val_psnr"))
    logger.info("wrote %s (%.2f MB) from iteration %s", out, out.stat().st_size / 1e6, state["iteration"])


def run_metadata(run_dir: Path, cfg, state: dict, val_key: str) -> dict[str, str]:
    """The provenance an exported network carries: its training config, iterations, time,
    hardware, last validation (``log.jsonl``'s latest ``val_key`` record) and torch version."""
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    last_val = next((r for r in reversed(records) if val_key in r), {})
    return {
        "train_config": json.dumps(asdict(cfg)),
        "iterations": str(state["iteration"]),
        "train_seconds": f"{state['elapsed']:.0f}",
        "hardware": str(last_val.get("hardware", "unknown")),
        ("validation" if val_key == "val" else "validation_psnr"): json.dumps(last_val.get(val_key, {})),
        "torch": torch.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run-dir", type=Path, default=Path("runs/restorer"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--val-every", type=int, default=500)
    parser.add_argument(
        "--extend-to",
        type=int,
        default=None,
        metavar="N",
        help="continue a run past its planned iterations, to N in total (next session)",
    )
    parser.add_argument(
        "--export",
        nargs="?",
        const=DEFAULT_WEIGHTS,
        type=Path,
        metavar="PATH",
        help=f"export last.pt as safetensors (default {DEFAULT_WEIGHTS}) and exit",
    )
    for name, value in asdict(TrainConfig()).items():
        flag = f"--{name.replace('_', '-')}"
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        else:
            parser.add_argument(flag, type=type(value), default=value)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.export:
        export(args.run_dir, args.export)
        return
    cfg = TrainConfig(**{k: getattr(args, k) for k in asdict(TrainConfig())})
    train(args.run_dir, cfg, torch.device(args.device), args.save_every, args.val_every, args.extend_to)


if __name__ == "__main__":
    main()
