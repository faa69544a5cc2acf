"""Which of the offline networks restores which pixel, and where their weight files come from.

Three networks of the same architecture (``network.ConditionalFFDNet``) ship in the package:

- ``restora-ffdnet`` (general): synthetic damage as RAP defines it, white Gaussian noise, JPEG,
  Gaussian blur; every pixel starts here.
- ``restora-ffdnet-camera`` (camera noise): the general network fine-tuned on the camera model
  (``camera.py``: demosaicked, colour- and spatially correlated, signal-dependent noise through
  real JPEG chains) and on Gaussian noise of random correlation. A network trained on both kinds
  of noise lost 0.4 dB on white noise and 1.3 dB on Gaussian blur (held-out validation) while
  gaining on camera noise, so the kinds are kept apart: an image whose noise the estimator finds
  spatially correlated (``Degradation.noise_whiteness`` near 0) goes to the camera network, white
  noise stays with the general one, and in between the outputs are blended (``camera_share``).
- ``restora-ffdnet-jpeg`` (heavy JPEG): the general network fine-tuned on quality 10–15 alone;
  routed per pixel by the conditions (``expert_weight``): weight 1 where the JPEG condition is at
  least quality 15's and the noise and blur asked for are small (σ ≤ 3, blur σ ≤ 1 px), 0 from
  quality 25 down or from noise σ 6 or blur σ 1.5 px up, linear in between. It sees the JPEG
  condition only (``expert_conditions``).

``$RESTORA_OFFLINE_WEIGHTS`` replaces the general network with one of your own; the shipped
specialists then stay off unless named by ``$RESTORA_OFFLINE_JPEG_WEIGHTS`` /
``$RESTORA_OFFLINE_CAMERA_WEIGHTS`` (a file, or ``off``): they were fine-tuned from the shipped
general network and should not override yours without your saying so.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from models.restorers.base import Degradation
from models.restorers.levels import BLUR_SCALE, NOISE_SCALE, jpeg_condition
from models.restorers.network import DEFAULT_WEIGHTS

#: Environment variable naming a network of your own (a ``scripts/train_restorer.py --export`` file).
WEIGHTS_ENV = "RESTORA_OFFLINE_WEIGHTS"
#: Environment variables naming the heavy-JPEG and the camera-noise networks (a file, or ``off``).
JPEG_EXPERT_ENV = "RESTORA_OFFLINE_JPEG_WEIGHTS"
CAMERA_ENV = "RESTORA_OFFLINE_CAMERA_WEIGHTS"
#: The specialists shipped in the package (module docstring).
DEFAULT_JPEG_EXPERT = DEFAULT_WEIGHTS.with_name("restora-ffdnet-jpeg.safetensors")
DEFAULT_CAMERA = DEFAULT_WEIGHTS.with_name("restora-ffdnet-camera.safetensors")

#: Routing (``expert_weight``): the JPEG condition ramps the expert in from quality 25 to 15 …
_EXPERT_JPEG_RAMP = (jpeg_condition(25), jpeg_condition(15))
#: … and noise or blur conditions ramp it out: σ 3 → 6 (0–255 scale), blur σ 1 → 1.5 px.
_EXPERT_NOISE_RAMP = (3.0 / NOISE_SCALE, 6.0 / NOISE_SCALE)
_EXPERT_BLUR_RAMP = (1.0 / BLUR_SCALE, 1.5 / BLUR_SCALE)
#: Below this noise level (0–255) there is too little noise to tell its kind: the general network.
_CAMERA_MIN_NOISE = 1.5


def _ramp(values: np.ndarray, start: float, end: float) -> np.ndarray:
    """0 at ``start``, 1 at ``end``, linear in between (either order)."""
    return np.clip((values - start) / (end - start), 0.0, 1.0)


def expert_weight(conditions: np.ndarray) -> np.ndarray:
    """(h, w) float32 share of the heavy-JPEG network per pixel, from (3, h, w) conditions."""
    noise, jpeg, blur = conditions
    weight = _ramp(jpeg, *_EXPERT_JPEG_RAMP)
    weight *= _ramp(noise, *_EXPERT_NOISE_RAMP[::-1])
    weight *= _ramp(blur, *_EXPERT_BLUR_RAMP[::-1])
    # Snap float32 rounding at the ramp's ends (quality 15 exactly is weight 1): one network, not two.
    return np.where(weight > 1 - 1e-4, 1.0, np.where(weight < 1e-4, 0.0, weight)).astype(np.float32)


def expert_conditions(conditions: np.ndarray) -> np.ndarray:
    """The heavy-JPEG network's input: the JPEG condition alone (module docstring)."""
    out = np.zeros_like(conditions)
    out[1] = conditions[1]
    return out


#: Correlated noise asks each network for more than the measured level (``correlated_gains``).
GENERAL_CORRELATED_GAIN = 1.6
CAMERA_CORRELATED_GAIN = 1.3


def correlated_gains(camera: float, confidence: float = 1.0) -> tuple[float, float, float]:
    """(general gain, camera gain, camera weight) for an image with camera share ``camera`` whose
    noise level was read with ``confidence`` (``Degradation.noise_confidence``).

    The gains multiply the noise condition of the general and the camera network; the weight is
    the camera network's share of the blend (``learned.NetworkRestorer._correlated``).

    - Confident reading (1): the two networks averaged, each asked for a multiple of the level.
      The general network, trained on white noise, leaves correlated grain in place at its
      cell-scale level (the issue's finding: about twice the per-pixel σ removes it), and the
      camera network was trained on a camera model whose noise is not quite a real camera's.
      The gains were chosen on ``cc15_realnoise`` by leave-one-camera-out: with each of its three
      cameras held out, the other two pick general × 1.6–2.0 and camera × 1.3–1.6 (grid
      1.0–2.0); the middle pick ships. +0.8 dB on cc15 over the camera network alone.
    - Unsure reading (0, the flat patches and the learned map disagree): the camera network alone
      at the level. The general network is not robust to an over-read level: on camera-model
      photos whose texture the estimate read as 1.6× the true noise, the average at × 1.6 lost
      up to 6.8 dB where the camera network alone lost nothing (figures in ``MODEL_CARD.md``).
    - In between, linear; white noise (share 0) keeps the general network at × 1.
    """
    c = float(np.clip(confidence, 0.0, 1.0))
    general = 1.0 + (GENERAL_CORRELATED_GAIN - 1.0) * camera * c
    return general, 1.0 + (CAMERA_CORRELATED_GAIN - 1.0) * c, camera * (1.0 - 0.5 * c)


def camera_share(degradation: Degradation, suspected: bool = False) -> float:
    """The camera-noise network's share of the image: 1 − whiteness of its noise, 0 when there
    is (almost) no noise.

    ``suspected``: a named "denoise" acts on ``Degradation.noise_suspected``, variance the PCA σ
    does not explain, so correlated by construction: share 1 when there is nothing else.
    """
    if degradation.noise_sigma < _CAMERA_MIN_NOISE:
        return 1.0 if suspected and degradation.asked_noise >= _CAMERA_MIN_NOISE else 0.0
    share = 1.0 - float(np.clip(degradation.noise_whiteness, 0.0, 1.0))
    return 0.0 if share < 1e-3 else (1.0 if share > 1 - 1e-3 else share)


#: On a JPEG, blur readings up to about this much (px) are the compression's own softness.
JPEG_SOFTNESS_PX = 0.45


def network_blur_sigma(degradation: Degradation) -> float:
    """The blur σ (px) the network is asked to remove at fidelity 1: the confident part of the
    reading (``Degradation.sharpen_sigma``), less a JPEG's own softness (``learned.py``)."""
    if degradation.jpeg_quality is None:
        return degradation.sharpen_sigma
    return math.sqrt(max(0.0, degradation.sharpen_sigma**2 - JPEG_SOFTNESS_PX**2))


def default_weights() -> Path:
    """``$RESTORA_OFFLINE_WEIGHTS`` when set (your own trained network), else the shipped weights.

    An override instead of exporting over the package's file: the shipped network stays intact
    and unsetting the variable brings it back.
    """
    override = os.environ.get(WEIGHTS_ENV, "").strip()
    if not override:
        return DEFAULT_WEIGHTS
    return _exported_file(WEIGHTS_ENV, override, "or unset it to use the network that ships with Restora")


def _exported_file(variable: str, value: str, otherwise: str) -> Path:
    """The network file ``$variable`` names, or a ValueError that says how to fix the setting."""
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(
            f"{variable} is set to '{value}', which is not a file. Point it at a network exported "
            f"by 'python scripts/train_restorer.py --run-dir RUN --export {path}', {otherwise}."
        )
    return path


def _specialist(variable: str, shipped: Path, general: Path, what: str) -> Path | None:
    override = os.environ.get(variable, "").strip()
    if override.lower() in {"off", "none", "0"}:
        return None
    if not override:
        return shipped if general.resolve() == DEFAULT_WEIGHTS.resolve() else None
    return _exported_file(
        variable, override, f"set it to 'off' to restore {what} with the general network, or unset it"
    )


def default_jpeg_expert(general: Path) -> Path | None:
    """The heavy-JPEG network to pair with the general network ``general``; None = none.

    ``$RESTORA_OFFLINE_JPEG_WEIGHTS`` names a file or says ``off``; unset, the shipped expert goes
    with the shipped network only (module docstring).
    """
    return _specialist(JPEG_EXPERT_ENV, DEFAULT_JPEG_EXPERT, general, "heavy JPEG")


def default_camera_network(general: Path) -> Path | None:
    """The camera-noise network to pair with ``general``; as ``default_jpeg_expert``, with
    ``$RESTORA_OFFLINE_CAMERA_WEIGHTS``."""
    return _specialist(CAMERA_ENV, DEFAULT_CAMERA, general, "camera noise")
