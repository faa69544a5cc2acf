"""The parser's issue-#22 wording through a conversation: commands in ordinary words, a command
followed by an instruction, and a bare strength that gets a question back (offline backend)."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.imageio import LoadedImage
from assistant.pipeline import RunOptions
from assistant.session import Session


@pytest.fixture
def photo() -> LoadedImage:
    rng = np.random.default_rng(0)
    base = np.linspace(0, 1, 64 * 48 * 3, dtype=np.float32).reshape(48, 64, 3)
    return LoadedImage(np.clip(base + rng.normal(0, 0.08, base.shape), 0, 1).astype(np.float32))


@pytest.fixture
def session(photo: LoadedImage) -> Session:
    return Session(photo, RunOptions(backend="offline"))


def test_a_bare_strength_is_a_question_and_adds_no_version(session: Session) -> None:
    reply = session.send("with 0.5")
    assert reply.ok and reply.result is None and "?" in reply.text
    assert len(session.versions) == 1


def test_commands_in_ordinary_words_move_through_the_versions(session: Session, photo: LoadedImage) -> None:
    assert session.send("denoise the whole photo").ok
    assert session.send("sharpen the image").ok and session.index == 2
    assert session.send("take that back").ok and session.index == 1
    assert session.send("revert everything").ok and session.current is photo


def test_a_command_then_an_instruction_runs_on_the_version_the_command_reached(
    session: Session, photo: LoadedImage
) -> None:
    assert session.send("denoise the whole photo").ok
    reply = session.send("no, go back to the original and sharpen the image")
    assert reply.ok and reply.result is not None
    assert reply.text.startswith("Back to the original photo")
    assert len(session.versions) == 2 and session.index == 1
    assert session.versions[1].start == 0  # restored from the original, not from the denoised one
    assert [(e.target, e.action) for e in reply.result.plan.edits] == [("image", "deblur")]


def test_the_reply_says_what_part_of_the_message_was_not_understood(session: Session) -> None:
    reply = session.send("denoise the whole photo and make it brighter")
    assert reply.result is not None, reply.text
    assert reply.text.startswith("I understood “denoise image”; I did not understand “make it brighter”")
    assert "noise" in reply.text.split("left that out.", 1)[1]  # then the usual explanation
