"""Conversation state: versions, undo/redo/reset, refinements that re-run from the start image."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from assistant.imageio import LoadedImage
from assistant.pipeline import RunOptions
from assistant.session import Session


@pytest.fixture
def photo() -> LoadedImage:
    from skimage import data

    rgb = data.chelsea()[::2, ::2].astype(np.float32) / 255.0
    rng = np.random.default_rng(0)
    noisy = np.clip(rgb + rng.normal(0, 20 / 255, rgb.shape), 0, 1).astype(np.float32)
    return LoadedImage(noisy)


@pytest.fixture
def session(photo) -> Session:
    return Session(photo, RunOptions(backend="offline"))


def test_no_photo_yet_gives_a_helpful_reply():
    reply = Session().send("denoise")
    assert not reply.ok and "Upload a photo" in reply.text


def test_each_instruction_adds_a_version_and_undo_redo_reset_move_through_them(session, photo):
    first = session.send("denoise the image")
    assert first.ok and first.result is not None
    assert len(session.versions) == 2 and session.index == 1
    assert not np.array_equal(session.current.rgb, photo.rgb)
    second = session.send("sharpen the image")
    assert second.ok and session.index == 2
    assert session.versions[2].start == 1  # a new instruction applies to the current version

    assert session.send("undo").ok and session.current is session.versions[1].image
    assert session.send("redo").ok and session.current is session.versions[2].image
    assert session.send("start over").ok and session.current is photo
    assert not session.send("undo").ok  # nothing before the original


def test_new_instruction_after_undo_drops_the_redo_tail(session):
    session.send("denoise the image")
    session.send("sharpen the image")
    session.undo()
    session.send("remove jpeg artifacts from the image")
    assert len(session.versions) == 3 and session.index == 2
    assert not session.redo().ok


def test_refinement_reruns_from_the_previous_start_image(session, photo):
    session.send("denoise the image with 1.5")
    gentle = session.current.rgb.copy()
    reply = session.send("stronger")
    assert reply.ok and reply.result is not None
    assert reply.result.plan.changes  # the reply says what changed
    assert "Adjusted" in reply.text
    [edit] = reply.result.plan.edits
    assert edit.fidelity is not None and edit.fidelity < 1.5
    assert session.versions[session.index].start == 0  # from the original, not stacked
    # Stronger denoising of the original is smoother than the gentle result, and differs from
    # stacking a second pass on top of it.
    assert np.std(np.diff(session.current.rgb, axis=1)) < np.std(np.diff(gentle, axis=1))


def test_bad_strength_and_unknown_target_fail_without_a_new_version(session):
    reply = session.send("denoise the image with 5")
    assert not reply.ok and reply.status == 2 and "2" in reply.text
    reply = session.send("make the giraffe clear")
    assert not reply.ok and reply.status == 1 and "click" in reply.text.lower()
    assert len(session.versions) == 1


def test_chit_chat_gets_help_not_an_edit(session):
    reply = session.send("hello!")
    assert reply.ok and reply.result is None and len(session.versions) == 1
    assert reply.text


def test_max_versions_drops_the_oldest_after_the_original(photo):
    session = Session(photo, RunOptions(backend="offline"), max_versions=3)
    first = session.send("denoise the image")
    assert first.ok and len(session.versions) == 2
    second = session.send("sharpen the image")
    assert second.ok and len(session.versions) == 3
    third = session.send("denoise the image with 0.5")
    assert third.ok and len(session.versions) == 3 and session.index == 2
    assert session.versions[0].image is photo and session.versions[0].label == "original"
    # the second turn started from the first, which is gone: it stays, as a plain image
    assert session.versions[1].image is second.result.image
    assert session.versions[1].result is None and session.versions[1].start == 1
    assert session.versions[2].result is third.result and session.versions[2].start == 1
    stronger = session.send("stronger")  # re-runs from version 1, which must stay
    assert stronger.ok and len(session.versions) == 3 and session.index == 2
    assert session.versions[2].result is stronger.result and session.versions[2].start == 1
    assert session.versions[1].image is second.result.image
    assert session.undo().ok and session.undo().ok and session.index == 0
    with pytest.raises(ValueError, match="max_versions must be at least 3"):
        Session(photo, max_versions=2)


def test_a_refinement_reuses_where_the_last_turn_found_its_targets(session, monkeypatch):
    """"stronger" and a slider move re-run from the same image: the cat is not looked for again
    (``pipeline.FoundRegions``); a new instruction, other thresholds or a click look again."""
    from models.grounding.offline import OfflineGrounder

    looked: list[str] = []
    ground = OfflineGrounder.ground

    def counting(self, target, prompt=None, others=None):
        looked.append(target)
        return ground(self, target, prompt, others)

    monkeypatch.setattr(OfflineGrounder, "ground", counting)
    first = session.send("restore the cat, keep the background")
    assert first.ok and looked == ["cat", "background"]
    stronger = session.send("stronger")
    assert stronger.ok and looked == ["cat", "background"]  # nothing looked for again
    assert np.array_equal(stronger.result.groundings[0].mask, first.result.groundings[0].mask)
    assert stronger.result.groundings[0].how == first.result.groundings[0].how
    assert not np.array_equal(stronger.image.rgb, first.image.rgb)  # and it did restore more
    also = session.send("also denoise the image")  # a refinement adding a target: only that one
    assert also.ok and looked == ["cat", "background", "image"]
    session.send("sharpen the cat")  # a new instruction, on the new version: found again
    assert looked[-1] == "cat" and len(looked) == 4
    other = replace(session.options, box_threshold=0.4)
    session.run(session.last_result.plan, session.versions[session.index].start, options=other)
    assert len(looked) == 5  # other thresholds: found again
