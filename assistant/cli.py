"""The ``restora`` command line: run, parse, ground, batch, app.

Exit status: 0 success; 1 the work could not be done (a target not found, a backend missing, a
batch job failed); 2 bad input (unreadable image, malformed strength, bad option).
Logs go to stderr; ``--json`` output and explanations go to stdout.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

app = typer.Typer(
    name="restora",
    help="Restore photos region by region from plain-language instructions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from assistant.models_cli import models_app  # noqa: E402

app.add_typer(models_app, name="models")

ClickOpt = Annotated[
    list[str] | None,
    typer.Option("--click", help="Positive click X,Y (pixels) on the first target; repeatable."),
]
NegClickOpt = Annotated[
    list[str] | None,
    typer.Option("--negative-click", help="Click X,Y on what is NOT the target; repeatable."),
]
BoxOpt = Annotated[str | None, typer.Option("--box", help="Box X0,Y0,X1,Y1 around the first target.")]
BoxThresholdOpt = Annotated[float, typer.Option(
    help="Full grounding: GroundingDINO keeps boxes scoring above this (0–1).")]
TextThresholdOpt = Annotated[float, typer.Option(
    help="Full grounding: GroundingDINO's token threshold for box labels (0–1).")]
BackendOpt = Annotated[
    str, typer.Option("--backend", help="auto (full when its weights are installed, else offline), "
                      "offline, or full.")
]


def _fail(message: str, code: int) -> typer.Exit:
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


def _numbers(text: str, count: int, what: str) -> list[float]:
    parts = text.replace(" ", "").split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != count:
        raise _fail(f"{what} must be {count} comma-separated numbers, got {text!r}.", 2)
    return values


def parse_prompt(clicks: list[str] | None, negative: list[str] | None, box: str | None):
    """CLI strings → RegionPrompt (or None)."""
    from models.grounding.base import Point, RegionPrompt

    points = [Point(*_numbers(c, 2, "--click"), positive=True) for c in clicks or []]
    points += [Point(*_numbers(c, 2, "--negative-click"), positive=False) for c in negative or []]
    box_xyxy = tuple(_numbers(box, 4, "--box")) if box else None
    prompt = RegionPrompt(tuple(points), box_xyxy)  # type: ignore[arg-type]
    return prompt if prompt else None


def _default_output(image: Path, suffix: str) -> Path:
    return image.with_name(f"{image.stem}_{suffix}.png")


def _check_output(out: Path, image: Path, overwrite: bool, suffix: str | None = ".png") -> None:
    """Refuse, before any work, an output that would replace the input or cannot be written."""
    from assistant.imageio import check_output_path

    if out.resolve() == image.resolve():
        raise _fail(f"Output '{out}' is the input image; Restora never overwrites your original.", 2)
    if suffix is not None and out.suffix.lower() != suffix:
        raise _fail(f"Output '{out}' must end in {suffix} (Restora writes lossless PNG).", 2)
    try:
        check_output_path(out)
    except ValueError as err:
        raise _fail(str(err), 2) from err
    if out.exists() and not overwrite:
        raise _fail(f"'{out}' already exists; pass --overwrite to replace it.", 2)


def _load(image: Path):
    from assistant.imageio import ImageReadError, load_image

    try:
        return load_image(image)
    except ImageReadError as err:
        raise _fail(str(err), 2) from err


@app.command()
def run(
    image: Annotated[Path, typer.Argument(help="Photo to restore (JPEG, PNG, WebP, TIFF, BMP).")],
    instruction: Annotated[str, typer.Argument(help='E.g. "make the dog clear with 0.5".')],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output PNG "
                      "(default: IMAGE_restored.png beside the input).")] = None,
    backend: BackendOpt = "auto",
    json_report: Annotated[Path | None, typer.Option("--json", help="Write a JSON report here.")] = None,
    click: ClickOpt = None,
    negative_click: NegClickOpt = None,
    box: BoxOpt = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    lens_blur: Annotated[bool, typer.Option(help="Let 'bokeh' regions get synthetic lens blur.")] = True,
    mask_source: Annotated[str, typer.Option(
        help="Diffusion restorer masks: auto (grounding, or the learned decoder for targets "
        "grounding cannot find), grounding, decoder.")] = "auto",
    steps: Annotated[int | None, typer.Option(
        help="Diffusion restorer: sampler steps (default: the family's recipe, 20 or 50).")] = None,
    guidance: Annotated[float | None, typer.Option(
        help="Diffusion restorer: classifier-free guidance (default: the family's, 3.6 or 4).")] = None,
    seed: Annotated[int, typer.Option(help="Diffusion restorer: random seed.")] = 0,
    box_threshold: BoxThresholdOpt = 0.3,
    text_threshold: TextThresholdOpt = 0.25,
    tile: Annotated[int | None, typer.Option(
        help="Diffusion restorer: latent window in px for large images (multiple of 64; 0 = untiled; "
        "default automatic from free memory).")] = None,
    cleaner: Annotated[str, typer.Option(
        help="DiffBIR's stage-1 cleaner: auto (SwinIR when downloaded), swinir, offline.")] = "auto",
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Restore IMAGE following INSTRUCTION and write a PNG."""
    from assistant.imageio import save_png, write_atomic
    from assistant.options import BACKENDS, MASK_SOURCES
    from assistant.pipeline import RunOptions
    from assistant.session import Session
    from parsers.rules import message_problem

    _setup_logging(verbose)
    if backend not in BACKENDS:
        raise _fail(f"--backend must be one of {', '.join(BACKENDS)}; got {backend!r}.", 2)
    if mask_source not in MASK_SOURCES:
        raise _fail(f"--mask-source must be one of {', '.join(MASK_SOURCES)}; got {mask_source!r}.", 2)
    if (problem := message_problem(instruction)) is not None:
        raise _fail(problem, 2)
    out = output or _default_output(image, "restored")
    _check_output(out, image, overwrite)
    if json_report is not None:
        if json_report.resolve() == out.resolve():
            raise _fail(f"--json '{json_report}' is the output image; give the report its own name.", 2)
        _check_output(json_report, image, overwrite, suffix=None)
    loaded = _load(image)
    prompt = parse_prompt(click, negative_click, box)
    try:
        options = RunOptions(backend=backend, lens_blur=lens_blur,  # type: ignore[arg-type]
                             mask_source=mask_source, steps=steps, guidance=guidance, seed=seed,
                             box_threshold=box_threshold, text_threshold=text_threshold, tile=tile,
                             cleaner=cleaner, surface="cli")
    except ValueError as err:
        raise _fail(str(err), 2) from err
    session = Session(loaded, options)
    reply = session.send(instruction, prompt=prompt)
    if not reply.ok:
        raise _fail(reply.text, reply.status)
    if reply.result is None:
        typer.echo(reply.text)
        raise _fail("The instruction asked for no restoration, so no image was written.", 1)
    try:
        save_png(reply.result.image, out, overwrite=overwrite)
    except (OSError, ValueError) as err:
        raise _fail(f"could not write '{out}': {err}", 1) from err
    typer.echo(reply.text)
    typer.echo(f"Saved {out}")
    if json_report is not None:
        report = reply.result.report()
        report.update(input=str(image), output=str(out), instruction=instruction)
        text = json.dumps(report, indent=2, ensure_ascii=False)
        try:
            write_atomic(json_report, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        except OSError as err:
            raise _fail(f"could not write the report '{json_report}': {err}", 1) from err


@app.command()
def parse(
    text: Annotated[str, typer.Argument(help="An instruction, e.g. 'make the dog clear with 0.5'.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the EditPlan JSON contract.")] = False,
) -> None:
    """Show how Restora understands TEXT (the EditPlan)."""
    from parsers import InstructionError
    from parsers import parse as parse_text

    try:
        plan = parse_text(text)
    except InstructionError as err:
        raise _fail(str(err), 2) from err
    if as_json:
        typer.echo(plan.to_json())
        return
    if plan.command:
        typer.echo(f"command: {plan.command}")
    for edit in plan.edits:
        fid = "auto" if edit.fidelity is None else f"{edit.fidelity:g}"
        typer.echo(f"{edit.action:8s} {edit.target!r} fidelity={fid}")
    if plan.message:
        typer.echo(plan.message)


@app.command()
def ground(
    image: Annotated[Path, typer.Argument(help="Photo to search.")],
    target: Annotated[str, typer.Argument(help='What to find, e.g. "main subject", "faces".')],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Mask PNG to write "
                      "(default: IMAGE_mask.png).")] = None,
    click: ClickOpt = None,
    negative_click: NegClickOpt = None,
    box: BoxOpt = None,
    backend: BackendOpt = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    box_threshold: BoxThresholdOpt = 0.3,
    text_threshold: TextThresholdOpt = 0.25,
) -> None:
    """Find TARGET in IMAGE and write its soft mask as an 8-bit PNG at the image's size."""
    import time

    import numpy as np
    from PIL import Image

    from assistant.backends import BackendUnavailable, resolve_backends
    from assistant.imageio import write_atomic
    from assistant.options import BACKENDS, check_option
    from models.grounding import load_grounder
    from models.grounding.base import GroundingError

    if backend not in BACKENDS:
        raise _fail(f"--backend must be one of {', '.join(BACKENDS)}; got {backend!r}.", 2)
    try:
        box_threshold = check_option("box_threshold", box_threshold)
        text_threshold = check_option("text_threshold", text_threshold)
    except ValueError as err:
        raise _fail(str(err), 2) from err
    out = output or _default_output(image, "mask")
    _check_output(out, image, overwrite)
    loaded = _load(image)
    prompt = parse_prompt(click, negative_click, box)
    try:
        if prompt:
            prompt.check(loaded.rgb.shape[0], loaded.rgb.shape[1])
        t0 = time.perf_counter()
        stage = resolve_backends(backend, ("grounding",))["grounding"]  # type: ignore[arg-type]
        grounder = load_grounder(stage, box_threshold, text_threshold)
        grounder.set_image(loaded.rgb)
        found = grounder.ground(target.strip().lower(), prompt)
        seconds = time.perf_counter() - t0
    except GroundingError as err:
        raise _fail(err.message_for("cli"), 1) from err
    except BackendUnavailable as err:
        raise _fail(str(err), 1) from err
    except ValueError as err:
        raise _fail(str(err), 2) from err
    mask = Image.fromarray((np.clip(found.mask, 0, 1) * 255 + 0.5).astype(np.uint8), "L")
    try:
        write_atomic(out, lambda tmp: mask.save(tmp, format="PNG"))
    except OSError as err:
        raise _fail(f"could not write the mask '{out}': {err}", 1) from err
    report = {"target": found.target, "how": found.how, "score": round(found.score, 4),
              "mask_area_fraction": round(found.area_fraction, 4), "box_xyxy": found.box_xyxy,
              "time_s": round(seconds, 4), "output": str(out)}
    typer.echo(json.dumps(report) if as_json else
               f"Found {target!r} by {found.how} ({found.area_fraction:.0%} of the image); saved {out}")


@app.command()
def batch(
    file: Annotated[Path | None, typer.Argument(
        help="YAML instruction file (a list of jobs) or manifest (.csv, .jsonl, .parquet).")] = None,
    images: Annotated[Path | None, typer.Option(
        help="Instead of FILE: a folder of photos, one job each (needs --instruction and --out).")] = None,
    instruction: Annotated[list[str] | None, typer.Option(
        help="With --images: the instruction for every photo; repeat for a conversation.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="With --images: the output folder (the photos' layout, each as .png).")] = None,
    backend: Annotated[str | None, typer.Option(
        help="Backend for jobs that do not name one: auto, offline or full.")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Local worker processes, each loading the models once (default 1: this process); "
        "with --ray, the number of actors (default one per CPU, or per GPU).")] = None,
    ray: Annotated[bool, typer.Option(
        "--ray", help="Run on Ray (needs the 'cluster' extra): the cluster in RAY_ADDRESS, else a "
        "local Ray started for this batch.")] = False,
    ray_address: Annotated[str | None, typer.Option(
        help="Join the Ray cluster at this address (HOST:6379, ray://HOST:10001 or auto); "
        "implies --ray.")] = None,
    gpus_per_worker: Annotated[float | None, typer.Option(
        help="Ray: GPUs per actor (default 1 when the cluster has GPUs, else 0; 0.5 shares one "
        "GPU between two actors).")] = None,
    retry_failed: Annotated[bool, typer.Option(
        help="Run again the jobs that failed in an earlier run (the journal says which).")] = False,
    journal: Annotated[Path | None, typer.Option(
        help="Run journal (JSONL; default restora-journal.jsonl in the folder holding the outputs).")] = None,
    overwrite: Annotated[bool, typer.Option(
        help="Replace existing output files (a job's own finished output is kept: delete it to redo "
        "the job).")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")] = False,
    allow_outside: Annotated[bool, typer.Option(
        help="Allow outputs outside the instruction file's folder.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Run a batch: each job is one photo and a conversation of instructions.

    Three forms: a YAML instruction file, a manifest of rows (CSV, JSONL, Parquet), or
    --images DIR --instruction TEXT --out DIR. The whole batch is checked before any job runs (a
    malformed one exits 2 and writes nothing). A journal records finished jobs, so running the
    same command again resumes: finished jobs are skipped, failed ones retried with --retry-failed.
    """
    from rich.console import Console

    from assistant.batch import BatchFileError, folder_jobs, load_jobs
    from assistant.batch_run import print_summary, run_batch
    from assistant.cluster import ClusterError
    from assistant.options import BACKENDS
    from assistant.worker import BatchAborted, RunSettings

    _setup_logging(verbose)
    if (file is None) == (images is None):
        raise _fail("give an instruction file or manifest (FILE), or --images DIR with --instruction "
                    "and --out; not both.", 2)
    if images is not None and (not instruction or out is None):
        raise _fail("--images needs --instruction TEXT (the instruction for every photo) and "
                    "--out DIR (where the restored photos go).", 2)
    if file is not None and (instruction or out is not None):
        raise _fail("--instruction and --out go with --images; a file's jobs name their own.", 2)
    if backend is not None and backend not in BACKENDS:
        raise _fail(f"--backend must be one of {', '.join(BACKENDS)}; got {backend!r}.", 2)
    if workers is not None and workers < 1:
        raise _fail(f"--workers must be 1 or more; got {workers}.", 2)
    use_ray = ray or ray_address is not None
    if gpus_per_worker is not None and (not use_ray or gpus_per_worker < 0):
        raise _fail(f"--gpus-per-worker (got {gpus_per_worker:g}) goes with --ray and must be 0 or more.", 2)
    defaults = {"backend": backend} if backend is not None else None
    try:
        if file is not None:
            jobs = load_jobs(file, allow_outside=allow_outside, defaults=defaults)
        else:
            jobs = folder_jobs(images, instruction, out, defaults)  # type: ignore[arg-type]
    except BatchFileError as err:
        raise _fail(str(err), 2) from err
    settings = RunSettings(
        overwrite=overwrite, retry_failed=retry_failed, quiet=quiet, journal=journal,
        workers=workers if workers is not None else (0 if use_ray else 1),
        ray=(ray_address or os.environ.get("RAY_ADDRESS") or "local") if use_ray else None,
        gpus_per_worker=gpus_per_worker,
    )
    try:
        report = run_batch(jobs, settings)
    except BatchFileError as err:
        raise _fail(str(err), 2) from err
    except (BatchAborted, ClusterError) as err:
        raise _fail(str(err), 1) from err
    except KeyboardInterrupt:
        raise _fail("interrupted; finished jobs are in the journal: run the same command again "
                    "to resume.", 130) from None
    print_summary(report, Console(soft_wrap=True))
    if not all(o.ok for o in report.outcomes):
        raise typer.Exit(1)


@app.command("app")
def app_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 7860,
    backend: BackendOpt = "auto",
) -> None:
    """Launch the chat UI in the browser (http://HOST:PORT)."""
    import app as ui

    ui.main(host=host, port=port, backend=backend)


def main() -> None:  # python -m assistant
    app()
