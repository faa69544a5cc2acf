"""The UI callbacks as plain functions, the UI state helpers, and the Gradio app serving offline."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from assistant import EXAMPLES_DIR, api, ui
from assistant.ui_state import (
    CORNER,
    NEGATIVE,
    POSITIVE,
    Settings,
    describe_clicks,
    prompt_from_clicks,
    prompt_from_json,
    region_overlay,
)
from models.grounding.base import Grounding

CAT = str(EXAMPLES_DIR / "cat_noisy.jpg")
TWO_REGIONS = "make the main subject clear with 0.5 and keep other parts bokeh blur with 1.2"
OFFLINE = Settings(backend="offline")


def _pixels(path: str) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


@pytest.fixture(autouse=True)
def _files_in_tmp(tmp_path, monkeypatch):
    """The UI writes its PNGs under GRADIO_TEMP_DIR; keep them in the test's folder."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))


@pytest.fixture
def loaded() -> ui.View:
    return ui.upload(None, CAT, "offline")


def test_upload_send_undo_through_handlers(loaded):
    view = loaded
    original = _pixels(view.photo)
    assert original.shape == (300, 451, 3) and view.compare is None and view.download
    assert view.history[-1]["content"].startswith("Loaded a 451×300 photo")
    view = ui.send(view.state, TWO_REGIONS, OFFLINE)
    assert view.history[-3] == {"role": "user", "content": TWO_REGIONS}
    assert view.history[-2]["content"].startswith("Restored the main subject")
    shown = _pixels(view.photo)
    assert shown.shape == original.shape and not np.array_equal(shown, original)
    assert np.array_equal(_pixels(view.history[-1]["content"]["path"]), shown)  # the reply's image
    before, after = view.compare
    assert np.array_equal(_pixels(before), original) and np.array_equal(_pixels(after), shown)
    assert [c for _, c in view.versions] == ["v0 · original", "v1 · " + TWO_REGIONS[:47] + "…"]
    assert view.version_index == 1 and np.array_equal(_pixels(view.download), shown)
    view = ui.command(view.state, "undo")
    assert np.array_equal(_pixels(view.photo), original) and "Undone" in view.history[-1]["content"]
    view = ui.command(view.state, "redo")
    assert np.array_equal(_pixels(view.photo), shown)
    view = ui.select_version(view.state, 0)
    assert view.version_index == 0 and np.array_equal(_pixels(view.photo), original)


def test_chat_commands_match_the_buttons(loaded):
    view = ui.send(loaded.state, "denoise the whole photo", OFFLINE)
    view = ui.send(view.state, "undo", OFFLINE)
    assert view.version_index == 0 and view.history[-1]["content"].startswith("Undone")


def test_a_turn_posts_the_message_first_then_responds(loaded):
    view = ui.post(loaded.state, {"text": "denoise the whole photo", "files": []}, "offline")
    assert view.history[-1] == {"role": "user", "content": "denoise the whole photo"}
    assert view.state.pending == ["denoise the whole photo"] and len(view.state.session.versions) == 1
    view = ui.respond(view.state, OFFLINE)
    assert view.state.pending == [] and len(view.state.session.versions) == 2
    ui.post(view.state, "sharpen the photo", "offline")
    ui.stop(view.state)  # Stop drops messages that have not started
    assert ui.respond(view.state, OFFLINE).state.session.index == 1


def test_a_photo_attached_to_the_message_is_loaded(loaded):
    view = ui.post(loaded.state, {"text": "", "files": [str(EXAMPLES_DIR / "coffee_noisy.jpg")]})
    assert view.history[-2]["role"] == "user" and view.history[-1]["content"].startswith("Loaded a 600×400")
    assert _pixels(view.photo).shape == (400, 600, 3) and view.state.pending == []


def test_clicks_become_the_region_prompt(loaded):
    view = ui.click(loaded.state, 220, 150, "positive")
    view = ui.click(view.state, 5, 5, "negative")
    assert "1 positive, 1 negative" in view.clicks
    prompt = prompt_from_clicks(view.state.clicks)
    assert [p.positive for p in prompt.points] == [True, False]
    assert not np.array_equal(_pixels(view.photo), _pixels(loaded.photo))  # markers drawn
    view = ui.send(view.state, "restore this animal", OFFLINE)
    assert "click" in view.history[-2]["content"].lower()
    assert view.state.clicks == []  # clicks are consumed by a successful turn


def test_two_corner_clicks_make_a_box():
    clicks = [[300.0, 40.0, CORNER], [100.0, 200.0, CORNER], [150.0, 120.0, POSITIVE]]
    prompt = prompt_from_clicks(clicks)
    assert prompt.box_xyxy == (100.0, 40.0, 301.0, 201.0)
    assert [(p.x, p.y, p.positive) for p in prompt.points] == [(150.0, 120.0, True)]
    assert "one box corner" in describe_clicks(clicks[:1]) and prompt_from_clicks(clicks[:1]) is None
    assert prompt_from_clicks([[1.0, 1.0, NEGATIVE]]).points[0].positive is False


def test_a_lone_box_corner_asks_for_the_other_one(loaded):
    view = ui.click(loaded.state, 10, 10, "box corner")
    view = ui.send(view.state, "restore this", OFFLINE)
    assert "opposite corner" in view.history[-1]["content"] and len(view.state.session.versions) == 1


def test_a_fidelity_slider_reruns_the_last_plan_from_its_start(loaded):
    view = ui.send(loaded.state, TWO_REGIONS, OFFLINE)
    assert [(s.visible, s.value) for s in view.sliders[:3]] == [(True, 0.5), (True, 1.2), (False, 1.0)]
    first = _pixels(view.photo)
    view = ui.adjust_fidelity(view.state, 0, 1.5, OFFLINE)
    session = view.state.session
    assert len(session.versions) == 3 and session.versions[2].start == 0  # from the original
    assert [e.fidelity for e in session.last_result.plan.edits] == [1.5, 1.2]
    assert "Adjusted your last request" in view.history[-2]["content"]
    assert view.sliders[0].value == 1.5 and not np.array_equal(_pixels(view.photo), first)
    same = ui.adjust_fidelity(view.state, 0, 1.5, OFFLINE)  # unchanged value: no new version
    assert len(same.state.session.versions) == 3


def test_region_masks_overlay_is_labelled_by_target():
    rgb = np.full((60, 80, 3), 128, np.uint8)
    mask = np.zeros((60, 80), np.float32)
    mask[10:40, 10:50] = 1
    out = region_overlay(rgb, [Grounding("dog", mask, 0.9, "test"),
                               Grounding("background", 1 - mask, 1.0, "test")])
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert not np.array_equal(out[20, 15], rgb[20, 15]) and not np.array_equal(out[55, 75], rgb[55, 75])
    view = ui.send(ui.upload(None, CAT, "offline").state, TWO_REGIONS, OFFLINE)
    plain = _pixels(view.photo)
    masked = _pixels(ui.render(view.state, show_masks=True).photo)
    assert masked.shape == plain.shape and not np.array_equal(masked, plain)


def test_settings_map_to_run_options():
    s = Settings(backend="offline", lens_blur=False, steps=7, guidance=2.5, seed=3, box_threshold=0.4,
                 text_threshold=0.2, mask_source="decoder")
    opts = s.run_options(None)
    assert opts.backend == "offline" and opts.lens_blur is False
    got = (opts.steps, opts.guidance, opts.seed, opts.box_threshold, opts.text_threshold, opts.mask_source)
    assert got == (7, 2.5, 3, 0.4, 0.2, "decoder")
    with pytest.raises(ValueError, match="backend"):
        Settings(backend="gpu")
    settings, prompt = Settings.from_json('{"backend": "offline", "clicks": [[3, 4]], "box": [0, 0, 9, 9]}')
    assert settings.backend == "offline" and prompt_from_json(prompt).box_xyxy == (0, 0, 9, 9)
    with pytest.raises(ValueError, match="unknown option"):
        Settings.from_json('{"strength": 2}')
    with pytest.raises(ValueError, match="JSON object"):
        Settings.from_json("backend=offline")


def test_bad_upload_raises_a_gradio_error(tmp_path):
    import gradio as gr

    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(gr.Error, match="not an image"):
        ui.upload(None, str(bad), "offline")


def test_api_restore_returns_png_explanation_and_report():
    import gradio as gr

    path, explanation, report = api.api_restore(CAT, TWO_REGIONS, '{"backend": "offline"}')
    assert Path(path).suffix == ".png" and _pixels(path).shape == (300, 451, 3)
    assert explanation == report["explanation"] and report["restored"] is True
    assert [r["target"] for r in report["regions"]] == ["main subject", "background"]
    assert report["settings"]["backend"] == "offline" and "timings_s" in report
    json.dumps(report)  # JSON-serialisable
    with pytest.raises(gr.Error, match="outside the valid range"):
        api.api_restore(CAT, "denoise it with 3", "{}")
    with pytest.raises(gr.Error, match="Bad options"):
        api.api_restore(CAT, "denoise", '{"backend": "gpu"}')


def test_stop_cancels_the_turn_without_changing_the_photo(loaded):
    state = loaded.state

    def work(on_stage):
        state.cancel.set()  # Stop pressed while the pipeline runs
        return ui.restore_turn(state.session, "denoise the whole photo", None, OFFLINE.run_options(),
                               on_stage)

    assert ui.turn(state, work, None) is None
    assert len(state.session.versions) == 1 and not state.busy
    assert ui.stop(state)[-1]["content"].startswith("Stopped")


def test_spaces_gpu_is_a_no_op_without_the_spaces_package():
    from assistant.spaces import gpu

    def f(x):
        return x + 1

    assert gpu(f) is f and gpu(duration=30)(f) is f


def test_importing_the_app_loads_no_models():
    code = ("import sys, app; app.create_demo('offline'); "
            "print(sorted(m for m in ('torch', 'transformers', 'diffusers', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_app_serves_its_page_offline():
    import app

    demo = app.create_demo("offline")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                        ssr_mode=False)
    try:
        html = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read().decode()
        assert "Restora" in html
        info = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/info",
                                                 timeout=30).read())
        params = [p["parameter_name"] for p in info["named_endpoints"]["/restore"]["parameters"]]
        assert params == ["image", "instruction", "options"]
        assert list(info["named_endpoints"]) == ["/restore"]  # UI events are private
    finally:
        demo.close()


@pytest.mark.parametrize("options,expected", [
    ('{"steps": Infinity}', "steps must be a whole number from 1 to 1000; got inf"),
    ('{"seed": "abc"}', "seed must be a whole number"),
    ('{"guidance": NaN}', r"guidance must be a finite number in \[0, 30\]"),
    ('{"lens_blur": "no"}', "lens_blur must be true or false"),
    ('{"box_threshold": 1}', r"box_threshold must be a finite number in \[0, 1\)"),
])
def test_api_options_junk_is_a_clear_error_before_any_work(options, expected):
    import gradio as gr

    with pytest.raises(gr.Error, match=f"Bad options: {expected}"):
        api.api_restore(CAT, "denoise", options)


def test_api_refuses_formats_outside_the_allow_list(tmp_path):
    import gradio as gr

    eps = tmp_path / "upload.eps"
    Image.new("RGB", (8, 8)).save(eps, format="EPS")
    with pytest.raises(gr.Error, match="upload.eps' is a PostScript/EPS file"):
        api.api_restore(str(eps), "denoise", "{}")


def _png_bomb(path: Path, side: int = 7000) -> Path:
    """A real, decodable grayscale PNG of side×side black pixels: about 50 KB on disk."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    squeeze, row = zlib.compressobj(9), bytes(side + 1)  # filter byte 0, then `side` zeros
    idat = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def test_a_small_file_that_decodes_to_49_megapixels_is_refused_in_milliseconds(tmp_path):
    import gradio as gr

    bomb = _png_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 200_000
    expected = r"bomb.png' is 7000×7000 = 49.0 megapixels, .*limit of 16 megapixels.*RESTORA_SERVER_MAX"
    for call in (lambda: api.api_restore(str(bomb), "denoise", "{}"),
                 lambda: ui.upload(None, str(bomb), "offline")):
        t0 = time.perf_counter()
        with pytest.raises(gr.Error, match=expected):
            call()
        assert time.perf_counter() - t0 < 1.0


def test_a_request_past_the_time_budget_is_a_clear_error_and_frees_its_slot(monkeypatch):
    import gradio as gr

    monkeypatch.setattr(ui, "SERVER_TIMEOUT_S", 0.01)
    with pytest.raises(gr.Error, match=r"Stopped after 0.01 s, this server's time limit .*"
                                       "RESTORA_SERVER_TIMEOUT_S"):
        api.api_restore(CAT, "denoise the whole photo", '{"backend": "offline"}')
    view = ui.upload(None, CAT, "offline")
    with pytest.raises(gr.Error, match="time limit"):
        ui.send(view.state, "denoise the whole photo", OFFLINE)
    assert not view.state.busy and not view.state.lock.locked()
    assert len(view.state.session.versions) == 1  # the photo was not changed
    monkeypatch.setattr(ui, "SERVER_TIMEOUT_S", 300.0)
    assert ui.send(view.state, "denoise the whole photo", OFFLINE).state.session.index == 1


def test_a_browser_session_keeps_at_most_server_max_versions(monkeypatch):
    monkeypatch.setattr(ui, "SERVER_MAX_VERSIONS", 3)
    view = ui.upload(None, CAT, "offline")
    for text in ("denoise the whole photo", "sharpen the whole photo", "denoise it with 0.5",
                 "sharpen the left half"):
        view = ui.send(view.state, text, OFFLINE)
    assert len(view.state.session.versions) == len(view.versions) == 3
    kept = {id(v.image) for v in view.state.session.versions}
    assert all(id(image) in kept for image, _ in view.state.files.values())


def test_every_turn_hands_the_freed_heap_back(monkeypatch):
    """After each turn the server calls malloc_trim (glibc), so RSS does not step up per thread."""
    ui._release_freed_memory()  # the real call: harmless here, a no-op without glibc
    calls = []
    monkeypatch.setattr(ui, "_release_freed_memory", lambda: calls.append(1))
    api.api_restore(CAT, "denoise the whole photo", '{"backend": "offline"}')
    view = ui.upload(None, CAT, "offline")
    ui.send(view.state, "denoise the whole photo", OFFLINE)
    assert calls == [1, 1]
