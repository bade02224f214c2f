"""Download folders that several runs use at once (one --download-dir shared by runs into different
outputs, or two runs of one recipe over overlapping inputs).

A video's download is published whole: yt-dlp writes into a staging folder of this run's own
(``.<name>.<run token>.part`` beside the video's folder) that is renamed to the video's folder once
the download is checked, so no run ever sees half of another's. A run holds a shared lock on the
video's lock file (``.locks/<name>.lock``) from before it looks at the folder until it is done with
the video; the folder is deleted only by a run that then gets that lock exclusively, when no other run
holds it. So no run deletes a download that another still reads, and the last one done deletes it.

The locks are flock(2) locks, which the OS drops when a process dies: a killed run leaves no lock
behind (its folder is deleted by the next run that is done with the video). The locks this process
holds are kept here by path, so that the download stage takes one and the stage that discards the
video (in the same worker process: the recipes fuse them) lets it go.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
import uuid
from pathlib import Path

_held: dict = {}  # lock file path -> the open file holding a shared lock on it
_guard = threading.Lock()
_SALT = uuid.uuid4().hex[:8]


def lock_path(folder: Path) -> Path:
    return folder.parent / ".locks" / f"{folder.name}.lock"


def staging_folder(folder: Path) -> Path:
    """Where this process downloads the video of ``folder`` before publishing it there."""
    return folder.with_name(f".{folder.name}.{os.getpid()}-{_SALT}.part")


def _acquire(path: Path, mode: int):
    """An open file locked with ``mode`` (fcntl.LOCK_SH or LOCK_EX, maybe | LOCK_NB) at ``path``,
    or None when LOCK_NB and another holds it."""
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = open(path, "a")  # noqa: SIM115 - held until release()
        except FileNotFoundError:  # .locks was removed in between: make it again
            continue
        try:
            fcntl.flock(handle, mode)
        except BlockingIOError:
            handle.close()
            return None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return handle
        handle.close()  # deleted (maybe made again) while this waited: lock the one there now


def hold(folder: Path) -> None:
    """Hold the video's download folder (it need not exist yet) for this run until release()."""
    key = str(lock_path(folder))
    with _guard:
        if key in _held:
            return
    handle = _acquire(Path(key), fcntl.LOCK_SH)  # waits only while a run deletes the folder
    with _guard:
        if key in _held:
            handle.close()
        else:
            _held[key] = handle


def publish(staging: Path, folder: Path) -> bool:
    """Move a checked download into place in one rename; False (``staging`` left as it is) when
    another run published the video first."""
    try:
        os.rename(staging, folder)
    except OSError:  # ENOTEMPTY / EEXIST: the folder is there, whole
        return False
    return True


def release(folder: Path) -> bool:
    """This run is done with the video: delete its folder (and the staging folders killed runs left)
    unless another run holds it too. Returns whether the folder was deleted."""
    path = lock_path(folder)
    with _guard:
        handle = _held.pop(str(path), None)
    if handle is None:
        if not path.exists() and not folder.exists():
            return False
        handle = _acquire(path, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            handle = None
    if handle is None:  # another run reads it: the last one done deletes it
        return False
    try:
        deleted = folder.is_dir()
        shutil.rmtree(folder, ignore_errors=True)
        for left in folder.parent.glob(f".{folder.name}.*.part"):
            shutil.rmtree(left, ignore_errors=True)
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty: other videos' locks are in it
            path.parent.rmdir()
    finally:
        handle.close()
    return deleted
