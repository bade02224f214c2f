"""A run's child processes end with it.

A run starts processes of its own: ffmpeg for each batch of clips, yt-dlp downloads in children of a
forkserver (each in a session of its own, so that a deadline kills what it started), Beam's worker
processes. Stopped by SIGTERM (or SIGHUP, SIGINT), the run used to leave them running: an ffmpeg went
on writing into DIR/.staging after the OS had dropped the run's lock on DIR, under a rerun that
took DIR over. While ``children_die_with_run`` is in force, such a signal first kills every process
the run started (its descendants, found in /proc), then ends the run at once with exit status 128 +
the signal's number: the lock goes only when nothing of the run is left to write.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def descendants(pid: int) -> list:
    """The live processes below ``pid`` (children, their children, ...), from /proc; [] where there is
    no /proc. Zombies (dead, not yet reaped) are left out: they write nothing."""
    children: dict = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it
                state, ppid = f.read().rsplit(b")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue  # ended while this looked
        if state != b"Z":
            children.setdefault(int(ppid), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def kill_descendants(pid: int, wait_s: float = 5.0) -> None:
    """SIGKILL every process below ``pid``, again and again until none is left alive (one may fork
    while this runs), for at most ``wait_s`` seconds."""
    ends = time.monotonic() + wait_s
    while (found := descendants(pid)) and time.monotonic() < ends:
        for child in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
        time.sleep(0.02)


def _stop(signum, frame) -> None:
    kill_descendants(os.getpid())
    name = signal.Signals(signum).name
    sys.stderr.write(
        f"error: stopped by {name}; the processes of the run were ended; a rerun with the same options resumes\n"
    )
    sys.stderr.flush()
    os._exit(128 + signum)  # not an exception: Beam's threads would go on starting processes


@contextlib.contextmanager
def children_die_with_run():
    """For the body of the with-statement, a stop signal ends the run's child processes before the
    run (see the module docstring). Only the main thread can take signals: elsewhere, nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [sig for sig in STOP_SIGNALS if signal.getsignal(sig) != signal.SIG_IGN]  # nohup stays nohup
    previous = {sig: signal.signal(sig, _stop) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
