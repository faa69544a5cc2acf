"""The full grounding backends end to end with tiny random-weight models built from configs.

GroundingDINO, SAM and SAM 3 are built from small configs with an offline tokenizer, saved with
``save_pretrained`` into a folder laid out like Restora's weights directory, and loaded back through
``models.weights`` — the same path real downloads take. Random weights find random boxes, so the
thresholds are 0 where a detection is needed; the assertions are about the code paths: box
selection, union, resizing to the image, embedding reuse and error messages.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from models.grounding.base import Grounding, GroundingError, Point, RegionPrompt
from models.grounding.boxes import (
    TargetQuery,
    box_iou,
    cxcywh_to_xyxy,
    denormalize,
    longest_side_shape,
    parse_target,
    rescale_xy,
    select_boxes,
    union_box,
    xyxy_to_cxcywh,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = "[PAD] [UNK] [CLS] [SEP] [MASK] . ? a the person persons people dog cat face sky zebra".split()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Never look at the real weights folders or Hub cache."""
    monkeypatch.setenv("RESTORA_WEIGHTS_DIR", str(tmp_path / "restora-weights"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in ("RESTORA_DETECTOR", "RESTORA_SEGMENTER"):
        monkeypatch.delenv(var, raising=False)


def build_grounding_dino(folder, hub_layout: bool = False):
    """A tiny random-weight GroundingDINO saved in ``folder``. ``hub_layout``: as the Hub repository
    stores it (preprocessor_config.json and the tokenizer's files, no processor_config.json)."""
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoProcessor,
        SwinConfig,
    )
    from transformers.models.grounding_dino.image_processing_pil_grounding_dino import (
        GroundingDinoImageProcessorPil,
    )

    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"))
    torch.manual_seed(0)
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(image_size=224, embed_dim=16, depths=[1, 1, 1, 1],
                                   num_heads=[1, 1, 2, 2], window_size=7,
                                   out_features=["stage2", "stage3", "stage4"]),
        text_config=BertConfig(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=64, max_position_embeddings=256),
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        encoder_attention_heads=2, decoder_attention_heads=2, num_queries=20, num_feature_levels=4,
        max_text_len=32,
    )
    GroundingDinoForObjectDetection(config).save_pretrained(folder)
    image_processor = GroundingDinoImageProcessorPil(size={"shortest_edge": 128, "longest_edge": 200})
    if hub_layout:
        image_processor.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    else:
        GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)


def build_sam(folder, hub_layout: bool = False):
    """A tiny random-weight SAM saved in ``folder`` (``hub_layout`` as ``build_grounding_dino``)."""
    from transformers import (
        SamConfig,
        SamMaskDecoderConfig,
        SamModel,
        SamProcessor,
        SamPromptEncoderConfig,
        SamVisionConfig,
    )
    from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

    torch.manual_seed(0)
    config = SamConfig(
        vision_config=SamVisionConfig(hidden_size=32, output_channels=32, num_hidden_layers=2,
                                      num_attention_heads=2, image_size=256, patch_size=16,
                                      window_size=4, global_attn_indexes=[1], num_pos_feats=16,
                                      mlp_dim=64),
        prompt_encoder_config=SamPromptEncoderConfig(hidden_size=32, image_size=256, patch_size=16,
                                                     mask_input_channels=4),
        mask_decoder_config=SamMaskDecoderConfig(hidden_size=32, mlp_dim=64, num_hidden_layers=2,
                                                 num_attention_heads=2, iou_head_hidden_dim=32),
    )
    SamModel(config).save_pretrained(folder)
    image_processor = SamImageProcessorPil(size={"longest_edge": 256}, pad_size={"height": 256, "width": 256})
    (image_processor if hub_layout else SamProcessor(image_processor=image_processor)).save_pretrained(folder)


def build_sam3(folder):
    from transformers import CLIPTextConfig, CLIPTokenizer, Sam3Config, Sam3Model
    from transformers.models.sam3.configuration_sam3 import (
        Sam3DETRDecoderConfig,
        Sam3DETREncoderConfig,
        Sam3GeometryEncoderConfig,
        Sam3MaskDecoderConfig,
        Sam3VisionConfig,
        Sam3ViTConfig,
    )

    # A byte-level BPE vocabulary with no merges: printable ASCII, alone and word-final.
    chars = [chr(i) for i in range(33, 127)]
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=32)
    h = 32
    torch.manual_seed(0)
    config = Sam3Config(
        vision_config=Sam3VisionConfig(
            backbone_config=Sam3ViTConfig(hidden_size=h, num_hidden_layers=2, num_attention_heads=4,
                                          intermediate_size=64, image_size=224, patch_size=14,
                                          window_size=8, global_attn_indexes=[0, 1]),
            fpn_hidden_size=h, scale_factors=[2.0, 1.0]),
        text_config=CLIPTextConfig(vocab_size=len(vocab), hidden_size=h, intermediate_size=64,
                                   projection_dim=h, num_hidden_layers=1, num_attention_heads=4,
                                   max_position_embeddings=32, bos_token_id=vocab["<|startoftext|>"],
                                   eos_token_id=vocab["<|endoftext|>"], pad_token_id=vocab["<|endoftext|>"]),
        geometry_encoder_config=Sam3GeometryEncoderConfig(hidden_size=h, num_layers=1,
                                                          num_attention_heads=4, intermediate_size=64),
        detr_encoder_config=Sam3DETREncoderConfig(hidden_size=h, num_layers=1, num_attention_heads=4,
                                                  intermediate_size=64),
        detr_decoder_config=Sam3DETRDecoderConfig(hidden_size=h, num_layers=1, num_queries=5,
                                                  num_attention_heads=4, intermediate_size=64),
        mask_decoder_config=Sam3MaskDecoderConfig(hidden_size=h, num_upsampling_stages=2,
                                                  num_attention_heads=4),
    )
    Sam3Model(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A ``--weights DIR`` folder holding tiny grounding-dino-tiny/, sam-vit-base/ and sam3/."""
    root = tmp_path_factory.mktemp("weights")
    build_grounding_dino(root / "grounding-dino-tiny")
    build_sam(root / "sam-vit-base")
    build_sam3(root / "sam3")
    return root


@pytest.fixture(scope="module")
def grounder(weights):
    from models.grounding.full import load_full_grounder

    return load_full_grounder(weights=weights, device="cpu", box_threshold=0.0, text_threshold=0.0)


@pytest.fixture(scope="module")
def photo():
    """astronaut cropped to an odd size, (301, 451, 3) float32 in [0, 1]."""
    return (skimage.data.astronaut()[:301, :451] / 255.0).astype(np.float32)


# --- boxes.py -------------------------------------------------------------------------------


def test_box_conversions_round_trip_and_scale():
    xyxy = np.array([[10, 20, 50, 80], [0, 0, 4, 2]], np.float32)
    cxcywh = xyxy_to_cxcywh(xyxy)
    assert np.allclose(cxcywh[0], [30, 50, 40, 60])
    assert np.allclose(cxcywh_to_xyxy(cxcywh), xyxy)
    assert np.allclose(denormalize([[0.5, 0.5, 1, 1]], (100, 200)), [[100, 50, 200, 100]])
    assert np.allclose(rescale_xy([[10, 20]], (100, 200), (50, 400)), [[20, 10]])
    assert np.allclose(rescale_xy([[10, 20, 30, 40]], (100, 200), (50, 400)), [[20, 10, 60, 20]])
    assert union_box(xyxy) == (0, 0, 50, 80)
    assert np.isclose(box_iou(xyxy[:1], xyxy[:1])[0, 0], 1.0)


def test_longest_side_shape_matches_the_sam_processor(weights):
    from transformers import SamProcessor

    processor = SamProcessor.from_pretrained(str(weights / "sam-vit-base"))
    for h, w in ((301, 451), (451, 301), (17, 1000)):
        got = processor(images=np.zeros((h, w, 3), np.uint8), return_tensors="pt")
        assert tuple(got["reshaped_input_sizes"][0].tolist()) == longest_side_shape((h, w), 256)


@pytest.mark.parametrize("text, expected", [
    ("dog", ("dog", None, False)),
    ("all the dogs", ("dogs", None, True)),
    ("every face", ("face", None, True)),
    ("people", ("people", None, True)),
    ("glass", ("glass", None, False)),
    ("dog on the left", ("dog", "left", False)),
    ("the cats on the right side", ("cats", "right", True)),
    ("largest cat", ("cat", "largest", False)),
    ("the smallest cup", ("cup", "smallest", False)),
    ("person in the middle", ("person", "middle", False)),
    ("bird at the top", ("bird", "top", False)),
    ("bottom flower", ("flower", "bottom", False)),
])
def test_parse_target_strips_qualifiers_and_quantifiers(text, expected):
    assert parse_target(text) == TargetQuery(*expected)


def test_select_boxes_by_qualifier_on_synthetic_detections():
    size = (100, 200)  # (h, w)
    boxes = np.array([
        [10, 40, 30, 60],     # 0 left, small
        [85, 10, 105, 30],    # 1 middle-top, small
        [150, 20, 195, 95],   # 2 right, large, lowest
        [92, 45, 102, 55],    # 3 centre, tiny
    ], np.float32)
    scores = np.array([0.6, 0.9, 0.7, 0.65], np.float32)

    def pick(text):
        return sorted(select_boxes(boxes, scores, parse_target(text), size).tolist())

    assert pick("dog") == [1]                      # singular → best score
    assert pick("dogs") == [0, 1, 2, 3]            # plural → all
    assert pick("dog on the left") == [0]
    assert pick("dog on the right") == [2]
    assert pick("dogs on the right") == [2]        # centres in the right half
    assert pick("dogs on the left") == [0, 1, 3]   # centres in the left half (100 is the middle)
    assert pick("dog in the middle") == [3]
    assert pick("dog at the top") == [1]
    assert pick("dog at the bottom") == [2]
    assert pick("largest dog") == [2]
    assert pick("smallest dog") == [3]


def test_select_boxes_drops_duplicates_and_weak_strays():
    boxes = np.array([[50, 50, 80, 80], [51, 50, 80, 81], [0, 0, 5, 5]], np.float32)
    scores = np.array([0.9, 0.8, 0.2], np.float32)
    # the near-duplicate is suppressed; the weak stray (0.2 < 0.5 × 0.9) cannot win "on the left"
    assert select_boxes(boxes, scores, parse_target("dogs"), (100, 100)).tolist() == [0]
    assert select_boxes(boxes, scores, parse_target("dog on the left"), (100, 100)).tolist() == [0]
    assert select_boxes(np.zeros((0, 4)), np.zeros(0), parse_target("dog"), (10, 10)).size == 0


# --- GroundingDINO + SAM end to end ---------------------------------------------------------


def _check_mask(g: Grounding, shape):
    assert g.mask.shape == shape and g.mask.dtype == np.float32
    assert 0.0 <= g.mask.min() and g.mask.max() <= 1.0


def test_text_target_gives_a_full_resolution_mask(grounder, photo):
    grounder.set_image(photo)
    g = grounder.ground("person")
    _check_mask(g, photo.shape[:2])
    assert g.how in ("GroundingDINO + SAM", "GroundingDINO boxes (SAM returned empty masks)")
    assert g.mask.max() > 0 and 0.0 <= g.score <= 1.0
    x0, y0, x1, y1 = g.box_xyxy
    assert 0 <= x0 < x1 <= photo.shape[1] and 0 <= y0 < y1 <= photo.shape[0]


def test_plural_is_the_union_and_qualifiers_pick_among_boxes(grounder, photo):
    grounder.set_image(photo)
    single, every = grounder.ground("person"), grounder.ground("every person")
    det = grounder.detector.detect("person")
    # the singular target is the best box; the plural one covers every kept box
    best = select_boxes(det.boxes, det.scores, TargetQuery("person", None, False), photo.shape[:2])
    assert single.box_xyxy == union_box(det.boxes[best])
    kept = select_boxes(det.boxes, det.scores, TargetQuery("person", None, True), photo.shape[:2])
    assert len(kept) > 1 and every.box_xyxy == union_box(det.boxes[kept])
    assert (every.mask >= single.mask - 1e-6).all()  # union of SAM masks ⊇ the best box's mask

    left = grounder.ground("person on the left")
    (i,) = select_boxes(det.boxes, det.scores, TargetQuery("person", "left", False), photo.shape[:2])
    assert left.box_xyxy == union_box(det.boxes[[i]])
    centres = (det.boxes[kept, 0] + det.boxes[kept, 2]) / 2
    assert np.isclose((det.boxes[i, 0] + det.boxes[i, 2]) / 2, centres.min())
    # GroundingDINO was asked for the noun only, never for "person on the left"
    assert set(grounder.detector._cache) == {"person"}


def test_image_embedding_is_computed_once_per_image(grounder, photo):
    grounder.segmenter.recent.clear()  # earlier tests' turns on this photo
    grounder.detector.recent.clear()
    calls = []
    hook = grounder.segmenter.model.vision_encoder.register_forward_hook(lambda *a: calls.append(1))
    try:
        grounder.set_image(photo)
        grounder.ground("image")
        assert calls == []  # nothing needed SAM yet
        grounder.ground("person")
        grounder.ground("dog on the right")
        grounder.ground("all the faces")
        grounder.ground("x", RegionPrompt(points=(Point(100, 80), Point(300, 200, positive=False))))
        grounder.ground("x", RegionPrompt(box_xyxy=(50, 40, 250, 280)))
        assert len(calls) == 1
        grounder.set_image(photo[:200, :333])
        grounder.ground("x", RegionPrompt(points=(Point(10, 10),)))
        grounder.ground("person")
        assert len(calls) == 2
    finally:
        hook.remove()


def test_a_later_turn_on_the_same_photo_reuses_its_embedding_and_detections(weights, photo):
    """A refinement or a slider move re-runs the plan on the same photo in a new turn (a new
    grounder, as ``load_grounder`` builds per turn): no SAM embedding and no GroundingDINO pass is
    recomputed; another photo, or other detection thresholds, are computed afresh."""
    from models.grounding.full import load_full_grounder

    def turn(image, box_threshold=0.0, click=True):
        g = load_full_grounder(weights=weights, device="cpu", box_threshold=box_threshold, text_threshold=0.0)
        g.set_image(image)
        try:
            masks = [g.ground("person").mask]
            if click:
                masks.append(g.ground("x", RegionPrompt(points=(Point(100, 80),))).mask)
            return g, masks
        finally:
            g.reset_image()

    first, _ = turn(photo)
    first.segmenter.recent.clear()
    first.detector.recent.clear()
    sam, dino = [], []
    hooks = [
        first.segmenter.model.vision_encoder.register_forward_hook(lambda *a: sam.append(1)),
        first.detector.model.register_forward_hook(lambda *a: dino.append(1)),
    ]
    try:
        _, masks = turn(photo)
        assert (len(sam), len(dino)) == (1, 1)
        _, again = turn(photo.copy())  # the next turn: same pixels, a new array and a new grounder
        assert (len(sam), len(dino)) == (1, 1)
        for a, b in zip(masks, again, strict=True):
            np.testing.assert_array_equal(a, b)
        turn(photo, box_threshold=0.05, click=False)  # other thresholds: GroundingDINO again
        assert (len(sam), len(dino)) == (1, 2)
        other = photo.copy()
        other[0, 0] = 1.0 - other[0, 0]  # one pixel changed: another photo
        turn(other)
        assert (len(sam), len(dino)) == (2, 3)
    finally:
        for hook in hooks:
            hook.remove()


def test_clicks_and_boxes_go_to_sam(grounder, photo):
    grounder.set_image(photo)
    clicked = grounder.ground("cup", RegionPrompt(points=(Point(200, 150), Point(20, 20, False))))
    boxed = grounder.ground("cup", RegionPrompt(box_xyxy=(100, 50, 300, 250)))
    assert clicked.how == "click → SAM" and boxed.how == "box → SAM"
    _check_mask(clicked, photo.shape[:2])
    _check_mask(boxed, photo.shape[:2])
    with pytest.raises(ValueError, match="outside"):
        grounder.ground("cup", RegionPrompt(points=(Point(451, 10),)))


def test_image_and_background(grounder, photo):
    grounder.set_image(photo)
    whole = grounder.ground("image")
    assert whole.how == "whole image" and (whole.mask == 1).all()
    others = np.zeros(photo.shape[:2], np.float32)
    others[50:150, 100:200] = 1
    bg = grounder.ground("background", others=others)
    assert np.array_equal(bg.mask, 1 - others)
    alone = grounder.ground("background")  # no named regions: the complement of detected subjects
    _check_mask(alone, photo.shape[:2])
    subjects = grounder.ground("main subject")
    assert "GroundingDINO" in alone.how and "GroundingDINO" in subjects.how


def test_unfound_target_raises_a_specific_grounding_error(grounder, photo):
    grounder.set_image(photo)
    top = float(grounder.detector.detect("zebra").scores.max())
    grounder.detector.box_threshold, saved = top, grounder.detector.box_threshold
    grounder.set_image(photo)  # drop cached detections
    try:
        with pytest.raises(GroundingError, match=r'found no "zebra".*click on it') as err:
            grounder.ground("zebra")
        assert err.value.target == "zebra" and "--click X,Y" in err.value.message_for("cli")
    finally:
        grounder.detector.box_threshold = saved


def test_bad_inputs_are_refused(grounder, photo):
    with pytest.raises(ValueError, match="float image"):
        grounder.set_image((photo * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        grounder.set_image(photo[..., 0])
    from models.grounding.full import GroundingDinoDetector

    with pytest.raises(ValueError, match="box_threshold"):
        GroundingDinoDetector(grounder.detector.model, grounder.detector.processor, "cpu", box_threshold=1.5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_requested_cuda_without_a_gpu_is_an_error_not_a_cpu_fallback():
    from models.grounding.full import select_device

    with pytest.raises(ValueError, match="no CUDA"):
        select_device("cuda")
    assert select_device("cpu").type == "cpu"


def test_missing_weights_name_the_download_command(tmp_path):
    import time

    from models.grounding.full import load_full_grounder
    from models.weights import WeightsError

    t0 = time.perf_counter()
    with pytest.raises(WeightsError, match=r"restora models download grounding-dino-tiny"):
        load_full_grounder(device="cpu")  # nothing in RESTORA_WEIGHTS_DIR nor the Hub cache
    with pytest.raises(WeightsError, match=r"--weights .*does not hold grounding-dino-tiny"):
        load_full_grounder(weights=tmp_path, device="cpu")
    assert time.perf_counter() - t0 < 5  # HF_HUB_OFFLINE: no network wait


def test_weights_found_through_restora_weights_dir_enable_the_full_stage(weights, monkeypatch):
    from models.grounding.full import FullGrounder, load_full_grounder
    from models.readiness import full_stage_status

    ready, why = full_stage_status("grounding")
    assert not ready and "restora models download grounding-dino-tiny sam-vit-base" in why
    monkeypatch.setenv("RESTORA_WEIGHTS_DIR", str(weights))
    ready, why = full_stage_status("grounding")
    assert ready, why
    assert isinstance(load_full_grounder(device="cpu"), FullGrounder)
    # thresholds reach the detector; the models load once per process and are shared
    from models.grounding import load_grounder

    a, b = load_grounder("full", box_threshold=0.42, text_threshold=0.2), load_grounder("full")
    assert (a.detector.box_threshold, a.detector.text_threshold, b.detector.box_threshold) == (0.42, 0.2, 0.3)
    assert a.detector.model is b.detector.model and a.segmenter is b.segmenter


# --- SAM 3 -----------------------------------------------------------------------------------


def test_sam3_text_grounding_end_to_end(weights, photo):
    from models.grounding.sam3 import Sam3Grounder, load_sam3_grounder

    g = load_sam3_grounder(weights=weights, device="cpu", score_threshold=0.0, mask_threshold=0.5)
    assert isinstance(g, Sam3Grounder) and g.clicks is not None
    g.set_image(photo)
    one, every = g.ground("dog"), g.ground("every dog")
    for found in (one, every):
        _check_mask(found, photo.shape[:2])
        assert found.how == "SAM 3"
    assert (every.mask >= one.mask - 1e-6).all()
    right = g.ground("dog on the right")
    probs, boxes, scores = g.segment_text("dog")
    (i,) = select_boxes(boxes, scores, TargetQuery("dog", "right", False), photo.shape[:2])
    assert right.box_xyxy == union_box(boxes[[i]])
    assert g.ground("x", RegionPrompt(points=(Point(30, 30),))).how == "click → SAM"
    assert g.embedding_calls == 1  # one vision pass for every phrase
    g.reset_image()
    text_only = Sam3Grounder(g.model, g.tokenizer, g.device)
    text_only.set_image(photo)
    with pytest.raises(GroundingError, match="text only"):
        text_only.ground("x", RegionPrompt(points=(Point(30, 30),)))


# --- original checkpoints (segment-anything, groundingdino-py) ------------------------------
# The original key layouts are written out here from the original modules' structure, with the
# tiny models' sizes, so the converters are checked against an independent description.


def original_sam_state_dict(width=32, depth=2, heads=2, window=4, grid=16, patch=16, global_at=(1,),
                            neck=32, mlp=64, pos_feats=16, prompt=32, mask_in=4, dec=32, dec_mlp=64,
                            dec_layers=2, down=2, tokens=4, iou_hidden=32) -> dict:
    shapes: dict[str, tuple] = {
        "image_encoder.pos_embed": (1, grid, grid, width),
        "image_encoder.patch_embed.proj.weight": (width, 3, patch, patch),
        "image_encoder.patch_embed.proj.bias": (width,),
        "image_encoder.neck.0.weight": (neck, width, 1, 1),
        "image_encoder.neck.1.weight": (neck,), "image_encoder.neck.1.bias": (neck,),
        "image_encoder.neck.2.weight": (neck, neck, 3, 3),
        "image_encoder.neck.3.weight": (neck,), "image_encoder.neck.3.bias": (neck,),
        "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix": (2, pos_feats),
        "prompt_encoder.not_a_point_embed.weight": (1, prompt),
        "prompt_encoder.no_mask_embed.weight": (1, prompt),
        "prompt_encoder.mask_downscaling.0.weight": (mask_in // 4, 1, 2, 2),
        "prompt_encoder.mask_downscaling.0.bias": (mask_in // 4,),
        "prompt_encoder.mask_downscaling.1.weight": (mask_in // 4,),
        "prompt_encoder.mask_downscaling.1.bias": (mask_in // 4,),
        "prompt_encoder.mask_downscaling.3.weight": (mask_in, mask_in // 4, 2, 2),
        "prompt_encoder.mask_downscaling.3.bias": (mask_in,),
        "prompt_encoder.mask_downscaling.4.weight": (mask_in,),
        "prompt_encoder.mask_downscaling.4.bias": (mask_in,),
        "prompt_encoder.mask_downscaling.6.weight": (prompt, mask_in, 1, 1),
        "prompt_encoder.mask_downscaling.6.bias": (prompt,),
        "mask_decoder.iou_token.weight": (1, dec),
        "mask_decoder.mask_tokens.weight": (tokens, dec),
        "mask_decoder.output_upscaling.0.weight": (dec, dec // 4, 2, 2),
        "mask_decoder.output_upscaling.0.bias": (dec // 4,),
        "mask_decoder.output_upscaling.1.weight": (dec // 4,),
        "mask_decoder.output_upscaling.1.bias": (dec // 4,),
        "mask_decoder.output_upscaling.3.weight": (dec // 4, dec // 8, 2, 2),
        "mask_decoder.output_upscaling.3.bias": (dec // 8,),
        "mask_decoder.transformer.norm_final_attn.weight": (dec,),
        "mask_decoder.transformer.norm_final_attn.bias": (dec,),
        "pixel_mean": (3, 1, 1), "pixel_std": (3, 1, 1),
    }
    for i in range(4):
        shapes[f"prompt_encoder.point_embeddings.{i}.weight"] = (1, prompt)
    for i in range(depth):
        b, side = f"image_encoder.blocks.{i}.", grid if i in global_at else window
        shapes.update({
            b + "norm1.weight": (width,), b + "norm1.bias": (width,),
            b + "norm2.weight": (width,), b + "norm2.bias": (width,),
            b + "attn.qkv.weight": (3 * width, width), b + "attn.qkv.bias": (3 * width,),
            b + "attn.proj.weight": (width, width), b + "attn.proj.bias": (width,),
            b + "attn.rel_pos_h": (2 * side - 1, width // heads),
            b + "attn.rel_pos_w": (2 * side - 1, width // heads),
            b + "mlp.lin1.weight": (mlp, width), b + "mlp.lin1.bias": (mlp,),
            b + "mlp.lin2.weight": (width, mlp), b + "mlp.lin2.bias": (width,),
        })

    def attention(prefix, inner):
        for p in ("q_proj", "k_proj", "v_proj"):
            shapes[f"{prefix}.{p}.weight"], shapes[f"{prefix}.{p}.bias"] = (inner, dec), (inner,)
        shapes[f"{prefix}.out_proj.weight"], shapes[f"{prefix}.out_proj.bias"] = (dec, inner), (dec,)

    for i in range(dec_layers):
        t = f"mask_decoder.transformer.layers.{i}."
        attention(t + "self_attn", dec)
        attention(t + "cross_attn_token_to_image", dec // down)
        attention(t + "cross_attn_image_to_token", dec // down)
        for n in range(1, 5):
            shapes[f"{t}norm{n}.weight"], shapes[f"{t}norm{n}.bias"] = (dec,), (dec,)
        shapes.update({t + "mlp.lin1.weight": (dec_mlp, dec), t + "mlp.lin1.bias": (dec_mlp,),
                       t + "mlp.lin2.weight": (dec, dec_mlp), t + "mlp.lin2.bias": (dec,)})
    attention("mask_decoder.transformer.final_attn_token_to_image", dec // down)
    heads = [(f"mask_decoder.output_hypernetworks_mlps.{t}", [(dec, dec), (dec, dec), (dec // 8, dec)])
             for t in range(tokens)]
    heads.append(("mask_decoder.iou_prediction_head",
                  [(iou_hidden, dec), (iou_hidden, iou_hidden), (tokens, iou_hidden)]))
    for head, sizes in heads:
        for n, (o, i) in enumerate(sizes):
            shapes[f"{head}.layers.{n}.weight"], shapes[f"{head}.layers.{n}.bias"] = (o, i), (o,)
    gen = torch.Generator().manual_seed(0)
    return {k: torch.randn(s, generator=gen) for k, s in shapes.items()}


def test_original_sam_checkpoint_converts_and_runs(tmp_path, photo):
    from models.grounding.full import SamSegmenter
    from models.grounding.sam_original import convert_sam_checkpoint, infer_config, load_original_sam

    original = original_sam_state_dict()
    torch.save(original, tmp_path / "sam_vit_tiny.pth")
    config = infer_config(original, mask_decoder_heads=2)
    assert (config.vision_config.num_attention_heads, config.vision_config.global_attn_indexes,
            config.vision_config.window_size, config.vision_config.image_size) == (2, [1], 4, 256)
    model = load_original_sam(tmp_path / "sam_vit_tiny.pth", mask_decoder_heads=2)  # strict
    sd = model.state_dict()
    for old, new in [("image_encoder.neck.0.weight", "vision_encoder.neck.conv1.weight"),
                     ("image_encoder.blocks.1.norm2.bias", "vision_encoder.layers.1.layer_norm2.bias"),
                     ("mask_decoder.iou_prediction_head.layers.1.weight",
                      "mask_decoder.iou_prediction_head.layers.0.weight"),
                     ("mask_decoder.output_hypernetworks_mlps.3.layers.2.bias",
                      "mask_decoder.output_hypernetworks_mlps.3.proj_out.bias"),
                     ("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
                      "shared_image_embedding.positional_embedding")]:
        assert torch.equal(sd[new], original[old]), (old, new)
    folder = convert_sam_checkpoint(tmp_path / "sam_vit_tiny.pth", tmp_path / "sam-vit-base",
                                    mask_decoder_heads=2)
    sam = SamSegmenter.from_pretrained(folder, torch.device("cpu"))
    sam.set_image(photo)
    mask, score = sam.segment_prompt(RegionPrompt(box_xyxy=(40, 30, 200, 250)))
    assert mask.shape == photo.shape[:2] and 0 <= score <= 1
    bad = dict(original, **{"head.weight": torch.zeros(1)})
    from models.grounding.sam_original import convert_state_dict

    with pytest.raises(ValueError, match="not a segment-anything"):
        convert_state_dict(bad)


def original_gdino_state_dict() -> dict:
    """groundingdino-py's layout at the tiny GroundingDINO's sizes (see build_grounding_dino)."""
    vocab, d, ffn, text, queries, levels, dec_layers = len(WORDS), 32, 64, 32, 20, 4, 2
    heads, points = 2, 4
    shapes: dict[str, tuple] = {
        "backbone.0.patch_embed.proj.weight": (16, 3, 4, 4), "backbone.0.patch_embed.proj.bias": (16,),
        "backbone.0.patch_embed.norm.weight": (16,), "backbone.0.patch_embed.norm.bias": (16,),
        "bert.embeddings.word_embeddings.weight": (vocab, text),
        "bert.embeddings.position_embeddings.weight": (256, text),
        "bert.embeddings.token_type_embeddings.weight": (2, text),
        "bert.embeddings.LayerNorm.weight": (text,), "bert.embeddings.LayerNorm.bias": (text,),
        "bert.pooler.dense.weight": (text, text), "bert.pooler.dense.bias": (text,),
        "feat_map.weight": (d, text), "feat_map.bias": (d,),
        "transformer.level_embed": (levels, d), "transformer.tgt_embed.weight": (queries, d),
        "transformer.enc_output.weight": (d, d), "transformer.enc_output.bias": (d,),
        "transformer.enc_output_norm.weight": (d,), "transformer.enc_output_norm.bias": (d,),
        "transformer.decoder.norm.weight": (d,), "transformer.decoder.norm.bias": (d,),
        "transformer.decoder.ref_point_head.layers.0.weight": (d, 2 * d),
        "transformer.decoder.ref_point_head.layers.0.bias": (d,),
        "transformer.decoder.ref_point_head.layers.1.weight": (d, d),
        "transformer.decoder.ref_point_head.layers.1.bias": (d,),
    }

    def lin(name, o, i):
        shapes[name + ".weight"], shapes[name + ".bias"] = (o, i), (o,)

    def norm(name, n):
        shapes[name + ".weight"], shapes[name + ".bias"] = (n,), (n,)

    for stage, (dim, h) in enumerate([(16, 1), (32, 1), (64, 2), (128, 2)]):
        b = f"backbone.0.layers.{stage}.blocks.0."
        norm(b + "norm1", dim), norm(b + "norm2", dim)
        lin(b + "attn.qkv", 3 * dim, dim), lin(b + "attn.proj", dim, dim)
        lin(b + "mlp.fc1", 4 * dim, dim), lin(b + "mlp.fc2", dim, 4 * dim)
        shapes[b + "attn.relative_position_bias_table"] = (169, h)
        if stage < 3:
            shapes[f"backbone.0.layers.{stage}.downsample.reduction.weight"] = (2 * dim, 4 * dim)
            norm(f"backbone.0.layers.{stage}.downsample.norm", 4 * dim)
        if stage > 0:
            norm(f"backbone.0.norm{stage}", dim)
    t = "bert.encoder.layer.0."
    for p in ("query", "key", "value"):
        lin(t + "attention.self." + p, text, text)
    lin(t + "attention.output.dense", text, text), norm(t + "attention.output.LayerNorm", text)
    lin(t + "intermediate.dense", 64, text), lin(t + "output.dense", text, 64)
    norm(t + "output.LayerNorm", text)
    for n, channels in enumerate([32, 64, 128]):
        shapes[f"input_proj.{n}.0.weight"], shapes[f"input_proj.{n}.0.bias"] = (d, channels, 1, 1), (d,)
        norm(f"input_proj.{n}.1", d)
    shapes["input_proj.3.0.weight"], shapes["input_proj.3.0.bias"] = (d, 128, 3, 3), (d,)
    norm("input_proj.3.1", d)

    def deformable(prefix):
        lin(prefix + ".sampling_offsets", heads * levels * points * 2, d)
        lin(prefix + ".attention_weights", heads * levels * points, d)
        lin(prefix + ".value_proj", d, d), lin(prefix + ".output_proj", d, d)

    def mha(prefix):
        shapes[prefix + ".in_proj_weight"], shapes[prefix + ".in_proj_bias"] = (3 * d, d), (3 * d,)
        lin(prefix + ".out_proj", d, d)

    e = "transformer.encoder."
    deformable(e + "layers.0.self_attn")
    norm(e + "layers.0.norm1", d), norm(e + "layers.0.norm2", d)
    lin(e + "layers.0.linear1", ffn, d), lin(e + "layers.0.linear2", d, ffn)
    mha(e + "text_layers.0.self_attn")
    lin(e + "text_layers.0.linear1", ffn // 2, d), lin(e + "text_layers.0.linear2", d, ffn // 2)
    norm(e + "text_layers.0.norm1", d), norm(e + "text_layers.0.norm2", d)
    f = e + "fusion_layers.0."
    shapes[f + "gamma_v"], shapes[f + "gamma_l"] = (d,), (d,)
    norm(f + "layer_norm_v", d), norm(f + "layer_norm_l", d)
    for p in ("v_proj", "l_proj", "values_v_proj", "values_l_proj", "out_v_proj", "out_l_proj"):
        lin(f + "attn." + p, d, d)
    for i in range(dec_layers):
        L = f"transformer.decoder.layers.{i}."
        deformable(L + "cross_attn")
        mha(L + "ca_text"), mha(L + "self_attn")
        for n in ("norm1", "catext_norm", "norm2", "norm3"):
            norm(L + n, d)
        lin(L + "linear1", ffn, d), lin(L + "linear2", d, ffn)
    for head in ["transformer.enc_out_bbox_embed"] + [
            f"{p}bbox_embed.{i}" for p in ("", "transformer.decoder.") for i in range(dec_layers)]:
        lin(head + ".layers.0", d, d), lin(head + ".layers.1", d, d), lin(head + ".layers.2", 4, d)
    gen = torch.Generator().manual_seed(0)
    sd = {"module." + k: torch.randn(s, generator=gen) for k, s in shapes.items()}
    for i in range(dec_layers):  # the original shares one box head between both names
        for n in range(3):
            for p in ("weight", "bias"):
                sd[f"module.bbox_embed.{i}.layers.{n}.{p}"] = sd[
                    f"module.transformer.decoder.bbox_embed.{i}.layers.{n}.{p}"]
    sd["module.backbone.0.layers.0.blocks.0.attn.relative_position_index"] = torch.zeros(49, 49).long()
    sd["module.bert.embeddings.position_ids"] = torch.arange(256)[None]
    return {"model": sd}


def test_original_groundingdino_checkpoint_converts_and_detects(tmp_path, weights, photo):
    from models.grounding.full import GroundingDinoDetector
    from models.grounding.gdino_original import (
        convert_gdino_checkpoint,
        convert_state_dict,
        load_original_gdino,
    )

    checkpoint = original_gdino_state_dict()
    torch.save(checkpoint, tmp_path / "groundingdino_tiny.pth")
    heads = dict(encoder_attention_heads=2, decoder_attention_heads=2, text_attention_heads=2,
                 max_text_len=32)
    model = load_original_gdino(tmp_path / "groundingdino_tiny.pth", **heads)  # strict but Swin's final norm
    cfg = model.config
    assert (cfg.backbone_config.depths, cfg.backbone_config.num_heads, cfg.backbone_config.window_size,
            cfg.d_model, cfg.num_queries, cfg.decoder_layers) == ([1, 1, 1, 1], [1, 1, 2, 2], 7, 32, 20, 2)
    sd, original = model.state_dict(), checkpoint["model"]
    qkv = original["module.backbone.0.layers.2.blocks.0.attn.qkv.weight"]
    swin = "model.backbone.conv_encoder.model.swin.encoder.layers.2.blocks.0.attention."
    assert torch.equal(sd[swin + "q_proj.weight"], qkv[:64])
    assert torch.equal(sd[swin + "v_proj.weight"], qkv[128:])
    in_proj = original["module.transformer.decoder.layers.1.ca_text.in_proj_bias"]
    assert torch.equal(sd["model.decoder.layers.1.encoder_attn_text.key.bias"], in_proj[32:64])
    assert torch.equal(sd["model.backbone.conv_encoder.model.hidden_states_norms.stage4.weight"],
                       original["module.backbone.0.norm3.weight"])
    assert torch.equal(sd["model.encoder.layers.0.fusion_layer.text_param"],
                       original["module.transformer.encoder.fusion_layers.0.gamma_l"])

    folder = convert_gdino_checkpoint(tmp_path / "groundingdino_tiny.pth", weights / "grounding-dino-tiny",
                                      tmp_path / "converted", **heads)
    detector = GroundingDinoDetector.from_pretrained(folder, torch.device("cpu"), box_threshold=0.0)
    detector.set_image(photo)
    found = detector.detect("person")
    assert found.boxes.shape == (20, 4) and (found.boxes[:, 2] <= photo.shape[1]).all()
    with pytest.raises(ValueError, match="not a GroundingDINO key"):
        convert_state_dict({"decoder.foo": torch.zeros(1)})


def test_models_convert_command_writes_a_usable_sam_folder(tmp_path):
    from typer.testing import CliRunner

    from assistant.models_cli import models_app
    from models.weights import find_local

    torch.save(original_sam_state_dict(), tmp_path / "sam.pth")
    runner = CliRunner()
    res = runner.invoke(models_app, ["convert", str(tmp_path / "sam.pth"), "--out",
                                     str(tmp_path / "w" / "sam-vit-base")])
    assert res.exit_code == 0, res.output
    assert find_local("sam-vit-base", tmp_path / "w").source == "--weights"
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.pth")
    res = runner.invoke(models_app, ["convert", str(tmp_path / "other.pth")])
    assert res.exit_code == 1 and "neither a segment-anything nor a groundingdino-py" in res.output
