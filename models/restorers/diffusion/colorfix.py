"""Colour correction of a diffusion output against its low-quality input (InstructRestore §6.8).

Both fixes take ``image`` (the generated result) and ``reference`` (the LQ input) as
``(B, 3, H, W)`` float tensors in [0, 1] of the same size and return ``(B, 3, H, W)`` clamped to
[0, 1], as the authors' demo output is.

- **AdaIN** (InstructRestore's ``demo.sh``): per image and RGB channel, over all pixels,
  ``out = (x − μ_x) / σ_x · σ_ref + μ_ref`` with ``σ = sqrt(unbiased variance + 1e-5)``.
- **Wavelet** (the ``demo.py`` default): ``L`` is five successive à-trous blurs with the 3×3
  binomial kernel ``[1 2 1; 2 4 2; 1 2 1] / 16``; blur ``k = 0..4`` uses dilation ``2^k`` and
  replicate padding ``2^k``. ``out = x − L(x) + L(ref)``: the result's high frequencies on the
  input's low frequencies.
- **none**: the image unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)

COLOR_FIXES: tuple[str, ...] = ("adain", "wavelet", "none")

_EPS = 1e-5
_LEVELS = 5


def _check(image: torch.Tensor, reference: torch.Tensor) -> None:
    if image.ndim != 4 or image.shape[1] != 3 or image.shape != reference.shape:
        raise ValueError(
            f"colour fix needs image and reference of the same (B, 3, H, W) shape, got "
            f"{tuple(image.shape)} and {tuple(reference.shape)}"
        )


def adain_color_fix(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Match each channel's mean and standard deviation to the reference's (see module doc)."""
    _check(image, reference)
    x, ref = image.flatten(2), reference.flatten(2)  # (B, 3, H·W)
    x_mean, ref_mean = x.mean(-1, keepdim=True), ref.mean(-1, keepdim=True)
    x_std = (x.var(-1, keepdim=True) + _EPS).sqrt()  # unbiased variance, as torch.var's default
    ref_std = (ref.var(-1, keepdim=True) + _EPS).sqrt()
    out = (x - x_mean) / x_std * ref_std + ref_mean
    return out.view_as(image).clamp(0.0, 1.0)


def wavelet_low_frequency(image: torch.Tensor, levels: int = _LEVELS) -> torch.Tensor:
    """``L(image)``: ``levels`` successive à-trous binomial blurs with dilation 1, 2, 4, …"""
    kernel = torch.tensor(
        [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], dtype=image.dtype, device=image.device
    )
    kernel = (kernel / 16.0).expand(image.shape[1], 1, 3, 3)  # depthwise: one kernel per channel
    low = image
    for k in range(levels):
        radius = 2**k
        low = F.conv2d(
            F.pad(low, (radius,) * 4, mode="replicate"), kernel, dilation=radius, groups=image.shape[1]
        )
    return low


def wavelet_color_fix(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """The image's high frequencies on the reference's low frequencies (see module doc)."""
    _check(image, reference)
    return (image - wavelet_low_frequency(image) + wavelet_low_frequency(reference)).clamp(0.0, 1.0)


def apply_color_fix(image: torch.Tensor, reference: torch.Tensor, method: str) -> torch.Tensor:
    """Dispatch on ``method`` in COLOR_FIXES."""
    if method == "adain":
        return adain_color_fix(image, reference)
    if method == "wavelet":
        return wavelet_color_fix(image, reference)
    if method == "none":
        return image
    raise ValueError(f"unknown colour fix {method!r}; expected one of {COLOR_FIXES}")
