"""One run at a time per output directory.

A local output is locked with an OS lock (``flock``) on DIR/.lock, held by the process that runs the
pipeline until it ends; the OS drops it when that process dies, so a killed run never leaves a stale
lock behind. A second run into the same DIR stops at once (OutputConflictError) naming the holder.

An object store (gs://, s3://) has no such lock. The rule there: one run per output at a time
(Airflow: ``max_active_runs=1`` per output). What can be detected is: every run writes its id into
DIR/.state/owner.json as it starts, and the last step (curate.output.write.finalize_outputs) fails
when another run has claimed DIR since, instead of publishing outputs mixed from two runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time

from curate.errors import OutputConflictError
from curate.files import _local, exists, is_local, join, read_bytes, write_bytes_atomic

LOCK = ".lock"
OWNER = os.path.join(".state", "owner.json")


def _holder() -> dict:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@contextlib.contextmanager
def lock_output(out_dir: str, run_id: str):
    """Hold `out_dir` for one run (see the module docstring) for the body of the with-statement."""
    holder = dict(_holder(), run_id=run_id)
    handle = None
    if is_local(out_dir):
        import fcntl  # POSIX only: importing this module works anywhere

        local = _local(out_dir)
        os.makedirs(local, exist_ok=True)
        handle = open(os.path.join(local, LOCK), "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            other = handle.read().strip() or "another process"
            handle.close()
            raise OutputConflictError(
                f"{out_dir} is being written by another run ({other}); wait for it to end, or write to another --output"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder))
        handle.flush()
    try:
        write_bytes_atomic(join(out_dir, OWNER), json.dumps(holder).encode())
        yield
    finally:
        if handle is not None:
            handle.close()  # releases the flock


def check_owner(out_dir: str, run_id: str) -> None:
    """Raise OutputConflictError when a run other than `run_id` claimed `out_dir` after it."""
    path = join(out_dir, OWNER)
    owner = json.loads(read_bytes(path)) if exists(path) else {}
    if owner.get("run_id") != run_id:
        raise OutputConflictError(
            f"another run ({owner or 'unknown'}) started writing {out_dir} while run {run_id} was "
            "running; two runs into one output corrupt each other: let one finish, then rerun it alone "
            "(the rerun resumes and writes every clip once)"
        )
