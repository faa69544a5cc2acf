"""Explanations state what each region's fidelity asked the restorer to remove."""

from __future__ import annotations

from assistant.explain import describe_region
from assistant.pipeline import RegionReport
from models.restorers.base import Degradation


def _region(action: str, fidelity: float | None, used: float) -> RegionReport:
    return RegionReport("dog", action, fidelity, used, "saliency", 0.8, 0.25)


def test_fidelity_scales_the_stated_levels():
    d = Degradation(noise_sigma=18, blur_sigma=1.2, jpeg_quality=35, jpeg_exact=True)
    strong = describe_region(_region("restore", 0.5, 0.5), d)
    assert "fidelity 0.5" in strong and "noise σ≈27" in strong and "blur σ≈1.8 px" in strong
    assert "JPEG blocks ×1.5" in strong and "found by saliency" in strong
    auto = describe_region(_region("denoise", None, 1.0), d)
    assert "noise σ≈18" in auto and "blur" not in auto.split("—")[0]
    bokeh = describe_region(_region("bokeh", 1.0, 1.0), d)
    assert "blur σ" not in bokeh  # bokeh is never sharpened
    left = describe_region(_region("restore", 2.0, 2.0), d)
    assert left.startswith("left the dog as it was at fidelity 2") and "no damage measured" in left
    clean = Degradation(noise_sigma=0.4, blur_sigma=0.2)
    assert "no blur measured" in describe_region(_region("deblur", None, 1.0), clean)
    assert "“sharpen strongly”" in describe_region(_region("deblur", None, 1.0), clean)
    # a diffusion restorer changes a region whatever was measured: no "left as it was" claim
    assert "left" not in describe_region(_region("deblur", None, 1.0), clean, pixel=False)
    assert "removing" not in describe_region(_region("keep", None, 1.0), d)


def test_a_level_in_doubt_is_stated_as_removed():
    """``Degradation.automatic_noise``: "restore" states the reduced level, "denoise" the read one."""
    d = Degradation(noise_sigma=16, noise_whiteness=0.0, noise_floor=6)  # 16 × (6 / 8)² = 9
    assert "noise σ≈9" in describe_region(_region("restore", None, 1.0), d)
    assert "noise σ≈16" in describe_region(_region("denoise", None, 1.0), d)


def test_adaptive_choice_is_explained():
    from models.restorers.adaptive import AdaptiveFidelity

    region = _region("restore", None, 0.7)
    region.adaptive = AdaptiveFidelity(31.0, "MUSIQ", "severe", 0.7)
    text = describe_region(region, Degradation(noise_sigma=20))
    assert "automatic fidelity 0.7 (severe: quality 31/100 by MUSIQ)" in text and "noise σ≈26" in text
