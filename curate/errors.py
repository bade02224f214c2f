"""The one error type that per-element curation functions raise (and the run's own option error).

A plain function raises StageError for anything wrong with its input (bad file, unusable video, model
answer that cannot be used). The Beam wiring (curate.beam.stages) turns it into a Failure record on the
dead-letter output, so one bad video never takes down the others.
"""

from __future__ import annotations

import errno


class StageError(Exception):
    """What went wrong with one element, in words a user can act on.

    reason: short machine-readable tag ("below_720p", "http_429", "vtt_truncated", ...)
    detail: the human-readable message (file name, the tool's own error text, ...)
    """

    def __init__(self, reason: str, detail: str = "", *, video_id: str = "", key: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.video_id = video_id
        self.key = key


class UnknownOptionsError(ValueError):
    """Pipeline arguments that no Beam PipelineOptions class knows (Beam itself only warns and runs on
    with the defaults). ``known``: every option string Beam does know, for did-you-mean hints."""

    def __init__(self, names: list, known: list):
        super().__init__(f"unknown option(s): {', '.join(names)}; Beam's pipeline options do not know them")
        self.names, self.known = names, known


class OutputConflictError(ValueError):
    """The output directory cannot take this run: another run is writing it, or it holds the work of a
    run with other settings or another input (curate.output.settings, curate.output.lock)."""


class EnvironmentFault(Exception):
    """The machine failed, not the video: no space left, a disk quota, an I/O error, a read-only
    filesystem. It is never recorded as a failure of a video (that would drop the video for good):
    the run stops with this message, and a rerun redoes the work once the cause is fixed."""


# errno values of an OSError that say the environment failed
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})
# what a tool (ffmpeg) prints for them
_ENVIRONMENT_TEXTS = ("No space left on device", "Disk quota exceeded", "Read-only file system")


def environment_fault(exc: BaseException):
    """The EnvironmentFault that `exc` is or stands for (an OSError with such an errno, a tool's
    error text naming one), else None."""
    if isinstance(exc, EnvironmentFault):
        return exc
    if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
        return EnvironmentFault(f"{exc}; free the space or fix the disk, then rerun: nothing is lost")
    text = exc.detail if isinstance(exc, StageError) else ""
    if any(t in text for t in _ENVIRONMENT_TEXTS):
        return EnvironmentFault(f"{text}; free the space or fix the disk, then rerun: nothing is lost")
    return None
