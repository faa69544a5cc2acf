"""The chat UI in a real browser (Debian chromium + Playwright), and its API over gradio_client.

The app runs as a subprocess on a free port, offline (no telemetry, HF_HUB_OFFLINE=1), on the
offline backend. Screenshots are written to ``artifacts/ui/`` in the repository root (git-ignored).
Browser tests are marked ``browser`` and skip when /usr/bin/chromium is missing; the API tests need
only the server.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "assistant" / "examples"
ARTIFACTS = REPO / "artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TWO_REGIONS = "make the main subject clear with 0.5 and keep other parts bokeh blur with 1.2"
REPLY_TIMEOUT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app as a subprocess (`app.main` on the offline backend); its log is shown on failure."""
    port = _free_port()
    tmp = tmp_path_factory.mktemp("app")
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
               HF_HUB_DISABLE_TELEMETRY="1", GRADIO_RUN_HISTORY="False", PYTHONUNBUFFERED="1",
               GRADIO_TEMP_DIR=str(tmp / "gradio"))
    log_path = tmp / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", f"import app; app.main(port={port}, backend='offline')"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the app exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                urllib.request.urlopen(url + "gradio_api/info", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the app did not start in 60 s:\n{log_path.read_text()}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = log_path.read_text()
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests need it")
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tempfile.mkdtemp(prefix="restora-pw-")
    try:
        with sync_api.sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=CHROME_ARGS,
                viewport={"width": 1400, "height": 1000})
            yield ctx
            ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser, app_url):
    """A fresh tab on the app; fails the test if the page fetched anything from outside."""
    page = browser.new_page()
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    page.goto(app_url, wait_until="load")
    yield page
    page.close()
    assert external == [], f"the page made external requests: {external}"


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _pixels(page, img) -> np.ndarray:
    """Download what an <img> shows and decode it."""
    src = img.get_attribute("src")
    body = page.request.get(src).body()
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """The bundled example photos at 60% size (PNG), to keep the offline turns quick."""
    folder = tmp_path_factory.mktemp("photos")
    for path in EXAMPLES.glob("*.jpg"):
        with Image.open(path) as im:
            small = im.convert("RGB").resize((round(im.width * 0.6), round(im.height * 0.6)),
                                             Image.Resampling.LANCZOS)
            small.save(folder / f"{path.stem}.png")
    return folder


def _original(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _upload(page, path: Path) -> None:
    from playwright.sync_api import expect

    page.locator("#photo input[type=file]").set_input_files(str(path))
    expect(page.locator("#chat")).to_contain_text("Loaded a", timeout=30_000)
    expect(page.locator("#photo img").first).to_be_visible()


def _send(page, text: str) -> None:
    from playwright.sync_api import expect

    before = page.locator("#chat [data-testid=bot]").count()
    page.locator("#msg textarea").fill(text)
    page.locator("#msg textarea").press("Enter")
    expect(page.locator("#chat [data-testid=user]").last).to_contain_text(text[:30])
    # a reply is the explanation, plus the image when something was restored, in one update
    page.wait_for_function(f"document.querySelectorAll('#chat [data-testid=bot]').length > {before}",
                           timeout=REPLY_TIMEOUT_MS)


def _last_reply(page):
    """The last text message from the assistant."""
    return page.locator("#chat [data-testid=bot]").filter(has_not=page.locator("img")).last


def _last_image(page):
    return page.locator("#chat [data-testid=bot] img").last


@pytest.mark.browser
def test_upload_instruction_reply_with_image_and_explanation(page, photos, tmp_path):
    from playwright.sync_api import expect

    _upload(page, photos / "cat_noisy.png")
    _send(page, TWO_REGIONS)
    reply = _last_reply(page)
    expect(reply).to_contain_text("main subject")
    expect(reply).to_contain_text("background")
    expect(reply).to_contain_text("Ran on")
    result = _pixels(page, _last_image(page))
    original = _original(photos / "cat_noisy.png")
    assert result.shape == original.shape and not np.array_equal(result, original)
    expect(page.locator("#compare img")).to_have_count(2)
    with page.expect_download() as download:
        page.locator("#download").click()
    saved = tmp_path / "download.png"
    download.value.save_as(saved)
    with Image.open(saved) as im:
        assert im.format == "PNG" and np.array_equal(np.asarray(im.convert("RGB")), result)
    expect(page.locator("#fidelity-0")).to_be_visible()
    expect(page.locator("#fidelity-1")).to_be_visible()
    expect(page.locator("#versions img")).to_have_count(2)
    _shot(page, "01-reply")
    page.locator("#show-masks input").check()
    expect(page.locator("#photo img").first).to_have_attribute("src", __import__("re").compile("marked"))
    masked = _pixels(page, page.locator("#photo img").first)
    assert masked.shape == original.shape
    _shot(page, "02-region-masks")


@pytest.mark.browser
def test_click_a_point_and_restore_that_region(page, photos):
    from playwright.sync_api import expect

    _upload(page, photos / "cat_noisy.png")
    img = page.locator("#photo img").first
    box = img.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.45)
    expect(page.locator("#clicks")).to_contain_text("1 positive")
    _shot(page, "03-click")
    _send(page, "restore this animal")
    expect(_last_reply(page)).to_contain_text("click")
    expect(page.locator("#clicks")).to_contain_text("No clicks")  # consumed by the turn
    _shot(page, "04-click-restored")


@pytest.mark.browser
def test_undo_returns_the_previous_version(page, photos):
    from playwright.sync_api import expect

    _upload(page, photos / "coffee_noisy.png")
    original = _original(photos / "coffee_noisy.png")
    _send(page, TWO_REGIONS)
    restored = _pixels(page, page.locator("#photo img").first)
    assert restored.shape == original.shape and not np.array_equal(restored, original)
    page.locator("#undo").click()
    expect(_last_reply(page)).to_contain_text("Undone")
    expect(page.locator("#compare img")).to_have_count(0)
    assert np.array_equal(_pixels(page, page.locator("#photo img").first), original)
    page.locator("#redo").click()
    expect(_last_reply(page)).to_contain_text("Redone")
    assert np.array_equal(_pixels(page, page.locator("#photo img").first), restored)
    _shot(page, "05-undo-redo")


@pytest.mark.browser
def test_moving_a_fidelity_slider_reruns_the_plan(page, photos):
    from playwright.sync_api import expect

    _upload(page, photos / "cat_noisy.png")
    _send(page, TWO_REGIONS)
    first = _pixels(page, page.locator("#photo img").first)
    number = page.locator("#fidelity-0 input[type=number]")
    expect(number).to_have_value("0.5")
    number.fill("1.5")
    number.blur()  # the number box reports "release" on blur, as the range does on pointer-up
    expect(_last_reply(page)).to_contain_text("Adjusted your last request", timeout=REPLY_TIMEOUT_MS)
    expect(_last_reply(page)).to_contain_text("1.5")
    expect(page.locator("#versions img")).to_have_count(3)
    second = _pixels(page, page.locator("#photo img").first)
    assert second.shape == first.shape and not np.array_equal(first, second)
    _shot(page, "06-fidelity-rerun")


@pytest.mark.browser
def test_stop_cancels_the_running_turn(page):
    from playwright.sync_api import expect

    _upload(page, EXAMPLES / "cat_noisy.jpg")  # full size: grounding it outlasts the click on Stop
    page.locator("#msg textarea").fill(TWO_REGIONS)
    page.locator("#msg textarea").press("Enter")
    expect(page.locator("#chat [data-testid=user]").last).to_contain_text(TWO_REGIONS[:30])
    page.locator("#stop").click()
    expect(_last_reply(page)).to_contain_text("Stopped. The photo was not changed.")
    # the next turn waits for the stopped one to let go; nothing was added, so nothing to undo
    _send(page, "undo")
    expect(_last_reply(page)).to_contain_text("Nothing to undo")
    expect(page.locator("#versions img")).to_have_count(1)


@pytest.mark.browser
def test_an_unreadable_upload_gets_a_friendly_error(page, tmp_path):
    from playwright.sync_api import expect

    bad = tmp_path / "holiday.jpg"
    bad.write_text("this is not a photo")
    page.locator("#photo input[type=file]").set_input_files(str(bad))
    toast = page.locator("[data-testid=toast-body]").first
    expect(toast).to_contain_text("is not an image Restora can read", timeout=30_000)
    expect(toast).not_to_contain_text("Traceback")
    page.wait_for_timeout(400)  # the toast fades in
    _shot(page, "07-friendly-error")


# -- the API ------------------------------------------------------------------------------------
@pytest.fixture
def client_tmp(tmp_path, monkeypatch) -> Path:
    """gradio_client leaves an empty folder in the system temp dir per download: use tmp_path."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return tmp_path


def _client(app_url, folder):
    from gradio_client import Client

    return Client(app_url, verbose=False, download_files=str(folder))


def test_restore_endpoint_with_gradio_client(app_url, photos, client_tmp):
    from gradio_client import handle_file

    client = _client(app_url, client_tmp)
    assert "/restore" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    source = photos / "cat_noisy.png"
    image, explanation, report = client.predict(
        image=handle_file(str(source)), instruction=TWO_REGIONS,
        options=json.dumps({"backend": "offline"}), api_name="/restore")
    assert image.endswith(".png")
    w, h = Image.open(source).size
    with Image.open(image) as im:
        assert im.format == "PNG" and im.size == (w, h)
    assert report["restored"] and report["size"] == {"width": w, "height": h}
    assert [r["target"] for r in report["regions"]] == ["main subject", "background"]
    assert [r["fidelity"] for r in report["regions"]] == [0.5, 1.2]
    assert explanation == report["explanation"] and "main subject" in explanation


def test_restore_endpoint_reports_bad_input_without_a_traceback(app_url, client_tmp):
    from gradio_client import handle_file

    client = _client(app_url, client_tmp)
    with pytest.raises(Exception, match="unknown option") as info:
        client.predict(image=handle_file(str(EXAMPLES / "cat_noisy.jpg")), instruction="denoise",
                       options='{"colour": "red"}', api_name="/restore")
    assert "Traceback" not in str(info.value)
    with pytest.raises(Exception, match="outside the valid range"):
        client.predict(image=handle_file(str(EXAMPLES / "cat_noisy.jpg")),
                       instruction="denoise the photo with 7", options="{}", api_name="/restore")


def test_four_clients_at_once_each_get_their_own_result(app_url, client_tmp):
    """No cross-session leakage: each output has its own input's size and content."""
    from gradio_client import handle_file

    tmp_path = client_tmp
    inputs = {}
    for i, (name, size) in enumerate([("cat_noisy.jpg", (200, 150)), ("coffee_noisy.jpg", (240, 160)),
                                       ("astronaut_noisy.jpg", (180, 180)), ("cat_noisy.jpg", (160, 220))]):
        path = tmp_path / f"in{i}.png"
        Image.open(EXAMPLES / name).convert("RGB").resize(size).save(path)
        inputs[i] = path
    results: dict[int, object] = {}

    def call(i: int) -> None:
        try:
            client = _client(app_url, tmp_path / f"dl{i}")
            results[i] = client.predict(image=handle_file(str(inputs[i])),
                                        instruction="denoise the whole photo",
                                        options='{"backend": "offline"}', api_name="/restore")
        except Exception as err:  # reported below
            results[i] = err

    threads = [threading.Thread(target=call, args=(i,)) for i in inputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i, path in inputs.items():
        assert not isinstance(results.get(i), Exception), results.get(i)
        out_path, _, report = results[i]
        source = np.asarray(Image.open(path).convert("RGB"), np.float32)
        out = np.asarray(Image.open(out_path).convert("RGB"), np.float32)
        assert out.shape == source.shape, (i, out.shape, source.shape)
        assert report["size"] == {"width": source.shape[1], "height": source.shape[0]}
        assert np.abs(out - source).mean() < 12, i  # a restoration of its own input
