"""Batches on Ray (``restora batch ... --ray [ADDRESS]``; the optional extra ``restora[cluster]``).

The jobs run as tasks on a pool of Ray actors, each holding one set of models (loaded once, in
the actor's constructor). Each actor asks for ``num_cpus`` = the cluster's CPUs / actors (a
fraction when there are more actors than CPUs) and uses that many torch threads, at least one;
when the cluster has GPUs each actor also asks for ``gpus_per_worker`` GPUs (default 1; fractions
such as 0.5 put several actors on one GPU). Each actor gets jobs as soon as it is up, up to two
ahead, and results (and errors) come back as they finish, to this process, which alone writes
the journal; actors write the outputs themselves, atomically,
so on a multi-node cluster the outputs and inputs must be on a file system every node mounts
at the same path.

Ray is imported only here, and only when ``--ray`` is given.
"""

from __future__ import annotations

import collections
import logging
from typing import TYPE_CHECKING, Any

from assistant.jobs import Job, Outcome
from assistant.options import short
from assistant.worker import QUEUE_PER_WORKER, BatchAborted, Record, RunSettings, backends_of

if TYPE_CHECKING:
    from types import ModuleType

logger = logging.getLogger(__name__)

#: Object store of a Ray that ``--ray`` starts itself: jobs and outcomes are a few KB each.
LOCAL_OBJECT_STORE_BYTES = 200 * 2**20
#: How long actors may take to start (a cluster may first have to add nodes).
ACTOR_START_TIMEOUT_S = 600.0


class ClusterError(RuntimeError):
    """Ray is missing, unreachable or cannot place the actors; the message says what to do."""


def require_ray() -> ModuleType:
    try:
        import ray
    except ImportError as err:
        raise ClusterError("--ray needs Ray, which is not installed: pip install 'restora[cluster]' "
                           "(in a checkout: pip install -e '.[cluster]').") from err
    return ray


def connect(ray: ModuleType, address: str) -> bool:
    """Start a local Ray (``address == "local"``) or join the cluster at ``address``; return
    whether this call connected (False: this process was already connected)."""
    if ray.is_initialized():
        return False
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, log_to_driver=False,
                     object_store_memory=LOCAL_OBJECT_STORE_BYTES, logging_level=logging.WARNING)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as err:
        raise ClusterError(
            f"could not join the Ray cluster at {address!r}: {short(str(err), 300)}. Give the address "
            "that 'ray start --head' printed (HOST:6379), 'auto' for the cluster this machine is "
            "part of, or no address to start a local Ray.") from err
    return True


def _actor_class(ray: ModuleType) -> Any:
    @ray.remote(max_restarts=1, max_task_retries=1)
    class BatchWorker:
        """One set of models; runs jobs one at a time."""

        def __init__(self, threads: int, backends: tuple[str, ...]):
            from assistant.worker import init_worker

            init_worker(threads, backends)

        def ready(self) -> str:
            from assistant.journal import worker_name

            return worker_name()

        def run(self, job: Job, overwrite: bool) -> Outcome:
            from assistant.worker import run_job

            return run_job(job, overwrite)

    return BatchWorker


def start_actors(ray: ModuleType, settings: RunSettings, backends: tuple[str, ...]) -> list[Any]:
    """Size the actor pool from the cluster's resources and start it (actors come up on their own).

    Each actor asks for the cluster's CPUs / actors (a fraction when there are more actors than
    CPUs, so all of them can be placed) and uses that many threads, at least one.
    """
    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 1)), float(resources.get("GPU", 0))
    per_gpu = settings.gpus_per_worker if settings.gpus_per_worker is not None else (1.0 if gpus else 0.0)
    if per_gpu < 0 or per_gpu > gpus:
        raise ClusterError(f"--gpus-per-worker {per_gpu:g} cannot be met: the cluster has {gpus:g} GPUs. "
                           "Use a value from 0 (CPU only) to the GPUs of one node; fractions share a GPU.")
    count = settings.workers if settings.workers > 0 else max(1, int(gpus // per_gpu if per_gpu else cpus))
    per_cpu = cpus // count if count <= cpus else cpus / count
    threads = max(1, int(per_cpu))
    worker = _actor_class(ray).options(num_cpus=per_cpu, num_gpus=per_gpu)
    logger.info("starting %d Ray actors (%g CPUs, %g GPUs each)", count, per_cpu, per_gpu)
    return [worker.remote(threads, backends) for _ in range(count)]


def run_on_ray(tasks: list[tuple[Job, bool]], settings: RunSettings, record: Record) -> None:
    """Run ``tasks`` on a Ray actor pool, calling ``record`` (in this process) as each ends.

    Jobs go to each actor as soon as it is up; actors that never come up (the cluster lacks the
    resources) are given up on after ACTOR_START_TIMEOUT_S if no other actor is working.
    """
    ray = require_ray()
    connected = connect(ray, settings.ray or "local")
    actors: list[Any] = []
    try:
        actors = start_actors(ray, settings, backends_of([job for job, _ in tasks]))
        starting = {actor.ready.remote(): actor for actor in actors}
        queue = collections.deque(tasks)
        inflight: dict[Any, tuple[Any, Job]] = {}
        load: dict[Any, int] = {}  # actors that are up → jobs queued on each
        why = ""  # the last actor failure, for the message when none is left

        def feed(actor: Any) -> None:
            while load[actor] < QUEUE_PER_WORKER and queue:
                job, overwrite = queue.popleft()
                remote = Job(job.name, job.image.resolve(), job.instructions, job.output.resolve(),
                             job.options)  # workers have other working folders
                inflight[actor.run.remote(remote, overwrite)] = (actor, job)
                load[actor] += 1

        while inflight or (starting and queue):
            timeout = None if inflight else ACTOR_START_TIMEOUT_S
            done, _ = ray.wait([*inflight, *starting], num_returns=1, timeout=timeout)
            if not done:
                raise ClusterError(
                    f"no Ray actor started within {ACTOR_START_TIMEOUT_S:.0f} s; see 'ray status' for "
                    "the resources each asks for. Lower --workers or --gpus-per-worker, or add nodes.")
            ref = done[0]
            if ref in starting:
                actor = starting.pop(ref)
                try:
                    logger.info("Ray actor up on %s", ray.get(ref))
                except ray.exceptions.RayError as err:
                    why = f" (the last: {short(str(err), 300)})"
                    logger.warning("a Ray actor failed to start: %s", short(str(err), 300))
                    continue
                load[actor] = 0
                feed(actor)
                continue
            actor, job = inflight.pop(ref)
            if actor in load:
                load[actor] -= 1
            try:
                outcome = ray.get(ref)
                outcome.job = job
            except ray.exceptions.RayActorError as err:
                outcome = Outcome(job, False, f"the Ray actor running it died: {short(str(err), 300)}",
                                  "failed")
                why = f" (the last: {outcome.message})"
                load.pop(actor, None)
            except ray.exceptions.RayError as err:
                outcome = Outcome(job, False, f"Ray: {short(str(err), 300)}", "failed")
            record(outcome)
            if actor in load:
                feed(actor)
        if queue:
            raise BatchAborted(f"no Ray actor is left{why}; {len(queue)} jobs did not run. Rerun "
                               "the same command to resume.")
    finally:
        for actor in actors:
            ray.kill(actor)
        if connected:
            ray.shutdown()
