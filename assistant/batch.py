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
      lens_blur: true                  # optional (a real boolean); also mask_source, steps,
                                       # guidance, seed, box_threshold, text_threshold

The whole file is validated before any job runs (assistant.options checks the run options):
outputs are distinct, never an input of any job, and inside the file's folder unless
``--allow-outside``; YAML aliases are refused. One failing job is reported and does not stop the
others. An existing output is only replaced with ``--overwrite``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.options import check_option, short

logger = logging.getLogger(__name__)

#: Keys a job may carry that become RunOptions, validated by assistant.options.check_option.
RUN_KEYS = ("backend", "lens_blur", "mask_source", "steps", "guidance", "seed", "box_threshold",
            "text_threshold")
_KEYS = {"image", "instructions", "output", "click", "negative_click", "box", "name", *RUN_KEYS}
#: Largest instruction file read; a scripted batch is a few KB.
MAX_FILE_BYTES = 1_000_000


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


def _read_yaml(path: Path) -> Any:
    """Safe YAML without aliases: ``*ref`` can expand a few hundred bytes into gigabytes."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise BatchFileError(f"{path}, line {event.start_mark.line + 1}: YAML aliases "
                                     f"(*{short(event.anchor, 20)}) are not allowed; write the values out.")
            return super().compose_node(parent, index)

    if not path.is_file():
        raise BatchFileError(f"No instruction file at '{path}'.")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise BatchFileError(f"'{path}' is {path.stat().st_size:,} bytes; instruction files are "
                             f"limited to {MAX_FILE_BYTES:,} bytes.")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=NoAliasLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise BatchFileError(f"'{path}' is not valid YAML: {short(str(err), 300)}") from err


def _points(value: Any, where: str, key: str) -> list[tuple[float, float]]:
    if not isinstance(value, list) or not all(
        isinstance(p, list | tuple) and len(p) == 2 and all(_is_number(v) for v in p) for p in value
    ):
        raise BatchFileError(f"{where}: '{key}' must be a list of [x, y] pairs, got {short(value)}")
    return [(float(x), float(y)) for x, y in value]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _path(item: dict[str, Any], key: str, where: str) -> str:
    value = item[key]
    if not isinstance(value, str) or not value.strip():
        raise BatchFileError(f"{where}: '{key}' must be a file path (a string), got {short(value)}")
    return value


def _job(item: Any, i: int, path: Path) -> Job:
    """One list entry → Job, every field type-checked; raises BatchFileError naming the job."""
    from parsers.rules import MAX_CHARS

    where = f"{path}, job {i}"
    if not isinstance(item, dict):
        raise BatchFileError(f"{where}: each job must be a mapping, got {short(item)}")
    unknown = [str(k) for k in item if k not in _KEYS]
    if unknown:
        raise BatchFileError(f"{where}: unknown keys {short(sorted(unknown), 80)}; "
                             f"allowed: {sorted(_KEYS)}")
    if "image" not in item:
        raise BatchFileError(f"{where}: 'image' (a path) is required")
    image = (path.parent / _path(item, "image", where)).expanduser()
    instructions = item.get("instructions")
    if isinstance(instructions, str):
        instructions = [instructions]
    if not isinstance(instructions, list) or not instructions or not all(
            isinstance(t, str) and t.strip() for t in instructions):
        raise BatchFileError(f"{where}: 'instructions' must be a list of non-empty strings, "
                             f"got {short(instructions)}")
    for n, text in enumerate(instructions, 1):
        if len(text) > MAX_CHARS:
            raise BatchFileError(f"{where}: instruction {n} is {len(text):,} characters; "
                                 f"at most {MAX_CHARS:,}")
    if item.get("output") is not None:
        output = (path.parent / _path(item, "output", where)).expanduser()
        if output.suffix.lower() != ".png":
            raise BatchFileError(f"{where}: 'output' must end in .png, got {short(item['output'])}")
    else:
        output = image.with_name(f"{image.stem}_restored.png")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise BatchFileError(f"{where}: 'name' must be a string, got {short(name)}")
    options: dict[str, Any] = {}
    for key in RUN_KEYS:
        if key in item:
            try:
                options[key] = check_option(key, item[key])
            except ValueError as err:
                raise BatchFileError(f"{where}: {err}") from err
    for key in ("click", "negative_click"):
        if key in item:
            options[key] = _points(item[key], where, key)
    if "box" in item:
        box = item["box"]
        if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
            raise BatchFileError(f"{where}: 'box' must be [x0, y0, x1, y1], got {short(box)}")
        options["box"] = tuple(float(v) for v in box)
    return Job(name or f"job {i} ({short(item['image'], 60)})", image, list(instructions), output,
               options)


def load_jobs(path: Path, allow_outside: bool = False) -> list[Job]:
    """Read and validate a whole YAML instruction file before anything runs.

    Besides each job's schema: every output is distinct, no output is any job's input, outputs
    stay inside the YAML file's folder unless ``allow_outside``, and each can be written.
    Raises BatchFileError.
    """
    from assistant.imageio import check_output_path

    data = _read_yaml(path)
    if not isinstance(data, list) or not data:
        raise BatchFileError(
            f"'{path}' must contain a non-empty YAML list of jobs (each with 'image' and "
            f"'instructions'); got {type(data).__name__}."
        )
    jobs = [_job(item, i, path) for i, item in enumerate(data, 1)]
    folder = path.parent.resolve()
    inputs = {job.image.resolve(): job for job in jobs}
    outputs: dict[Path, Job] = {}
    for job in jobs:
        out = job.output.resolve()
        if out in inputs:
            raise BatchFileError(f"{path}: the output of {job.name} is '{job.output}', the input "
                                 f"of {inputs[out].name}; outputs never replace inputs.")
        if out in outputs:
            raise BatchFileError(f"{path}: {outputs[out].name} and {job.name} both write "
                                 f"'{job.output}'; give each job its own output.")
        if not allow_outside and not out.is_relative_to(folder):
            raise BatchFileError(f"{path}: the output of {job.name} is '{out}', outside the "
                                 f"instruction file's folder '{folder}'; pass --allow-outside "
                                 "to write there.")
        try:
            check_output_path(job.output)
        except ValueError as err:
            raise BatchFileError(f"{path}, {job.name}: {err}") from err
        outputs[out] = job
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
        run_options = {k: opts[k] for k in RUN_KEYS if k in opts}
        session = Session(image, RunOptions(**run_options, surface="batch"))
    except (ImageReadError, ValueError) as err:
        return Outcome(job, False, str(err))
    texts = []
    for n, instruction in enumerate(job.instructions):
        reply = session.send(instruction, prompt=prompt if (prompt and n == 0) else None)
        if not reply.ok:
            return Outcome(job, False, f"instruction {n + 1} ({short(instruction, 60)}): {reply.text}")
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
