"""A live view of a local run's progress, read from what the workers commit to the output folder.

The multi-process direct runner does its work in other processes, so in-process counters see nothing:
this polls the committed records instead (the same ones resume trusts), in a thread of the launcher:

    DIR/shards/NNNNN.parquet         clips written, and the videos they come from (read once each)
    DIR/.staging/<video>/manifest.json   videos cut and waiting for a shard
    DIR/.state/failures/*.jsonl      failures, by stage; a video's failure (no clip key) ends it

A video is done once it is in a shard, staged, or has failed as a whole. The total is the number of
input rows, counted in the background for a local manifest or folder ("?" until then, or for a remote
one). On a terminal the display is one line redrawn every POLL_S; otherwise a line per LOG_EVERY_S.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter

import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.output.failures import RETRYABLE_STAGES, failure_files, parse_failure_line
from curate.output.index import partition_paths
from curate.output.write import MANIFEST, STAGING
from curate.sources import local_path, read_sources
from schemas import safe_id

POLL_S = 1.0
LOG_EVERY_S = 60.0


class Committed:
    """What the output folder holds so far; ``poll()`` reads only files it has not read yet."""

    def __init__(self, out_dir: str, run_id: str = ""):
        self._dir, self._run_id = out_dir, run_id
        self._partitions: set = set()
        self._failure_files: set = set()
        self._failure_keys: set = set()  # a clip's failure is also committed with its shard: count it once
        # a video is never split across shards: the videos of the index are a sum, with no set of ids
        self.videos_in_shards = 0
        self.staged: set = set()  # staged now (a video leaves staging once its shard is committed)
        self._sharded_still_staged: set = set()  # in a committed shard, its staging folder not yet deleted
        self.failed: set = set()  # videos that failed as a whole
        self.clips = 0
        self.failures_by_stage: Counter = Counter()
        self.unnamed_failed = 0  # input rows that failed without a video id (e.g. undecodable names)

    def poll(self) -> None:
        self._read_partitions()
        self._read_staging()
        self._read_failures()

    def _read_partitions(self) -> None:
        for path in partition_paths(self._dir):
            if path in self._partitions:
                continue
            try:
                ids = pq.read_table(path, columns=["video_id"]).column("video_id")
            except (OSError, ValueError):
                continue  # set aside or damaged: the run reports it
            self._partitions.add(path)
            self.clips += len(ids)
            self.videos_in_shards += pc.count_distinct(ids).as_py()
            self._sharded_still_staged.update(safe_id(v) for v in pc.unique(ids).to_pylist())

    def _read_staging(self) -> None:
        folder = os.path.join(self._dir, STAGING)
        try:
            names = os.listdir(folder)
        except OSError:
            names = []
        staged = {
            name for name in names if not name.startswith(".") and os.path.exists(os.path.join(folder, name, MANIFEST))
        }
        self._sharded_still_staged &= staged  # bounded by the videos in flight
        self.staged = staged - self._sharded_still_staged

    def _read_failures(self) -> None:
        this_run = f"run-{self._run_id}-" if self._run_id else None
        for path in failure_files(self._dir):
            if path in self._failure_files:
                continue
            self._failure_files.add(path)
            earlier_run = (
                this_run is not None
                and os.path.basename(path).startswith("run-")
                and not os.path.basename(path).startswith(this_run)
            )
            try:
                with open(path, "rb") as f:
                    lines = f.readlines()
            except OSError:
                continue
            for number, line in enumerate(lines, 1):
                try:
                    failure = parse_failure_line(line, f"{path}:{number}")
                except ValueError:
                    continue
                if failure is None:
                    continue
                record = (failure.video_id, failure.key, failure.stage, failure.reason)
                if record in self._failure_keys:
                    continue
                self._failure_keys.add(record)
                if earlier_run and failure.stage in RETRYABLE_STAGES:
                    continue  # this run retries it
                self.failures_by_stage[failure.stage] += 1
                if failure.key:
                    continue
                if failure.video_id:
                    self.failed.add(failure.video_id)
                else:
                    self.unnamed_failed += 1

    @property
    def done(self) -> int:
        return self.videos_in_shards + len(self.staged) + len(self.failed) + self.unnamed_failed


def count_inputs(input_path: str, id_column=None, url_column=None):
    """Input rows of a local manifest or folder (distinct videos plus bad rows), or None (remote or
    unreadable)."""

    if local_path(input_path) is None:
        return None
    try:
        return sum(
            1
            for record in read_sources(input_path, id_column=id_column, url_column=url_column)
            if getattr(record, "reason", None) != "duplicate_id"
        )
    except (OSError, ValueError):
        return None


def describe(committed: Committed) -> str:
    failed = ", ".join(f"{stage} {n}" for stage, n in sorted(committed.failures_by_stage.items()))
    return f"clips {committed.clips}, failures: {failed or 'none'}"


class Progress:
    """``with Progress(out_dir, input, run_id=...):`` shows the run's progress until the block ends."""

    def __init__(
        self,
        out_dir: str,
        input_path: str,
        *,
        run_id: str = "",
        id_column=None,
        url_column=None,
        stream=None,
        quiet: bool = False,
        poll_s: float = POLL_S,
        log_every_s: float = LOG_EVERY_S,
    ):
        self.committed = Committed(out_dir, run_id)
        self._input = (input_path, id_column, url_column)
        self._stream = stream or sys.stderr
        self._quiet, self._poll_s, self._log_every_s = quiet, poll_s, log_every_s
        self._stop = threading.Event()
        self._threads: list = []
        self.total = None
        self._start_done, self._start_time = 0, time.monotonic()

    def __enter__(self):
        if self._quiet:
            return self
        for target in (self._count, self._watch):
            thread = threading.Thread(target=target, name=f"curate-progress-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()
        return False

    def _count(self) -> None:
        try:
            self.total = count_inputs(*self._input)
        except Exception:  # noqa: BLE001 - the run reports a bad input itself; the display shows "?"
            self.total = None

    def _watch(self) -> None:
        is_tty = getattr(self._stream, "isatty", lambda: False)()
        self._poll()  # what earlier runs left: done already, not part of this run's rate
        self._start_done, self._start_time = self.committed.done, time.monotonic()
        last_log = time.monotonic()
        while True:
            # off a terminal the folder is read only when a line is due: the run's own work comes first
            wait = self._poll_s if is_tty else max(0.0, self._log_every_s - (time.monotonic() - last_log))
            stopping = self._stop.wait(wait)
            self._poll()
            if is_tty:  # one line redrawn in place, and left on screen at the end
                self._stream.write("\r" + self.line() + "\x1b[K" + ("\n" if stopping else ""))
                self._stream.flush()
            elif stopping or time.monotonic() - last_log >= self._log_every_s:
                self._stream.write(self.line() + "\n")
                self._stream.flush()
                last_log = time.monotonic()
            if stopping:
                break

    def _poll(self) -> None:
        try:
            self.committed.poll()
        except Exception:  # noqa: BLE001 - a file moved while read (set aside, renamed): the next poll
            pass

    def line(self) -> str:
        """One log line: videos done of total, clips, failures by stage, rate and ETA."""
        done, total = self.committed.done, self.total
        elapsed = max(1e-9, time.monotonic() - self._start_time)
        rate = (done - self._start_done) / elapsed
        eta = "?"
        if total is not None and rate > 0:
            eta = _clock(max(0, total - done) / rate)
        return (
            f"curate: videos {done}/{total if total is not None else '?'}, {describe(self.committed)}; "
            f"{rate:.2f} videos/s, ETA {eta}"
        )


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
