"""Reading and writing users' photos the way a real tool should.

Reads JPEG, PNG, WebP, TIFF and BMP and nothing else: other formats (EPS, PDF, GIF, ...) are
refused before any Pillow plugin looks at them, because some run external programs or decoders
on the file. Grayscale, palette, RGBA (alpha kept and written back), 16-bit and EXIF orientation
are handled; malformed metadata is logged, not printed as raw warnings. Every image inside Restora is
``(H, W, 3)`` float32 RGB in [0, 1]; alpha travels beside it.

Pixel limit: images above MAX_PIXELS (default 50 megapixels, overridable with the
``RESTORA_MAX_PIXELS`` environment variable) are refused with a clear message, which also
protects against decompression bombs (a tiny file that claims a huge size). The size is read from
the header before decoding; callers may pass a lower limit (the web server does).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

#: Largest image Restora opens, in pixels. 50 MP covers every consumer camera.
MAX_PIXELS = int(os.environ.get("RESTORA_MAX_PIXELS", 50_000_000))
#: Pillow formats ``load_image`` lets Pillow try, the ones the README promises (the JPEG plugin
#: also opens camera JPEGs that carry a preview picture, which Pillow calls MPO).
INPUT_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP")
READABLE = "JPEG, PNG, WebP, TIFF or BMP"
#: Leading bytes of formats people upload by mistake, to name them in the refusal.
_OTHER_FORMATS = {b"%!PS": "PostScript/EPS", b"\xc5\xd0\xd3\xc6": "EPS", b"%PDF": "PDF",
                  b"GIF8": "GIF", b"\x00\x00\x01\x00": "ICO", b"8BPS": "Photoshop (PSD)",
                  b"\x00\x00\x00\x0cjP": "JPEG 2000", b"\xffO\xffQ": "JPEG 2000"}
#: Extensions Restora writes outputs with; PNG is lossless and keeps 16-bit and alpha.
OUTPUT_SUFFIXES = (".png",)


class ImageReadError(ValueError):
    """The file is not an image Restora can read. The message says why and what to do."""


@dataclass
class LoadedImage:
    """A photo as Restora works with it.

    rgb: (H, W, 3) float32 RGB in [0, 1], EXIF orientation applied.
    alpha: (H, W) float32 in [0, 1], or None when the file had no transparency.
    bit_depth: 8 or 16 (bits per channel of the source; outputs keep it).
    jpeg_quality: IJG quality factor read from the file's quantization tables, or None.
    source: path of the file, or None for in-memory images.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8
    grayscale: bool = False
    jpeg_quality: int | None = None
    format: str | None = None
    source: Path | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return self.rgb.shape[1], self.rgb.shape[0]

    def with_rgb(self, rgb: np.ndarray) -> LoadedImage:
        """A copy with new pixels and the same alpha, depth and provenance."""
        return LoadedImage(rgb, self.alpha, self.bit_depth, self.grayscale, self.jpeg_quality,
                           self.format, self.source)


def _check_pixels(width: int, height: int, what: str, limit: int | None = None,
                  env: str = "RESTORA_MAX_PIXELS") -> None:
    """Refuse a size of zero or above ``limit`` pixels (default MAX_PIXELS); ``env`` is the
    environment variable that sets that limit, named in the message."""
    limit = MAX_PIXELS if limit is None else limit
    if width <= 0 or height <= 0:
        raise ImageReadError(f"{what} has no pixels ({width}×{height}).")
    if width * height > limit:
        raise ImageReadError(
            f"{what} is {width}×{height} = {width * height / 1e6:.1f} megapixels, above "
            f"{'Restora' if env == 'RESTORA_MAX_PIXELS' else 'this server'}'s limit of "
            f"{limit / 1e6:g} megapixels. Downscale it first, or raise the limit with the {env} "
            "environment variable if you trust the file."
        )


def from_pil(img: Image.Image, source: Path | None = None) -> LoadedImage:
    """Convert a PIL image (any mode) to a LoadedImage, applying EXIF orientation."""
    what = f"'{source}'" if source else "The image"
    _check_pixels(img.width, img.height, what)
    jpeg_quality = None
    if img.format == "JPEG" and source is not None:
        from models.quality import jpeg_quality_from_file

        jpeg_quality = jpeg_quality_from_file(source)
    fmt = img.format
    img = ImageOps.exif_transpose(img)
    mode = img.mode
    bit_depth = 16 if mode in ("I;16", "I;16B", "I;16L", "I", "RGB;16", "RGBA;16") else 8
    alpha = None
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        scale = 65535.0 if arr.max(initial=0) > 255 or bit_depth == 16 else 255.0
        gray = np.clip(arr / scale, 0.0, 1.0)
        rgb = np.repeat(gray[..., None], 3, axis=2)
    elif mode == "F":
        gray = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
        rgb = np.repeat(gray[..., None], 3, axis=2)
    else:
        has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info)
        if has_alpha:
            rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
            rgb, alpha = rgba[..., :3], rgba[..., 3]
        else:
            rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    grayscale = mode in ("L", "LA", "1", "I;16", "I;16B", "I;16L", "I", "F")
    return LoadedImage(np.ascontiguousarray(rgb, dtype=np.float32), alpha, bit_depth, grayscale,
                       jpeg_quality, fmt, source)


def _rawmode(img: Image.Image) -> str:
    args = img.tile[0].args if img.tile else ""
    return args if isinstance(args, str) else str(args[0]) if args else ""


#: EXIF orientation → (rotate k×90° counter-clockwise, then flip left-right?) for numpy arrays.
_ORIENT = {2: (0, True), 3: (2, False), 4: (2, True), 5: (3, True), 6: (3, False), 7: (1, True),
           8: (1, False)}


def _read_deep_rgb(path: Path, orientation: int) -> LoadedImage:
    """16-bit colour files, which Pillow would truncate to 8 bits: decode with OpenCV."""
    import cv2

    data = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if data is None or data.dtype != np.uint16 or data.ndim != 3:
        raise ImageReadError(f"'{path}' is a 16-bit colour image OpenCV could not decode.")
    k, flip = _ORIENT.get(orientation, (0, False))
    data = np.rot90(data, k)
    if flip:
        data = data[:, ::-1]
    arr = data.astype(np.float32) / 65535.0
    rgb = np.ascontiguousarray(arr[..., 2::-1])
    alpha = np.ascontiguousarray(arr[..., 3]) if arr.shape[2] == 4 else None
    return LoadedImage(rgb, alpha, 16, False, None, "PNG" if path.suffix.lower() == ".png" else "TIFF",
                       path)


def _not_readable(p: Path) -> ImageReadError:
    """The refusal for a file no allowed Pillow plugin accepted, naming what it is when known."""
    with p.open("rb") as f:
        head = f.read(16)
    for magic, name in _OTHER_FORMATS.items():
        if head.startswith(magic):
            return ImageReadError(f"'{p}' is a {name} file; Restora reads only {READABLE} images. "
                                  "Export it as PNG first.")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        from PIL import TiffImagePlugin

        try:
            with p.open("rb") as f, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a truncated directory: the plain message below
                ifd = TiffImagePlugin.ImageFileDirectory_v2(f.read(8))
                f.seek(ifd.next)
                ifd.load(f)
            float_samples = 3 in tuple(ifd.get(339, ()))  # SampleFormat 3: IEEE floating point
            bits = tuple(ifd.get(258, ()))
        except Exception:  # a directory too broken to read gets the plain message
            float_samples, bits = False, ()
        if float_samples:
            return ImageReadError(
                f"'{p}' is a floating-point TIFF ({len(bits)} channels of {bits[0] if bits else '?'}"
                "-bit float); Restora reads 8- and 16-bit integer images. Convert it to a 16-bit "
                "PNG or TIFF first.")
        return ImageReadError(f"'{p}' is a TIFF variant Restora cannot decode (bits per sample "
                              f"{bits or 'unknown'}); save it as an 8- or 16-bit RGB TIFF or PNG.")
    return ImageReadError(f"'{p}' is not an image Restora can read (expected {READABLE}).")


def load_image(path: str | os.PathLike[str], max_pixels: int | None = None,
               limit_env: str = "RESTORA_MAX_PIXELS") -> LoadedImage:
    """Read a photo from disk. Raises ImageReadError with a specific message on any problem.

    Only INPUT_FORMATS are opened; other files are refused before any Pillow plugin reads them.
    ``max_pixels`` (default MAX_PIXELS, never above it) is checked against the size in the file's
    header, before any pixel is decoded, so a small file that decodes to a huge image is refused
    in milliseconds; ``limit_env`` is the environment variable that sets it, named in the message.
    """
    p = Path(path)
    if max_pixels is None or max_pixels >= MAX_PIXELS:
        max_pixels, limit_env = MAX_PIXELS, "RESTORA_MAX_PIXELS"
    if not p.exists():
        raise ImageReadError(f"No file at '{p}'. Check the path.")
    if p.is_dir():
        raise ImageReadError(f"'{p}' is a folder; give the path of an image file.")
    if p.stat().st_size == 0:
        raise ImageReadError(f"'{p}' is empty (0 bytes); it is not an image.")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            loaded = _open(p, max_pixels, limit_env)
        for message in {str(w.message) for w in caught}:
            logger.warning("'%s': %s (ignored)", p, message)
        return loaded
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageReadError(
            f"'{p}' claims an enormous size and looks like a decompression bomb ({err}); refusing it."
        ) from err
    except UnidentifiedImageError as err:
        raise _not_readable(p) from err
    except ValueError as err:  # Pillow's own limits, e.g. PngImagePlugin.MAX_TEXT_CHUNK
        if isinstance(err, ImageReadError):
            raise
        raise ImageReadError(f"'{p}' was refused by a safety limit of the image reader ({err}); "
                             "it may be crafted or corrupt. Re-save it without metadata.") from err
    except OSError as err:
        raise ImageReadError(f"'{p}' could not be decoded: {err}. The file may be truncated.") from err


def _open(p: Path, limit: int, limit_env: str) -> LoadedImage:
    with Image.open(p, formats=INPUT_FORMATS) as img:  # reads the header only
        _check_pixels(img.width, img.height, f"'{p}'", limit, limit_env)
        if img.mode in ("RGB", "RGBA") and ";16" in _rawmode(img):
            return _read_deep_rgb(p, img.getexif().get(0x0112, 1))
        img.load()
        return from_pil(img, source=p)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] → uint8, rounding to nearest."""
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def to_pil(image: LoadedImage) -> Image.Image:
    """8-bit PIL image (RGB or RGBA) for display; 16-bit data is reduced to 8 bits here."""
    rgb = to_uint8(image.rgb)
    if image.alpha is not None:
        return Image.fromarray(np.dstack([rgb, to_uint8(image.alpha)]), "RGBA")
    return Image.fromarray(rgb, "RGB")


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """Check, before any work, that ``path`` can be written as a new or replaced file.

    Refuses a folder, a path under a file, and a folder that cannot be written (probed with an
    anonymous temporary file, so it holds for root and read-only file systems too). Missing
    folders are fine: they are created when the file is written. Raises ValueError saying why.
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"Output '{p}' is a folder; give a file name such as '{p / 'restored.png'}'.")
    folder = p.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"Output '{p}' is under '{folder}', which is a file, not a folder.")
    try:
        import tempfile

        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"Output '{p}' cannot be written: the folder '{folder}' is not writable "
                         f"({err.strerror or err}).") from err
    return p


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Write a file in one step: ``write(tmp)`` fills a temporary file beside ``path``, which is
    then renamed onto ``path`` (``os.replace``), so readers see the old file or the new one, never
    half of one. The temporary file is removed on every path, the rename's failure included."""
    import tempfile

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=p.parent, prefix=f".{p.stem}.", suffix=".tmp" + p.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def save_png(image: LoadedImage, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write ``image`` as PNG, keeping alpha and 16-bit depth.

    Refuses to write over an existing file unless ``overwrite``; never writes over
    ``image.source`` (the user's original) at all. The file is written beside its final name and
    renamed into place; the temporary file is removed whatever happens.
    """
    p = Path(path)
    if p.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"Output '{p}' must end in .png (Restora writes lossless PNG).")
    if image.source is not None and p.exists() and p.resolve() == image.source.resolve():
        raise ValueError(f"Refusing to overwrite the input image '{p}'; choose another output name.")
    if p.exists() and not overwrite:
        raise FileExistsError(f"'{p}' already exists; pass --overwrite to replace it.")
    check_output_path(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.png")
    try:
        if image.bit_depth == 16:
            import cv2  # Pillow cannot write 16-bit RGB PNG; OpenCV can (BGR(A) order).

            data = (np.clip(image.rgb, 0, 1) * 65535.0 + 0.5).astype(np.uint16)[..., ::-1]
            if image.alpha is not None:
                a = (np.clip(image.alpha, 0, 1) * 65535.0 + 0.5).astype(np.uint16)
                data = np.dstack([data, a])
            if not cv2.imwrite(str(tmp), np.ascontiguousarray(data)):
                raise OSError(f"could not write '{p}'")
        else:
            to_pil(image).save(tmp, format="PNG")
        tmp.replace(p)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("wrote %s", p)
    return p
