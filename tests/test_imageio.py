from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from assistant import imageio
from assistant.imageio import ImageReadError, load_image, save_png


def _gradient(h=24, w=32) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) % 256]).astype(np.uint8)


@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("WEBP", ".webp"), ("TIFF", ".tif"),
                                        ("BMP", ".bmp")])
def test_lossless_formats_round_trip(tmp_path, fmt, suffix):
    rgb = _gradient()
    path = tmp_path / f"in{suffix}"
    Image.fromarray(rgb).save(path, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    img = load_image(path)
    assert img.rgb.dtype == np.float32 and img.rgb.shape == (24, 32, 3)
    assert np.array_equal(imageio.to_uint8(img.rgb), rgb)
    assert img.alpha is None and img.bit_depth == 8 and img.jpeg_quality is None


def test_jpeg_reports_quality_from_file(tmp_path):
    path = tmp_path / "in.jpg"
    Image.fromarray(_gradient(64, 64)).save(path, quality=35)
    img = load_image(path)
    assert img.format == "JPEG"
    assert img.jpeg_quality == 35


def test_grayscale_becomes_three_equal_channels(tmp_path):
    path = tmp_path / "g.png"
    Image.fromarray(_gradient()[..., 0], "L").save(path)
    img = load_image(path)
    assert img.grayscale and img.rgb.shape == (24, 32, 3)
    assert np.array_equal(img.rgb[..., 0], img.rgb[..., 2])


def test_rgba_alpha_is_kept_through_save(tmp_path):
    rgba = np.dstack([_gradient(), np.linspace(0, 255, 32, dtype=np.uint8)[None].repeat(24, 0)])
    src = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(src)
    img = load_image(src)
    assert img.alpha is not None
    out = save_png(img, tmp_path / "out.png")
    back = np.asarray(Image.open(out))
    assert back.shape == (24, 32, 4) and np.array_equal(back, rgba)


def test_16bit_png_keeps_depth(tmp_path):
    import cv2

    data = (np.random.default_rng(0).random((20, 30, 3)) * 65535).astype(np.uint16)
    src = tmp_path / "deep.png"
    cv2.imwrite(str(src), data[..., ::-1])
    img = load_image(src)
    assert img.bit_depth == 16
    # A 16-bit value survives that 8 bits could not represent.
    assert np.allclose(img.rgb * 65535, data, atol=0.51)
    out = save_png(img, tmp_path / "deep_out.png")
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert back.dtype == np.uint16 and np.array_equal(back, data)


def test_16bit_grayscale(tmp_path):
    data = (np.arange(20 * 30).reshape(20, 30) * 100).astype(np.uint16)
    src = tmp_path / "g16.png"
    Image.fromarray(data).save(src)
    img = load_image(src)
    assert img.bit_depth == 16 and img.grayscale
    assert np.allclose(img.rgb[..., 1] * 65535, data, atol=0.51)


def test_exif_orientation_is_applied(tmp_path):
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[:, :5] = 255  # white stripe on the left of a landscape image
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    path = tmp_path / "rot.jpg"
    Image.fromarray(rgb).save(path, exif=exif, quality=95)
    img = load_image(path)
    assert img.rgb.shape[:2] == (20, 10)  # portrait after orientation
    assert img.rgb[:5].mean() > 0.8  # the stripe is now at the top


@pytest.mark.parametrize("make,expected", [
    (lambda p: None, "No file"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(b"this is not an image at all"), "not an image"),
])
def test_bad_files_give_clear_errors(tmp_path, make, expected):
    path = tmp_path / "x.png"
    make(path)
    with pytest.raises(ImageReadError, match=expected):
        load_image(path)


def test_folder_is_refused(tmp_path):
    with pytest.raises(ImageReadError, match="folder"):
        load_image(tmp_path)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "t.jpg"
    Image.fromarray(_gradient(200, 200)).save(path, quality=90)
    path.write_bytes(path.read_bytes()[:400])
    with pytest.raises(ImageReadError):
        load_image(path)


def test_pixel_limit_refuses_enormous_images(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (400, 300)).save(path)
    monkeypatch.setattr(imageio, "MAX_PIXELS", 100_000)
    with pytest.raises(ImageReadError, match="megapixels"):
        load_image(path)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.new("1", (4000, 4000)).save(path)  # a few kB on disk, 16 MP when decoded
    monkeypatch.setattr(imageio, "MAX_PIXELS", 10**9)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    with pytest.raises(ImageReadError, match="decompression bomb"):
        load_image(path)


def test_save_never_overwrites_without_permission(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(_gradient()).save(src)
    img = load_image(src)
    with pytest.raises(ValueError, match="input"):
        save_png(img, src, overwrite=True)
    out = save_png(img, tmp_path / "out.png")
    with pytest.raises(FileExistsError, match="--overwrite"):
        save_png(img, out)
    save_png(img, out, overwrite=True)
    with pytest.raises(ValueError, match=".png"):
        save_png(img, tmp_path / "out.jpg")


def test_save_removes_its_temporary_file_when_the_rename_fails(tmp_path, monkeypatch):
    img = imageio.LoadedImage(_gradient().astype(np.float32) / 255)
    deep = imageio.LoadedImage(img.rgb, bit_depth=16)

    def fail(self, target):
        raise OSError("disk full")

    monkeypatch.setattr(type(tmp_path), "replace", fail)
    for image in (img, deep):
        with pytest.raises(OSError, match="disk full"):
            save_png(image, tmp_path / "out.png")
        assert list(tmp_path.iterdir()) == []


def test_save_refuses_a_folder_or_a_path_under_a_file(tmp_path):
    img = imageio.LoadedImage(_gradient().astype(np.float32) / 255)
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="folder"):
        save_png(img, tmp_path / "folder.png", overwrite=True)
    with pytest.raises(ValueError, match="a file"):
        save_png(img, tmp_path / "file.txt" / "out.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "folder.png"]


def _eps(path):
    Image.fromarray(_gradient()).save(path, format="EPS")  # Pillow writes EPS without Ghostscript


@pytest.mark.parametrize("make,name", [
    (_eps, "PostScript/EPS"),
    (lambda p: Image.fromarray(_gradient()).convert("P").save(p, format="GIF"), "GIF"),
    (lambda p: p.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"), "PDF"),
])
def test_formats_outside_the_allow_list_are_refused_before_any_plugin_reads_them(
        tmp_path, monkeypatch, make, name):
    from PIL import EpsImagePlugin, GifImagePlugin

    def untouched(self, *args, **kwargs):
        raise AssertionError("a plugin outside the allow-list read the file")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", untouched)
    monkeypatch.setattr(GifImagePlugin.GifImageFile, "_open", untouched)
    path = tmp_path / "upload.png"  # the extension does not matter: the bytes do
    make(path)
    with pytest.raises(ImageReadError, match=f"is a {name} file; Restora reads only JPEG, PNG"):
        load_image(path)


def _png_with_text_bomb(path):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    Image.new("RGB", (8, 8)).save(path)
    data = path.read_bytes()
    ztxt = b"Comment\0\0" + zlib.compress(b"a" * (50 * 1024 * 1024), 9)  # 50 MB in ~50 kB
    path.write_bytes(data[:33] + chunk(b"zTXt", ztxt) + data[33:])


def test_png_with_a_huge_compressed_text_chunk_is_bad_input(tmp_path):
    path = tmp_path / "text.png"
    _png_with_text_bomb(path)
    with pytest.raises(ImageReadError, match="safety limit"):
        load_image(path)
    from typer.testing import CliRunner

    from assistant.cli import app

    res = CliRunner().invoke(app, ["run", str(path), "denoise", "-o", str(tmp_path / "o.png")])
    assert res.exit_code == 2 and "safety limit" in res.output


def test_float_tiff_gets_a_precise_message(tmp_path):
    import cv2

    path = tmp_path / "float.tif"
    cv2.imwrite(str(path), np.random.default_rng(0).random((8, 8, 3), dtype=np.float32))
    with pytest.raises(ImageReadError, match=r"floating-point TIFF \(3 channels of 32-bit float\)"):
        load_image(path)


def test_malformed_exif_is_logged_not_warned(tmp_path, recwarn, caplog):
    import struct

    # an EXIF directory whose one tag points past the end of the data
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x010F, 2, 100, 4000)
    path = tmp_path / "exif.jpg"
    Image.fromarray(_gradient()).save(path, exif=b"Exif\x00\x00" + tiff + struct.pack("<I", 0))
    img = load_image(path)
    assert img.size == (32, 24)
    assert len(recwarn) == 0
    assert any("exif.jpg" in r.getMessage() for r in caplog.records)


def _seed_files() -> dict[str, bytes]:
    import io

    files = {}
    for fmt in ("PNG", "JPEG", "WEBP", "TIFF", "BMP"):
        buf = io.BytesIO()
        Image.fromarray(_gradient(12, 16)).save(buf, format=fmt)
        files[fmt] = buf.getvalue()
    return files


_SEEDS = _seed_files()


def _mutated(seed: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    return bytes(data[: max(1, cut)])


@pytest.mark.parametrize("fmt", sorted(_SEEDS))
def test_fuzzed_files_raise_only_image_read_errors(tmp_path, fmt):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    edits = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8)

    @settings(max_examples=100, deadline=None, derandomize=True)
    @given(edits=edits, cut=st.integers(1, len(_SEEDS[fmt])))
    def check(edits, cut):
        path = tmp_path / f"fuzz.{fmt.lower()}"
        path.write_bytes(_mutated(_SEEDS[fmt], edits, cut))
        try:
            img = load_image(path)
        except ImageReadError:
            return
        assert img.rgb.ndim == 3 and img.rgb.shape[2] == 3 and np.isfinite(img.rgb).all()

    check()


def test_a_lower_limit_is_checked_from_the_header_and_names_its_variable(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (400, 300)).save(path)
    with pytest.raises(ImageReadError, match=r"400×300 = 0.1 megapixels, above this server's limit "
                                             "of 0.1 megapixels.*RESTORA_SERVER_MAX_PIXELS"):
        load_image(path, 100_000, "RESTORA_SERVER_MAX_PIXELS")
    monkeypatch.setattr(imageio, "MAX_PIXELS", 100_000)  # never above the global limit
    with pytest.raises(ImageReadError, match="Restora's limit.*RESTORA_MAX_PIXELS"):
        load_image(path, 10**9, "RESTORA_SERVER_MAX_PIXELS")
