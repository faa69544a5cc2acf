"""``/restore``, the documented API endpoint: one stateless turn from an image file, an
instruction and an options JSON to a PNG, the explanation and the JSON report.

It runs through the same turn as the page (``ui.turn``: the server's time budget, cancellation,
memory hand-back) and the same limits (``ui.SERVER_MAX_PIXELS``), read from ``ui`` at call time.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant import ui
from assistant.imageio import ImageReadError, load_image, save_png, to_pil
from assistant.session import Session
from assistant.ui import Progress, error, restore_turn
from assistant.ui_state import Settings, UIState, _temp_root, prompt_from_json
from parsers.rules import message_problem


def _sweep(root: Path, prefix: str, max_age_s: float = 900.0) -> None:
    """Remove API output folders older than ``max_age_s`` (Gradio has copied them by then)."""
    now = time.time()
    for folder in root.glob(prefix + "*"):
        try:
            if now - folder.stat().st_mtime > max_age_s:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


def api_restore(image: str | None, instruction: str, options: str | dict | None = None,
                backend: str = "auto", progress: Progress = None
                ) -> tuple[str | None, str, dict[str, Any]]:
    """``/restore``: (image file, instruction, options JSON) → (PNG path, explanation, report).

    options (JSON object, all optional): backend, lens_blur, mask_source, steps, guidance, seed,
    box_threshold, text_threshold (the last six are for the full backend), clicks [[x, y], ...],
    negative_clicks, box [x0, y0, x1, y1] (image pixels; they apply to the first region named).
    Stateless: every call is its own conversation. Raises gr.Error with the reason on failure.
    """
    if not image:
        raise error("Give an image file to restore.")
    if not isinstance(instruction, str) or not instruction.strip():
        raise error('Give an instruction, e.g. "make the dog clear with 0.5".')
    if (problem := message_problem(instruction)) is not None:  # over-long, as typed or normalised
        raise error(problem)
    try:
        settings, prompt_json = Settings.from_json(options, backend=backend)
        prompt = prompt_from_json(prompt_json)
    except (TypeError, ValueError) as err:
        raise error(f"Bad options: {err}") from err
    try:
        loaded = load_image(image, ui.SERVER_MAX_PIXELS, "RESTORA_SERVER_MAX_PIXELS")
    except ImageReadError as err:
        raise error(str(err).replace(str(image), Path(image).name)) from err
    state = UIState(Session(loaded, settings.run_options(surface="api")))
    reply = ui.turn(state, lambda on_stage: restore_turn(state.session, instruction, prompt,
                                                        settings.run_options(prompt, "api"), on_stage),
                  progress)
    if reply is None:
        raise error("Stopped.")
    if not reply.ok:
        raise error(reply.text)
    if reply.result is None:  # help or chit-chat: nothing to restore
        return None, reply.text, {"restored": False, "explanation": reply.text,
                                  "instruction": instruction}
    root = _temp_root()
    root.mkdir(parents=True, exist_ok=True)
    _sweep(root, "api-")
    out = Path(tempfile.mkdtemp(prefix="api-", dir=root)) / "restored.png"
    if reply.result.image.bit_depth == 16:
        save_png(reply.result.image, out)  # keeps 16 bits per channel
    else:  # 8-bit: the same lossless PNG, with fast compression (1 MP: ~0.1 s instead of ~0.5 s)
        to_pil(reply.result.image).save(out, format="PNG", compress_level=1)
    report = reply.result.report()
    report.update(restored=True, instruction=instruction, settings=settings.to_dict())
    return str(out), reply.text, report
