"""The Hugging Face Space, played: ``python app.py`` over an HF_HOME laid out as a Space build leaves it.

A Space's build downloads the README front matter's ``preload_from_hub`` files into the Hub cache.
Here the same files are written by tiny random-weight GroundingDINO and SAM models (the real
transformers classes, small configs) under the real repository ids, in the cache layout
(``hub/models--ORG--NAME/snapshots/<commit>/…`` + ``refs/main``), keeping only the files the front
matter lists: if the loaders needed a file the Space does not preload, these tests would fail.
Then the app starts as the Space starts it, offline, and is used through ``gradio_client``.

Two servers, one per module (started together to share the start-up wait): one over that cache
(``auto`` → GroundingDINO + SAM grounding, the offline restorer on this CPU) and one over an empty
HF_HOME (→ offline grounding, saying so to the visitor).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from assistant import EXAMPLES_DIR

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
gradio_client = pytest.importorskip("gradio_client")

from test_grounding_full import build_grounding_dino, build_sam  # noqa: E402  (tiny models, Hub layout)

REPO = Path(__file__).resolve().parents[1]
CAT = EXAMPLES_DIR / "cat_noisy.jpg"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
START_TIMEOUT_S = 90


def front_matter() -> dict:
    return yaml.safe_load((REPO / "README.md").read_text().split("---\n")[1])


def preloaded_files() -> dict[str, list[str]]:
    """repo id → files, from the README front matter's ``preload_from_hub``."""
    entries = [e.split() for e in front_matter()["preload_from_hub"]]
    return {e[0]: e[1].split(",") if len(e) > 1 else [] for e in entries}


def preload(hub: Path, repo_id: str, staged: Path) -> None:
    """Put the files ``preload_from_hub`` lists for ``repo_id`` from ``staged`` into the cache."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for name in preloaded_files()[repo_id]:
        if (staged / name).is_file():  # a file the real repository has and the tiny save does not write
            (snapshot / name).write_bytes((staged / name).read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python app.py`` as the Space runs it, on a free port, with its own HF_HOME."""

    def __init__(self, hf_home: Path, log: Path):
        self.hf_home, self.log = hf_home, log
        self.url = f"http://127.0.0.1:{free_port()}/"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HF_", "RESTORA_", "GRADIO_", "SPACES_"))}
        env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
                   GRADIO_ANALYTICS_ENABLED="False", GRADIO_SERVER_PORT=self.url.rsplit(":", 1)[1][:-1],
                   RESTORA_WEIGHTS_DIR=str(hf_home.parent / "restora-weights"))  # empty
        self._log_file = log.open("w")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env,
                                     stdout=self._log_file, stderr=subprocess.STDOUT)

    def wait(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"app.py exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        pytest.fail(f"app.py did not serve its page in {START_TIMEOUT_S} s:\n{self.log.read_text()}")

    def first_screen(self) -> str:
        with urllib.request.urlopen(self.url + "config", timeout=10) as r:
            config = json.loads(r.read())
        values = [c["props"].get("value", "") for c in config["components"]
                  if c.get("props", {}).get("elem_id") == "models"]
        assert len(values) == 1, "the first screen has one models line (elem_id 'models')"
        return values[0]

    def restore(self, instruction: str, options: dict) -> tuple[str | None, str, dict]:
        client = gradio_client.Client(self.url, verbose=False)
        return client.predict(image=gradio_client.handle_file(str(CAT)), instruction=instruction,
                              options=json.dumps(options), api_name="/restore")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log_file.close()


def cache_files(hf_home: Path) -> set[Path]:
    return {p.relative_to(hf_home) for p in hf_home.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """{"preloaded": Server over the tiny preloaded cache, "empty": Server over an empty HF_HOME}."""
    root = tmp_path_factory.mktemp("space")
    hub = root / "preloaded" / "hf" / "hub"
    for repo_id, build in (("IDEA-Research/grounding-dino-tiny", build_grounding_dino),
                           ("facebook/sam-vit-base", build_sam)):
        staged = root / "staged" / repo_id
        build(staged, hub_layout=True)
        preload(hub, repo_id, staged)
    (root / "empty" / "hf").mkdir(parents=True)
    before = {name: cache_files(root / name / "hf") for name in ("preloaded", "empty")}
    started = {name: Server(root / name / "hf", root / f"{name}.log") for name in ("preloaded", "empty")}
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        for server in started.values():
            server.wait(deadline)
        yield started
    finally:
        for server in started.values():
            server.stop()
    for name, files in before.items():  # nothing was downloaded into the cache, at start or per request
        assert cache_files(root / name / "hf") == files, f"{name}: the Hub cache changed"
        log = (root / f"{name}.log").read_text()
        assert "Traceback" not in log, log


def test_front_matter_preloads_the_default_grounding_models_and_no_instructrestore():
    from models.catalog import DEFAULT_DETECTOR, DEFAULT_SEGMENTER, get_spec

    files = preloaded_files()
    for name in (DEFAULT_DETECTOR, DEFAULT_SEGMENTER):
        listed = files[get_spec(name).hf_id]
        assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= set(listed)
        assert not any(f.endswith((".bin", ".pth", ".h5", ".msgpack")) for f in listed)  # safetensors only
    assert not any("instructrestore" in repo.lower() for repo in files)


def test_the_documented_gpu_variants_preload_diffbir_and_sd21_base():
    """The README's GPU front matter variant (a YAML block in "Deploy as a Space"; the T4 and the
    ZeroGPU Space share its ``preload_from_hub``)."""
    from models.restorers.diffusion.families import (
        BASE_MODEL_ID,
        DIFFBIR_CONTROLNET_FILE,
        DIFFBIR_REPO,
        DIFFBIR_SWINIR_FILE,
    )

    text = (REPO / "README.md").read_text()
    section = text.split("## Deploy as a Space", 1)[1].split("\n## ", 1)[0]
    blocks = [yaml.safe_load(b.split("```", 1)[0]) for b in section.split("```yaml\n")[1:]]
    variants = [b for b in blocks if isinstance(b, dict) and "preload_from_hub" in b]
    assert len(variants) == 1 and "ZeroGPU" in section
    for variant in variants:
        entries = {e.split()[0]: e.split()[1].split(",") for e in variant["preload_from_hub"]}
        assert {DIFFBIR_CONTROLNET_FILE, DIFFBIR_SWINIR_FILE} <= set(entries[DIFFBIR_REPO])
        assert "unet/diffusion_pytorch_model.safetensors" in entries[BASE_MODEL_ID]
        assert set(entries) >= set(preloaded_files())
        assert not any("instructrestore" in repo.lower() for repo in entries)


def test_auto_resolves_to_full_grounding_and_the_offline_restorer_on_cpu(servers):
    screen = servers["preloaded"].first_screen()
    assert "GroundingDINO + SAM (grounding-dino-tiny + sam-vit-base)" in screen
    assert "offline network" in screen and "not on this server" not in screen


def test_restore_returns_a_png_and_names_the_models_it_used(servers):
    # random weights find random boxes: thresholds 0 make GroundingDINO return some
    path, explanation, report = servers["preloaded"].restore(
        "make the cat clear with 0.5", {"box_threshold": 0, "text_threshold": 0})
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == Image.open(CAT).size and np.asarray(image).std() > 0
    assert report["backends"]["grounding"] == "full (GroundingDINO + SAM)"
    assert report["backends"]["restorer"].startswith("offline (Restora network")
    assert report["regions"][0]["how"].startswith("GroundingDINO")
    assert "Ran on: grounding full (GroundingDINO + SAM), restorer offline (Restora network" in explanation


def test_without_the_cache_the_space_grounds_offline_and_says_so(servers):
    from assistant.first_screen import NO_FULL_GROUNDING

    screen = servers["empty"].first_screen()
    assert NO_FULL_GROUNDING in screen and "YOLOX-Nano" in screen
    path, explanation, report = servers["empty"].restore("make the cat clear with 0.5", {})
    assert Image.open(path).format == "PNG"
    assert report["backends"]["grounding"] == "offline (offline)"
    assert "Ran on: grounding offline" in explanation


def test_zero_gpu_durations_grow_with_the_work_and_stay_in_bounds():
    from assistant.spaces import GPU_MAX_S, GPU_MIN_S, step_growth, turn_seconds

    assert step_growth(512 * 512) == 1.0 and step_growth(1024 * 1024) == pytest.approx(6.1)
    offline = turn_seconds((512, 512), "offline", "offline")
    grounded = turn_seconds((1000, 1000), "full", "offline")
    small = turn_seconds((512, 512), "full", "full", "diffbir-v2")
    large = turn_seconds((1024, 1024), "full", "full", "diffbir-v2")
    assert GPU_MIN_S == offline <= grounded < small < large <= GPU_MAX_S
    assert turn_seconds((512, 512), "full", "full", "diffbir-v2", steps=10) < small
    assert turn_seconds((8000, 8000), "full", "full", "diffbir-v2") == GPU_MAX_S


def test_a_preloaded_diffbir_snapshot_is_used(tmp_path, monkeypatch):
    from assistant.spaces import use_preloaded_weights
    from models.restorers.diffusion.families import DIFFBIR_ENV, diffbir_problems

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("RESTORA_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv(DIFFBIR_ENV, "")  # recorded, so the value set below is undone after the test
    monkeypatch.delenv(DIFFBIR_ENV)
    assert use_preloaded_weights() == {} and DIFFBIR_ENV not in os.environ
    repo = tmp_path / "hf" / "hub" / "models--lxq007--DiffBIR-v2"
    (repo / "snapshots" / COMMIT).mkdir(parents=True)
    (repo / "snapshots" / COMMIT / "v2.pth").write_bytes(b"\0")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    assert use_preloaded_weights() == {DIFFBIR_ENV: repo / "snapshots" / COMMIT}
    assert diffbir_problems() == []


def test_the_first_screen_says_when_auto_passes_over_diffusion_on_a_cpu(tiny_weights, monkeypatch):
    from assistant import first_screen as ui

    monkeypatch.setattr("assistant.backends.accelerator", lambda: None)
    screen = ui.describe_models("auto")
    assert "offline network" in screen
    assert "The InstructRestore diffusion restorer is installed, but without a GPU" in screen
    assert "choose *full* in Settings" in screen
    monkeypatch.setattr("assistant.backends.accelerator", lambda: "cuda")
    on_gpu = ui.describe_models("auto")
    assert "**Restorer:** the InstructRestore diffusion restorer on SD-2.1-base." in on_gpu
    offline = ui.describe_models("offline")
    assert "offline network" in offline and ui.NO_FULL_GROUNDING not in offline


def test_the_click_example_places_its_click_before_the_turn(tmp_path, monkeypatch):
    import app
    from assistant import ui

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    labels = [label for label, *_ in app.EXAMPLES]
    assert labels == ["Text region", "Click", "Bokeh keep", "JPEG", "Whole photo"]
    assert all((EXAMPLES_DIR / photo).is_file() for _, photo, _, _ in app.EXAMPLES)
    _, photo, text, clicks = app.EXAMPLES[1]
    view = ui.example(None, str(EXAMPLES_DIR / photo), {"text": text, "files": []}, "offline",
                      clicks=json.dumps(clicks))
    assert view.state.clicks == [[300.0, 215.0, 1]] and view.state.pending == [text]
    assert view.clicks.startswith("Clicks: 1 positive")
