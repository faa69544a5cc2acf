"""Rebuild the bundled example photos in assistant/examples/ (deterministic).

Sources are scikit-image's bundled sample images (see assistant/examples/SOURCES.md for their
licences); each is degraded with Gaussian noise and JPEG compression so the examples show what
Restora does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

OUT = Path(__file__).resolve().parents[1] / "assistant" / "examples"


def degrade(rgb: np.ndarray, sigma: float, quality: int, path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    noisy = np.clip(rgb.astype(np.float32) + rng.normal(0, sigma, rgb.shape), 0, 255)
    Image.fromarray(noisy.round().astype(np.uint8)).save(path, quality=quality)


def add_noise(rgb: np.ndarray, sigma: float, path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    noisy = np.clip(rgb.astype(np.float32) + rng.normal(0, sigma, rgb.shape), 0, 255)
    Image.fromarray(noisy.round().astype(np.uint8)).save(path)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    degrade(data.chelsea(), 20, 60, OUT / "cat_noisy.jpg", seed=1)
    degrade(data.astronaut(), 15, 40, OUT / "astronaut_noisy.jpg", seed=2)
    degrade(data.coffee(), 25, 70, OUT / "coffee_noisy.jpg", seed=3)
    add_noise(data.astronaut(), 20, OUT / "astronaut_noisy.png", seed=4)


if __name__ == "__main__":
    main()
