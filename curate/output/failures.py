"""Failure records: written as they happen, and which of them stand after every run so far.

Every failure is persisted right away (DIR/.state/failures/run-<run id>-<uuid>.jsonl, one new file per
bundle) so that a killed run does not redo terminal decisions; the clip failures of a video are also
committed with the shard that holds its clips (shard-NNNNN.jsonl). Which failures stand is decided per
video (``standing_of_video``), so that a distributed run groups the records by video id and never holds
them all (curate.beam.finalize).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections import Counter
from typing import Iterable, Sequence

from curate.files import join, listdir, read_bytes, write_bytes_atomic
from schemas import Failure

log = logging.getLogger(__name__)

STATE_FAILURES = os.path.join(".state", "failures")
SHARD_ATTEMPT = "shard"  # the attempt of the failures committed with a shard (its videos' clips)
# Failures of these stages, or for these reasons, may succeed on a rerun, so they do not mark a video
# as done: a media file that vanished after it was read is the environment's doing, not the video's.
RETRYABLE_STAGES = frozenset({"download", "asr"})
RETRYABLE_REASONS = frozenset({"media_vanished"})
# A committed shard whose sidecar cannot be read: the shard is set aside and its videos are redone.
# It names no video, so it is reported (failures.jsonl, stats) but counts as no input row.
INDEX_STAGE = "index"


def failures_jsonl(failures: Iterable[Failure]) -> bytes:
    return "".join(failure_line(f) for f in failures).encode()


def failure_line(failure: Failure) -> str:
    return json.dumps(failure._asdict(), ensure_ascii=False) + "\n"


def sort_key(failure: Failure) -> tuple:
    """The order of failures.jsonl."""
    return failure.video_id, failure.key, failure.stage, failure.reason, failure.detail


def new_run_id() -> str:
    """An id for one run over an output directory; later runs get larger ids (ordered as strings)."""
    return f"{time.time_ns():020d}"


def record_failures(out_dir: str, failures: Sequence[Failure], run_id: str = "") -> None:
    """Persist failures right away (one new file), so that a killed run does not redo terminal ones.
    run_id (new_run_id) orders the attempts at a video: the latest one says why it failed."""
    if failures:
        name = f"run-{run_id or '0'}-{uuid.uuid4().hex[:12]}.jsonl"
        write_bytes_atomic(join(out_dir, STATE_FAILURES, name), failures_jsonl(failures))


def failure_files(out_dir: str) -> list:
    """Paths of the recorded failure files."""
    folder = join(out_dir, STATE_FAILURES)
    return [join(folder, n) for n in listdir(folder) if n.endswith(".jsonl") and not n.startswith(".")]


def _attempt(path: str) -> str:
    """The run id of a failure file ("" for files of runs before run ids), or SHARD_ATTEMPT."""
    parts = os.path.basename(path)[: -len(".jsonl")].split("-")
    if parts[0] == "shard":
        return SHARD_ATTEMPT
    return parts[1] if len(parts) == 3 and parts[1].isdigit() else ""


def parse_failure_line(line, where: str):
    """The Failure of one jsonl line (bytes or str), None for a blank one. A damaged line raises
    ValueError naming `where` (the file and line): callers skip and count it, since it must not stop
    every later rerun."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    if not line.strip():
        return None
    try:
        record = json.loads(line)
        return Failure(**{k: str(v) for k, v in record.items()})
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{where} is no failure record ({exc})") from None


def parse_failure_lines(data: bytes, where: str) -> tuple:
    """([Failure], number of lines that are no failure record, each skipped with a warning)."""
    found, bad = [], 0
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        try:
            failure = parse_failure_line(line, f"{where} line {number}")
        except ValueError as exc:
            bad += 1
            log.warning("%s: skipped", exc)
            continue
        if failure is not None:
            found.append(failure)
    return found, bad


def read_failure_file(path: str) -> tuple:
    """([(attempt, Failure)], damaged lines) of one recorded failure file."""
    attempt = _attempt(path)
    found, bad = parse_failure_lines(read_bytes(path), path)
    return [(attempt, f) for f in found], bad


def standing_of_video(attempts: Iterable, has_clips: bool) -> list:
    """The failures of one video id that stand after every run so far, from its (attempt, Failure)
    records, sorted in the order of failures.jsonl:
    - a bad or repeated manifest row (stage "read"): one line per row, however often it was read;
    - a video with clips: only the clip failures committed with its shard (the attempt whose clips
      were written; an earlier attempt's failures are void);
    - any other video: what its latest attempt recorded (the latest run that recorded anything for it).
    Copies of one failure (a retried bundle, a rerun; the detail may differ) are one."""
    rows, by_attempt = set(), {}
    for attempt, f in sorted(attempts):
        if f.stage in ("read", INDEX_STAGE):  # the detail names the row or the shard
            rows.add(f)
        elif not has_clips or attempt == SHARD_ATTEMPT:
            by_attempt.setdefault(attempt, {}).setdefault((f.stage, f.key, f.reason), f)
    standing = list(rows)
    if by_attempt:
        standing += by_attempt[max(by_attempt)].values()
    return sorted(standing, key=sort_key)


def recorded_keys(attempts: Iterable) -> tuple:
    """What the records of one video id already say, from its (attempt, Failure) records: (its read
    rows, the (stage, key, reason) of its latest attempt)."""
    standing = standing_of_video(attempts, has_clips=False)
    rows = frozenset(f for f in standing if f.stage in ("read", INDEX_STAGE))
    latest = frozenset((f.stage, f.key, f.reason) for f in standing if f not in rows)
    return rows, latest


def is_recorded(failure: Failure, keys: tuple) -> bool:
    """Whether writing `failure` again would change nothing that stands (keys: recorded_keys): the
    same read row, or what the video's latest attempt already says."""
    rows, latest = keys
    if failure.stage == "read":
        return failure in rows
    return (failure.stage, failure.key, failure.reason) in latest


def is_terminal(failure: Failure) -> bool:
    """Whether a standing failure marks its video as done (not redone by a plain rerun)."""
    return (
        not failure.key
        and failure.stage not in RETRYABLE_STAGES
        and failure.stage != INDEX_STAGE
        and failure.reason not in RETRYABLE_REASONS
        and not failure.reason.startswith("error:")
    )


def video_outcome(standing: Sequence[Failure], has_clips: bool) -> dict:
    """The counts one video id adds to stats.json's "counts" (merge with add_outcomes): its failed
    manifest rows, and, without clips, the one reason it was dropped: its video-level reason, or
    "<stage>:no_clip_written" when only its clips failed."""
    rows, clips, reason = Counter(), Counter(), None
    damaged = 0
    for f in standing:  # in failures.jsonl order
        if f.stage == "read":
            rows[f"read:{f.reason}"] += 1
        elif f.stage == INDEX_STAGE:
            damaged += 1
        elif not has_clips and (not f.key or reason is None):
            reason = f"{f.stage}:{f.reason}" if not f.key else f"{f.stage}:no_clip_written"
        if f.key:
            clips[f"{f.stage}:{f.reason}"] += 1
    if reason:
        rows[reason] += 1
    return {"videos_failed_by_reason": dict(rows), "clips_failed_by_reason": dict(clips), "damaged_shards": damaged}


def empty_outcome() -> dict:
    return {"videos_failed_by_reason": {}, "clips_failed_by_reason": {}, "damaged_shards": 0}


def add_outcomes(a: dict, b: dict) -> dict:
    def add(x, y):
        return dict(Counter(x) + Counter(y))

    return {
        "videos_failed_by_reason": add(a["videos_failed_by_reason"], b["videos_failed_by_reason"]),
        "clips_failed_by_reason": add(a["clips_failed_by_reason"], b["clips_failed_by_reason"]),
        "damaged_shards": a["damaged_shards"] + b["damaged_shards"],
    }


def video_counts(videos_in: int, videos_kept: int, outcome: dict) -> dict:
    """Counts that add up: videos_in (rows read) = videos_kept + videos_failed."""
    failed = outcome["videos_failed_by_reason"]
    counts = {
        "videos_in": videos_in,
        "videos_kept": videos_kept,
        "videos_failed": sum(failed.values()),
        "videos_failed_by_reason": dict(sorted(failed.items())),
        "clips_failed_by_reason": dict(sorted(outcome["clips_failed_by_reason"].items())),
    }
    if outcome["damaged_shards"]:
        counts["damaged_shards"] = outcome["damaged_shards"]
    return counts


def read_failures_jsonl(path: str) -> list:
    """The Failure records of a failures.jsonl (damaged lines skipped with a warning)."""
    return parse_failure_lines(read_bytes(path), path)[0]
