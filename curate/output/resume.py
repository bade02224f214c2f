"""What an earlier run over the same output directory already finished, per video.

A video is done when its clips are in committed shards, or when a run recorded a terminal decision
for it (a filter drop, an unusable transcript...). A video whose clips were cut and staged but not
yet put into a shard skips straight to shard writing. Everything else is redone. Failures that may
go away on a retry (a download hitting 429, an unexpected error) are not terminal.
"""

from __future__ import annotations

from typing import NamedTuple

from curate import files

from curate.output import write

# Failures of these stages may succeed on a rerun, so they do not mark a video as done.
RETRYABLE_STAGES = frozenset({"download", "asr"})


class ResumeState(NamedTuple):
    done_video_ids: frozenset  # in committed shards, or dropped for good
    staged: tuple  # tuple[StagedVideo]: cut, waiting for a shard
    next_shard_index: int
    run_id: str = ""  # this run (write.new_run_id): its failures count over earlier runs'

    @property
    def skip_video_ids(self) -> frozenset:
        """Videos that need no download, transcript or cut in this run."""
        return self.done_video_ids | {v.video_id for v in self.staged}


def is_terminal(failure) -> bool:
    return (
        not failure.key and failure.stage not in RETRYABLE_STAGES and not failure.reason.startswith("error:")
    )


def clean_interrupted(out_dir: str) -> None:
    """Remove what a killed run left half written: temporary files, shard tars without a sidecar and
    the clip failures recorded with them, shard work folders, staging folders without a manifest."""
    shards_dir = files.join(out_dir, write.SHARDS)
    committed = set(write.committed_shards(out_dir))
    for name in files.listdir(shards_dir):
        stem = name.split(".", 1)[0]
        if name.startswith(".") or (name.endswith(".tar") and stem not in committed):
            files.remove_file(files.join(shards_dir, name))
    failures_dir = files.join(out_dir, write.STATE_FAILURES)
    for name in files.listdir(failures_dir):
        if name.startswith("shard-") and name[len("shard-"):].split(".", 1)[0] not in committed:
            files.remove_file(files.join(failures_dir, name))
    staging = files.join(out_dir, write.STAGING)
    for name in files.listdir(staging):
        folder = files.join(staging, name)
        if name.startswith(".") or not files.exists(files.join(folder, write.MANIFEST)):
            files.remove_tree(folder)


def load_resume_state(out_dir: str, *, run_id: str = "", retry_failed: bool = False) -> ResumeState:
    """Read what earlier runs left in `out_dir` (nothing there: a fresh state) for the run `run_id`
    (default: a new id). retry_failed: the videos dropped for good are redone too."""
    clean_interrupted(out_dir)
    shards = write.committed_shards(out_dir)
    in_shards = set()
    for name in shards:
        in_shards.update(write.read_sidecar(out_dir, name).column("video_id").to_pylist())
    dropped = set()
    if not retry_failed:
        dropped = {f.video_id for f in write.recorded_failures(out_dir) if is_terminal(f)}
    staged = []
    staging = files.join(out_dir, write.STAGING)
    for name in files.listdir(staging):
        video = write.load_staged_video(files.join(staging, name))
        if video.video_id in in_shards:  # committed, but killed before its staging was deleted
            files.remove_tree(files.join(staging, name))
        else:
            staged.append(video)
    next_index = int(shards[-1]) + 1 if shards else 0
    run_id = run_id or write.new_run_id()
    return ResumeState(frozenset(in_shards | dropped), tuple(staged), next_index, run_id)
