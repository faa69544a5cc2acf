"""Restora's browser UI: layout and event wiring only (the logic lives in assistant.ui).

Run with ``restora app`` or ``python app.py`` (also the Hugging Face Space entry point). Nothing is
loaded at import time: models load on the first restoration.

Layout: the photo on the left (upload; clicks add positive/negative points; "box corner" mode
takes two clicks as opposite corners of a box, since Gradio 6's gr.Image reports clicks but not
drags; a toggle tints the last turn's regions), the chat on the right (Chatbot +
MultimodalTextbox), a before/after slider, the version history, per-region fidelity sliders, a
settings accordion and a PNG download. ``/restore`` is the documented API endpoint.

The first screen names the models that ground and restore on this machine (``first_screen.describe_models``,
from the files present; nothing is downloaded at startup or per request). The examples cover each
capability: a region named in text, a click, a bokeh "keep", JPEG artifacts and a whole-photo
denoise. Each example loads its photo, which starts a new conversation, so undo cannot be an
example (there would be nothing to undo): it is shown as a step under the examples instead.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

import assistant.spaces  # noqa: E402,F401  (import `spaces` before anything touches CUDA)
from assistant import EXAMPLES_DIR, api, first_screen, ui  # noqa: E402
from assistant.options import BACKENDS, MASK_SOURCES  # noqa: E402
from assistant.pipeline import warm_up  # noqa: E402
from assistant.spaces import use_preloaded_weights  # noqa: E402
from assistant.ui_state import (  # noqa: E402
    CLICK_MODES,
    SETTING_INFO,
    Settings,
    describe_clicks,
)

TITLE = "Restora — restore photos region by region"
#: (label, photo in assistant/examples, instruction, positive clicks [[x, y]] in image pixels)
EXAMPLES = [
    ("Text region", "astronaut_noisy.png", "restore the face strongly and denoise the rest", []),
    ("Click", "coffee_noisy.jpg", "make the cup clear with 0.6 and keep the background bokeh",
     [[300, 215]]),
    ("Bokeh keep", "cat_noisy.jpg",
     "make the main subject clear with 0.5 and keep other parts bokeh blur with 1.2", []),
    ("JPEG", "astronaut_noisy.jpg", "remove the JPEG artifacts", []),
    ("Whole photo", "coffee_noisy.jpg", "denoise the whole photo", []),
]
EXAMPLES_NOTE = ("**Examples** — each loads its photo and sends its instruction (the *Click* one "
                 "also places a click on the cup, drawn on the photo). **Undo:** after any of them, "
                 "type *undo* or press ↶ Undo; *redo* brings the change back.")
#: Model-bound events share one concurrency slot (one restoration at a time per process).
MODELS = {"concurrency_id": "restora-models",
          "concurrency_limit": int(os.environ.get("RESTORA_CONCURRENCY", 1))}
QUEUE_SIZE = int(os.environ.get("RESTORA_QUEUE_SIZE", 20))
API_DOC = ("Restore one photo from one instruction. image: a photo file; instruction: e.g. "
           "'make the dog clear with 0.5'; options: a JSON object (may be '{}') with any of backend "
           "(auto|offline|full), lens_blur, mask_source (auto|grounding|decoder), steps, guidance, seed, "
           "box_threshold, text_threshold (the last six only matter for the full backend), "
           "clicks [[x, y], ...], negative_clicks, box [x0, y0, x1, y1] (pixels, for the first region). "
           "Returns the restored PNG, the explanation and a JSON report.")


def _settings(*values) -> Settings:
    try:
        return Settings(*values)
    except (TypeError, ValueError) as err:
        raise gr.Error(f"Bad setting: {err}", print_exception=False) from err


def create_demo(backend: str = "auto") -> gr.Blocks:
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(f"## {TITLE}\nUpload a photo, optionally click what you mean, and say what to "
                    "restore, e.g. *make the dog clear with 0.5 and keep the background bokeh*. "
                    "Commands: *undo*, *redo*, *start over*, *help*.")
        gr.Markdown(first_screen.describe_models(backend), elem_id="models")
        state = gr.State(None, time_to_live=6 * 3600,
                         delete_callback=lambda s: s.cleanup() if s is not None else None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                photo = gr.Image(type="filepath", image_mode=None, format="png", label="Photo — "
                                 "click to mark the region", sources=["upload", "clipboard"],
                                 elem_id="photo", height=420)
                with gr.Row():
                    click_mode = gr.Radio(list(CLICK_MODES), value="positive", label="A click adds",
                                          elem_id="click-mode", scale=3)
                    show_masks = gr.Checkbox(label="Show region masks", elem_id="show-masks", scale=1)
                with gr.Row():
                    clicks = gr.Markdown(describe_clicks([]), elem_id="clicks")
                    clear = gr.Button("Clear clicks", size="sm", elem_id="clear-clicks", scale=0)
                compare = gr.ImageSlider(label="Before / after (current version)", format="png",
                                         type="filepath", interactive=False, elem_id="compare")
            with gr.Column(scale=1):
                chat = gr.Chatbot(label="Restora", elem_id="chat", height=460, buttons=["copy"])
                msg = gr.MultimodalTextbox(placeholder=EXAMPLES[2][2], file_types=["image"],
                                           sources=["upload"], show_label=False, elem_id="msg")
                with gr.Row():
                    undo = gr.Button("↶ Undo", elem_id="undo", size="sm")
                    redo = gr.Button("↷ Redo", elem_id="redo", size="sm")
                    reset = gr.Button("Start over", elem_id="reset", size="sm")
                    stop = gr.Button("■ Stop", elem_id="stop", size="sm", variant="stop")
                    download = gr.DownloadButton("Download PNG", elem_id="download", size="sm",
                                                 interactive=False)
                with gr.Group():
                    sliders = [gr.Slider(0, 2, 1, step=0.05, visible=False, buttons=[],
                                         elem_id=f"fidelity-{k}") for k in range(ui.MAX_SLIDERS)]
                versions = gr.Gallery(label="Versions (click one to go back to it)", format="png",
                                      columns=6, height=150, allow_preview=False, fit_columns=False,
                                      object_fit="contain", elem_id="versions", interactive=False)
        with gr.Accordion("Settings", open=False, elem_id="settings"):
            with gr.Row():
                s_backend = gr.Radio(list(BACKENDS), value=backend, label="Backend",
                                     info=SETTING_INFO["backend"], elem_id="backend")
                s_masks = gr.Radio(list(MASK_SOURCES), value="auto", label="Mask source",
                                   info=SETTING_INFO["mask_source"], elem_id="mask-source")
                s_lens = gr.Checkbox(True, label="Lens blur", info=SETTING_INFO["lens_blur"])
            with gr.Row():
                s_steps = gr.Slider(1, 100, 20, step=1, label="Steps", info=SETTING_INFO["steps"])
                s_guidance = gr.Slider(0, 15, 3.6, step=0.1, label="Guidance",
                                       info=SETTING_INFO["guidance"])
                s_seed = gr.Number(0, precision=0, label="Seed", info=SETTING_INFO["seed"])
            with gr.Row():
                s_box = gr.Slider(0, 0.95, 0.3, step=0.05, label="Box threshold",
                                  info=SETTING_INFO["box_threshold"])
                s_text = gr.Slider(0, 0.95, 0.25, step=0.05, label="Text threshold",
                                   info=SETTING_INFO["text_threshold"])
        settings = [s_backend, s_masks, s_lens, s_steps, s_guidance, s_seed, s_box, s_text]
        example_clicks = gr.Textbox(visible=False)  # an example's clicks, as JSON
        gr.Markdown(EXAMPLES_NOTE)
        examples = gr.Examples(
            [[str(EXAMPLES_DIR / f), {"text": t, "files": []}, json.dumps(c)] for _, f, t, c in EXAMPLES],
            inputs=[photo, msg, example_clicks], cache_examples=False, label="Examples",
            example_labels=[f"{label}: {t}" for label, _, t, _ in EXAMPLES])
        with gr.Column(visible=False):  # the /restore API endpoint's own components
            api_image = gr.File(label="image", type="filepath")
            api_instruction = gr.Textbox(label="instruction")
            api_options = gr.Textbox("{}", label="options")
            api_result = gr.Image(label="restored", type="filepath", format="png")
            api_explanation = gr.Textbox(label="explanation")
            api_report = gr.JSON(label="report")
            api_button = gr.Button("restore")

        view = [state, chat, photo, compare, versions, download, *sliders, clicks]

        def show(v: ui.View) -> tuple:
            return (v.state, v.history, v.photo, v.compare,
                    gr.Gallery(value=v.versions, selected_index=v.version_index),
                    gr.DownloadButton(value=v.download, interactive=v.download is not None),
                    *(gr.Slider(value=s.value, label=s.label, info=s.info, visible=s.visible)
                      for s in v.sliders), v.clicks)

        def on_upload(st, photo_file, masks):
            # the upload event skips Gradio's preprocessing (which opens the file with PIL and
            # would fail with a bare PIL error on a bad file): load_image gets the raw file and
            # explains any problem itself.
            path = photo_file.get("path") if isinstance(photo_file, dict) else photo_file
            return show(ui.upload(st, path, backend, masks))

        def on_click(st, mode, masks, evt: gr.SelectData):
            x, y = evt.index if evt.index is not None else (None, None)
            return show(ui.click(st, x, y, mode, masks))

        def on_post(st, message, masks, b):
            return (*show(ui.post(st, message, b, masks)), None)

        def on_respond(st, masks, b, m, lens, steps, g, seed, bt, tt, progress=gr.Progress()):
            s = _settings(b, m, lens, steps, g, seed, bt, tt)
            return show(ui.respond(st, s, masks, progress))

        def on_example(st, path, message, masks, b, example_click_json):
            return (*show(ui.example(st, path, message, b, masks, example_click_json)), None)

        def on_version(st, masks, evt: gr.SelectData):
            return show(ui.select_version(st, evt.index, masks))

        def on_restore(image, instruction, options, progress=gr.Progress()):
            return api.api_restore(image, instruction, options, backend, progress)

        def command(name):
            return lambda st, masks: show(ui.command(st, name, masks))

        def adjust(k):
            def on_adjust(st, value, masks, b, m, lens, steps, g, seed, bt, tt, progress=gr.Progress()):
                s = _settings(b, m, lens, steps, g, seed, bt, tt)
                return show(ui.adjust_fidelity(st, k, value, s, masks, progress))
            return on_adjust

        quiet = {"api_visibility": "private", "show_progress": "hidden"}  # quick UI events
        run = {**MODELS, "api_visibility": "private", "show_progress_on": [chat]}  # model events
        loads = {"api_visibility": "private", "show_progress_on": [photo]}
        photo.upload(on_upload, [state, photo, show_masks], view, preprocess=False, **loads)
        photo.clear(on_upload, [state, photo, show_masks], view, **loads)
        # every click counts (the default trigger_mode "once" drops clicks made while one is drawn)
        photo.select(on_click, [state, click_mode, show_masks], view, trigger_mode="multiple",
                     concurrency_id="restora-clicks", concurrency_limit=1, **quiet)
        clear.click(lambda st, masks: show(ui.clear_clicks(st, masks)), [state, show_masks], view, **quiet)
        show_masks.change(lambda st, masks: show(ui.render(st or ui.new_state(backend), masks)),
                          [state, show_masks], view, **quiet)
        # a chat turn is two events: post (shows the message at once), then respond (the models)
        posted = msg.submit(on_post, [state, msg, show_masks, s_backend], [*view, msg], queue=False,
                            **quiet)
        example_posted = examples.load_input_event.then(
            on_example, [state, photo, msg, show_masks, s_backend, example_clicks], [*view, msg], **loads)
        running = [
            posted.success(on_respond, [state, show_masks, *settings], view, **run),
            example_posted.success(on_respond, [state, show_masks, *settings], view, **run),
            *(slider.release(adjust(k), [state, slider, show_masks, *settings], view, **run)
              for k, slider in enumerate(sliders)),
        ]
        for button, name in ((undo, "undo"), (redo, "redo"), (reset, "reset")):
            button.click(command(name), [state, show_masks], view, **quiet)
        versions.select(on_version, [state, show_masks], view, **quiet)
        stop.click(ui.stop, [state], [chat], cancels=running, queue=False, **quiet)
        api_button.click(on_restore, [api_image, api_instruction, api_options],
                         [api_result, api_explanation, api_report], api_name="restore",
                         api_description=API_DOC, **MODELS)
    return demo


def main(host: str = "127.0.0.1", port: int = 7860, backend: str = "auto") -> None:
    # Load the offline models before serving, so the first reply does not pay for importing torch,
    # reading the weights and first-calling OpenCV/scikit-image (~1.5 s, see pipeline.warm_up):
    # warming up in the background instead made the first reply compete with it for the CPU.
    use_preloaded_weights()  # a Space's preload_from_hub files (reads the cache layout only)
    warm_up(backend)
    demo = create_demo(backend)
    demo.queue(default_concurrency_limit=8, max_size=QUEUE_SIZE).launch(
        server_name=host, server_port=port, ssr_mode=False, show_error=True, max_file_size="64mb",
        footer_links=["api", "gradio"], prevent_thread_lock=True,
    )
    demo.block_thread()


if __name__ == "__main__":  # `python app.py`, and the Hugging Face Space
    main(host=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
         port=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
         backend=os.environ.get("RESTORA_BACKEND", "auto"))
