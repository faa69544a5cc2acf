"""What a batch worker does: set itself up once, then run one job at a time; and the settings and
errors every runner shares.

Below both runners (assistant.batch_run: this process or local worker processes;
assistant.cluster: Ray actors), which hand jobs to ``run_job`` and record its Outcome.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.jobs import RUN_KEYS, Job, Outcome
from assistant.options import short

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


class BatchAborted(RuntimeError):
    """The batch cannot go on (a worker pool or cluster is gone); finished jobs are recorded."""


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
