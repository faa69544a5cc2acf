"""Realistic degradations for training: camera noise as it reaches an sRGB file, real JPEG chains,
defocus and motion blur, resampling.

Synthetic AWGN is white, signal-independent and independent per channel; the noise in a camera's
JPEG is none of these. It starts as shot + read noise on the linear Bayer mosaic (variance
``shot·x + read``), and demosaicking, white balance, the colour matrix, the tone curve, in-camera
chroma noise reduction and sharpening, resampling and JPEG make it signal-dependent, correlated
across channels and spatially correlated (on ``cc15_realnoise`` a 2×2 average keeps 0.85 of the
per-pixel σ, where white noise keeps 0.5). ``sample_camera`` draws one such pipeline and
``CameraPipeline.apply`` runs it on a clean photo.

The recipe follows published work, re-implemented here:
- Brooks et al., "Unprocessing Images for Learned Raw Denoising" (CVPR 2019): invert the tone
  curve (smoothstep), gamma, colour matrix and white-balance gains of an sRGB photo to get a
  plausible linear mosaic; shot/read noise levels drawn log-linearly related.
- CBDNet (Guo et al., CVPR 2019): demosaicking and JPEG in the loop; noise maps as the denoiser's
  condition; an estimator trained on the same synthesis (``estimator.py``).
- Real-ESRGAN's second-order and BSRGAN's shuffled degradations: blur kernels beyond the
  Gaussian (defocus discs, motion lines), resampling, JPEG re-compression.

What the network learns to undo is the difference between two runs of the *same* pipeline on the
same photo, with and without noise (and blur): the target keeps the pipeline's colour rendering,
demosaicking and sharpening, as a real camera's averaged ground truth does.

Condition maps (``levels.py`` units): the blur condition is the kernel's Gaussian-equivalent σ
(``equivalent_sigma``), the JPEG condition the quality of the *last* compression (what a file
tells), and the noise condition a per-pixel map, ``cell_noise_sigma``: the noise's σ measured on
2×2 cell averages, times 2. For white noise that is exactly its σ (a 2×2 mean halves it), so
AWGN keeps its old condition values; for camera noise it is larger than the per-pixel σ by
the noise's spatial correlation (1.6–1.8× on ``cc15_realnoise``), and it is the σ the network
sees, which works on pixel-unshuffled 2×2 cells.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from models.restorers.synthetic import KERNEL_SIZE, gaussian_kernel, jpeg

#: sRGB (linear, D65) → CIE XYZ.
RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
    np.float32,
)
#: XYZ (D65) → camera RGB for a few sensors: Adobe DNG ColorMatrix2 values as tabulated by dcraw
#: (Canon EOS 5D Mark III, Nikon D800, Nikon D600, Sony ILCE-7). Random convex mixtures of them
#: stand for cameras in between.
XYZ_TO_CAMERA = (
    np.array([[6722, -635, -963], [-4287, 12460, 2028], [-908, 2162, 5668]], np.float32) / 10000,
    np.array([[7866, -2108, -555], [-4869, 12483, 2681], [-1176, 2069, 7501]], np.float32) / 10000,
    np.array([[8178, -2245, -609], [-4857, 12394, 2776], [-1207, 2086, 7298]], np.float32) / 10000,
    np.array([[5271, -712, -347], [-6153, 13653, 2763], [-1601, 2366, 7242]], np.float32) / 10000,
)
#: OpenCV demosaicking codes for an RGGB mosaic (red at even rows and columns); checked by tests.
DEMOSAIC = {
    "bilinear": cv2.COLOR_BayerBG2RGB,
    "edge-aware": cv2.COLOR_BayerBG2RGB_EA,
    "vng": cv2.COLOR_BayerBG2RGB_VNG,  # 8-bit only
}
_BLACK = 0.0625  # a sensor's black-level pedestal: negative noise survives until processing


# --- the colour pipeline and its inverse -------------------------------------------------------


def tone(x: np.ndarray) -> np.ndarray:
    """The global tone curve (smoothstep), [0, 1] → [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return 3.0 * x * x - 2.0 * x * x * x


def inverse_tone(y: np.ndarray) -> np.ndarray:
    y = np.clip(y, 0.0, 1.0)
    return 0.5 - np.sin(np.arcsin(1.0 - 2.0 * y) / 3.0)


def gamma(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 1e-8) ** (1 / 2.2)


def inverse_gamma(y: np.ndarray) -> np.ndarray:
    return np.maximum(y, 1e-8) ** 2.2


def rgb_to_camera(xyz_to_camera: np.ndarray) -> np.ndarray:
    """(3, 3) linear sRGB → camera RGB, rows normalised so that white stays white."""
    m = xyz_to_camera @ RGB_TO_XYZ
    return (m / m.sum(axis=1, keepdims=True)).astype(np.float32)


def mosaic(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) → (H, W) RGGB Bayer mosaic (H and W even)."""
    out = np.empty(rgb.shape[:2], rgb.dtype)
    out[0::2, 0::2] = rgb[0::2, 0::2, 0]
    out[0::2, 1::2] = rgb[0::2, 1::2, 1]
    out[1::2, 0::2] = rgb[1::2, 0::2, 1]
    out[1::2, 1::2] = rgb[1::2, 1::2, 2]
    return out


def demosaic(raw: np.ndarray, method: str) -> np.ndarray:
    """(H, W) RGGB mosaic in [0, 1] (plus the black pedestal) → (H, W, 3) float32 via OpenCV."""
    if method == "vng":
        q = np.round(np.clip(raw, 0.0, 1.0) * 255.0).astype(np.uint8)
        return cv2.demosaicing(q, DEMOSAIC[method]).astype(np.float32) / 255.0
    q = np.round(np.clip(raw, 0.0, 1.0) * 65535.0).astype(np.uint16)
    return cv2.demosaicing(q, DEMOSAIC[method]).astype(np.float32) / 65535.0


# --- blur kernels ------------------------------------------------------------------------------


def disk_kernel(radius: float, size: int = KERNEL_SIZE) -> np.ndarray:
    """A defocus disc of ``radius`` px (anti-aliased edge), normalised: (size, size) float32."""
    r = np.arange(size, dtype=np.float32) - (size - 1) / 2
    dist = np.hypot(r[:, None], r[None, :])
    k = np.clip(radius + 0.5 - dist, 0.0, 1.0)
    return (k / k.sum()).astype(np.float32)


def motion_kernel(length: float, angle: float, size: int = KERNEL_SIZE) -> np.ndarray:
    """A straight motion streak of ``length`` px at ``angle`` radians, normalised, 1 px wide."""
    k = np.zeros((size, size), np.float32)
    c = (size - 1) / 2
    for t in np.linspace(-length / 2, length / 2, max(2, int(4 * length))):
        x, y = c + t * np.cos(angle), c + t * np.sin(angle)
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        for dy, dx, w in (
            (0, 0, (1 - fx) * (1 - fy)),
            (0, 1, fx * (1 - fy)),
            (1, 0, (1 - fx) * fy),
            (1, 1, fx * fy),
        ):
            if 0 <= y0 + dy < size and 0 <= x0 + dx < size:
                k[y0 + dy, x0 + dx] += w
    return k / k.sum()


def equivalent_sigma(kernel: np.ndarray) -> float:
    """The Gaussian σ (px) with the same second moment, averaged over both axes."""
    r = np.arange(kernel.shape[0], dtype=np.float64) - (kernel.shape[0] - 1) / 2
    k = kernel / kernel.sum()
    my, mx = (k.sum(axis=1) * r).sum(), (k.sum(axis=0) * r).sum()
    vy, vx = (k.sum(axis=1) * (r - my) ** 2).sum(), (k.sum(axis=0) * (r - mx) ** 2).sum()
    return float(np.sqrt((vx + vy) / 2))


# --- the noise condition -----------------------------------------------------------------------


def cell_noise_sigma(noise: np.ndarray, window: float = 6.0) -> np.ndarray:
    """The per-pixel noise condition of ``noise`` = noisy − clean, (H, W, 3) on the 0–1 scale.

    2 × the local RMS of its 2×2-cell means (averaged over channels, Gaussian window of
    ``window`` px), on the 0–255 scale: (H, W) float32. White noise of σ reads σ.
    """
    h, w = noise.shape[:2]
    cells = noise[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    power = cv2.GaussianBlur(np.square(cells * 255.0).mean(axis=2), (0, 0), window / 2)
    power = cv2.resize(power, (w // 2 * 2, h // 2 * 2), interpolation=cv2.INTER_LINEAR)
    if power.shape != (h, w):
        power = cv2.copyMakeBorder(power, 0, h - power.shape[0], 0, w - power.shape[1], cv2.BORDER_REPLICATE)
    return (2.0 * np.sqrt(np.maximum(power, 0.0))).astype(np.float32)


# --- one camera ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraPipeline:
    """One draw of the camera model; ``apply`` runs it. Levels are on the linear 0–1 raw scale.

    shot, read: noise variance ``shot·x + read`` on the mosaic (x = linear raw signal).
    kernel: blur of the scene (None = sharp), applied in linear light before the sensor.
    scale: resampling after processing (< 1 downscale, > 1 upscale; 1 = none).
    jpeg_qualities: successive compressions (camera, then re-saves); empty = a lossless file.
    """

    xyz_to_camera: np.ndarray
    red_gain: float = 2.1
    blue_gain: float = 1.7
    exposure: float = 1.0  # digital gain applied with the white balance
    shot: float = 0.0
    read: float = 0.0
    demosaic: str = "bilinear"
    chroma_nr: float = 0.0  # σ (px) of the in-camera chroma blur
    luma_nr: float = 0.0  # share of a 1 px Gaussian blend on luma (in-camera luma smoothing)
    sharpen: float = 0.0  # unsharp-mask amount on luma (radius 1 px)
    optics: float = 0.0  # σ (px) of the lens and anti-aliasing filter's blur, part of the scene
    kernel: np.ndarray | None = None
    scale: float = 1.0
    jpeg_qualities: tuple[int, ...] = ()

    @property
    def blur_sigma(self) -> float:
        """The blur's Gaussian-equivalent σ in output pixels (resampling scales it)."""
        return 0.0 if self.kernel is None else equivalent_sigma(self.kernel) * self.scale

    @property
    def jpeg_quality(self) -> int | None:
        return self.jpeg_qualities[-1] if self.jpeg_qualities else None

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(degraded, target, noise condition) for a clean (H, W, 3) float32 sRGB photo in [0, 1].

        H and W must be even. degraded: what the camera wrote (8-bit values); target: the same
        pipeline without noise and blur, before JPEG; noise condition: ``cell_noise_sigma`` of
        the noise as it was before the JPEG stage, (H, W) on the 0–255 scale.
        """
        if image.shape[0] % 2 or image.shape[1] % 2:
            raise ValueError(f"height and width must be even, got {image.shape[:2]}")
        to_cam = rgb_to_camera(self.xyz_to_camera)
        gains = np.array([self.red_gain, 1.0, self.blue_gain], np.float32) * self.exposure
        # 1. unprocess: sRGB → linear camera RGB as the sensor saw it (before white balance)
        linear = inverse_gamma(inverse_tone(image.astype(np.float32)))
        camera = np.clip(linear @ to_cam.T / gains, 0.0, 1.0).astype(np.float32)
        if self.optics > 0:  # in the target too: what a sharp photo from this camera looks like
            camera = cv2.GaussianBlur(camera, (0, 0), self.optics, borderType=cv2.BORDER_REFLECT)
        scene = camera
        if self.kernel is not None:
            scene = cv2.filter2D(camera, -1, self.kernel, borderType=cv2.BORDER_REFLECT)
        outputs = []
        for signal, noisy in ((camera, False), (scene, True)):
            raw = mosaic(signal)
            if noisy and (self.shot > 0 or self.read > 0):
                std = np.sqrt(self.shot * np.maximum(raw, 0.0) + self.read).astype(np.float32)
                raw = raw + std * rng.standard_normal(raw.shape, dtype=np.float32)
            # 2. process as a camera does: demosaic, white balance, colour matrix, gamma, tone
            rgb = demosaic(np.clip(raw + _BLACK, 0.0, 1.0), self.demosaic) - _BLACK
            rgb = np.clip(rgb * gains, 0.0, 1.0) @ np.linalg.inv(to_cam).T.astype(np.float32)
            outputs.append(self._finish(tone(gamma(np.clip(rgb, 0.0, 1.0)))))
        target, degraded = outputs
        condition = cell_noise_sigma(degraded - target) if (self.shot > 0 or self.read > 0) else None
        for quality in self.jpeg_qualities:
            degraded = jpeg(degraded, quality)
        degraded = np.round(np.clip(degraded, 0.0, 1.0) * 255.0) / 255.0
        if condition is None:
            condition = np.zeros(degraded.shape[:2], np.float32)
        return degraded.astype(np.float32), target.astype(np.float32), condition

    def _finish(self, rgb: np.ndarray) -> np.ndarray:
        """In-camera noise reduction (chroma, luma) and sharpening, then resampling."""
        if self.chroma_nr > 0 or self.sharpen > 0 or self.luma_nr > 0:
            ycc = cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2YCrCb)
            if self.chroma_nr > 0:
                ycc[..., 1:] = cv2.GaussianBlur(ycc[..., 1:], (0, 0), self.chroma_nr)
            if self.luma_nr > 0:
                y = ycc[..., 0]
                ycc[..., 0] = y + self.luma_nr * (cv2.GaussianBlur(y, (0, 0), 1.0) - y)
            if self.sharpen > 0:
                y = ycc[..., 0]
                ycc[..., 0] = y + self.sharpen * (y - cv2.GaussianBlur(y, (0, 0), 1.0))
            rgb = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
        if self.scale != 1.0:
            interpolation = cv2.INTER_AREA if self.scale < 1 else cv2.INTER_CUBIC
            rgb = cv2.resize(rgb, None, fx=self.scale, fy=self.scale, interpolation=interpolation)
        return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def degrade_crop(
    image: np.ndarray, camera: CameraPipeline, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run ``camera`` on a random crop of ``image`` (uint8 or float RGB) and return the central
    ``size``×``size`` window of (degraded, target, noise condition), all float32.

    The crop is cut ``1 / camera.scale`` times larger (so resampling ends at ``size``) plus a
    margin for the blur kernel, and then the window's edge pixels have real context.
    """
    margin = KERNEL_SIZE
    side = int(np.ceil((size + 2 * margin) / camera.scale / 2)) * 2
    h, w = image.shape[:2]
    if h < side or w < side:
        raise ValueError(f"the photo ({w}×{h}) is smaller than the {side} px crop this camera needs")
    y, x = rng.integers(h - side + 1), rng.integers(w - side + 1)
    crop = image[y : y + side, x : x + side]
    crop = crop.astype(np.float32) / 255.0 if crop.dtype == np.uint8 else crop.astype(np.float32)
    degraded, target, condition = camera.apply(np.ascontiguousarray(crop), rng)
    oy, ox = (degraded.shape[0] - size) // 2, (degraded.shape[1] - size) // 2
    window = (slice(oy, oy + size), slice(ox, ox + size))
    return degraded[window], target[window], condition[window]


def sample_camera(rng: np.random.Generator, noise: bool = True, optics: bool = False) -> CameraPipeline:
    """A random camera: sensor, white balance, noise level, processing, blur, resampling, JPEG.

    ``optics``: the lens and anti-aliasing filter, a Gaussian of σ 0.5–1.0 px before the sensor,
    in the target too. Photos here are downscaled web images, sharp to the pixel; mosaicking them
    and demosaicking the mosaic leaves errors of 25–34 dB (CBSD68: bilinear 25–32, VNG 29–38),
    where a real sensor behind its optics sees band-limited light and its demosaicking errs far
    less (the same photos after σ 0.7 px: 33–40 dB). A network trained on the sharp version learns
    to keep demosaicking's zipper and false-colour patterns, which real photos lack. Drawn last, so
    every other draw is as without it (the benchmarks' camera sets stay the same).

    Noise (when ``noise``): shot variance log-uniform in [1e-5, 2e-2] of the linear range (from a
    clean base ISO to ISO 6400-class sensors on ordinary exposures), read variance log-linear in
    it as Brooks et al. fitted (log read = 2.18 log shot + 1.2 ± 0.26). This gives per-pixel sRGB
    σ ≈ 0.3–20 (0–255) in mid-tones, covering ``cc15_realnoise`` (3.6–8.3).
    """
    weights = rng.dirichlet(np.ones(len(XYZ_TO_CAMERA)))
    xyz_to_camera = np.tensordot(weights, np.stack(XYZ_TO_CAMERA), axes=1).astype(np.float32)
    shot = read = 0.0
    if noise:
        log_shot = rng.uniform(np.log(1e-5), np.log(2e-2))
        shot = float(np.exp(log_shot))
        read = float(np.exp(2.18 * log_shot + 1.2 + rng.normal(0.0, 0.26)))
    kernel = None
    if rng.random() < 0.25:
        kind = rng.integers(3)
        if kind == 0:
            kernel = gaussian_kernel(float(rng.uniform(0.4, 2.5)))
        elif kind == 1:
            kernel = disk_kernel(float(rng.uniform(1.0, 4.0)))
        else:
            kernel = motion_kernel(float(rng.uniform(3.0, 12.0)), float(rng.uniform(0, np.pi)))
    qualities: tuple[int, ...] = ()
    if rng.random() < 0.6:
        qualities = (int(rng.integers(70, 99)),)
        if rng.random() < 0.3:  # re-saved by an editor or a social network
            qualities += (int(rng.integers(30, 96)),)
    pipeline = CameraPipeline(
        xyz_to_camera=xyz_to_camera,
        red_gain=float(rng.uniform(1.9, 2.4)),
        blue_gain=float(rng.uniform(1.5, 1.9)),
        exposure=float(1.0 / np.clip(rng.normal(0.8, 0.1), 0.5, 1.1)),
        shot=shot,
        read=read,
        demosaic=str(rng.choice(["bilinear", "edge-aware", "vng"], p=[0.4, 0.4, 0.2])),
        chroma_nr=float(rng.uniform(0.5, 3.0)) if rng.random() < 0.7 else 0.0,
        luma_nr=float(rng.uniform(0.3, 0.8)) if rng.random() < 0.3 else 0.0,
        sharpen=float(rng.uniform(0.2, 1.0)) if rng.random() < 0.4 else 0.0,
        kernel=kernel,
        scale=_sample_scale(rng),
        jpeg_qualities=qualities,
    )
    if optics:
        pipeline = replace(pipeline, optics=float(rng.uniform(0.5, 1.0)))
    return pipeline


def _sample_scale(rng: np.random.Generator) -> float:
    """Resampling: 20 % downscaled (0.5–1×: shared photos), 8 % upscaled (1–1.5×), else none."""
    u = rng.random()
    if u < 0.2:
        return float(rng.uniform(0.5, 1.0))
    if u < 0.28:
        return float(rng.uniform(1.0, 1.5))
    return 1.0
