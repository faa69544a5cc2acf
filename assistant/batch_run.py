"""Running a batch: in this process, on N local worker processes, or on a Ray actor pool.

Whatever runs the jobs, this process alone reads and writes the journal (assistant.journal):
it plans which jobs still need to run, hands them out, and records each outcome as it comes
back. Workers write outputs atomically and return an Outcome; a failing job never stops the
others.

Local workers (``workers > 1``) are ``spawn``ed processes that each load the models once (the
initializer warms the pipeline up; the model loaders cache per process) and use
``max(1, cores // workers)`` torch threads, so N workers do not oversubscribe the cores. They
die with this process. Ray is assistant.cluster.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant.batch import RUN_KEYS, BatchFileError, Job, Outcome
from assistant.options import short

logger = logging.getLogger(__name__)

#: Jobs handed to each worker ahead of time, so none waits for the next one.
QUEUE_PER_WORKER = 2
Record = Callable[[Outcome], None]


@dataclass(frozen=True)
class RunSettings:
    overwrite: bool = False  # replace outputs that are not this job's own earlier output
    retry_failed: bool = False  # run jobs again that failed in an earlier run
    workers: int = 1  # local processes (1: this process); with Ray, actors (0: one per CPU or GPU)
    ray: str | None = None  # None: no Ray; "local": start a local Ray; else a cluster address
    gpus_per_worker: float | None = None  # Ray: GPUs per actor (None: 1 if the cluster has GPUs)
    journal: Path | None = None  # None: restora-journal.jsonl in the folder holding the outputs
    quiet: bool = False  # no progress bar


@dataclass
class Report:
    outcomes: list[Outcome]  # one per job, in the batch's order
    ran: int  # jobs run now (the others were settled by earlier runs)
    seconds: float
    mode: str
    journal: Path


def journal_for(jobs: list[Job], path: Path | None) -> Path:
    """The journal's path, checked before any work: writable, and no job's input or output."""
    from assistant.imageio import check_output_path
    from assistant.journal import default_journal_path

    journal = path if path is not None else default_journal_path(jobs)
    taken = {job.image.resolve() for job in jobs} | {job.output.resolve() for job in jobs}
    if journal.resolve() in taken:
        raise BatchFileError(f"The journal '{journal}' is an input or output of the batch; "
                             "pass --journal with another file name.")
    try:
        check_output_path(journal)
    except ValueError as err:
        raise BatchFileError(f"The journal: {err} Pass --journal PATH to put it elsewhere.") from err
    return journal


def run_job(job: Job, overwrite: bool = False) -> Outcome:
    """Run one job and write its output atomically; every failure becomes an Outcome."""
    from assistant.imageio import ImageReadError, load_image
    from assistant.journal import worker_name, write_output
    from assistant.pipeline import RunOptions
    from assistant.session import Session
    from models.grounding.base import Point, RegionPrompt

    t0 = time.perf_counter()
    worker = worker_name()

    def failed(message: str) -> Outcome:
        return Outcome(job, False, message, "failed", time.perf_counter() - t0, worker=worker)

    if job.output.resolve() == job.image.resolve():
        return failed("output is the input image; refusing to overwrite the original")
    if job.output.exists() and not overwrite:
        return failed(f"'{job.output}' already exists (use --overwrite)")
    try:
        image = load_image(job.image)
        opts = job.options
        points = [Point(x, y, True) for x, y in opts.get("click", [])]
        points += [Point(x, y, False) for x, y in opts.get("negative_click", [])]
        prompt = RegionPrompt(tuple(points), opts.get("box"))
        run_options = {k: opts[k] for k in RUN_KEYS if k in opts}
        session = Session(image, RunOptions(**run_options, surface="batch"))
    except (ImageReadError, ValueError) as err:
        return failed(str(err))
    texts = []
    for n, instruction in enumerate(job.instructions):
        reply = session.send(instruction, prompt=prompt if (prompt and n == 0) else None)
        if not reply.ok:
            return failed(f"instruction {n + 1} ({short(instruction, 60)}): {reply.text}")
        texts.append(reply.text.splitlines()[0])
    if session.index == 0:
        return failed("no instruction restored anything; nothing written")
    try:
        digest = write_output(session.current, job, overwrite)  # type: ignore[arg-type]
    except (OSError, ValueError) as err:
        return failed(str(err))
    return Outcome(job, True, f"wrote {job.output} — " + " / ".join(texts), "done",
                   time.perf_counter() - t0, digest, worker)


def init_worker(threads: int, backends: tuple[str, ...], parent: int | None = None) -> None:
    """Set up a worker process: ``threads`` CPU threads for torch and OpenCV, the models of
    ``backends`` loaded once, and (Linux) death when process ``parent``, the driver, dies, so a
    killed batch leaves no worker writing outputs behind its back."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if parent is not None and sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the driver died before prctl
            os._exit(1)
    import torch

    torch.set_num_threads(threads)
    import cv2

    cv2.setNumThreads(threads)
    from assistant.pipeline import warm_up

    for backend in backends:
        warm_up(backend)  # type: ignore[arg-type]


def backends_of(jobs: list[Job]) -> tuple[str, ...]:
    return tuple(sorted({str(job.options.get("backend", "auto")) for job in jobs}))


def _run_here(tasks: list[tuple[Job, bool]], record: Record) -> None:
    for job, overwrite in tasks:
        record(run_job(job, overwrite))


def _run_pool(tasks: list[tuple[Job, bool]], workers: int, record: Record) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, (os.cpu_count() or 1) // workers)
    backends = backends_of([job for job, _ in tasks])
    todo: Iterator[tuple[Job, bool]] = iter(tasks)
    pending: dict[Future[Outcome], Job] = {}
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=init_worker, initargs=(threads, backends, os.getpid())) as pool:
        while True:
            while len(pending) < QUEUE_PER_WORKER * workers and (item := next(todo, None)):
                pending[pool.submit(run_job, *item)] = item[0]
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool as err:
                    lost = [job, *pending.values(), *(j for j, _ in todo)]
                    raise BatchAborted(f"a worker process died ({err}); {len(lost)} jobs did not "
                                       "finish. Rerun the same command to resume.") from err
                outcome.job = job  # the worker's copy → this batch's Job
                record(outcome)


class BatchAborted(RuntimeError):
    """The batch cannot go on (a worker pool or cluster is gone); finished jobs are recorded."""


def _progress(total: int, quiet: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class JobsPerMinute(ProgressColumn):
        def render(self, task) -> Text:  # noqa: ANN001 - rich's Task
            return Text("" if task.speed is None else f"{task.speed * 60:.1f} jobs/min")

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), JobsPerMinute(),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    return Progress(*columns, disable=quiet, transient=False, speed_estimate_period=120)


def run_batch(jobs: list[Job], settings: RunSettings) -> Report:
    """Run the jobs a journal does not already settle; record each as it finishes.

    Raises BatchFileError (journal path), BatchAborted, and assistant.cluster.ClusterError.
    """
    from assistant.journal import Journal, plan

    t0 = time.perf_counter()
    journal = Journal(journal_for(jobs, settings.journal))
    order = {id(job): i for i, job in enumerate(jobs)}
    try:
        tasks, outcomes = plan(jobs, journal, overwrite=settings.overwrite,
                               retry_failed=settings.retry_failed)
        if outcomes:
            logger.info("%d of %d jobs are settled by %s", len(outcomes), len(jobs), journal.path)
        if settings.ray is not None:
            mode = f"ray ({settings.ray})"
        elif settings.workers > 1 and len(tasks) > 1:
            mode = f"{settings.workers} workers"
        else:
            mode = "sequential"
        with _progress(len(tasks), settings.quiet) as bar:
            task = bar.add_task("restoring", total=len(tasks))

            def record(outcome: Outcome) -> None:
                journal.append(outcome)
                if not outcome.ok:
                    logger.warning("%s failed: %s", outcome.job.name, outcome.message)
                outcomes.append(outcome)
                bar.advance(task)

            if not tasks:
                pass
            elif settings.ray is not None:
                from assistant.cluster import run_on_ray

                run_on_ray(tasks, settings, record)
            elif mode == "sequential":
                _run_here(tasks, record)
            else:
                _run_pool(tasks, settings.workers, record)
    finally:
        journal.close()
    outcomes.sort(key=lambda o: order[id(o.job)])
    return Report(outcomes, len(tasks), time.perf_counter() - t0, mode, journal.path)


def print_summary(report: Report, console, job_lines: int = 50) -> None:  # noqa: ANN001 - rich Console
    """Per-job lines (all when there are at most ``job_lines`` jobs, else failures only, at most
    ``job_lines``), a summary table, and the "N of M jobs succeeded." line."""
    from rich.table import Table

    outcomes = report.outcomes
    shown = outcomes if len(outcomes) <= job_lines else [o for o in outcomes if not o.ok]
    for o in shown[:job_lines]:
        console.print(f"{'ok  ' if o.ok else 'FAIL'} {o.job.name}: {o.message}", markup=False,
                      highlight=False, soft_wrap=True)
    if len(shown) > job_lines:
        console.print(f"… and {len(shown) - job_lines} more failures; see {report.journal}",
                      markup=False, highlight=False)
    count = {s: sum(o.status == s for o in outcomes) for s in ("done", "failed", "skipped",
                                                                "failed-earlier")}
    table = Table(title=f"restora batch: {report.mode}", title_justify="left")
    for column in ("jobs", "done now", "failed now", "finished earlier", "failed earlier",
                   "seconds", "jobs/min"):
        table.add_column(column, justify="right")
    rate = report.ran / report.seconds * 60 if report.seconds > 0 else 0.0
    table.add_row(str(len(outcomes)), str(count["done"]), str(count["failed"]), str(count["skipped"]),
                  str(count["failed-earlier"]), f"{report.seconds:.1f}", f"{rate:.1f}")
    console.print(table)
    console.print(f"journal: {report.journal}", markup=False, highlight=False, soft_wrap=True)
    ok = sum(o.ok for o in outcomes)
    console.print(f"{ok} of {len(outcomes)} jobs succeeded.", markup=False, highlight=False)
