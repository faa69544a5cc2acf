"""A conversation about one photo: its versions, undo/redo/reset, and refinements.

Each restoring instruction applies to the current version and adds a new one. A refinement
("stronger", "also the sky") re-runs the adjusted plan from the image the previous turn started
from, so restorations never stack. Undo/redo move through the versions; reset returns to the
original (redo can bring the last result back). A new instruction after an undo drops the redo
tail, as editors do. ``max_versions`` bounds the memory one conversation holds (each version is
a full-resolution float32 image plus its region masks, ~4 MB at 512×512): past it, the oldest
version after the original is dropped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from assistant.backends import BackendUnavailable
from assistant.explain import explain
from assistant.imageio import LoadedImage
from assistant.pipeline import (
    RunOptions,
    RunResult,
    StageProgress,
    TargetsNotFound,
    run_plan,
)
from models.grounding.base import RegionPrompt
from parsers import EditPlan, InstructionError
from parsers.base import InstructionParser

logger = logging.getLogger(__name__)

NO_IMAGE = "Upload a photo first, then tell me what to restore, e.g. “make the dog clear with 0.5”."


@dataclass
class Version:
    """One image state. ``start`` is the index of the version it was restored from."""

    image: LoadedImage
    label: str
    result: RunResult | None = None
    start: int = 0


@dataclass
class Reply:
    """What the assistant answers to one message.

    image: the current version after the turn (None when no photo is loaded).
    result: set when the turn restored something.
    status: 0 = fine; 1 = the work could not be done (target not found, backend missing,
        nothing to undo); 2 = the input was malformed (bad strength, click outside the image).
        The CLI uses it as its exit status.
    """

    text: str
    image: LoadedImage | None = None
    result: RunResult | None = None
    status: int = 0

    @property
    def ok(self) -> bool:
        return self.status == 0


class Session:
    def __init__(
        self,
        image: LoadedImage | None = None,
        options: RunOptions | None = None,
        parser: InstructionParser | None = None,
        max_versions: int | None = None,
    ):
        if max_versions is not None and max_versions < 3:
            raise ValueError("max_versions must be at least 3 (the original, a result and the "
                             f"version it was restored from), got {max_versions}")
        self.max_versions = max_versions
        if parser is None:
            from parsers.rules import RuleParser

            parser = RuleParser()
        self.parser = parser
        self.options = options or RunOptions()
        self.versions: list[Version] = []
        self.index = -1
        if image is not None:
            self.load(image)

    # -- state -------------------------------------------------------------------------------
    @property
    def current(self) -> LoadedImage | None:
        return self.versions[self.index].image if self.versions else None

    @property
    def last_result(self) -> RunResult | None:
        """The result that produced the current version, if any."""
        return self.versions[self.index].result if self.versions else None

    def load(self, image: LoadedImage) -> Reply:
        """Start over with a new photo; the history of the previous one is dropped."""
        self.versions = [Version(image, "original")]
        self.index = 0
        w, h = image.size
        return Reply(f"Loaded a {w}×{h} photo. Tell me what to restore.", image)

    # -- turns -------------------------------------------------------------------------------
    def send(
        self,
        text: str,
        prompt: RegionPrompt | None = None,
        options: RunOptions | None = None,
        progress: StageProgress | None = None,
    ) -> Reply:
        """Handle one chat message. Never raises for user mistakes: they become a failed Reply."""
        t0 = time.perf_counter()
        previous = self.last_result.plan if self.last_result else None
        try:
            plan = self.parser.parse(text, previous)
        except InstructionError as err:
            return Reply(str(err), self.current, status=2)
        parse_s = time.perf_counter() - t0
        if plan.command is not None and plan.command != "help":
            done = getattr(self, plan.command)()
            if not plan.edits or not done.ok:
                return done
            # "go back to the original and sharpen the face": the edits run on that version
            after = self.run(plan, self.index, prompt, options, progress, parse_s=parse_s, label=text)
            return replace(after, text=f"{done.text} {after.text}")
        if not plan.edits:
            return Reply(plan.message or "I did not find anything to restore in that.", self.current)
        if self.current is None:
            return Reply(NO_IMAGE, None, status=1)
        start = self.versions[self.index].start if plan.is_refinement else self.index
        return self.run(plan, start, prompt, options, progress, parse_s=parse_s, label=text)

    def run(
        self,
        plan: EditPlan,
        start: int | None = None,
        prompt: RegionPrompt | None = None,
        options: RunOptions | None = None,
        progress: StageProgress | None = None,
        parse_s: float = 0.0,
        label: str | None = None,
    ) -> Reply:
        """Run ``plan`` on version ``start`` (default: the current one) and add the result."""
        if self.current is None:
            return Reply(NO_IMAGE, None, status=1)
        start = self.index if start is None else start
        opts = options or self.options
        if prompt is not None:
            opts = replace(opts, prompt=prompt)
        # a refinement re-runs from the image the current version was restored from: its
        # targets are where that turn found them (``pipeline.FoundRegions``)
        current = self.versions[self.index]
        reuse = current.result.found if current.result is not None and current.start == start else None
        try:
            result = run_plan(self.versions[start].image, plan, opts, progress, reuse=reuse)
        except (TargetsNotFound, BackendUnavailable) as err:
            return Reply(str(err), self.current, status=1)
        except ValueError as err:
            return Reply(str(err), self.current, status=2)
        result.timings = {"parse": parse_s, **result.timings}
        result.explanation = explain(result)
        if plan.message:  # beside edits: what part of the message was not understood
            result.explanation = f"{plan.message} {result.explanation}"
        del self.versions[self.index + 1 :]
        self.versions.append(Version(result.image, label or plan.to_json(), result, start))
        self._drop_oldest()
        self.index = len(self.versions) - 1
        return Reply(result.explanation, result.image, result)

    def _drop_oldest(self) -> None:
        """Keep at most ``max_versions`` by dropping the oldest versions after the original,
        except the one the newest version was restored from (a refinement re-runs from it).

        A kept version restored from a dropped one loses its result (its "before" image is
        gone), so it can no longer be refined or compared; it stays as a plain image to go back to.
        """
        while self.max_versions is not None and len(self.versions) > self.max_versions:
            drop = 2 if self.versions[-1].start == 1 else 1
            del self.versions[drop]
            for k, v in enumerate(self.versions):
                if v.start == drop and k > 0:
                    self.versions[k] = replace(v, result=None, start=k)
                elif v.start > drop:
                    v.start -= 1

    def rerun_last(self, plan: EditPlan, progress: StageProgress | None = None) -> Reply:
        """Re-run an adjusted copy of the last plan from the image the last turn started from."""
        if self.last_result is None:
            return Reply("There is no restoration to adjust yet.", self.current, status=1)
        return self.run(plan, self.versions[self.index].start, progress=progress,
                        label="adjusted: " + plan.to_json())

    # -- commands ----------------------------------------------------------------------------
    def undo(self) -> Reply:
        if self.index <= 0:
            return Reply("Nothing to undo: this is the original photo.", self.current, status=1)
        self.index -= 1
        return Reply(f"Undone. Showing version {self.index} ({self.versions[self.index].label}).",
                     self.current)

    def redo(self) -> Reply:
        if self.index >= len(self.versions) - 1:
            return Reply("Nothing to redo.", self.current, status=1)
        self.index += 1
        return Reply(f"Redone. Showing version {self.index} ({self.versions[self.index].label}).",
                     self.current)

    def reset(self) -> Reply:
        if not self.versions:
            return Reply(NO_IMAGE, None, status=1)
        if self.index == 0:
            return Reply("This is already the original photo.", self.current)
        self.index = 0
        return Reply("Back to the original photo (redo steps forward again).", self.current)
