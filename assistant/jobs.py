"""The batch job contract: what a job is, how it ended, and the error a malformed batch raises.

Shared by the readers (assistant.batch for YAML files and folders, assistant.manifest for rows),
the journal (assistant.journal) and the runners (assistant.batch_run, assistant.worker,
assistant.cluster), below all of them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Keys a job may carry that become RunOptions, validated by assistant.options.check_option.
RUN_KEYS = ("backend", "lens_blur", "mask_source", "steps", "guidance", "seed", "box_threshold",
            "text_threshold")
JOB_KEYS = {"image", "instructions", "output", "click", "negative_click", "box", "name", *RUN_KEYS}

class BatchFileError(ValueError):
    """The instruction file itself is malformed; the message says where."""


@dataclass
class Job:
    """One photo and its conversation of instructions; paths as given (relative to the cwd)."""

    name: str
    image: Path
    instructions: list[str]
    output: Path
    options: dict[str, Any] = field(default_factory=dict)

    def recipe(self) -> str:
        """16 hex digits naming what the output holds: input path, instructions and options.

        Written into the output PNG (assistant.journal), so an output can be recognised as this
        job's even when the journal line that records it was never written.
        """
        return _digest({"image": str(self.image.resolve()), "instructions": self.instructions,
                        "options": self.options})

    @property
    def id(self) -> str:
        """The job id in the journal: a stable hash of input, instructions, options and output."""
        return _digest({"recipe": self.recipe(), "output": str(self.output.resolve())})


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Outcome:
    """How one job ended. status: done | failed | skipped (finished in an earlier run) |
    failed-earlier (failed in an earlier run and not retried)."""

    job: Job
    ok: bool
    message: str
    status: str = ""
    seconds: float = 0.0
    sha256: str | None = None  # of the output file, when one was written
    worker: str = ""  # host:pid that ran it
