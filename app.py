"""Restora's browser UI: layout and event wiring only (logic lives in assistant.ui).

Run with ``restora app`` or ``python app.py``; nothing is loaded at import time.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

from assistant import ui  # noqa: E402

TITLE = "Restora — restore photos region by region"
EXAMPLES = [
    "make the main subject clear with 0.5 and keep other parts bokeh blur with 1.2",
    "denoise the whole photo",
    "restore the faces strongly and leave the rest alone",
]


def create_demo(backend: str = "auto") -> gr.Blocks:
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"## {TITLE}\nUpload a photo, click on what you mean if you like, and say what "
                    "to restore. Commands: *undo*, *redo*, *start over*, *help*.")
        session = gr.State(None)
        points = gr.State([])
        with gr.Row():
            with gr.Column():
                photo = gr.Image(type="filepath", label="Your photo (click to mark the region)",
                                 elem_id="input-image", format="png")
                click_kind = gr.Radio(["positive", "negative"], value="positive",
                                      label="A click marks", elem_id="click-kind")
                clicks = gr.JSON(label="Clicks (x, y, positive)", elem_id="clicks")
            with gr.Column():
                chat = gr.Chatbot(label="Restora", elem_id="chat", height=360)
                msg = gr.Textbox(label="Instruction", placeholder=EXAMPLES[0], elem_id="msg")
                with gr.Row():
                    send = gr.Button("Send", variant="primary", elem_id="send")
                    undo = gr.Button("Undo", elem_id="undo")
                    redo = gr.Button("Redo", elem_id="redo")
                    reset = gr.Button("Start over", elem_id="reset")
                result = gr.Image(label="Result", format="png", type="numpy", elem_id="result",
                                  interactive=False)
        gr.Examples([[e] for e in EXAMPLES], inputs=[msg], cache_examples=False)

        def on_upload(path, state, history):
            return ui.upload(path, state, history, backend)

        def on_select(kind, pts, evt: gr.SelectData):
            new = ui.add_point(pts, evt.index[0], evt.index[1], kind == "positive")
            return new, new

        def on_send(text, state, history, pts, progress=gr.Progress()):
            state, history, cleared, image, pts = ui.send(text, state, history, pts, backend, progress)
            return state, history, cleared, image, pts, pts

        photo.upload(on_upload, [photo, session, chat], [session, chat, result, points])
        photo.select(on_select, [click_kind, points], [points, clicks])
        for trigger in (send.click, msg.submit):
            trigger(on_send, [msg, session, chat, points], [session, chat, msg, result, points, clicks],
                    concurrency_id="models", api_name="send" if trigger == send.click else False)
        for button, name in ((undo, "undo"), (redo, "redo"), (reset, "reset")):
            button.click(lambda s, h, n=name: ui.command(n, s, h), [session, chat],
                         [session, chat, result], api_name=False)
    return demo


def main(host: str = "127.0.0.1", port: int = 7860, backend: str = "auto") -> None:
    demo = create_demo(backend)
    demo.queue(default_concurrency_limit=1, max_size=32).launch(
        server_name=host, server_port=port, ssr_mode=False, show_error=True
    )


if __name__ == "__main__":
    main(port=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
