"""Issue #20's hostile corpora as one rerunnable suite: images, instructions, options, batch files.

Every case goes through the command line (typer's CliRunner in this process, and a sample in real
subprocesses) or the API, and must end with the documented exit status (2 for bad input, 0 or a
clear 1 otherwise), no traceback on any stream or in the log, nothing written where it was
refused, and every input file byte-identical afterwards (SHA-256 before and after). The files are
made here, in a temporary folder; nothing is downloaded. Also here: fuzz tests (hypothesis) of the
image loader and the batch loaders, and the 49 MP bomb with a small request behind it through a
running server (gradio_client). Run alone with ``pytest tests/test_hostile_corpora.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from assistant.batch import BatchFileError, load_jobs
from assistant.cli import app
from assistant.imageio import ImageReadError, load_image

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


# -- helpers -------------------------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, idat: bytes = b"", depth: int = 8, colour: int = 0,
         interlace: int = 0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _encoded(array: np.ndarray | Image.Image, fmt: str, **kwargs) -> bytes:
    img = array if isinstance(array, Image.Image) else Image.fromarray(array)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _photo(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 200, w)[None, :, None] + np.zeros((h, 1, 3))
    return np.clip(ramp + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _invoke(args: list[str], caplog) -> tuple[int, str]:
    """Run the CLI in this process; fails on an uncaught exception or a logged traceback."""
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        res = runner.invoke(app, args)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"{args[:2]}: uncaught {type(res.exception).__name__}: {res.exception}")
    assert "Traceback" not in res.output, res.output
    logged = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not logged, [r.getMessage() for r in logged]
    return res.exit_code, res.output


# -- the image corpus ----------------------------------------------------------------------------
def _jpeg_header_bomb() -> bytes:
    data = bytearray(_encoded(_photo(), "JPEG", quality=90))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)  # height, width
    return bytes(data)


def _bmp_header_bomb() -> bytes:
    data = bytearray(_encoded(_photo(), "BMP"))
    data[18:26] = struct.pack("<ii", 100_000, 100_000)
    return bytes(data)


def _tiff_header_bomb() -> bytes:
    tags = [(256, 4, 100_000), (257, 4, 100_000), (258, 3, 8), (259, 3, 1), (262, 3, 1),
            (273, 4, 8 + 2 + 12 * 8 + 4), (278, 4, 100_000), (279, 4, 16)]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", t, k, 1, v) for t, k, v in tags)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + bytes(16)


def _png_bomb(side: int) -> bytes:
    """A real, decodable PNG of side×side black pixels: tens of KB on disk."""
    squeeze, row = zlib.compressobj(9), bytes(side + 1)
    idat = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    return _png(side, side, idat)


def _png_text_bomb() -> bytes:
    data = _encoded(Image.new("RGB", (8, 8)), "PNG")
    ztxt = b"Comment\0\0" + zlib.compress(b"a" * (50 * 1024 * 1024), 9)  # 50 MB in ~50 KB
    return data[:33] + _chunk(b"zTXt", ztxt) + data[33:]


def _float_tiff() -> bytes:
    import cv2

    ok, buf = cv2.imencode(".tiff", np.random.default_rng(0).random((8, 8, 3), dtype=np.float32))
    assert ok
    return buf.tobytes()


def _animated_gif() -> bytes:
    frames = [Image.fromarray(_photo(seed=s)).convert("P") for s in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return buf.getvalue()


def _apng() -> bytes:
    frames = [Image.fromarray(_photo(seed=s)) for s in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="PNG", save_all=True, append_images=frames[1:], duration=50)
    return buf.getvalue()


def _malformed_exif() -> bytes:
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x010F, 2, 100, 4000)
    return _encoded(_photo(), "JPEG", exif=b"Exif\x00\x00" + tiff + struct.pack("<I", 0))


def _rotated_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encoded(_photo(), "JPEG", exif=exif.tobytes())


def _rgb16() -> bytes:
    import cv2

    data = (np.random.default_rng(1).random((24, 32, 3)) * 65535).astype(np.uint16)
    return cv2.imencode(".png", data)[1].tobytes()


def _palette_transparency() -> bytes:
    img = Image.fromarray(_photo()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return _encoded(img, "PNG", transparency=0)


_HUGE = "megapixels|decompression bomb"  # within Restora's limit's reach, or beyond Pillow's
# name → (file bytes, a regular expression the message matches)
REFUSED = {
    "header_bomb.png": (_png(100_000, 100_000), _HUGE),
    "header_bomb.jpg": (_jpeg_header_bomb(), _HUGE),
    "header_bomb.bmp": (_bmp_header_bomb(), _HUGE),
    "header_bomb.tif": (_tiff_header_bomb(), _HUGE),
    "bomb_64mp.png": (_png_bomb(8000), _HUGE),  # ~60 KB that decodes to 64 MP
    "text_chunk_bomb.png": (_png_text_bomb(), "safety limit"),
    "eps.png": (_encoded(Image.fromarray(_photo()), "EPS"), "PostScript/EPS"),
    "postscript.ps": (b"%!PS-Adobe-3.0\n0 0 moveto (hi) show showpage\n", "PostScript/EPS"),
    "document.pdf": (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "PDF"),
    "animated.gif": (_animated_gif(), "GIF"),
    "icon.ico": (_encoded(Image.fromarray(_photo()), "ICO"), "ICO"),
    "layers.psd": (b"8BPS\x00\x01" + bytes(40), "Photoshop"),
    "float.tif": (_float_tiff(), "floating-point TIFF"),
    "truncated.png": (_encoded(_photo(64, 64), "PNG")[:150], "truncated"),
    "truncated_header.png": (_encoded(_photo(), "PNG")[:20], "truncated"),
    "truncated.jpg": (_encoded(_photo(64, 64), "JPEG", quality=95)[:400], "truncated"),
    "zero_size.png": (b"", r"is empty \(0 bytes\)"),
    "text.jpg": (b"just some text, not a photo\n", "not an image"),
    "vector.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="9e9" height="9e9"/>', "not an image"),
    "zero_width.png": (_png(0, 10), "not an image"),
}
ACCEPTED = {
    "one_pixel.png": _encoded(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG"),
    "thin.png": _encoded(_photo(1, 300), "PNG"),
    "gray16.png": _encoded(Image.fromarray((np.arange(24 * 32).reshape(24, 32) * 80).astype(np.uint16)),
                           "PNG"),
    "rgb16.png": _rgb16(),
    "cmyk.jpg": _encoded(Image.fromarray(_photo()).convert("CMYK"), "JPEG"),
    "palette_transparency.png": _palette_transparency(),
    "la.png": _encoded(Image.fromarray(_photo()).convert("LA"), "PNG"),
    "one_bit.bmp": _encoded(Image.fromarray(_photo()).convert("1"), "BMP"),
    "rgba.webp": _encoded(Image.fromarray(_photo()).convert("RGBA"), "WEBP", lossless=True),
    "malformed_exif.jpg": _malformed_exif(),
    "rotated_exif.jpg": _rotated_exif(),
    "animated.png": _apng(),
    "progressive.jpg": _encoded(_photo(), "JPEG", progressive=True, quality=80),
}


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-images")
    for name, (data, _) in REFUSED.items():
        (folder / name).write_bytes(data)
    for name, data in ACCEPTED.items():
        (folder / name).write_bytes(data)
    (folder / "folder.png").mkdir()
    return folder


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    path.write_bytes(_encoded(_photo(48, 64), "PNG"))
    return path


@pytest.mark.parametrize("name", [*REFUSED, "folder.png", "missing.png"])
def test_hostile_images_are_refused_with_exit_2(images, tmp_path, caplog, name):
    before = _hashes(images)
    out = tmp_path / "out.png"
    t0 = time.perf_counter()
    code, output = _invoke(["run", str(images / name), "denoise the whole photo", "-o", str(out),
                            "--backend", "offline"], caplog)
    expected = {"folder.png": "is a folder", "missing.png": "No file"}.get(name) or REFUSED[name][1]
    assert code == 2 and re.search(expected, output), output
    assert time.perf_counter() - t0 < 10
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert _hashes(images) == before
    with pytest.raises(ImageReadError):
        load_image(images / name)


@pytest.mark.parametrize("name", ACCEPTED)
def test_odd_but_valid_images_are_restored(images, tmp_path, caplog, name):
    before = _hashes(images)
    out = tmp_path / "out.png"
    code, output = _invoke(["run", str(images / name), "denoise the whole photo", "-o", str(out),
                            "--backend", "offline"], caplog)
    assert code == 0, output
    with Image.open(out) as restored:
        assert restored.size == load_image(images / name).size  # EXIF orientation applied
    assert _hashes(images) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


# -- the instruction corpus ----------------------------------------------------------------------
BAD_INSTRUCTIONS = {  # must exit 2: malformed strength, empty, over-long as typed or once normalised
    "nan strength": "denoise the whole photo with nan",
    "inf strength": "denoise the whole photo with inf",
    "-inf strength": "sharpen the left half with -inf",
    "infinity strength": "denoise the whole photo with Infinity",
    "NaN percent": "denoise the whole photo with NaN%",
    "1e309 strength": "denoise the whole photo with 1e309",
    "empty": "",
    "blank": " \t\n ",
    "2,001 characters": "denoise " + "x" * 1993,
    "expands under NFKC": "denoise " + "\ufdfa" * 200,  # 208 typed, 3,608 once normalised
}
ODD_INSTRUCTIONS = {  # must end 0, 1 or 2 with a clear message: no traceback
    "number-heavy near the cap": "denoise the whole photo with " + " ".join(["0.5"] * 490),
    "control characters": "denoise\x07 the\x1b[31m whole photo\r\n\x00",
    "right-to-left override": "denoise \u202eotohp elohw eht\u202c",
    "arabic": "أزل الضوضاء من الصورة كلها",
    "emoji": "make the 🐶 clear with 0.5 👍🏽 and 👨‍👩‍👧 too",
    "zero-width": "de\u200bnoise the who\u200dle photo",
    "combining marks": "denoise" + "\u0301" * 500,
    "format strings": "denoise {0} %s %(x)s {__class__} the whole photo",
    "shell": "denoise; rm -rf / && $(reboot) `id` the whole photo",
    "path": "sharpen ../../etc/passwd with 0.5",
    "markup": "<script>alert(1)</script> sharpen the whole photo",
    "huge number": "denoise the whole photo with 99999999999999999999999999999999",
    "hex float": "denoise the whole photo with 0x1p-1074",
    "lone surrogates": "denoise \udcff\udcfe the whole photo",
    "undo first": "undo",
    "refine first": "a bit stronger",
    "help": "help",
}


@pytest.mark.parametrize("name", BAD_INSTRUCTIONS)
def test_malformed_instructions_exit_2_before_any_work(photo, tmp_path, caplog, name):
    before = _hashes(photo.parent)
    out = tmp_path / "out.png"
    code, output = _invoke(["run", str(photo), BAD_INSTRUCTIONS[name], "-o", str(out),
                            "--backend", "offline"], caplog)
    assert code == 2 and "Error:" in output, output
    assert not out.exists() and _hashes(photo.parent) == before


@pytest.mark.parametrize("name", ODD_INSTRUCTIONS)
def test_odd_instructions_end_cleanly(photo, tmp_path, caplog, name):
    before = _hashes(photo.parent)
    out = tmp_path / "out.png"
    t0 = time.perf_counter()
    code, output = _invoke(["run", str(photo), ODD_INSTRUCTIONS[name], "-o", str(out),
                            "--backend", "offline"], caplog)
    assert code in (0, 1, 2) and output.strip(), output
    assert (code == 0) == out.exists(), output
    assert time.perf_counter() - t0 < 20
    assert _hashes(photo.parent) == before
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["out.png"])  # no temporary left


# -- the options corpus --------------------------------------------------------------------------
JUNK_FLAGS = [
    ["--steps", "Infinity"], ["--steps", "nan"], ["--steps", "1.9"], ["--steps", "0"],
    ["--steps", "1e308"], ["--seed", "abc"], ["--seed", "1e308"], ["--seed", "-1"],
    ["--seed", "99999999999999999999"], ["--guidance", "NaN"], ["--guidance", "inf"],
    ["--guidance", "-1"], ["--guidance", "1e308"], ["--box-threshold", "1"],
    ["--text-threshold", "1.0"], ["--box-threshold", "nan"], ["--tile", "65"], ["--tile", "-64"],
    ["--backend", "gpu"], ["--mask-source", "everything"], ["--cleaner", "bleach"],
    ["--lens-blur", "false"], ["--click", "nan,1"], ["--click", "1e308,1"], ["--click", "1,2,3"],
    ["--box", "1,2,3"], ["--box", "inf,0,1,1"], ["--negative-click", "abc"],
    ["--negative-click", "5,5"],
]


@pytest.mark.parametrize("flags", JUNK_FLAGS, ids=" ".join)
def test_junk_cli_options_exit_2_and_write_nothing(photo, tmp_path, caplog, flags):
    before = _hashes(photo.parent)
    out = tmp_path / "out.png"
    code, output = _invoke(["run", str(photo), "denoise the left half", "-o", str(out),
                            "--backend", "offline", *flags], caplog)
    assert code == 2, output
    assert not out.exists() and _hashes(photo.parent) == before


JUNK_API_OPTIONS = [
    '{"steps": Infinity}', '{"steps": NaN}', '{"steps": "20"}', '{"steps": true}', '{"steps": 1e308}',
    '{"seed": "abc"}', '{"seed": 1e308}', '{"seed": 1e999}', '{"seed": -1}', '{"guidance": NaN}',
    '{"guidance": -Infinity}', '{"box_threshold": 1}', '{"text_threshold": "0.3"}',
    '{"lens_blur": "false"}', '{"lens_blur": "no"}', '{"lens_blur": 0}', '{"backend": null}',
    '{"backend": ["offline"]}', '{"unknown": 1}', '[1, 2]', '"offline"', '123', 'null', '{not json',
    '{"clicks": "abc"}', '{"clicks": [[1, 2, 3]]}', '{"box": [1, 2, 3]}', '{"box": "1,2,3,4"}',
    '[' * 100_000, '{"a": ' * 50_000,
]


@pytest.mark.parametrize("options", JUNK_API_OPTIONS, ids=lambda o: o[:30])
def test_junk_api_options_are_a_clear_error_before_any_work(photo, options):
    import gradio as gr

    from assistant import api

    before = _hashes(photo.parent)
    with pytest.raises(gr.Error) as info:
        api.api_restore(str(photo), "denoise the whole photo", options)
    assert str(info.value.message).startswith("Bad options: ") and len(info.value.message) < 800
    assert _hashes(photo.parent) == before


# -- the batch corpus ----------------------------------------------------------------------------
def _job(image: str = "a.png", output: str | None = None, **extra) -> str:
    lines = [f"- image: {image}", "  instructions: [denoise the whole photo]"]
    if output is not None:
        lines.append(f"  output: {output}")
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


_LAUGHS = "\n".join(['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
                    + [f"{c}: &{c} [{','.join(['*' + p] * 9)}]"
                       for p, c in zip("abcdefgh", "bcdefghi", strict=True)]) + "\n"

BATCH_FILES = {  # name → (file name, content, text in the message)
    "two jobs, one output": ("jobs.yaml", _job("a.png", "out.png") + _job("b.png", "out.png"),
                             "both write"),
    "output is its own input": ("jobs.yaml", _job("a.png", "a.png"), "outputs never replace inputs"),
    "output is another input": ("jobs.yaml", _job("a.png", "b.png") + _job("b.png", "c.png"),
                                "outputs never replace inputs"),
    "output is an input, absolute": ("jobs.yaml", _job("a.png", "{folder}/b.png") + _job("b.png"),
                                     "outputs never replace inputs"),
    "output outside the folder": ("jobs.yaml", _job("a.png", "../escaped.png"), "--allow-outside"),
    "output absolute elsewhere": ("jobs.yaml", _job("a.png", "/tmp/restora-escaped.png"), "--allow-outside"),
    "output is a folder": ("jobs.yaml", _job("a.png", "sub.png"), "is a folder"),
    "output under a file": ("jobs.yaml", _job("a.png", "a.png/x.png"), "which is a file"),
    "billion laughs": ("jobs.yaml", _LAUGHS, "aliases"),
    "merge alias": ("jobs.yaml", "- &j {image: a.png, instructions: [denoise]}\n- <<: *j\n  output: o.png\n",
                    "aliases"),
    "deep nesting": ("jobs.yaml", "- image: a.png\n  instructions: " + "[" * 50_000 + "\n", "too deeply"),
    "output a number": ("jobs.yaml", _job("a.png", "123"), "'output' must"),
    "output a list": ("jobs.yaml", _job("a.png", "[x.png, y.png]"), "'output' must be a file path"),
    "output not png": ("jobs.yaml", _job("a.png", "x.jpg"), "must end in .png"),
    "image a number": ("jobs.yaml", _job("7"), "'image' must be a file path"),
    "instructions a mapping": ("jobs.yaml", "- image: a.png\n  instructions: {a: 1}\n", "'instructions'"),
    "instructions a number": ("jobs.yaml", "- image: a.png\n  instructions: 5\n", "'instructions'"),
    "name a list": ("jobs.yaml", _job(name="[1]"), "'name' must be a string"),
    "box a string": ("jobs.yaml", _job(box="'1,2,3,4'"), "'box'"),
    "click a string": ("jobs.yaml", _job(click="'1,2'"), "'click'"),
    "click nan": ("jobs.yaml", _job(click="[[1, .nan]]"), "'click'"),
    "steps inf": ("jobs.yaml", _job(steps=".inf"), "steps must be a whole number"),
    "steps nan": ("jobs.yaml", _job(steps=".nan"), "steps must be a whole number"),
    "seed 1e308": ("jobs.yaml", _job(seed="1.0e+308"), "seed must be a whole number"),
    "seed string": ("jobs.yaml", _job(seed="abc"), "seed must be a whole number"),
    "guidance nan": ("jobs.yaml", _job(guidance=".nan"), "guidance must be a finite number"),
    "lens_blur 'false'": ("jobs.yaml", _job(lens_blur="'false'"), "lens_blur must be true or false"),
    "lens_blur no": ("jobs.yaml", _job(lens_blur="'no'"), "lens_blur must be true or false"),
    "backend gpu": ("jobs.yaml", _job(backend="gpu"), "backend must be one of"),
    "threshold 1": ("jobs.yaml", _job(box_threshold="1"), "box_threshold must be a finite number"),
    "unknown key": ("jobs.yaml", _job(colour="red"), "unknown keys"),
    "not a list": ("jobs.yaml", "image: a.png\n", "non-empty YAML list"),
    "empty yaml": ("jobs.yaml", "", "non-empty YAML list"),
    "binary yaml": ("jobs.yaml", b"\xff\xfe\x00\x01garbage", "not valid YAML"),
    "over 1 MB": ("jobs.yaml", "#" * 1_000_001, "limited to 1,000,000 bytes"),
    "csv collision": ("jobs.csv", "image,instructions,output\na.png,denoise,o.png\nb.png,denoise,o.png\n",
                      "both write"),
    "csv output is input": ("jobs.csv", "image,instructions,output\na.png,denoise,b.png\nb.png,denoise,\n",
                            "outputs never replace inputs"),
    "csv steps Infinity": ("jobs.csv", "image,instructions,steps\na.png,denoise,Infinity\n",
                           "steps must be a whole number"),
    "csv guidance NaN": ("jobs.csv", "image,instructions,guidance\na.png,denoise,NaN\n",
                         "guidance must be a finite number"),
    "csv lens_blur string": ("jobs.csv", "image,instructions,lens_blur\na.png,denoise,no\n",
                             "lens_blur must be true or false"),
    "csv extra cells": ("jobs.csv", "image,instructions\na.png,denoise,extra\n", "3 cells for 2 columns"),
    "csv deep nesting": ("jobs.csv", "image,instructions,steps\na.png,denoise," + "[" * 50_000 + "\n",
                         "steps must be a whole number"),
    "csv unknown column": ("jobs.csv", "image,instructions,shell\na.png,denoise,rm\n", "unknown columns"),
    "csv not utf-8": ("jobs.csv", b"image,instructions\n\xff\xfe.png,denoise\n", "not UTF-8"),
    "jsonl NaN": ("jobs.jsonl", '{"image": "a.png", "instructions": ["denoise"], "guidance": NaN}\n',
                  "guidance must be a finite number"),
    "jsonl not an object": ("jobs.jsonl", '["a.png", "denoise"]\n', "must be a JSON object"),
    "jsonl deep nesting": ("jobs.jsonl", '{"image": "a.png", "instructions": ' + "[" * 50_000 + "\n",
                           "too deeply"),
    "jsonl collision": ("jobs.jsonl", '{"image": "a.png", "instructions": "denoise", "output": "o.png"}\n'
                        '{"image": "b.png", "instructions": "denoise", "output": "./o.png"}\n', "both write"),
    "jsonl bad json": ("jobs.jsonl", '{"image": "a.png",\n', "not valid JSON"),
    "unknown suffix": ("jobs.txt", _job(), "expected a YAML instruction file"),
}


@pytest.fixture
def batch_folder(tmp_path) -> Path:
    folder = tmp_path / "batch"
    folder.mkdir()
    for name, seed in (("a.png", 1), ("b.png", 2)):
        (folder / name).write_bytes(_encoded(_photo(seed=seed), "PNG"))
    (folder / "sub.png").mkdir()
    return folder


@pytest.mark.parametrize("name", BATCH_FILES)
def test_hostile_batch_files_exit_2_before_any_work(batch_folder, caplog, name):
    file_name, content, expected = BATCH_FILES[name]
    path = batch_folder / file_name
    if isinstance(content, str):
        content = content.replace("{folder}", str(batch_folder)).encode()
    path.write_bytes(content)
    before = _hashes(batch_folder.parent)
    for extra in ([], ["--overwrite"]):
        t0 = time.perf_counter()
        code, output = _invoke(["batch", str(path), "--quiet", "--backend", "offline", *extra], caplog)
        assert code == 2 and expected in " ".join(output.split()), output
        assert len(output) < 2000 and time.perf_counter() - t0 < 10
        assert _hashes(batch_folder.parent) == before  # nothing written, no journal, inputs intact
    assert not Path("/tmp/restora-escaped.png").exists()


# -- the same contract in real processes ---------------------------------------------------------
def test_a_sample_of_the_corpora_in_real_processes(images, photo, batch_folder):
    """The CLI as users run it: real argv, real stderr and logging. No traceback on any stream."""
    (batch_folder / "jobs.yaml").write_text(_LAUGHS)
    (batch_folder / "deep.jsonl").write_text('{"image": "a.png", "instructions": ' + "[" * 50_000)
    cases = [
        ["run", str(images / "bomb_64mp.png"), "denoise", "-o", str(batch_folder / "o1.png")],
        ["run", str(images / "text_chunk_bomb.png"), "denoise", "-o", str(batch_folder / "o2.png")],
        ["run", str(images / "eps.png"), "denoise", "-o", str(batch_folder / "o3.png")],
        ["run", str(images / "float.tif"), "denoise", "-o", str(batch_folder / "o4.png")],
        ["run", str(photo), "denoise the whole photo with nan", "-o", str(batch_folder / "o5.png")],
        ["run", str(photo), "denoise", "--steps", "Infinity", "-o", str(batch_folder / "o6.png")],
        ["batch", str(batch_folder / "jobs.yaml")],
        ["batch", str(batch_folder / "deep.jsonl")],
        ["ground", str(images / "header_bomb.jpg"), "cat", "-o", str(batch_folder / "m.png")],
    ]
    before = _hashes(images) | _hashes(batch_folder)
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="default")
    procs = [subprocess.Popen([sys.executable, "-m", "assistant", *args, "--backend", "offline"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, errors="replace") for args in cases]
    for args, proc in zip(cases, procs, strict=True):
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 2, (args, stdout, stderr)
        assert "Traceback" not in stdout + stderr, (args, stderr)
        assert stderr.startswith(("Error: ", "Usage: ")), (args, stderr)  # ours, or click's for a flag
    assert _hashes(images) | _hashes(batch_folder) == before


# -- fuzz: the image loader and the batch loaders ------------------------------------------------
_MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM", b"RIFF\x00\x00\x00\x00WEBP",
          b"GIF89a", b"%!PS-Adobe", b"%PDF-", b"\xc5\xd0\xd3\xc6", b"8BPS", b""]


def _loads_or_refuses(path: Path) -> None:
    try:
        img = load_image(path)
    except ImageReadError as err:
        assert str(err) and len(str(err)) < 1000
        return
    assert img.rgb.ndim == 3 and img.rgb.shape[2] == 3 and np.isfinite(img.rgb).all()


@FUZZ
@given(magic=st.sampled_from(_MAGIC), tail=st.binary(max_size=400))
def test_fuzz_random_bytes_behind_image_signatures(tmp_path, magic, tail):
    path = tmp_path / "fuzz.img"
    path.write_bytes(magic + tail)
    _loads_or_refuses(path)


@FUZZ
@given(width=st.integers(0, 2**31 - 1) | st.integers(0, 300),
       height=st.integers(0, 2**31 - 1) | st.integers(0, 300),
       depth=st.sampled_from([0, 1, 2, 4, 8, 16, 3, 255]), colour=st.sampled_from([0, 2, 3, 4, 6, 7]),
       interlace=st.integers(0, 2), idat=st.binary(max_size=200) | st.just(zlib.compress(bytes(5000))))
def test_fuzz_png_headers_with_valid_checksums(tmp_path, width, height, depth, colour, interlace, idat):
    path = tmp_path / "fuzz.png"
    path.write_bytes(_png(width, height, idat, depth, colour, interlace))
    t0 = time.perf_counter()
    _loads_or_refuses(path)
    assert time.perf_counter() - t0 < 5


_JPEG_SEED = _encoded(_photo(16, 16), "JPEG", quality=90)
_SOF = _JPEG_SEED.index(b"\xff\xc0")


@FUZZ
@given(height=st.integers(0, 65535), width=st.integers(0, 65535), cut=st.integers(_SOF + 9, len(_JPEG_SEED)),
       components=st.integers(0, 255))
def test_fuzz_jpeg_frame_headers(tmp_path, height, width, cut, components):
    data = bytearray(_JPEG_SEED)
    data[_SOF + 5:_SOF + 10] = struct.pack(">HHB", height, width, components)
    path = tmp_path / "fuzz.jpg"
    path.write_bytes(bytes(data[:cut]))
    t0 = time.perf_counter()
    _loads_or_refuses(path)
    assert time.perf_counter() - t0 < 5


_FRAGMENTS = ["image", "instructions", "instruction", "output", "steps", "seed", "guidance", "lens_blur",
              "click", "box", "name", "backend", ":", ",", "-", " ", "\n", "[", "]", "{", "}", '"', "'",
              "&a", "*a", "<<", "!!python/object", "a.png", "o.png", "../x.png", "/tmp/x.png", "true",
              "NaN", "Infinity", ".inf", "1e308", "-1", "0", "20", "denoise", "\x00", "\ufeff", "é", "#"]
_texts = st.one_of(st.text(max_size=300),
                   st.lists(st.sampled_from(_FRAGMENTS), max_size=60).map("".join))


@pytest.mark.parametrize("suffix", [".yaml", ".csv", ".jsonl"])
def test_fuzz_batch_files_raise_only_batch_file_errors(tmp_path, suffix):
    (tmp_path / "a.png").write_bytes(_encoded(_photo(), "PNG"))

    @FUZZ
    @given(text=_texts)
    def check(text):
        path = tmp_path / f"jobs{suffix}"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            jobs = load_jobs(path)
        except BatchFileError as err:
            assert len(str(err)) < 2000
        else:
            assert all(job.output.suffix == ".png" and job.instructions for job in jobs)

    check()


@FUZZ
@given(value=st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                          lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.sampled_from(["steps", "seed", "guidance", "lens_blur",
                                                             "backend", "clicks", "box", "x"]),
                                            inner, max_size=4), max_leaves=10))
def test_fuzz_api_options_raise_only_value_errors(value):
    from assistant.ui_state import Settings, prompt_from_json

    try:
        text = json.dumps(value)
    except ValueError:
        return
    try:
        _, prompt = Settings.from_json(text)
        prompt_from_json(prompt)
    except ValueError as err:  # api_restore answers these "Bad options: ..."
        assert len(str(err)) < 1000


# -- through a running server: the 49 MP bomb and a small request behind it ----------------------
def test_a_49_mp_bomb_through_the_server_is_refused_and_frees_the_slot(tmp_path, photo, capfd):
    """Issue #20's bar: refused or cancelled within 10 s, and the small request behind it served
    within 10 s of that. Both are submitted at once through gradio_client to a running app."""
    import socket

    from gradio_client import Client, handle_file

    import app as restora_app

    bomb = tmp_path / "bomb.png"
    Image.new("L", (7000, 7000), 128).save(bomb, compress_level=9)  # a constant image
    assert bomb.stat().st_size < 500_000
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = restora_app.create_demo("offline")
    demo.queue(default_concurrency_limit=8).launch(server_name="127.0.0.1", server_port=port,
                                                   prevent_thread_lock=True, ssr_mode=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(tmp_path / "dl"))
        offline = '{"backend": "offline"}'
        t0 = time.perf_counter()
        jobs = [client.submit(image=handle_file(str(path)), instruction="denoise the whole photo",
                              options=offline, api_name="/restore") for path in (bomb, photo)]
        with pytest.raises(Exception, match="7000×7000 = 49.0 megapixels"):
            jobs[0].result(timeout=60)
        refused = time.perf_counter() - t0
        served, _, report = jobs[1].result(timeout=60)
        behind = time.perf_counter() - t0 - refused
        assert refused < 10 and behind < 10, (refused, behind)
        assert Path(served).is_file() and report["restored"]
        for options, instruction, expected in (('{"steps": Infinity}', "denoise", "Bad options"),
                                               (offline, "denoise " + "x" * 1993, "too long"),
                                               (offline, "denoise the whole photo with nan", "strength")):
            with pytest.raises(Exception, match=expected):
                client.predict(image=handle_file(str(photo)), instruction=instruction, options=options,
                               api_name="/restore")
    finally:
        demo.close()
    assert "Traceback" not in capfd.readouterr().err
