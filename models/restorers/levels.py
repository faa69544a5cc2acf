"""Degradation levels as the offline network's condition values (import-light: no torch).

Each condition is ≥ 0 with 0 = "nothing to remove" and 1 = the top of the training range:

- noise: σ / ``NOISE_SCALE`` (σ on the 0–255 scale);
- jpeg: ``jpeg_condition(quality)`` = (100 − quality) / 90, 0 without compression;
- blur: Gaussian blur σ / ``BLUR_SCALE`` (px).
"""

from __future__ import annotations

#: The value of each level that maps to condition 1.0.
NOISE_SCALE = 50.0
BLUR_SCALE = 3.0


def jpeg_condition(quality: float | None) -> float:
    """The ``jpeg`` condition value for a JPEG quality (None = not compressed → 0)."""
    if quality is None:
        return 0.0
    return min(max((100.0 - float(quality)) / 90.0, 0.0), 1.0)


#: What an explicit request ("denoise strongly") acts on when the estimate found (almost) nothing:
#: at fidelity 0 (strength 2) these levels; at fidelity 0.5 half of them; at fidelity ≥ 1 nothing
#: beyond the measured level. Noise σ 10 is a visible smoothing of grain; blur 1 px a visible
#: sharpening; the JPEG floor is quality 70's condition (deblocking a file whose grid was lost).
ASKED_FLOORS = {"noise": 10.0, "blur": 1.0, "jpeg": (100.0 - 70.0) / 90.0}
#: The most of a suspected noise level (``Degradation.asked_noise``) an explicit request acts on.
SUSPECTED_NOISE_CAP = 10.0


def asked_level(measured, strength, explicit, floor: float):
    """The level to remove: ``measured × strength``, and where the user named the operation
    (``explicit`` > 0) at least ``floor × (strength − 1)``, so asking for more than measured
    always does something visible while fidelity ≥ 1 never exceeds the measurement.

    measured: scalar or (h, w) array; strength = 2 − fidelity and explicit: (h, w) arrays.
    """
    import numpy as np

    level = measured * strength
    boost = floor * np.clip(strength - 1.0, 0.0, None) * explicit
    return np.maximum(level, boost)


#: Levels below these are invisible (noise σ on 0–255, blur σ in px): where every level asked for is
#: below them and no JPEG deblocking is asked for, the offline restorer returns the input pixels
#: exactly, and the reply says there was nothing to remove.
NEGLIGIBLE = {"noise": 1.0, "blur": 0.35}

#: A noise level is in doubt (``Degradation.texture_doubt``; automatic edits then remove less:
#: ``Degradation.automatic_noise``) where the smoothest tone band reads less than this share of it
#: (``estimator.flat_readings``): real noise shows in every band. On
#: ``cc15_realnoise`` (three cameras) the share is 0.64–0.92, on noisy COCO photos 0.74–0.89; on the
#: camera model (212 CBSD432 training crops, level ≥ 4) 5 % read below 0.51 (its highlights are
#: quieter than real cameras'); on 32 held-out COCO photos read at σ ≥ 4, the 7 below 0.5 are a
#: desert from the air, a teddy bear's fur, three plates of food, a curtain, a kitchen
#: (``benchmarks/texture_doubt.py``).
TEXTURE_DOUBT = 0.5
