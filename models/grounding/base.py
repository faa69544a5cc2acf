"""Grounding contracts: a target phrase (plus optional clicks/box) → a soft mask.

Coordinates are image pixels, x to the right and y down, boxes in XYXY order. Images are
``(H, W, 3)`` float32 RGB in [0, 1]; masks are ``(H, W)`` float32 in [0, 1], feathered at the edge.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Point:
    """A click in image pixels; ``positive=False`` marks a spot that is *not* the target."""

    x: float
    y: float
    positive: bool = True


@dataclass(frozen=True)
class RegionPrompt:
    """Clicks and/or a box the user gave for one target (UI or ``--click/--box``)."""

    points: tuple[Point, ...] = ()
    box_xyxy: tuple[float, float, float, float] | None = None

    def __bool__(self) -> bool:
        return bool(self.points) or self.box_xyxy is not None

    def check(self, height: int, width: int) -> None:
        """Raise ValueError when a click or box falls outside a ``height``×``width`` image."""
        for p in self.points:
            if not (0 <= p.x < width and 0 <= p.y < height):
                raise ValueError(
                    f"Click ({p.x:g}, {p.y:g}) is outside the {width}×{height} image; "
                    f"x must be in [0, {width}) and y in [0, {height})."
                )
        if self.box_xyxy is not None:
            x0, y0, x1, y1 = self.box_xyxy
            if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                raise ValueError(
                    f"Box {self.box_xyxy} is not a valid X0,Y0,X1,Y1 box inside the {width}×{height}"
                    " image (need 0 ≤ X0 < X1 ≤ width and 0 ≤ Y0 < Y1 ≤ height)."
                )


@dataclass
class Grounding:
    """Where one target is.

    mask: (H, W) float32 in [0, 1] at the image's resolution.
    score: the method's confidence in [0, 1].
    how: human-readable method for the explanation ("saliency + GrabCut", "click → SAM", …).
    """

    target: str
    mask: np.ndarray
    score: float
    how: str
    box_xyxy: tuple[float, float, float, float] | None = None

    @property
    def area_fraction(self) -> float:
        return float(self.mask.mean())


def complement_of_others(target: str, others: np.ndarray, shape: tuple[int, int]) -> Grounding:
    """``background`` as everything outside the other named regions: ``1 − others``."""
    if others.shape != shape:
        raise ValueError(f"others mask has shape {others.shape}; expected the image's {shape}.")
    mask = 1.0 - np.clip(others.astype(np.float32), 0.0, 1.0)
    h, w = shape
    return Grounding(
        target, mask, 1.0, "background = everything except the other targets", (0.0, 0.0, float(w), float(h))
    )


#: Where the user is → how to ask them for a click or a box. The browser UI takes clicks and
#: two-click boxes (Gradio's image reports clicks, not drags); the CLI takes flags; the API options.
PROMPT_HINTS: dict[str, str] = {
    "ui": "Click on it in the photo (or switch the click mode to “box corner” and click two opposite "
    "corners around it), then send the instruction again",
    "cli": "Run again with --click X,Y on it or --box X0,Y0,X1,Y1 around it (image pixels)",
    "api": 'Pass "clicks": [[x, y]] on it or "box": [x0, y0, x1, y1] around it in the options JSON',
    "batch": "Add click: [x, y] or box: [x0, y0, x1, y1] to the job",
    "library": "Pass a RegionPrompt with a click on it or a box around it",
}
SURFACES = tuple(PROMPT_HINTS)


class GroundingError(ValueError):
    """The target could not be found. The message tells the user what to do instead.

    needs_prompt: the cure is a click or a box (added by ``message_for``, worded for where the
    user is); ``str(err)`` words it for the Python library.
    """

    def __init__(self, target: str, message: str | None = None, needs_prompt: bool = False):
        self.target = target
        self.reason = message or f'I could not find "{target}" with the offline grounder.'
        self.needs_prompt = needs_prompt or message is None
        super().__init__(self.message_for("library"))

    def message_for(self, surface: str) -> str:
        """The message with the request for a click or box worded for ``surface`` (SURFACES)."""
        if surface not in PROMPT_HINTS:
            raise ValueError(f"surface must be one of {SURFACES}, got {surface!r}")
        if not self.needs_prompt:
            return self.reason
        hint = PROMPT_HINTS[surface]
        return f"{self.reason} {hint}, or say “the main subject” if it is what the photo is about."


class Grounder(abc.ABC):
    """Finds targets in one image at a time: ``set_image`` once, then ``ground`` many times.

    Per-image work (saliency, embeddings) is cached between ``ground`` calls and dropped by
    ``reset_image``.
    """

    name: str = "grounder"

    @abc.abstractmethod
    def set_image(self, image: np.ndarray) -> None:
        """image: (H, W, 3) float32 RGB in [0, 1]."""

    @abc.abstractmethod
    def ground(
        self,
        target: str,
        prompt: RegionPrompt | None = None,
        others: np.ndarray | None = None,
    ) -> Grounding:
        """Find ``target``.

        prompt: clicks/box for this target; when given they take precedence over the text.
        others: (H, W) union of the masks of the other targets in the plan, used for
            ``background`` ("everything else"). ``None`` when no other target was named.
        Raises GroundingError when the target cannot be found.
        """

    def reset_image(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Drop cached per-image state."""
