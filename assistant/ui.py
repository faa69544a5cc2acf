"""UI callbacks as plain functions: Gradio values in, domain calls, Gradio values out.

``app.py`` only lays out components and wires these. Nothing here imports gradio at module level
except for raising ``gr.Error`` inside callbacks, so these handlers are testable as functions.
Per-user state is a Session kept in ``gr.State``; images shown are 8-bit RGB(A) numpy arrays.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from assistant.imageio import ImageReadError, LoadedImage, load_image, to_pil
from assistant.pipeline import RunOptions
from assistant.session import Reply, Session
from models.grounding.base import Point, RegionPrompt

logger = logging.getLogger(__name__)

History = list[dict[str, Any]]


def _display(image: LoadedImage | None) -> np.ndarray | None:
    return None if image is None else np.asarray(to_pil(image))


def _chat(history: History, user: str | None, reply: Reply) -> History:
    history = list(history or [])
    if user:
        history.append({"role": "user", "content": user})
    history.append({"role": "assistant", "content": reply.text})
    return history


def new_session(backend: str = "auto") -> Session:
    return Session(options=RunOptions(backend=backend))  # type: ignore[arg-type]


def upload(path: str | None, session: Session | None, history: History, backend: str = "auto"):
    """A photo was uploaded (or cleared). Returns (session, history, result image, points)."""
    session = session or new_session(backend)
    if not path:
        return session, history, None, []
    try:
        image = load_image(path)
    except ImageReadError as err:
        import gradio as gr

        raise gr.Error(str(err)) from err
    reply = session.load(image)
    return session, _chat(history, None, reply), _display(session.current), []


def add_point(points: list[list[float]], x: float, y: float, positive: bool) -> list[list[float]]:
    """Remember a click on the input photo (image pixels)."""
    return [*points, [float(x), float(y), 1.0 if positive else 0.0]]


def points_prompt(points: list[list[float]] | None) -> RegionPrompt | None:
    if not points:
        return None
    return RegionPrompt(tuple(Point(x, y, bool(label)) for x, y, label in points))


def send(
    text: str,
    session: Session | None,
    history: History,
    points: list[list[float]] | None = None,
    backend: str = "auto",
    progress: Any = None,
):
    """A chat message. Returns (session, history, cleared textbox, result image, points)."""
    session = session or new_session(backend)
    text = (text or "").strip()
    if not text:
        return session, history, "", _display(session.current), points or []

    def on_stage(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(fraction, desc=stage)

    options = RunOptions(backend=backend)  # type: ignore[arg-type]
    reply = session.send(text, prompt=points_prompt(points), options=options, progress=on_stage)
    keep_points = points if not reply.ok else []
    return session, _chat(history, text, reply), "", _display(session.current), keep_points


def command(name: str, session: Session | None, history: History):
    """Undo / redo / reset buttons. Returns (session, history, result image)."""
    if session is None:
        session = new_session()
    reply = getattr(session, name)()
    return session, _chat(history, None, reply), _display(session.current)
