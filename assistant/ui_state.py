"""What the browser UI keeps per user, and the pictures it draws.

One ``UIState`` per browser session lives in ``gr.State`` (never in module globals): the
``Session`` (image versions, undo/redo), the chat history, the pending clicks, and a private
folder of PNG files the page shows. ``Settings`` is the settings accordion as a dataclass.
Nothing here imports gradio; images handed to the page are PNG files (lossless).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from assistant.imageio import LoadedImage, save_png, to_pil
from assistant.options import check_fields, short
from assistant.pipeline import RunOptions
from assistant.session import Session
from models.grounding.base import Grounding, Point, RegionPrompt

logger = logging.getLogger(__name__)

History = list[dict[str, Any]]

#: Click modes of the photo. Gradio 6's gr.Image reports clicks but not drags, so a box is two
#: clicks on opposite corners ("box corner" mode) instead of a drag.
CLICK_MODES: tuple[str, ...] = ("positive", "negative", "box corner")
POSITIVE, NEGATIVE, CORNER = 1, 0, 2

OFFLINE_IGNORES = "The offline backend ignores this"
SETTING_INFO: dict[str, str] = {
    "backend": "auto = full models where their weights are installed, else offline (no downloads).",
    "mask_source": "Full restorer: grounding masks, InstructRestore's learned mask decoder, or auto. "
                   f"{OFFLINE_IGNORES}: it always uses the grounding masks.",
    "lens_blur": "Let 'bokeh' regions get a synthetic lens blur.",
    "steps": f"Diffusion sampling steps of the full restorer. {OFFLINE_IGNORES}.",
    "guidance": f"Classifier-free guidance of the full restorer. {OFFLINE_IGNORES}.",
    "seed": f"Random seed of the full (diffusion) restorer. {OFFLINE_IGNORES}: it is deterministic.",
    "box_threshold": f"GroundingDINO box threshold (full grounding). {OFFLINE_IGNORES}.",
    "text_threshold": f"GroundingDINO text threshold (full grounding). {OFFLINE_IGNORES}.",
}


@dataclass(frozen=True)
class Settings:
    """The settings accordion. Defaults are the app's defaults."""

    backend: str = "auto"
    mask_source: str = "auto"
    lens_blur: bool = True
    steps: int = 20  # UniPC steps of the full restorer (InstructRestore's demo.sh)
    guidance: float = 3.6  # classifier-free guidance of the full restorer (demo.sh)
    seed: int = 0
    box_threshold: float = 0.3  # GroundingDINO's default
    text_threshold: float = 0.25  # GroundingDINO's default

    def __post_init__(self) -> None:
        check_fields(self, tuple(f.name for f in fields(self)))  # assistant.options: one validation

    def run_options(self, prompt: RegionPrompt | None = None, surface: str = "ui") -> RunOptions:
        """RunOptions for a turn: every setting reaches the stage that uses it. ``surface``: "ui"
        for the chat, "api" for the /restore endpoint (how a missing target asks for a click)."""
        extra = {k: getattr(self, k) for k in self.model_settings()}
        return RunOptions(backend=self.backend, prompt=prompt, lens_blur=self.lens_blur,  # type: ignore[arg-type]
                          surface=surface, **extra)

    @staticmethod
    def model_settings() -> tuple[str, ...]:
        return ("mask_source", "steps", "guidance", "seed", "box_threshold", "text_threshold")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, text: str | dict | None, **defaults: Any) -> tuple[Settings, dict[str, Any]]:
        """Parse the API's ``options`` JSON → (Settings, {"clicks": [...], "box": [...]}).

        Raises ValueError naming the bad key or value.
        """
        if isinstance(text, dict):
            data = dict(text)
        else:
            text = (text or "").strip()
            try:
                data = json.loads(text) if text else {}
            except json.JSONDecodeError as err:
                raise ValueError(f"options must be a JSON object, e.g. {API_OPTIONS_EXAMPLE}; "
                                 f"could not parse it: {err}") from None
            except RecursionError:  # ``[[[[...`` thousands deep
                raise ValueError(f"options nest too deeply to read; give a flat JSON object, e.g. "
                                 f"{API_OPTIONS_EXAMPLE}") from None
        if not isinstance(data, dict):
            raise ValueError(f"options must be a JSON object, got {type(data).__name__}")
        prompt_keys = {"clicks", "negative_clicks", "box"}
        valid = {f.name for f in fields(cls)} | prompt_keys
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ValueError(f"unknown option(s) {short(unknown, 80)}; valid options: {sorted(valid)}")
        prompt = {k: data.pop(k) for k in list(data) if k in prompt_keys}
        return cls(**{**defaults, **data}), prompt


API_OPTIONS_EXAMPLE = '{"backend": "offline", "clicks": [[120, 80]], "box": [10, 10, 200, 150]}'


def prompt_from_json(prompt: dict[str, Any]) -> RegionPrompt | None:
    """The API's ``clicks`` / ``negative_clicks`` / ``box`` (image pixels) → RegionPrompt."""
    try:
        points = [Point(float(x), float(y), True) for x, y in prompt.get("clicks") or []]
        points += [Point(float(x), float(y), False) for x, y in prompt.get("negative_clicks") or []]
        box = prompt.get("box")
        box_xyxy = tuple(float(v) for v in box) if box else None
    except (TypeError, ValueError) as err:
        raise ValueError("clicks/negative_clicks must be lists of [x, y] pixel pairs and box a list "
                         f"[x0, y0, x1, y1]; got {short(prompt, 80)}") from err
    if box_xyxy is not None and len(box_xyxy) != 4:
        raise ValueError(f"box must be [x0, y0, x1, y1], got {short(box)}")
    result = RegionPrompt(tuple(points), box_xyxy)  # type: ignore[arg-type]
    return result if result else None


def prompt_from_clicks(clicks: list[list[float]] | None) -> RegionPrompt | None:
    """Clicks ``[x, y, kind]`` (kind 1 positive, 0 negative, 2 box corner) → RegionPrompt.

    Two corner clicks make a box (normalised to XYXY); a lone corner is ignored (the UI asks for
    the second one before sending).
    """
    if not clicks:
        return None
    points = tuple(Point(x, y, kind == POSITIVE) for x, y, kind in clicks if kind != CORNER)
    corners = [(x, y) for x, y, kind in clicks if kind == CORNER][-2:]
    box = None
    if len(corners) == 2:
        (xa, ya), (xb, yb) = corners
        box = (min(xa, xb), min(ya, yb), max(xa, xb) + 1, max(ya, yb) + 1)
    prompt = RegionPrompt(points, box)
    return prompt if prompt else None


def lone_corner(clicks: list[list[float]] | None) -> bool:
    return sum(1 for *_, kind in clicks or [] if kind == CORNER) % 2 == 1


def describe_clicks(clicks: list[list[float]] | None) -> str:
    if not clicks:
        return "No clicks. Click the photo to point at what you mean (optional)."
    pos = sum(1 for c in clicks if c[2] == POSITIVE)
    neg = sum(1 for c in clicks if c[2] == NEGATIVE)
    parts = []
    if pos:
        parts.append(f"{pos} positive")
    if neg:
        parts.append(f"{neg} negative")
    prompt = prompt_from_clicks(clicks)
    if prompt is not None and prompt.box_xyxy is not None:
        x0, y0, x1, y1 = (round(v) for v in prompt.box_xyxy)
        parts.append(f"box ({x0}, {y0})–({x1}, {y1})")
    if lone_corner(clicks):
        parts.append("one box corner — click the opposite corner")
    return "Clicks: " + ", ".join(parts) + ". They apply to the first region your next message names."


# -- per-session state --------------------------------------------------------------------------
def _temp_root() -> Path:
    return Path(os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir()) / "restora-ui"


@dataclass(eq=False)
class UIState:
    """Everything one browser session owns.

    files/prompts map id(object) → (object, value); holding the object keeps its id unique.
    lock serialises the turns of one session; cancel is set by the Stop button and checked by
    the progress callback.
    """

    session: Session
    history: History = field(default_factory=list)
    clicks: list[list[float]] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # posted messages not yet answered
    slots: list[int] = field(default_factory=list)  # fidelity slider k → edit index
    files: dict[int, tuple[Any, str]] = field(default_factory=dict)
    prompts: dict[int, tuple[Any, RegionPrompt | None]] = field(default_factory=dict)
    out_dir: Path | None = None
    counter: int = 0
    scratch: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    busy: bool = False

    def folder(self) -> Path:
        if self.out_dir is None or not self.out_dir.is_dir():
            root = _temp_root()
            root.mkdir(parents=True, exist_ok=True)
            self.out_dir = Path(tempfile.mkdtemp(prefix="session-", dir=root))
        return self.out_dir

    def cleanup(self) -> None:
        """Remove the session's files (gr.State's delete_callback)."""
        if self.out_dir is not None:
            shutil.rmtree(self.out_dir, ignore_errors=True)
        self.files.clear()

    def prune(self) -> None:
        """Forget files and prompts of versions the session no longer has."""
        images = {id(v.image) for v in self.session.versions}
        results = {id(v.result) for v in self.session.versions if v.result is not None}
        self.files = {k: v for k, v in self.files.items() if id(v[0]) in images}
        self.prompts = {k: v for k, v in self.prompts.items() if k in results}

    def remember_prompt(self, result: Any, prompt: RegionPrompt | None) -> None:
        self.prompts[id(result)] = (result, prompt)

    def prompt_for(self, result: Any) -> RegionPrompt | None:
        entry = self.prompts.get(id(result))
        return entry[1] if entry is not None and entry[0] is result else None

    def _cached(self, key: int, obj: Any) -> str | None:
        entry = self.files.get(key)
        return entry[1] if entry is not None and entry[0] is obj and Path(entry[1]).exists() else None

    def png(self, image: LoadedImage, name: str) -> str:
        """A display PNG (8-bit, alpha kept) of ``image``, written once per image."""
        path = self._cached(id(image), image)
        if path is None:
            self.counter += 1
            path = str(self.folder() / f"restora-{name}-{self.counter}.png")
            to_pil(image).save(path, format="PNG", compress_level=1)
            self.files[id(image)] = (image, path)
        return path

    def download_png(self, image: LoadedImage, name: str) -> str:
        """The PNG to download: the display PNG for 8-bit images, a 16-bit PNG otherwise."""
        if image.bit_depth != 16:
            return self.png(image, name)
        path = self._cached(id(image) + 1, image)
        if path is None:
            self.counter += 1
            path = str(save_png(image, self.folder() / f"restora-{name}-16bit-{self.counter}.png",
                                overwrite=True))
            self.files[id(image) + 1] = (image, path)
        return path

    def thumbnail(self, image: LoadedImage, size: int = 256) -> str:
        """A small PNG for the version gallery."""
        key = -id(image)
        path = self._cached(key, image)
        if path is None:
            self.counter += 1
            pil = to_pil(image)
            pil.thumbnail((size, size))
            path = str(self.folder() / f"thumb-{self.counter}.png")
            pil.save(path, format="PNG", compress_level=1)
            self.files[key] = (image, path)
        return path

    def scratch_png(self, rgb_u8: np.ndarray, name: str) -> str:
        """A one-off PNG (photo with clicks or masks drawn on it); replaces the previous one.

        Gradio copies returned files into its cache, so the previous file is no longer needed.
        """
        if self.scratch is not None:
            Path(self.scratch).unlink(missing_ok=True)
        self.counter += 1
        self.scratch = str(self.folder() / f"{name}-{self.counter}.png")
        Image.fromarray(rgb_u8).save(self.scratch, format="PNG", compress_level=1)
        return self.scratch


# -- drawing -------------------------------------------------------------------------------------
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
    (240, 50, 230), (210, 245, 60),
)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, colour, size: int,
           bounds: tuple[int, int]) -> None:
    font = _font(size)
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    w, h = x1 - x0 + size // 2, y1 - y0 + size // 3
    x = min(max(0, xy[0] - w / 2), bounds[0] - w)
    y = min(max(0, xy[1] - h / 2), bounds[1] - h)
    draw.rectangle((x, y, x + w, y + h), fill=(20, 20, 20), outline=colour, width=max(1, size // 8))
    draw.text((x + size / 4 - x0, y + size / 6 - y0), text, fill=(255, 255, 255), font=font)


def region_overlay(rgb_u8: np.ndarray, groundings: list[Grounding]) -> np.ndarray:
    """The photo with each grounding's mask tinted in its own colour and labelled by target.

    rgb_u8: (H, W, 3) uint8; masks (H, W) float in [0, 1] at the same size. Returns uint8 RGB.
    models.grounding.masks.overlay draws it when that module is present; this module's own
    drawing is the fallback.
    """
    h, w = rgb_u8.shape[:2]
    groundings = [g for g in groundings if g.mask.shape == (h, w)]
    if not groundings:
        return rgb_u8
    try:
        from models.grounding.masks import overlay
    except ImportError:
        overlay = None
    if overlay is not None:
        return np.asarray(overlay(rgb_u8, groundings), dtype=np.uint8)
    out = rgb_u8.astype(np.float32)
    for i, g in enumerate(groundings):
        alpha = 0.45 * np.clip(g.mask, 0, 1)[..., None]
        out = out * (1 - alpha) + np.array(PALETTE[i % len(PALETTE)], np.float32) * alpha
    pil = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    size = max(12, min(h, w) // 18)
    for i, g in enumerate(groundings):
        spot = _inner_point(g.mask)
        if spot is not None:
            _label(draw, spot, f"{g.target} {g.area_fraction:.0%}", PALETTE[i % len(PALETTE)],
                   size, (w, h))
    return np.asarray(pil)


def _inner_point(mask: np.ndarray) -> tuple[float, float] | None:
    """(x, y) of the point deepest inside ``mask`` (farthest from its edge), or None if empty."""
    from scipy.ndimage import distance_transform_edt

    step = max(1, max(mask.shape) // 256)
    small = np.pad(mask[::step, ::step] > 0.5, 1)
    if not small.any():
        return None
    depth = distance_transform_edt(small)
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return float((x - 1) * step), float((y - 1) * step)


def draw_clicks(rgb_u8: np.ndarray, clicks: list[list[float]]) -> np.ndarray:
    """Markers for clicks (green +, red −, yellow corners and the box they span)."""
    if not clicks:
        return rgb_u8
    h, w = rgb_u8.shape[:2]
    pil = Image.fromarray(np.ascontiguousarray(rgb_u8))
    draw = ImageDraw.Draw(pil)
    r = max(4, min(h, w) // 60)
    line = max(2, r // 3)
    prompt = prompt_from_clicks(clicks)
    if prompt is not None and prompt.box_xyxy is not None:
        draw.rectangle(prompt.box_xyxy, outline=(255, 215, 0), width=line)
    for x, y, kind in clicks:
        if kind == CORNER:
            draw.rectangle((x - r, y - r, x + r, y + r), outline=(255, 215, 0), width=line)
            continue
        colour = (40, 200, 70) if kind == POSITIVE else (230, 40, 40)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour, outline=(255, 255, 255), width=line)
    return np.asarray(pil)
