"""Beam wiring shared by every stage: run a plain per-element function, route failures to a
dead-letter PCollection of schemas.Failure, and count both."""

from __future__ import annotations

import traceback
from typing import Callable, Iterable, Optional

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from curate.errors import StageError, environment_fault
from schemas import Failure

FAILURES = "failures"


def element_ids(element) -> tuple[str, str]:
    """(video_id, key) of a record, or of a plain tuple whose first item is a record."""
    is_plain_tuple = isinstance(element, tuple) and not hasattr(element, "_fields")
    rec = element[0] if is_plain_tuple and element else element
    key = getattr(rec, "key", "")
    return getattr(rec, "video_id", ""), key if isinstance(key, str) else ""


def to_failure(exc: BaseException, stage: str, element) -> Failure:
    """The Failure record of `exc` for `element`. An environment fault (no space left, an I/O error)
    is raised instead: it is no property of the video, and the run must stop rather than drop it."""
    fault = environment_fault(exc)
    if fault is not None:
        raise fault from exc
    video_id, key = element_ids(element)
    if isinstance(exc, StageError):
        return Failure(exc.video_id or video_id, stage, exc.reason, exc.detail, exc.key or key)
    # An unexpected exception is still a per-element failure, with enough to debug it.
    tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return Failure(video_id, stage, f"error:{type(exc).__name__}", tb, key)


class _StageDoFn(beam.DoFn):
    def __init__(self, stage: str, fn: Callable, many: bool, setup: Optional[Callable]):
        self._stage = stage
        self._fn = fn
        self._many = many
        self._setup = setup
        self._state = None
        self._ok = beam.metrics.Metrics.counter(stage, "ok")
        self._failed = beam.metrics.Metrics.counter(stage, "failed")

    def setup(self):
        # Heavy per-worker state (a model, a yt-dlp instance) is built once here, not per element.
        if self._setup is not None:
            self._state = self._setup()

    def process(self, element) -> Iterable:
        try:
            out = self._fn(element, self._state) if self._setup is not None else self._fn(element)
            results = list(out) if self._many else [out]
        except Exception as exc:  # noqa: BLE001 - every failure becomes a record, none is dropped
            failure = to_failure(exc, self._stage, element)
            self._failed.inc()
            beam.metrics.Metrics.counter(self._stage, f"failed:{failure.reason}").inc()
            yield TaggedOutput(FAILURES, failure)
            return
        self._ok.inc()
        yield from results


class ApplyStage(beam.PTransform):
    """``ok, failures = pcoll | ApplyStage("download", fn)``.

    fn(element) returns the output record (or, with many=True, an iterable of records). With
    setup, fn(element, state) gets what setup() built once per worker.
    """

    def __init__(self, stage: str, fn: Callable, *, many: bool = False, setup: Optional[Callable] = None):
        super().__init__(label=stage)
        self._dofn = _StageDoFn(stage, fn, many, setup)

    def expand(self, pcoll):
        outputs = pcoll | beam.ParDo(self._dofn).with_outputs(FAILURES, main="ok")
        return outputs.ok, outputs[FAILURES]
