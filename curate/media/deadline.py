"""Run one call in a child process that is killed at a wall-clock deadline.

A socket timeout bounds each wait for data, not a whole transfer: a server that trickles a byte every
few seconds keeps a download alive forever, and with it the worker's bundle and the run. What cannot be
bounded from inside (yt-dlp's HTTP reads, the ffmpeg merge it starts) runs in a child process of its
own session, so that the child and everything it started can be killed together.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from typing import Callable, Optional


class DeadlineExceeded(Exception):
    """The call was still running at its deadline and was killed."""


class Stalled(Exception):
    """The call's ``watch`` said it makes too little progress, and it was killed."""


def call_with_deadline(
    fn: Callable,
    args: tuple,
    deadline_s: float,
    preload: tuple = (),
    watch: Optional[Callable[[], Optional[str]]] = None,
    watch_every_s: float = 1.0,
):
    """``fn(*args)`` in a child process: its return value, or the exception it raised (which must
    pickle), or DeadlineExceeded after ``deadline_s`` seconds. The child is forked from a forkserver
    (never from this process, which may run threads: Beam) that imports ``preload`` once, so that
    each call does not pay for importing them again. ``watch`` is called every ``watch_every_s``
    seconds while the child runs; when it returns a text, the child is killed and Stalled(text)
    raised."""
    context = multiprocessing.get_context("forkserver")
    if preload:
        context.set_forkserver_preload(list(preload))  # takes effect when the forkserver starts
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_run, args=(send, fn, args), daemon=False)
    child.start()
    send.close()
    ends = time.monotonic() + deadline_s
    every = watch_every_s if watch else deadline_s
    try:
        while not receive.poll(max(0.0, min(ends - time.monotonic(), every))):
            if time.monotonic() >= ends:
                raise DeadlineExceeded(f"still running after {deadline_s:.0f} s")
            stalled = watch() if watch else None
            if stalled:
                raise Stalled(stalled)
        ok, value = receive.recv()
    except EOFError:
        raise RuntimeError(f"the child process died (exit code {child.exitcode})") from None
    finally:
        if child.is_alive():
            try:
                os.killpg(child.pid, signal.SIGKILL)  # the child's session: what it started dies too
            except ProcessLookupError:  # killed before it made its session
                pass
            child.kill()
        child.join()
        receive.close()
    if not ok:
        raise value
    return value


def _run(send, fn: Callable, args: tuple) -> None:
    os.setsid()
    try:
        result = (True, fn(*args))
    except Exception as exc:  # noqa: BLE001 - every error goes back to the caller
        result = (False, exc)
    try:
        send.send(result)
    except Exception as exc:  # noqa: BLE001 - an error that does not pickle goes back as text
        send.send((False, RuntimeError(f"{type(result[1]).__name__}: {result[1]} ({exc})")))
