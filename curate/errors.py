"""The one error type that per-element curation functions raise (and the run's own option error).

A plain function raises StageError for anything wrong with its input (bad file, unusable video, model
answer that cannot be used). The Beam wiring (curate.beam.stages) turns it into a Failure record on the
dead-letter output, so one bad video never takes down the others.
"""
from __future__ import annotations


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
