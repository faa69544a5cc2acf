"""The run journal and atomic outputs that make a batch resumable and exactly-once.

The journal is a JSON Lines file beside the outputs (``restora-journal.jsonl`` in the folder
that holds them all, or ``--journal PATH``). The process that drives the batch appends one line
per finished job, flushed and fsynced before the next one is recorded::

    {"job": "3f9c…", "status": "done", "name": "…", "image": "…", "output": "…",
     "sha256": "…", "seconds": 1.42, "finished": "2026-12-06T07:31:02.318+00:00", "worker": "host:pid",
     "error": null}

``job`` is ``Job.id``: a hash of the input path, instructions, options and output path. The last
line of a job wins. A torn last line (the process was killed while writing it) is skipped.

Outputs are written as ``.NAME.JOBID.tmp`` in the output's folder, fsynced, and renamed into
place, so an output is either absent or complete. Each PNG carries a ``tEXt`` chunk
``restora-recipe`` = ``Job.recipe()``: when a run is killed after an output was renamed into place
but before its journal line was written, the next run recognises the file as this job's and
records it instead of refusing it as someone else's file.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import socket
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.jobs import Job, Outcome

if TYPE_CHECKING:
    from assistant.imageio import LoadedImage

logger = logging.getLogger(__name__)

JOURNAL_NAME = "restora-journal.jsonl"
_MARK = b"restora-recipe"
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def default_journal_path(jobs: list[Job]) -> Path:
    """``restora-journal.jsonl`` in the deepest folder that holds every output."""
    folders = [str(job.output.resolve().parent) for job in jobs]
    return Path(os.path.commonpath(folders)) / JOURNAL_NAME


def tmp_path(job: Job) -> Path:
    """Where ``job``'s output is written before it is renamed into place (same folder)."""
    return job.output.with_name(f".{job.output.name}.{job.id[:12]}.tmp")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def encode_png(image: LoadedImage, recipe: str) -> bytes:
    """``image`` as PNG bytes (alpha and 16-bit kept, as assistant.imageio.save_png writes it),
    with a ``tEXt`` chunk ``restora-recipe`` = ``recipe`` before the end."""
    import io

    import numpy as np

    from assistant.imageio import to_pil

    if image.bit_depth == 16:
        import cv2  # Pillow cannot write 16-bit RGB PNG; OpenCV can (BGR(A) order).

        data = (np.clip(image.rgb, 0, 1) * 65535.0 + 0.5).astype(np.uint16)[..., ::-1]
        if image.alpha is not None:
            data = np.dstack([data, (np.clip(image.alpha, 0, 1) * 65535.0 + 0.5).astype(np.uint16)])
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(data))
        if not ok:
            raise OSError("OpenCV could not encode the 16-bit PNG")
        png = buf.tobytes()
    else:
        out = io.BytesIO()
        to_pil(image).save(out, format="PNG")
        png = out.getvalue()
    if not png.endswith(_IEND):
        raise OSError("the PNG encoder wrote no IEND chunk at the end")
    body = b"tEXt" + _MARK + b"\x00" + recipe.encode("ascii")
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    return png[: -len(_IEND)] + chunk + _IEND


def png_recipe(path: Path) -> str | None:
    """The ``restora-recipe`` written into an output PNG by ``encode_png``, or None."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 96))
            tail = f.read()
    except OSError:
        return None
    key = b"tEXt" + _MARK + b"\x00"
    at = tail.rfind(key)
    if at < 0:
        return None
    return tail[at + len(key): at + len(key) + 16].decode("ascii", "replace")


def write_output(image: LoadedImage, job: Job, overwrite: bool) -> str:
    """Write ``job``'s output atomically (temporary file, fsync, rename); return its sha256.

    Refuses an existing output unless ``overwrite``. The temporary file is removed on every path.
    """
    data = encode_png(image, job.recipe())
    out = job.output
    if out.exists() and not overwrite:
        raise FileExistsError(f"'{out}' already exists (use --overwrite)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(job)
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_folder(out.parent)
    return hashlib.sha256(data).hexdigest()


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Journal:
    """The records of earlier runs (``last``: job id → its last record) and an appender."""

    def __init__(self, path: Path):
        self.path = path
        self.last: dict[str, dict[str, Any]] = {}
        self._fd: int | None = None
        if path.exists():
            self._read()

    def _read(self) -> None:
        with self.path.open(encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                try:
                    record = json.loads(line)
                    self.last[record["job"]] = record
                except (json.JSONDecodeError, KeyError, TypeError):
                    logger.warning("%s line %d is not a journal record (a run killed while writing "
                                   "it?); ignored", self.path, n)

    def append(self, outcome: Outcome) -> None:
        """Record a finished job: one line, written with one call, flushed and fsynced."""
        job = outcome.job
        record = {
            "job": job.id, "status": "done" if outcome.ok else "failed", "name": job.name,
            "image": str(job.image), "output": str(job.output), "sha256": outcome.sha256,
            "seconds": round(outcome.seconds, 3), "worker": outcome.worker,
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "error": None if outcome.ok else outcome.message,
        }
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            size = os.fstat(self._fd).st_size
            if size and _last_byte(self.path) != b"\n":  # a torn line from a killed run
                os.write(self._fd, b"\n")
        os.write(self._fd, (json.dumps(record, ensure_ascii=False) + "\n").encode())
        os.fsync(self._fd)
        self.last[job.id] = record

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


def plan(jobs: list[Job], journal: Journal, *, overwrite: bool,
         retry_failed: bool) -> tuple[list[tuple[Job, bool]], list[Outcome]]:
    """Split ``jobs`` into those to run (with whether each may replace its output) and those
    settled by earlier runs. Removes temporary files that killed runs left behind.

    * journal says done and the output has the recorded hash, or the output carries this job's
      recipe: settled (``skipped``; a recognised output without a journal line is recorded now);
    * journal says failed, no output: settled (``failed-earlier``) unless ``retry_failed``;
    * an output that is not this job's: run only with ``overwrite``, else a failure;
    * otherwise: run.
    """
    to_run: list[tuple[Job, bool]] = []
    settled: list[Outcome] = []
    for job in jobs:
        tmp_path(job).unlink(missing_ok=True)
        record = journal.last.get(job.id)
        out = job.output
        if out.is_file():
            digest = file_sha256(out)
            if record and record["status"] == "done" and record.get("sha256") == digest:
                settled.append(Outcome(job, True, f"'{out}' already exists from an earlier run of "
                                       "this job; skipped", "skipped", sha256=digest))
            elif png_recipe(out) == job.recipe():
                outcome = Outcome(job, True, f"'{out}' already exists, written by this job in an "
                                  "interrupted run; recorded", "skipped", sha256=digest)
                journal.append(outcome)
                settled.append(outcome)
            elif overwrite:
                to_run.append((job, True))
            else:
                why = " (changed since this job wrote it)" if record and record["status"] == "done" else ""
                settled.append(Outcome(job, False, f"'{out}' already exists{why} (use --overwrite)",
                                       "failed"))
        elif record and record["status"] == "failed" and not retry_failed:
            settled.append(Outcome(job, False, f"failed in an earlier run: {record.get('error')} "
                                   "(--retry-failed runs it again)", "failed-earlier"))
        else:
            to_run.append((job, overwrite))
    return to_run, settled
