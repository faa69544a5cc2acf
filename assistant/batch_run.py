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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant.jobs import BatchFileError, Job, Outcome
from assistant.worker import (
    QUEUE_PER_WORKER,
    BatchAborted,
    Record,
    RunSettings,
    backends_of,
    init_worker,
    run_job,
)

logger = logging.getLogger(__name__)

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
