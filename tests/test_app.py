"""The UI callbacks as plain functions, and the Gradio app serving a page offline."""

from __future__ import annotations

import socket
import urllib.request

import numpy as np
import pytest

from assistant import EXAMPLES_DIR, ui


def test_upload_send_undo_through_handlers():
    path = str(EXAMPLES_DIR / "cat_noisy.jpg")
    session, history, shown, points = ui.upload(path, None, [], "offline")
    assert shown.shape == (300, 451, 3) and points == []
    original = shown.copy()
    session, history, cleared, shown, points = ui.send("denoise the whole photo", session, history,
                                                       [], "offline")
    assert cleared == "" and history[-2] == {"role": "user", "content": "denoise the whole photo"}
    assert "denoised" in history[-1]["content"].lower()
    assert shown.shape == original.shape and not np.array_equal(shown, original)
    session, history, shown = ui.command("undo", session, history)
    assert np.array_equal(shown, original)


def test_clicks_become_the_region_prompt():
    path = str(EXAMPLES_DIR / "cat_noisy.jpg")
    session, history, _, points = ui.upload(path, None, [], "offline")
    points = ui.add_point(points, 220, 150, True)
    points = ui.add_point(points, 5, 5, False)
    prompt = ui.points_prompt(points)
    assert [p.positive for p in prompt.points] == [True, False]
    session, history, _, shown, left = ui.send("restore this animal", session, history, points, "offline")
    assert "click" in history[-1]["content"].lower()
    assert left == []  # clicks are consumed by a successful turn


def test_bad_upload_raises_a_gradio_error(tmp_path):
    import gradio as gr

    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(gr.Error, match="not an image"):
        ui.upload(str(bad), None, [], "offline")


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
    finally:
        demo.close()
