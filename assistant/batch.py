"""Scripted instruction files (``restora batch FILE.yaml``).

The file is a YAML list of jobs::

    - image: photos/dog.jpg            # relative paths are relative to the YAML file
      instructions:                    # applied in order, as one conversation
        - make the dog clear with 0.5 and keep other parts bokeh blur with 1.2
        - a bit stronger
      output: out/dog.png              # optional; default IMAGE_restored.png beside the image
      backend: offline                 # optional: auto | offline | full
      click: [[120, 80]]               # optional clicks X,Y on the first target
      negative_click: [[10, 10]]       # optional
      box: [40, 30, 300, 260]          # optional X0,Y0,X1,Y1
      lens_blur: true                  # optional

One failing job is reported and does not stop the others. Outputs never overwrite inputs, and an
existing output is only replaced with ``--overwrite``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_KEYS = {"image", "instructions", "output", "backend", "click", "negative_click", "box", "lens_blur",
         "name"}


class BatchFileError(ValueError):
    """The instruction file itself is malformed; the message says where."""


@dataclass
class Job:
    name: str
    image: Path
    instructions: list[str]
    output: Path
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    job: Job
    ok: bool
    message: str


def _points(value: Any, where: str, key: str) -> list[tuple[float, float]]:
    if not isinstance(value, list) or not all(
        isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(v, int | float) for v in p)
        for p in value
    ):
        raise BatchFileError(f"{where}: '{key}' must be a list of [x, y] pairs, got {value!r}")
    return [(float(x), float(y)) for x, y in value]


def load_jobs(path: Path) -> list[Job]:
    """Read and validate a YAML instruction file."""
    import yaml

    if not path.is_file():
        raise BatchFileError(f"No instruction file at '{path}'.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise BatchFileError(f"'{path}' is not valid YAML: {err}") from err
    if not isinstance(data, list) or not data:
        raise BatchFileError(
            f"'{path}' must contain a non-empty YAML list of jobs (each with 'image' and "
            f"'instructions'); got {type(data).__name__}."
        )
    base = path.parent
    jobs: list[Job] = []
    for i, item in enumerate(data, 1):
        where = f"{path}, job {i}"
        if not isinstance(item, dict):
            raise BatchFileError(f"{where}: each job must be a mapping, got {item!r}")
        unknown = set(item) - _KEYS
        if unknown:
            raise BatchFileError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
        if "image" not in item or not isinstance(item["image"], str):
            raise BatchFileError(f"{where}: 'image' (a path) is required")
        instructions = item.get("instructions")
        if isinstance(instructions, str):
            instructions = [instructions]
        if not instructions or not all(isinstance(t, str) for t in instructions):
            raise BatchFileError(f"{where}: 'instructions' must be a list of strings")
        image = (base / item["image"]).expanduser()
        output = (base / item["output"]) if item.get("output") else image.with_name(
            f"{image.stem}_restored.png"
        )
        options: dict[str, Any] = {}
        if "backend" in item:
            options["backend"] = str(item["backend"])
        if "lens_blur" in item:
            options["lens_blur"] = bool(item["lens_blur"])
        for key in ("click", "negative_click"):
            if key in item:
                options[key] = _points(item[key], where, key)
        if "box" in item:
            box = item["box"]
            if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) for v in box)):
                raise BatchFileError(f"{where}: 'box' must be [x0, y0, x1, y1], got {box!r}")
            options["box"] = tuple(float(v) for v in box)
        jobs.append(Job(item.get("name") or f"job {i} ({item['image']})", image, list(instructions),
                        output, options))
    return jobs


def run_job(job: Job, overwrite: bool = False) -> Outcome:
    """Run one job; every failure becomes an Outcome, never an exception."""
    from assistant.imageio import ImageReadError, load_image, save_png
    from assistant.pipeline import RunOptions
    from assistant.session import Session
    from models.grounding.base import Point, RegionPrompt

    if job.output.resolve() == job.image.resolve():
        return Outcome(job, False, "output is the input image; refusing to overwrite the original")
    if job.output.exists() and not overwrite:
        return Outcome(job, False, f"'{job.output}' already exists (use --overwrite)")
    try:
        image = load_image(job.image)
        opts = job.options
        points = [Point(x, y, True) for x, y in opts.get("click", [])]
        points += [Point(x, y, False) for x, y in opts.get("negative_click", [])]
        prompt = RegionPrompt(tuple(points), opts.get("box"))
        session = Session(image, RunOptions(backend=opts.get("backend", "auto"),
                                            lens_blur=opts.get("lens_blur", True), surface="batch"))
    except (ImageReadError, ValueError) as err:
        return Outcome(job, False, str(err))
    texts = []
    for n, instruction in enumerate(job.instructions):
        reply = session.send(instruction, prompt=prompt if (prompt and n == 0) else None)
        if not reply.ok:
            return Outcome(job, False, f"instruction {n + 1} ({instruction!r}): {reply.text}")
        texts.append(reply.text.splitlines()[0])
    if session.index == 0:
        return Outcome(job, False, "no instruction restored anything; nothing written")
    try:
        save_png(session.current, job.output, overwrite=overwrite)  # type: ignore[arg-type]
    except (OSError, ValueError) as err:
        return Outcome(job, False, str(err))
    return Outcome(job, True, f"wrote {job.output} — " + " / ".join(texts))


def run_jobs(jobs: list[Job], overwrite: bool = False, quiet: bool = False) -> list[Outcome]:
    """Run all jobs with a rich progress bar; failures are collected, not raised."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    outcomes: list[Outcome] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=quiet, transient=False) as bar:
        task = bar.add_task("restoring", total=len(jobs))
        for job in jobs:
            bar.update(task, description=f"restoring {job.name}")
            outcome = run_job(job, overwrite)
            if not outcome.ok:
                logger.warning("%s failed: %s", job.name, outcome.message)
            outcomes.append(outcome)
            bar.advance(task)
    return outcomes
