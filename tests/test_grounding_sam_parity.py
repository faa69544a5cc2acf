"""Restora's SAM path (``full.SamSegmenter`` on a converted checkpoint) against the original
``segment-anything`` package, on one tiny random SAM and a real photo.

segment-anything imports torchvision at module level (``to_pil_image``/``resize`` for its image
transform, ``batched_nms``/``box_area`` for the automatic generator). torchvision is kept out of
this project (it breaks transformers here), so a minimal stand-in with PIL is installed for the
import; the predictor path compared here uses only its two image functions.
"""

from __future__ import annotations

import sys
import types
from functools import partial

import numpy as np
import pytest
import skimage.data

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def segment_anything():
    from PIL import Image

    def to_pil_image(array):
        return Image.fromarray(np.asarray(array))

    def resize(image, size):
        return image.resize((size[1], size[0]), Image.Resampling.BILINEAR)

    def unavailable(*args, **kwargs):
        raise NotImplementedError("torchvision stand-in: not needed by the predictor")

    stand_in = {
        "torchvision": types.ModuleType("torchvision"),
        "torchvision.transforms": types.ModuleType("torchvision.transforms"),
        "torchvision.transforms.functional": types.ModuleType("torchvision.transforms.functional"),
        "torchvision.ops": types.ModuleType("torchvision.ops"),
        "torchvision.ops.boxes": types.ModuleType("torchvision.ops.boxes"),
    }
    stand_in["torchvision.transforms.functional"].to_pil_image = to_pil_image
    stand_in["torchvision.transforms.functional"].resize = resize
    stand_in["torchvision.ops.boxes"].batched_nms = unavailable
    stand_in["torchvision.ops.boxes"].box_area = unavailable
    saved = {k: sys.modules.get(k) for k in stand_in}
    sys.modules.update(stand_in)
    try:
        module = pytest.importorskip("segment_anything")
        yield module
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
        for name in [m for m in sys.modules if m.startswith("segment_anything")]:
            sys.modules.pop(name)


@pytest.fixture(scope="module")
def pair(segment_anything, tmp_path_factory):
    """(segment-anything SamPredictor, Restora SamSegmenter) sharing one tiny random SAM."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    from models.grounding.full import SamSegmenter
    from models.grounding.sam_original import convert_sam_checkpoint

    torch.manual_seed(0)
    size, width = 256, 32
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=2, embed_dim=width, img_size=size, mlp_ratio=2, num_heads=2, patch_size=16,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=[1], window_size=4, out_chans=width,
        ),
        prompt_encoder=PromptEncoder(embed_dim=width, image_embedding_size=(size // 16, size // 16),
                                     input_image_size=(size, size), mask_in_chans=4),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3, transformer_dim=width, iou_head_depth=3, iou_head_hidden_dim=32,
            transformer=TwoWayTransformer(depth=2, embedding_dim=width, mlp_dim=64, num_heads=8),
        ),
    ).eval()
    with torch.no_grad():  # random but not degenerate: the rel-pos tables start at zero
        for name, p in sam.named_parameters():
            if "rel_pos" in name:
                p.normal_(0, 0.02)
    folder = tmp_path_factory.mktemp("sam")
    torch.save(sam.state_dict(), folder / "sam_tiny.pth")
    converted = convert_sam_checkpoint(folder / "sam_tiny.pth", folder / "sam-tiny")
    return segment_anything.SamPredictor(sam), SamSegmenter.from_pretrained(converted, torch.device("cpu"))


@pytest.fixture(scope="module")
def photo():
    return np.ascontiguousarray(skimage.data.chelsea())  # (300, 451, 3) uint8 RGB


def _disagree(a: np.ndarray, b: np.ndarray) -> int:
    return int((a != b).sum())


def test_several_boxes_give_the_union_of_the_full_size_masks(pair, photo):
    predictor, ours = pair
    boxes = np.array([[20, 30, 200, 250], [180, 60, 430, 290], [300, 10, 450, 120]], np.float32)
    predictor.set_image(photo)
    with torch.no_grad():
        masks, _, _ = predictor.predict_torch(
            None, None, predictor.transform.apply_boxes_torch(torch.from_numpy(boxes), photo.shape[:2]),
            multimask_output=False,
        )
    reference = masks[:, 0].any(0).numpy()  # (H, W): the union of the per-box full-size masks
    assert 0.01 < reference.mean() < 0.99  # a real test: neither empty nor everything
    ours.set_image(photo.astype(np.float32) / 255)
    union, _ = ours.segment_boxes(boxes)
    assert union.shape == reference.shape
    assert _disagree(union, reference) <= 0.0005 * reference.size


def test_one_box_and_clicks_match_segment_anything(pair, photo):
    from models.grounding.base import Point, RegionPrompt

    predictor, ours = pair
    predictor.set_image(photo)
    ours.set_image(photo.astype(np.float32) / 255)
    box = np.array([60, 40, 380, 280], np.float32)
    ref, _, _ = predictor.predict(box=box, multimask_output=False)
    mask, _ = ours.segment_prompt(RegionPrompt(box_xyxy=tuple(float(v) for v in box)))
    assert _disagree(mask, ref[0]) <= 0.0005 * mask.size
    points = np.array([[200, 150], [400, 60]], np.float32)
    ref, _, _ = predictor.predict(point_coords=points, point_labels=np.array([1, 0]), multimask_output=False)
    mask, _ = ours.segment_prompt(RegionPrompt(points=(Point(200, 150), Point(400, 60, positive=False))))
    assert _disagree(mask, ref[0]) <= 0.0005 * mask.size
