"""Batches of jobs: scripted instruction files, manifests of rows, or a folder + one instruction.

A YAML instruction file is a list of jobs::

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

A manifest (``.csv``, ``.jsonl``, ``.parquet``; assistant.manifest) holds the same fields as
rows, and ``folder_jobs`` makes one job per photo of a folder. Every form is validated whole
before any job runs (assistant.options checks the run options): outputs are distinct, never an
input of any job, and inside the file's folder unless ``--allow-outside``; YAML aliases are
refused. Running the jobs (journal, resume, workers, Ray) is assistant.batch_run.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from assistant.jobs import JOB_KEYS, RUN_KEYS, BatchFileError, Job
from assistant.options import check_option, short

logger = logging.getLogger(__name__)

#: Largest instruction file read; a scripted batch is a few KB.
MAX_FILE_BYTES = 1_000_000
#: Files ``--images DIR`` picks up (the formats assistant.imageio reads).
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")


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
    except RecursionError:  # ``[[[[...`` thousands deep
        raise BatchFileError(f"'{path}' nests too deeply to read; a job is a mapping of short "
                             "values.") from None


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


def parse_job(item: Any, where: str, base: Path, label: str) -> Job:
    """One job's fields → Job, every field type-checked; raises BatchFileError starting ``where``.

    base: the folder relative paths start from (the instruction file's or manifest's folder).
    label: the job's name in messages when the item has no ``name``, e.g. "job 3".
    """
    from parsers.rules import MAX_CHARS

    if not isinstance(item, dict):
        raise BatchFileError(f"{where}: each job must be a mapping, got {short(item)}")
    unknown = [str(k) for k in item if k not in JOB_KEYS]
    if unknown:
        raise BatchFileError(f"{where}: unknown keys {short(sorted(unknown), 80)}; "
                             f"allowed: {sorted(JOB_KEYS)}")
    if "image" not in item:
        raise BatchFileError(f"{where}: 'image' (a path) is required")
    image = (base / _path(item, "image", where)).expanduser()
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
        output = (base / _path(item, "output", where)).expanduser()
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
    return Job(name or f"{label} ({short(item['image'], 60)})", image, list(instructions), output,
               options)


def load_jobs(path: Path, allow_outside: bool = False,
              defaults: dict[str, Any] | None = None) -> list[Job]:
    """Read and validate a whole YAML instruction file or manifest before anything runs.

    ``.yaml``/``.yml`` is an instruction file; ``.csv``, ``.jsonl`` and ``.parquet`` are manifests
    (assistant.manifest). defaults: fields for jobs that do not set them (e.g. ``backend`` from
    the command line). Then ``check_jobs`` with the file's folder. Raises BatchFileError.
    """
    from assistant.manifest import MANIFEST_SUFFIXES, read_rows

    suffix = path.suffix.lower()
    if suffix in MANIFEST_SUFFIXES:
        rows = read_rows(path)
    elif suffix in (".yaml", ".yml"):
        data = _read_yaml(path)
        if not isinstance(data, list) or not data:
            raise BatchFileError(
                f"'{path}' must contain a non-empty YAML list of jobs (each with 'image' and "
                f"'instructions'); got {type(data).__name__}."
            )
        rows = [(f"{path}, job {i}", f"job {i}", item) for i, item in enumerate(data, 1)]
    else:
        raise BatchFileError(f"'{path}': expected a YAML instruction file (.yaml) or a manifest "
                             f"({', '.join(MANIFEST_SUFFIXES)}), got '{path.suffix or 'no suffix'}'.")
    jobs = [parse_job(_with_defaults(item, defaults), where, path.parent, label)
            for where, label, item in rows]
    check_jobs(jobs, str(path), None if allow_outside else path.parent)
    return jobs


def _with_defaults(item: Any, defaults: dict[str, Any] | None) -> Any:
    return {**defaults, **item} if defaults and isinstance(item, dict) else item


def folder_jobs(images: Path, instructions: list[str], out: Path,
                defaults: dict[str, Any] | None = None) -> list[Job]:
    """One job per photo under ``images`` (recursively, hidden files and ``out`` excluded).

    Each output is ``out`` / the photo's path relative to ``images``, with the suffix ``.png``
    (``images/2019/a.jpg`` → ``out/2019/a.png``). Raises BatchFileError (no photos, two photos
    with one output name, an output that is an input).
    """
    if not images.is_dir():
        raise BatchFileError(f"--images '{images}' is not a folder.")
    skip = out.resolve()
    photos = sorted(
        p for p in images.rglob("*")
        if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(images).parts)
        and not p.resolve().is_relative_to(skip)
    )
    if not photos:
        raise BatchFileError(f"--images '{images}' holds no photos ({', '.join(PHOTO_SUFFIXES)}).")
    jobs = []
    for i, photo in enumerate(photos, 1):
        rel = photo.relative_to(images)
        item = _with_defaults({"image": str(photo), "instructions": instructions, "name": str(rel),
                               "output": str(out / rel.with_suffix(".png"))}, defaults)
        jobs.append(parse_job(item, f"--images '{images}', photo {i}", Path("."), str(rel)))
    check_jobs(jobs, f"--images '{images}'", None)
    return jobs


def check_jobs(jobs: list[Job], source: str, folder: Path | None) -> None:
    """The whole-batch checks: every output distinct, no output is any job's input, each output
    writable and, when ``folder`` is given, inside it (else ``--allow-outside`` is needed)."""
    from assistant.imageio import check_output_path

    inside = folder.resolve() if folder is not None else None
    inputs = {job.image.resolve(): job for job in jobs}
    outputs: dict[Path, Job] = {}
    probed: set[Path] = set()  # folders already probed for writing (one probe per folder)
    for job in jobs:
        out = job.output.resolve()
        if out in inputs:
            raise BatchFileError(f"{source}: the output of {job.name} is '{job.output}', the input "
                                 f"of {inputs[out].name}; outputs never replace inputs.")
        if out in outputs:
            raise BatchFileError(f"{source}: {outputs[out].name} and {job.name} both write "
                                 f"'{job.output}'; give each job its own output.")
        if inside is not None and not out.is_relative_to(inside):
            raise BatchFileError(f"{source}: the output of {job.name} is '{out}', outside the "
                                 f"instruction file's folder '{inside}'; pass --allow-outside "
                                 "to write there.")
        if out.parent not in probed or out.is_dir():
            try:
                check_output_path(job.output)
            except ValueError as err:
                raise BatchFileError(f"{source}, {job.name}: {err}") from err
            probed.add(out.parent)
        outputs[out] = job
