"""What an earlier run over the same output directory already finished, per video.

A video is done when its clips are in committed shards, or when a run recorded a terminal decision
for it (a filter drop, an unusable transcript...). A video whose clips were cut and staged but not
yet put into a shard skips straight to shard writing. Everything else is redone. Failures that may
go away on a retry (a download hitting 429, an unexpected error) are not terminal.

The launcher only tidies up what a killed run left half written and picks the next shard number
(``load_resume_state``: directory listings, nothing per clip). Which videos are done is decided inside
the pipeline, one video id at a time (``video_resume``, wired by curate.beam.resume), from the index
partitions, the staging manifests and the failure records: no process holds them all.
"""

from __future__ import annotations

import logging
from typing import Iterable, NamedTuple

from curate import files
from curate.output import failures as fail
from curate.output import index, write
from curate.output.summary import STANDING

log = logging.getLogger(__name__)


class ResumeState(NamedTuple):
    next_shard_index: int  # shards of this run are numbered from here
    run_id: str = ""  # this run (failures.new_run_id): its failures count over earlier runs'
    retry_failed: bool = False  # the videos dropped for good are redone too


def clean_interrupted(out_dir: str) -> None:
    """Remove what a killed run left half written: temporary files, shard tars without a sidecar and
    the clip failures recorded with them, shard work folders, staging folders without a manifest,
    unmerged parts of failures.jsonl."""
    shards_dir = files.join(out_dir, index.SHARDS)
    committed = set(index.committed_shards(out_dir))
    for name in files.listdir(shards_dir):
        stem = name.split(".", 1)[0]
        if name.startswith(".") or (name.endswith(".tar") and stem not in committed):
            files.remove_file(files.join(shards_dir, name))
    failures_dir = files.join(out_dir, fail.STATE_FAILURES)
    for name in files.listdir(failures_dir):
        if name.startswith("shard-") and name[len("shard-") :].split(".", 1)[0] not in committed:
            files.remove_file(files.join(failures_dir, name))
    files.remove_tree(files.join(out_dir, STANDING))  # parts of a failures.jsonl never merged
    staging = files.join(out_dir, write.STAGING)
    for name in files.listdir(staging):
        folder = files.join(staging, name)
        if name.startswith(".") or not files.exists(files.join(folder, write.MANIFEST)):
            files.remove_tree(folder)


def load_resume_state(out_dir: str, *, run_id: str = "", retry_failed: bool = False) -> ResumeState:
    """Tidy `out_dir` for a new run (`run_id`, default: a new id) and number its shards after the
    committed ones. retry_failed: the videos dropped for good are redone too."""
    clean_interrupted(out_dir)
    shards = index.committed_shards(out_dir)
    next_index = max((int(s) for s in shards if s.isdigit()), default=-1) + 1
    return ResumeState(next_index, run_id or fail.new_run_id(), retry_failed)


class VideoResume(NamedTuple):
    skip: bool  # no download, transcript or cut in this run
    staged: object = None  # its write.ShardEntry when it waits in staging for a shard
    drop_staging: bool = False  # its staging folder is left over from a committed shard


def video_resume(in_shards: bool, staged: Iterable, attempts: Iterable, retry_failed: bool) -> VideoResume:
    """What this run does with one video id, from what earlier runs left: whether it has clips in
    committed shards, its staged entries (write.ShardEntry, at most one), and its recorded
    (attempt, Failure) records."""
    staged = list(staged)
    if in_shards:  # committed; a staging folder is what a run killed before deleting it left
        return VideoResume(True, None, bool(staged))
    if staged:
        return VideoResume(True, staged[0])
    if retry_failed:
        return VideoResume(False)
    return VideoResume(any(fail.is_terminal(f) for f in fail.standing_of_video(attempts, has_clips=False)))
